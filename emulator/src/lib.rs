//! The podstack AWS emulator.
//!
//! # Purpose
//! One HTTP endpoint that the AWS CLI, boto3, the SDKs and Terraform use unchanged. Services
//! keep their state per account and region; object bodies live in the pod store from the
//! start, so committing state moves no bytes.
//!
//! # Layers (after mini-redis)
//! `server` (listener, connections, shutdown) → `gateway` (internal endpoints, credential →
//! account/region, service selection) → a service (`s3`: pure `router` → handler per
//! operation → `state`). Handlers never see the listener; the router never sees state.
//!
//! # Modules
//! - `config`: addresses, directories, defaults from the environment.
//! - `auth`: SigV4/SigV2 credential parsing (not enforced). `aws_chunked`: chunked bodies.
//! - `checksum`: CRC32/CRC32C/CRC64NVME/SHA-1/SHA-256/MD5. `http_util`: query, encodings, dates.
//! - `body`: the response body type. `ids`: request, version and upload ids.
//! - `internal`: `/_localstack/health`. `s3`: the S3 service.

pub mod auth;
pub mod aws_chunked;
pub mod body;
pub mod checksum;
pub mod clock;
pub mod config;
pub mod gateway;
pub mod http_util;
pub mod ids;
pub mod internal;
pub mod journal;
pub mod persistence;
pub mod pods;
pub mod preseed;
pub mod protocol;
pub mod registry;
pub mod s3;
pub mod secretsmanager;
pub mod server;
pub mod service;
pub mod snapshot;
pub mod sqs;
pub mod state;
pub mod sts;

pub use config::Config;
pub use gateway::Gateway;
