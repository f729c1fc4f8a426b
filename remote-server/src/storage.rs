//! Where a remote keeps its bytes: a flat key space of immutable-ish objects, behind one trait
//! with two backends, a directory ([`DirStorage`]) and an S3-compatible bucket ([`S3Storage`]).
//!
//! Keys are `/`-separated relative paths of safe segments (`[A-Za-z0-9._-]`, no `..`), checked
//! by [`check_key`]. The one write that must be atomic across processes and machines is
//! [`Storage::create`] (create only if absent): version records rely on it for compare-and-swap,
//! so several servers can share one bucket. Everything else is last-writer-wins.

mod dir;
mod s3;

pub use dir::DirStorage;
pub use s3::S3Storage;

use std::fmt;

/// A storage failure, named for the user.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend could not be reached (connection refused, DNS, timeout).
    #[error("storage unreachable: {0}")]
    Unreachable(String),
    /// The backend refused the credentials or the access.
    #[error("storage access denied: {0}")]
    Denied(String),
    /// Anything else (I/O errors, unexpected answers, a full disk).
    #[error("storage failed: {0}")]
    Failed(String),
}

/// Results of storage calls.
pub type StorageResult<T> = std::result::Result<T, StorageError>;

/// A flat key space of objects.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Where this is, for messages (`/srv/pods`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
    /// The whole object, or `None` when absent.
    fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>>;
    /// `len` bytes from `start`; fails when the object is absent or shorter.
    fn get_range(&self, key: &str, start: u64, len: u64) -> StorageResult<Vec<u8>>;
    /// Writes the object durably, replacing any previous one.
    fn put(&self, key: &str, bytes: &[u8]) -> StorageResult<()>;
    /// Writes the object durably only if no object has the key, atomically; returns whether it
    /// was created (`false`: it existed, and is unchanged).
    fn create(&self, key: &str, bytes: &[u8]) -> StorageResult<bool>;
    /// Every key under `prefix` (which ends in `/` or is empty), sorted.
    fn list(&self, prefix: &str) -> StorageResult<Vec<String>>;
    /// Removes the object; absent is fine.
    fn delete(&self, key: &str) -> StorageResult<()>;
}

/// Checks that `key` is a relative path of safe segments.
pub fn check_key(key: &str) -> StorageResult<()> {
    let ok = !key.is_empty()
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::Failed(format!("invalid storage key {key:?}")))
    }
}

/// Opens the storage a `--storage` argument names: `s3://bucket/prefix` or a directory.
pub fn open(spec: &str, s3_endpoint: Option<&str>) -> StorageResult<Box<dyn Storage>> {
    if let Some(rest) = spec.strip_prefix("s3://") {
        Ok(Box::new(S3Storage::from_url(rest, s3_endpoint)?))
    } else if spec.contains("://") {
        Err(StorageError::Failed(format!(
            "unsupported storage {spec:?}: give a directory or s3://bucket/prefix"
        )))
    } else {
        Ok(Box::new(DirStorage::open(spec)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for good in ["a", "packs/ab.pack", "pods/p-1/3.json"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "a//b", "../x", "a/./b", "a b", "a\\b"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
