//! podstack-remote: the team server for pod push and pull, and the client side of remotes.
//!
//! # Purpose
//! A remote keeps pods for a team: objects in verified packs, numbered versions created by
//! compare-and-swap, bearer tokens with roles. The same layout lives in a directory or an S3
//! bucket; a server serves it over HTTP, and the CLI can also use a bucket directly.
//!
//! # Module layout
//! - `storage`: the [`storage::Storage`] trait (a flat key space with an atomic
//!   create-if-absent) and its directory and S3 backends; `aws_env` and `sigv4` serve S3.
//! - `repo`: the layout on a storage: packs and their indexes, version records, verification.
//! - `auth`: tokens (stored hashed, compared in constant time) and roles.
//! - `protocol`: the HTTP/JSON API's types; `server`: the hyper server over a repo.
//! - `client`: the [`client::Remote`] trait with an HTTP client and the repo itself as
//!   implementations; `sync`: push and pull over it.
//! - `http`: a small blocking HTTP/1.1 client (also the CLI's, for the emulator).
//! - `testing`: [`testing::storage_contract`], the behaviour every storage backend must show.
pub mod auth;
pub mod aws_env;
pub mod client;
pub mod http;
pub mod protocol;
pub mod repo;
pub mod server;
pub mod sigv4;
pub mod storage;
pub mod sync;
pub mod testing;
