//! How a service's state becomes resource documents and back.
//!
//! Each service implements [`ServiceSnapshot`]: `export` copies its state under a short lock
//! and encodes it as `(path, document)` leaves of the state tree
//! (`<account>/<region or "global">/<service>/<type>/<id…>`, DESIGN.md); `stage` decodes leaves
//! into a complete new state, validating everything and rebuilding runtime state, without
//! touching the live one; `install` swaps a staged state in. A load is therefore atomic: every
//! service stages first, and only when all staged successfully are they installed.
//!
//! Documents are the service's own stable description (schema `service.type/N`), never a dump
//! of in-memory structs; blobs (S3 bodies) are referenced with `podstore::blob_ref` and are
//! already in the pod store when `export` runs.

pub mod decode;

use std::any::Any;

use podstore::{Document, StatePath};

/// Leaves of one service's part of the state tree.
pub type Leaves = Vec<(StatePath, Document)>;

/// A staged (decoded, validated, not yet installed) service state.
pub type Staged = Box<dyn Any + Send>;

/// A service whose state can be exported and loaded.
pub trait ServiceSnapshot: Send + Sync {
    /// The service name used in state paths, health and endpoints: `s3`, `sqs`,
    /// `secretsmanager`, `sts`.
    fn name(&self) -> &'static str;

    /// Schema versions this build writes, e.g. `[("sqs.queue", 1), ("sqs.message", 1)]`.
    fn schemas(&self) -> Vec<(&'static str, u32)>;

    /// Encodes the current state at time `now_ms` (the emulator clock).
    fn export(&self, now_ms: i64) -> Result<Leaves, String>;

    /// Decodes leaves (all of this service, any accounts and regions) into a new state.
    /// Fails with a message naming the path and what is wrong; never panics on bad input.
    fn stage(&self, leaves: Leaves, now_ms: i64) -> Result<Staged, String>;

    /// Replaces the live state with a staged one from `stage` of this same service.
    fn install(&self, staged: Staged);

    /// Empties the state.
    fn reset(&self);
}
