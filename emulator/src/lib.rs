//! The podstack AWS emulator.
//!
//! # Purpose
//! One HTTP endpoint that the AWS CLI, boto3, the SDKs and Terraform use unchanged. Services
//! keep their state per account and region as documents of the state tree; object bodies live
//! in the pod store from the start, so committing state moves no bytes.
//!
//! # Layers (after mini-redis)
//! `http` (listener → gateway: internal endpoints, credential → account and region, routing
//! from the `registry`) → `protocol` (one codec and one error renderer per AWS protocol,
//! driven by tables generated from the AWS models) → a service's provider in `services/`
//! (typed input, a neutral `service::Context`, no HTTP types) → its state, exported and loaded
//! as documents by `persist`. Handlers never see the listener; routers never see state.
//!
//! # Modules
//! - `http`: `server`, `gateway`, `auth`, `body`, `aws_chunked`, `internal`, `util`.
//! - `protocol`: `model` (table types), `models` (generated), `query`, `xml`, `Wire`.
//! - `registry` (the services, routing, `coverage`) and `service` (`ServiceDef`, `Provider`).
//! - `services`: `s3`, `secretsmanager`, `sqs`, `sts`.
//! - `persist`: `snapshot`, `state`, `journal`, `persistence`, `pods`, `preseed`.
//! - `config`, `clock`, `checksum` (CRC32/CRC32C/CRC64NVME/SHA-1/SHA-256/MD5), `ids`.
//!
//! # API
//! [`Gateway`] built from a [`Config`], served by [`run`] until [`signal`]; preseeding
//! ([`Seed`], [`parse_auto_load`], [`scan_init_dir`]); the persistence settings; the names of
//! the services ([`service_names`]) and their coverage page ([`coverage_markdown`]); the AWS
//! model tables ([`model`], [`models`]). `internals` is for the benches only, `fuzzing` for the
//! fuzz targets in `fuzz/`.

mod checksum;
mod clock;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod ids;
mod persist;
mod protocol;
mod registry;
mod service;
mod services;

pub use config::{Config, parse_listen};
pub use http::gateway::Gateway;
pub use http::server::{run, signal};
pub use persist::persistence::{LoadStrategy, PersistConfig, SaveStrategy};
pub use persist::preseed::{Seed, default_strategy, parse_auto_load, scan_init_dir};
pub use protocol::{model, models};
pub use registry::{coverage::markdown as coverage_markdown, names as service_names};

/// Internals the benchmarks drive directly (snapshot steps, S3 change marks); not an API.
#[doc(hidden)]
pub mod internals {
    pub use crate::persist::state;
    pub use crate::services::s3::state::S3Mark;
}
