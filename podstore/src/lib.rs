//! podstore: the content-addressed, versioned store under every part of podstack.
//!
//! # Purpose
//! Keeps emulator state as Merkle *state trees* of resource documents and blobs, commits them
//! as numbered *pod versions*, and diffs, merges, archives, verifies, garbage-collects and
//! transfers them. Knows nothing of HTTP, async runtimes or AWS.
//!
//! # Main types
//! - [`Store`]: the on-disk store (packs + pods), shared safely between processes;
//!   [`MemObjects`] and [`Overlay`] are in-memory [`Objects`] for tests and dry runs.
//! - Ids: [`ObjectId`] and the typed [`BlobId`], [`DocId`], [`TreeId`], [`CommitId`].
//! - [`Document`] (canonical JSON), [`BlobWriter`] / [`BlobReader`] (streamed, chunked blobs),
//!   [`tree`] functions over [`Entry`] and [`StatePath`], [`Commit`], [`PodRef`].
//!
//! # Module layout
//! - `id`, `object`, `error`, `fsutil`: ids, object kinds and access trait, errors, crash-safe
//!   file primitives.
//! - `pack`, `store`: the packed object storage; `pods`: pod names, versions and refs.
//! - `chunker`, `blob`, `document`, `path`, `tree`, `commit`: the state model.
//! - `diff`, `merge`: leaf-level differences and the four merge strategies.
//! - `transfer`, `archive`, `maintenance`: reachability and verified object streams,
//!   single-file archives, named refs, verify and gc.
//!
//! Formats are described in each module's docs and in `docs/formats.md`.

mod archive;
mod blob;
pub mod chunker;
mod commit;
pub mod diff;
mod document;
mod error;
pub mod fsutil;
mod id;
mod maintenance;
pub mod merge;
mod object;
mod pack;
mod path;
mod pods;
mod store;
#[doc(hidden)]
pub mod testkit;
pub mod transfer;
pub mod tree;

pub use archive::{
    ARCHIVE_FORMAT, ArchiveStats, ImportedArchive, Manifest, export_archive, import_archive,
};
pub use blob::{
    BlobInfo, BlobReader, BlobWrite, BlobWriter, CHUNK_THRESHOLD, decode_list, put_blob,
};
pub use commit::{COMMIT_FORMAT, Commit, CommitOptions, ServiceInfo, service_counts};
pub use diff::{Change, ChangeKind, DiffSummary, ScopeCounts, diff, diff_commits, summarize};
pub use document::{Document, FieldWriter, blob_ref, canonical_bytes};
pub use error::{Error, Result};
pub use fsutil::{format_rfc3339, now_unix};
pub use id::{BlobId, CommitId, DocId, ObjectId, TreeId, hex};
pub use maintenance::{GcReport, VerifyReport, VersionCheck, gc, verify};
pub use merge::{Conflict, ConflictKind, MergeOutcome, Strategy, merge};
pub use object::{
    BlockMember, MemObjects, ObjectKind, Objects, Overlay, ReceivedBlock, StoredObject,
};
pub use pack::{Levels, MAX_OBJECT};
pub use path::StatePath;
pub use pods::{Expect, PodRef, PodSummary, VersionInfo, closest, validate_name};
pub use store::{
    ObjectVisitor, STORE_FORMAT, Staging, Store, StoreOptions, StoreStats, WholeBlock,
};
pub use tree::{Entry, Summary};
