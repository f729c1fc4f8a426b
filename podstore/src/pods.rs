//! Pods: names with numbered, immutable versions, each naming a commit.
//!
//! `pods/<name>/<N>.json` holds `{"version":N,"commit":"<id>","created":<unix s>}`. A version
//! file is created with an atomic create-if-absent, which is the compare-and-swap: two
//! processes committing at once both try `N+1`; one wins, the other retries with `N+2` (or,
//! when it asked for a specific base, fails with [`Error::VersionConflict`]). A deleted version
//! is rewritten as a tombstone so that its number is never reused.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::CommitId;
use crate::store::Store;

/// Longest pod name.
pub const MAX_NAME: usize = 128;

/// A reference to a pod: `name` (latest version) or `name:N`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodRef {
    /// The pod name.
    pub name: String,
    /// The version, or `None` for the latest.
    pub version: Option<u64>,
}

impl PodRef {
    /// Parses `name` or `name:N`, validating the name.
    pub fn parse(s: &str) -> Result<Self> {
        let (name, version) = match s.rsplit_once(':') {
            Some((n, v)) => {
                let v: u64 =
                    v.parse()
                        .ok()
                        .filter(|&v| v > 0)
                        .ok_or_else(|| Error::InvalidPodName {
                            name: s.to_owned(),
                            reason: format!("{v:?} after ':' is not a version number (1, 2, …)"),
                        })?;
                (n, Some(v))
            }
            None => (s, None),
        };
        validate_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            version,
        })
    }
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}:{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Checks the naming rules: 1–128 characters of `A–Z a–z 0–9 . _ -`, starting with a letter or
/// digit.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidPodName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(bad("a pod name cannot be empty"));
    }
    if name.len() > MAX_NAME {
        return Err(bad("longer than 128 characters"));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(bad("must start with a letter or digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(bad(&format!(
            "{c:?} is not allowed; use letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// One version of a pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The number.
    pub version: u64,
    /// The commit (absent for a deleted version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitId>,
    /// When the version was created (Unix seconds).
    pub created: i64,
    /// Whether the version was deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A pod in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodSummary {
    /// Its name.
    pub name: String,
    /// The latest live version.
    pub latest: u64,
    /// How many live versions.
    pub versions: usize,
    /// When the latest version was created.
    pub last_change: i64,
}

/// What a new version must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Whatever is latest: take the next free number.
    Any,
    /// The pod's highest number must be this (`None`: the pod must not exist yet).
    Latest(Option<u64>),
}

impl Store {
    fn pod_dir(&self, name: &str) -> PathBuf {
        self.root().join("pods").join(name)
    }

    /// Every version record of a pod, deleted ones included, in order.
    fn version_records(&self, name: &str) -> Result<Vec<VersionInfo>> {
        validate_name(name)?;
        let dir = self.pod_dir(name);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx("list", &dir),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.ctx("list", &dir)?;
            let fname = e.file_name().to_string_lossy().into_owned();
            let Some(n) = fname
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let path = e.path();
            let bytes = fs::read(&path).ctx("read", &path)?;
            let info: VersionInfo =
                serde_json::from_slice(&bytes).map_err(|err| Error::CorruptFile {
                    path: path.clone(),
                    reason: err.to_string(),
                })?;
            if info.version != n || (info.commit.is_none() && !info.deleted) {
                return Err(Error::CorruptFile {
                    path,
                    reason: "version record does not match its file name".into(),
                });
            }
            out.push(info);
        }
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    /// The live versions of a pod (fails when there are none).
    pub fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        let live: Vec<_> = self
            .version_records(name)?
            .into_iter()
            .filter(|v| !v.deleted)
            .collect();
        if live.is_empty() {
            return Err(self.not_found(name));
        }
        Ok(live)
    }

    fn not_found(&self, name: &str) -> Error {
        let names: Vec<String> = self
            .pods()
            .map(|p| p.into_iter().map(|p| p.name).collect())
            .unwrap_or_default();
        let hint = closest(name, &names)
            .map(|n| format!("; did you mean {n:?}?"))
            .unwrap_or_default();
        Error::PodNotFound {
            name: name.to_owned(),
            hint,
        }
    }

    /// Every pod with at least one live version, by name.
    pub fn pods(&self) -> Result<Vec<PodSummary>> {
        let dir = self.root().join("pods");
        let mut names = Vec::new();
        for e in fs::read_dir(&dir).ctx("list", &dir)? {
            let name = e
                .ctx("list", &dir)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if validate_name(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let live: Vec<_> = self
                .version_records(&name)?
                .into_iter()
                .filter(|v| !v.deleted)
                .collect();
            if let Some(last) = live.last() {
                out.push(PodSummary {
                    name,
                    latest: last.version,
                    versions: live.len(),
                    last_change: last.created,
                });
            }
        }
        Ok(out)
    }

    /// Resolves a reference to its version and commit.
    pub fn resolve(&self, r: &PodRef) -> Result<(u64, CommitId)> {
        let live = self.versions(&r.name)?;
        let found = match r.version {
            None => live.last(),
            Some(n) => live.iter().find(|v| v.version == n),
        };
        match found {
            Some(VersionInfo {
                version,
                commit: Some(c),
                ..
            }) => Ok((*version, *c)),
            _ => Err(Error::VersionNotFound {
                name: r.name.clone(),
                version: r.version.unwrap_or(0),
            }),
        }
    }

    /// Records `commit` as the next version of pod `name`. The commit and every object it
    /// reaches must already be durable ([`Store::flush`]).
    pub fn create_version(&self, name: &str, commit: CommitId, expect: Expect) -> Result<u64> {
        validate_name(name)?;
        let dir = self.pod_dir(name);
        fs::create_dir_all(&dir).ctx("create", &dir)?;
        loop {
            let head = self.version_records(name)?.last().map(|v| v.version);
            if let Expect::Latest(e) = expect
                && e != head
            {
                return Err(Error::VersionConflict {
                    name: name.to_owned(),
                    expected: e,
                    found: head,
                });
            }
            let n = head.unwrap_or(0) + 1;
            let info = VersionInfo {
                version: n,
                commit: Some(commit),
                created: fsutil::now_unix(),
                deleted: false,
            };
            let bytes = serde_json::to_vec(&info).expect("works because VersionInfo is plain data");
            if fsutil::create_exclusive(self.tmp_dir(), &dir.join(format!("{n}.json")), &bytes)? {
                return Ok(n);
            }
        }
    }

    /// Records `commit` as version `version` of pod `name` exactly (a pull keeps the remote's
    /// numbers). Already there with the same commit: nothing to do (`false`). The number taken
    /// by another commit, or deleted here: [`Error::VersionConflict`]. The commit and every
    /// object it reaches must already be durable.
    pub fn import_version(&self, name: &str, version: u64, commit: CommitId) -> Result<bool> {
        validate_name(name)?;
        let existing = self.version_records(name)?;
        if let Some(rec) = existing.iter().find(|v| v.version == version) {
            if rec.commit == Some(commit) {
                return Ok(false);
            }
            return Err(Error::VersionConflict {
                name: name.to_owned(),
                expected: Some(version),
                found: existing.last().map(|v| v.version),
            });
        }
        let dir = self.pod_dir(name);
        fs::create_dir_all(&dir).ctx("create", &dir)?;
        let info = VersionInfo {
            version,
            commit: Some(commit),
            created: fsutil::now_unix(),
            deleted: false,
        };
        let bytes = serde_json::to_vec(&info).expect("works because VersionInfo is plain data");
        if fsutil::create_exclusive(self.tmp_dir(), &dir.join(format!("{version}.json")), &bytes)? {
            Ok(true)
        } else {
            self.import_version(name, version, commit)
        }
    }

    /// Deletes one version; its number is not reused.
    pub fn delete_version(&self, name: &str, version: u64) -> Result<()> {
        let rec = self
            .versions(name)?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| Error::VersionNotFound {
                name: name.to_owned(),
                version,
            })?;
        let tomb = VersionInfo {
            commit: None,
            deleted: true,
            ..rec
        };
        let bytes = serde_json::to_vec(&tomb).expect("works because VersionInfo is plain data");
        let path = self.pod_dir(name).join(format!("{version}.json"));
        fsutil::write_atomic(self.tmp_dir(), &path, &bytes)
    }

    /// Deletes a pod and all its versions (objects go at the next gc).
    pub fn delete_pod(&self, name: &str) -> Result<()> {
        self.versions(name)?;
        let dir = self.pod_dir(name);
        let grave = self.tmp_dir().join(fsutil::unique_name("deleted-pod-", ""));
        fs::rename(&dir, &grave).ctx("rename", &dir)?;
        fsutil::sync_dir(&self.root().join("pods"))?;
        fs::remove_dir_all(&grave).ctx("remove", &grave)
    }
}

