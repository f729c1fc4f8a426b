//! The services, one folder each. Each declares itself with a `SERVICE` description and
//! implements [`crate::service::Provider`] and [`crate::persist::snapshot::ServiceSnapshot`];
//! `crate::registry` lists them.

pub mod s3;
pub mod secretsmanager;
pub mod sqs;
pub mod sts;
