//! S3 state: accounts → buckets → keys → versions, all in memory; object bodies are blobs in
//! the pod store. An object stored by multipart upload keeps its parts as separate blobs, so
//! CompleteMultipartUpload and CopyObject move no bytes.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use podstore::BlobInfo;

use crate::checksum::Algorithm;
use crate::persist::snapshot::Marks;

/// Versioning state of a bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: one version per key, id `null`.
    #[default]
    Unversioned,
    /// Every write adds a version.
    Enabled,
    /// Writes replace the `null` version; older versions stay.
    Suspended,
}

/// Content headers and user metadata of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjMeta {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires` as sent.
    pub expires: Option<String>,
    /// `x-amz-meta-*` (names lower-cased, without the prefix), in order.
    pub user: Vec<(String, String)>,
    /// `x-amz-storage-class`.
    pub storage_class: Option<String>,
    /// `x-amz-website-redirect-location`.
    pub redirect: Option<String>,
}

/// A stored checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Base64 value (for composite checksums, with the `-N` suffix).
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub composite: bool,
}

impl Checksum {
    /// `COMPOSITE` or `FULL_OBJECT`, as S3 names the checksum type.
    pub fn type_name(&self) -> &'static str {
        checksum_type(self.composite)
    }
}

/// S3's name of a checksum type.
pub fn checksum_type(composite: bool) -> &'static str {
    if composite {
        "COMPOSITE"
    } else {
        "FULL_OBJECT"
    }
}

/// One part of a multipart object or upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Part number.
    pub number: u32,
    /// Body.
    pub blob: BlobInfo,
    /// MD5 hex (no quotes).
    pub etag: String,
    /// Upload time (ms).
    pub last_modified: i64,
    /// Checksum sent with the part.
    pub checksum: Option<Checksum>,
}

/// One version of a key (or a delete marker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjVersion {
    /// `null` or a generated id.
    pub version_id: String,
    /// Whether this is a delete marker.
    pub delete_marker: bool,
    /// Body blobs in order (one for a simple PUT, one per part for multipart).
    pub body: Vec<BlobInfo>,
    /// Total size.
    pub size: u64,
    /// ETag without quotes (MD5 hex, or `md5-of-md5s-N` for multipart).
    pub etag: String,
    /// Last modification (ms).
    pub last_modified: i64,
    /// Content headers and user metadata.
    pub meta: ObjMeta,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Checksum, when one was sent or requested.
    pub checksum: Option<Checksum>,
    /// Parts (sizes, ETags, checksums) for multipart objects; empty otherwise.
    pub parts: Vec<Part>,
}

impl ObjVersion {
    /// A delete marker.
    pub fn marker(version_id: String, now: i64) -> Self {
        Self {
            version_id,
            delete_marker: true,
            body: Vec::new(),
            size: 0,
            etag: String::new(),
            last_modified: now,
            meta: ObjMeta::default(),
            tags: Vec::new(),
            checksum: None,
            parts: Vec::new(),
        }
    }

    /// `"etag"` with quotes.
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }
}

/// An in-progress multipart upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Upload id.
    pub id: String,
    /// Key.
    pub key: String,
    /// Initiation time (ms).
    pub initiated: i64,
    /// Headers given at creation.
    pub meta: ObjMeta,
    /// Tags given at creation.
    pub tags: Vec<(String, String)>,
    /// Checksum algorithm requested at creation.
    pub checksum_algorithm: Option<Algorithm>,
    /// Whether the checksum covers the full object (`FULL_OBJECT`) rather than parts.
    pub checksum_full_object: bool,
    /// Parts uploaded so far.
    pub parts: BTreeMap<u32, Part>,
}

/// A bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Name.
    pub name: String,
    /// Region it was created in.
    pub region: String,
    /// Creation time (ms).
    pub created: i64,
    /// Versioning state.
    pub versioning: Versioning,
    /// Keys → versions, oldest first.
    pub objects: BTreeMap<String, Vec<ObjVersion>>,
    /// Multipart uploads by id.
    pub uploads: HashMap<String, Upload>,
    /// Bucket tags.
    pub tags: Option<Vec<(String, String)>>,
    /// Stored configurations, as received: `policy` (JSON), `cors`, `lifecycle`,
    /// `notification` (XML).
    pub config: BTreeMap<String, String>,
}

impl Bucket {
    /// The latest version of `key`, delete markers included.
    pub fn latest(&self, key: &str) -> Option<&ObjVersion> {
        self.objects.get(key).and_then(|v| v.last())
    }

    /// A specific version.
    pub fn version(&self, key: &str, id: &str) -> Option<&ObjVersion> {
        self.objects.get(key)?.iter().find(|v| v.version_id == id)
    }

    /// Whether no key (not even a delete marker or an old version) remains.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Adds `v` as the newest version of `key` following the bucket's versioning rules:
    /// unversioned and suspended buckets replace the `null` version.
    pub fn put_version(&mut self, key: &str, v: ObjVersion) {
        let versions = self.objects.entry(key.to_owned()).or_default();
        if v.version_id == "null" {
            versions.retain(|x| x.version_id != "null");
        }
        versions.push(v);
    }

    /// Removes one version; drops the key when none is left. Returns it.
    pub fn remove_version(&mut self, key: &str, id: &str) -> Option<ObjVersion> {
        let versions = self.objects.get_mut(key)?;
        let i = versions.iter().position(|v| v.version_id == id)?;
        let v = versions.remove(i);
        if versions.is_empty() {
            self.objects.remove(key);
        }
        Some(v)
    }
}

