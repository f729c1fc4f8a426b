//! The generated model tables, one module per service (`codegen/models.py` writes this
//! file and the modules from `codegen/services.json`). Do not edit: run the script.

#[rustfmt::skip]
pub mod s3;
#[rustfmt::skip]
pub mod secretsmanager;
#[rustfmt::skip]
pub mod sqs;
#[rustfmt::skip]
pub mod sts;