/// The name closest to `name` by edit distance, if close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a String> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    fn cid(n: u8) -> CommitId {
        CommitId(ObjectId::of(&[n]))
    }

    #[test]
    fn refs_parse_and_names_are_checked() {
        assert_eq!(
            PodRef::parse("p1").expect("p1"),
            PodRef {
                name: "p1".into(),
                version: None
            }
        );
        assert_eq!(PodRef::parse("p1:3").expect("p1:3").version, Some(3));
        for bad in [
            "",
            "-x",
            "a b",
            "a/b",
            "p1:0",
            "p1:x",
            "../x",
            &"a".repeat(129),
        ] {
            assert!(PodRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_are_numbered_deleted_and_never_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        assert_eq!(s.create_version("p1", cid(1), Expect::Any).expect("v1"), 1);
        assert_eq!(
            s.create_version("p1", cid(2), Expect::Latest(Some(1)))
                .expect("v2"),
            2
        );
        let err = s
            .create_version("p1", cid(3), Expect::Latest(Some(1)))
            .expect_err("cas");
        assert!(matches!(err, Error::VersionConflict { found: Some(2), .. }));
        assert_eq!(
            s.resolve(&PodRef::parse("p1").expect("ref"))
                .expect("latest"),
            (2, cid(2))
        );
        s.delete_version("p1", 2).expect("delete");
        assert_eq!(
            s.resolve(&PodRef::parse("p1").expect("ref"))
                .expect("latest"),
            (1, cid(1))
        );
        assert_eq!(s.create_version("p1", cid(4), Expect::Any).expect("v3"), 3);
        assert!(matches!(
            s.resolve(&PodRef::parse("p1:2").expect("ref")),
            Err(Error::VersionNotFound { .. })
        ));
        let err = s.versions("p2").expect_err("missing");
        assert!(err.to_string().contains("did you mean \"p1\""), "{err}");
        s.delete_pod("p1").expect("delete pod");
        assert!(s.pods().expect("pods").is_empty());
    }

    #[test]
    fn concurrent_creators_get_distinct_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    s.create_version("race", cid(i), Expect::Any)
                        .expect("create")
                })
            })
            .collect();
        let mut got: Vec<u64> = handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect();
        got.sort();
        assert_eq!(got, (1..=8).collect::<Vec<_>>());
    }
}
