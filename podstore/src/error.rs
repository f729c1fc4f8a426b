//! The one error type of the crate.
//!
//! Policy: every variant names what it concerns (an object id, a path, a pod name) so that the
//! message alone tells a user what was wrong. I/O errors carry the path they happened on.

use std::path::PathBuf;

use crate::id::ObjectId;

/// Errors of the pod store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "rename", …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store directory is not a pod store, or of an unknown format version.
    #[error("{path} is not a podstack store: {reason}")]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An object was looked up that the store does not hold.
    #[error("object {0} is missing from the store")]
    MissingObject(ObjectId),
    /// An object's bytes do not hash to its id, or do not decompress, or are malformed.
    #[error("object {id} is corrupt: {reason}")]
    CorruptObject {
        /// The object.
        id: ObjectId,
        /// What is wrong with it.
        reason: String,
    },
    /// A file of the store (pack, index, ref) is damaged.
    #[error("{path} is corrupt: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An object was found of another kind than the caller expected.
    #[error("object {id} is a {found}, expected a {expected}")]
    WrongKind {
        /// The object.
        id: ObjectId,
        /// The kind wanted.
        expected: &'static str,
        /// The kind found.
        found: &'static str,
    },
    /// Not 64 hex characters.
    #[error("invalid object id {0:?}: expected 64 hex characters")]
    InvalidId(String),
    /// A resource document is not acceptable.
    #[error("invalid document: {0}")]
    InvalidDocument(String),
    /// A state path is not acceptable.
    #[error("invalid state path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A pod name or reference breaks the naming rules.
    #[error("invalid pod name {name:?}: {reason}")]
    InvalidPodName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: String,
    },
    /// No pod of that name.
    #[error("no pod {name:?}{hint}")]
    PodNotFound {
        /// The name.
        name: String,
        /// "; did you mean …?" or empty.
        hint: String,
    },
    /// The pod exists but has no such version.
    #[error("pod {name:?} has no version {version}")]
    VersionNotFound {
        /// The pod.
        name: String,
        /// The version asked for.
        version: u64,
    },
    /// A compare-and-swap on a pod's latest version failed.
    #[error("pod {name:?}: expected latest version {expected:?}, found {found:?}")]
    VersionConflict {
        /// The pod.
        name: String,
        /// What the caller expected (None = no version yet).
        expected: Option<u64>,
        /// What is there.
        found: Option<u64>,
    },
    /// The store is locked by another process for an operation that needs it alone.
    #[error("the store at {path} is in use by another process ({what}); try again when it is done")]
    Busy {
        /// The store.
        path: PathBuf,
        /// What holds it.
        what: String,
    },
    /// An archive or object stream is malformed or hostile.
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// A merge strategy name is unknown.
    #[error(
        "unknown merge strategy {0:?}; expected one of overwrite, account-region-merge, service-merge, three-way"
    )]
    UnknownStrategy(String),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds the path and the operation to an I/O result.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
