//! The generated model tables, one module per service (`codegen/models.py` writes this
//! file and the modules from `codegen/services.json`). Do not edit: run the script.

/// The botocore release the tables come from.
pub const BOTOCORE: &str = "1.43.11";

#[rustfmt::skip]
pub mod catalog;
#[rustfmt::skip]
pub mod lambda;
#[rustfmt::skip]
pub mod s3;
#[rustfmt::skip]
pub mod secretsmanager;
#[rustfmt::skip]
pub mod sqs;
#[rustfmt::skip]
pub mod sts;