/// What a listing returns.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing<'a> {
    /// Keys with their current version.
    pub contents: Vec<(&'a str, &'a ObjVersion)>,
    /// Common prefixes.
    pub prefixes: Vec<String>,
    /// Whether more remain.
    pub truncated: bool,
    /// The last key or prefix returned (the next marker).
    pub last: Option<String>,
}

/// Lists current (non-deleted) keys after `after` (exclusive) under `prefix`, grouping by
/// `delimiter`, at most `max` items (keys + prefixes).
pub fn list<'a>(
    bucket: &'a Bucket,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> Listing<'a> {
    let mut out = Listing::default();
    if max == 0 {
        // S3 answers `max-keys=0` with an empty, complete page.
        return out;
    }
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut cursor: Bound<String> = match after {
        Some(a) if a >= prefix => Bound::Excluded(a.to_owned()),
        _ => Bound::Included(prefix.to_owned()),
    };
    while let Some((key, versions)) = bucket
        .objects
        .range((cursor.clone(), Bound::Unbounded))
        .next()
    {
        if !key.starts_with(prefix) {
            break;
        }
        cursor = Bound::Excluded(key.clone());
        // A deleted key is invisible, also as a member of a common prefix.
        let Some(latest) = versions.last().filter(|v| !v.delete_marker) else {
            continue;
        };
        let group = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(cp) = group {
            // Skip every key under this prefix in one step.
            cursor = Bound::Excluded(format!("{cp}\u{10FFFF}"));
            if after.is_some_and(|a| cp.as_str() <= a) || out.prefixes.last() == Some(&cp) {
                continue;
            }
            if out.contents.len() + out.prefixes.len() >= max {
                out.truncated = true;
                break;
            }
            out.last = Some(cp.clone());
            out.prefixes.push(cp);
            continue;
        }
        if out.contents.len() + out.prefixes.len() >= max {
            out.truncated = true;
            break;
        }
        out.last = Some(key.clone());
        out.contents.push((key.as_str(), latest));
    }
    out
}

/// A resource of S3 as change marks name it (see [`Marks`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum S3Mark {
    /// A bucket's own document.
    Bucket {
        /// Account.
        account: String,
        /// Bucket name.
        bucket: String,
    },
    /// A key (all its versions).
    Object {
        /// Account.
        account: String,
        /// Bucket name.
        bucket: String,
        /// Key.
        key: String,
    },
    /// A multipart upload.
    Upload {
        /// Account.
        account: String,
        /// Bucket name.
        bucket: String,
        /// Upload id.
        id: String,
    },
}

/// All S3 state of the emulator.
#[derive(Clone, Debug, Default)]
pub struct S3State {
    /// Per account: buckets by name.
    pub accounts: HashMap<String, BTreeMap<String, Bucket>>,
    /// What changed since the last incremental snapshot.
    pub marks: Marks<S3Mark>,
}

impl S3State {
    /// The account's buckets (created on first use).
    pub fn buckets(&mut self, account: &str) -> &mut BTreeMap<String, Bucket> {
        self.accounts.entry(account.to_owned()).or_default()
    }

    /// One bucket of an account.
    pub fn bucket(&self, account: &str, name: &str) -> Option<&Bucket> {
        self.accounts.get(account)?.get(name)
    }

    /// One bucket of an account, mutable.
    pub fn bucket_mut(&mut self, account: &str, name: &str) -> Option<&mut Bucket> {
        self.accounts.get_mut(account)?.get_mut(name)
    }

    /// Whether another account owns a bucket of this name (names are global in S3).
    pub fn owner_of(&self, name: &str) -> Option<&str> {
        self.accounts
            .iter()
            .find(|(_, b)| b.contains_key(name))
            .map(|(a, _)| a.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(keys: &[&str]) -> Bucket {
        let mut b = Bucket::default();
        for k in keys {
            let mut v = ObjVersion::marker("null".into(), 0);
            v.delete_marker = false;
            b.put_version(k, v);
        }
        b
    }

    fn names(l: &Listing<'_>) -> (Vec<String>, Vec<String>) {
        (
            l.contents.iter().map(|c| c.0.to_owned()).collect(),
            l.prefixes.clone(),
        )
    }

    #[test]
    fn prefix_delimiter_and_pagination() {
        let b = bucket(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        let l = list(&b, "", Some("/"), None, 1000);
        assert_eq!(
            names(&l),
            (vec!["b".into(), "d".into()], vec!["a/".into(), "c/".into()])
        );
        let l = list(&b, "c/", Some("/"), None, 1000);
        assert_eq!(names(&l), (vec!["c/y".into()], vec!["c/x/".into()]));
        // Page through with max 1: every item once, in order.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let l = list(&b, "", Some("/"), after.as_deref(), 1);
            seen.extend(l.contents.iter().map(|c| c.0.to_owned()));
            seen.extend(l.prefixes.iter().cloned());
            if !l.truncated {
                break;
            }
            after = l.last.clone();
        }
        assert_eq!(seen, ["a/", "b", "c/", "d"]);
        assert_eq!(list(&b, "", None, None, 0), Listing::default());
    }

    #[test]
    fn delete_markers_hide_keys_and_null_versions_replace() {
        let mut b = bucket(&["k"]);
        b.put_version("k", ObjVersion::marker("v2".into(), 1));
        assert!(list(&b, "", None, None, 10).contents.is_empty());
        // A prefix whose keys are all deleted is not listed.
        let mut b2 = bucket(&["d/x", "e"]);
        b2.put_version("d/x", ObjVersion::marker("m".into(), 1));
        assert_eq!(
            names(&list(&b2, "", Some("/"), None, 10)),
            (vec!["e".into()], vec![])
        );
        b.put_version("k", ObjVersion::marker("null".into(), 2));
        assert_eq!(
            b.objects["k"].len(),
            2,
            "the null version was replaced, v2 kept"
        );
    }
}
