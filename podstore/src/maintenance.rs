//! Store maintenance: named refs, `verify` and garbage collection.
//!
//! Roots are every live pod version and every named ref (`refs/<name>`, used by the
//! emulator's persistence for its snapshots). `gc` opens the store exclusively, so no other
//! process can be writing objects that a new commit is about to reference while it decides
//! what is garbage; it writes the surviving objects of partly-dead packs into new packs and
//! deletes old packs (index first) only after the new ones are durable. A crash at any point
//! leaves duplicates or an index-less pack (removed by the next gc), never a lost object.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::{CommitId, ObjectId};
use crate::object::{ObjectKind, Objects};
use crate::pack::{self, PackWriter};
use crate::pods::validate_name;
use crate::store::{Store, StoreOptions};
use crate::transfer::{self, check_object};

impl Store {
    /// Points the named ref at `commit` (atomic replace). Names follow pod name rules.
    pub fn set_ref(&self, name: &str, commit: CommitId) -> Result<()> {
        validate_name(name)?;
        let dir = self.root().join("refs");
        fs::create_dir_all(&dir).ctx("create", &dir)?;
        fsutil::write_atomic(
            self.tmp_dir(),
            &dir.join(name),
            commit.to_string().as_bytes(),
        )
    }

    /// The commit a named ref points at.
    pub fn get_ref(&self, name: &str) -> Result<Option<CommitId>> {
        validate_name(name)?;
        let path = self.root().join("refs").join(name);
        match fs::read_to_string(&path) {
            Ok(s) => s.trim().parse().map(Some).map_err(|_| Error::CorruptFile {
                path,
                reason: "not a commit id".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx("read", &path),
        }
    }

    /// Removes a named ref (no error when absent).
    pub fn delete_ref(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let path = self.root().join("refs").join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).ctx("remove", &path),
            _ => Ok(()),
        }
    }

    /// Every named ref.
    pub fn refs(&self) -> Result<Vec<(String, CommitId)>> {
        let dir = self.root().join("refs");
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in rd {
            let name = e
                .ctx("list", &dir)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if let Some(c) = self.get_ref(&name)? {
                out.push((name, c));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every root: (label, commit) for pod versions and refs.
    fn roots(&self) -> Result<Vec<(String, Option<u64>, CommitId)>> {
        let mut out = Vec::new();
        for pod in self.pods()? {
            for v in self.versions(&pod.name)? {
                if let Some(c) = v.commit {
                    out.push((pod.name.clone(), Some(v.version), c));
                }
            }
        }
        for (name, c) in self.refs()? {
            out.push((format!("ref {name}"), None, c));
        }
        Ok(out)
    }
}

/// The result of checking one pod version (or ref).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionCheck {
    /// Pod name, or `ref NAME`.
    pub pod: String,
    /// Version number (none for a ref).
    pub version: Option<u64>,
    /// The commit.
    pub commit: CommitId,
    /// Objects reachable from it.
    pub objects: u64,
    /// What is wrong; empty when sound.
    pub problems: Vec<String>,
}

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Distinct objects checked.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Per pod version and ref.
    pub versions: Vec<VersionCheck>,
    /// Problems with the store's files (unreadable indexes, …).
    pub store_problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.store_problems.is_empty() && self.versions.iter().all(|v| v.problems.is_empty())
    }
}

/// Checks every object reachable from every pod version and ref: present, decompresses,
/// matches its id. Each object is checked once however many versions share it, and plain
/// objects are read in storage order so that every block is decoded once.
pub fn verify(store: &Store) -> Result<VerifyReport> {
    store.refresh()?;
    let mut report = VerifyReport {
        store_problems: store.problems(),
        ..VerifyReport::default()
    };
    let mut walks = Vec::new();
    let mut all: HashMap<ObjectId, ObjectKind> = HashMap::new();
    for (pod, version, commit) in store.roots()? {
        let reach = transfer::reachable(store, &[commit], &HashSet::new(), true)?;
        all.extend(reach.objects.iter().copied());
        walks.push((pod, version, commit, reach));
    }
    let verdicts = check_all(store, &all, &mut report)?;
    for (pod, version, commit, reach) in walks {
        let mut problems = reach.problems;
        problems.extend(
            reach
                .objects
                .iter()
                .filter_map(|(id, _)| verdicts.get(id).cloned()),
        );
        report.versions.push(VersionCheck {
            pod,
            version,
            commit,
            objects: reach.objects.len() as u64,
            problems,
        });
    }
    Ok(report)
}

/// Checks objects (trees and commits were checked by the walk); returns the bad ones.
fn check_all(
    store: &Store,
    all: &HashMap<ObjectId, ObjectKind>,
    report: &mut VerifyReport,
) -> Result<HashMap<ObjectId, String>> {
    let mut bad = HashMap::new();
    let mut plain = Vec::new();
    let mut lists = Vec::new();
    for (id, kind) in all {
        match kind {
            ObjectKind::Tree | ObjectKind::Commit => report.objects += 1,
            _ if !store.contains(id)? => {
                bad.insert(*id, Error::MissingObject(*id).to_string());
            }
            ObjectKind::Chunks => lists.push(*id),
            _ => plain.push(*id),
        }
    }
    let mut checked = HashSet::new();
    let pass = store.read_in_storage_order(&plain, &mut |id, _, bytes| {
        checked.insert(*id);
        report.objects += 1;
        report.bytes += bytes.len() as u64;
        if ObjectId::of(bytes) != *id {
            bad.insert(
                *id,
                format!("object {id} is corrupt: content does not match its id"),
            );
        }
        Ok(())
    });
    if pass.is_err() {
        // A damaged block stopped the fast pass: check what is left one object at a time so
        // that the report names every bad object.
        for id in plain.iter().filter(|id| !checked.contains(*id)) {
            tally(check_object(store, id), id, report, &mut bad);
        }
    }
    for id in &lists {
        tally(check_object(store, id), id, report, &mut bad);
    }
    Ok(bad)
}

fn tally(
    r: Result<u64>,
    id: &ObjectId,
    report: &mut VerifyReport,
    bad: &mut HashMap<ObjectId, String>,
) {
    match r {
        Ok(n) => {
            report.objects += 1;
            report.bytes += n;
        }
        Err(e) => {
            bad.insert(*id, e.to_string());
        }
    }
}

/// What `gc` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Packs before and after.
    pub packs_before: usize,
    /// Packs after.
    pub packs_after: usize,
    /// Objects kept.
    pub objects_kept: u64,
    /// Objects removed.
    pub objects_removed: u64,
    /// Pack bytes before.
    pub bytes_before: u64,
    /// Pack bytes after.
    pub bytes_after: u64,
}

/// Removes every object not reachable from a pod version or ref. Needs the store alone:
/// fails with [`Error::Busy`] while another process (an emulator, a commit) has it open.
pub fn gc(root: &Path) -> Result<GcReport> {
    let store = Store::open_with(
        root,
        StoreOptions {
            exclusive: true,
            ..StoreOptions::default()
        },
    )?;
    let roots: Vec<CommitId> = store.roots()?.into_iter().map(|r| r.2).collect();
    let live: HashSet<ObjectId> = transfer::reachable(&store, &roots, &HashSet::new(), true)?
        .objects
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let before = store.stats()?;
    let mut report = GcReport {
        packs_before: before.packs,
        bytes_before: before.pack_bytes,
        ..GcReport::default()
    };
    let packs: Vec<(String, std::path::PathBuf)> =
        store.with_packs(|p| p.iter().map(|h| (h.name.clone(), h.path.clone())).collect())?;
    let mut kept: HashSet<ObjectId> = HashSet::new();
    let mut rewrite = Vec::new();
    for (name, path) in &packs {
        let entries = pack_entries(&store, name)?;
        let all_live = entries
            .iter()
            .all(|id| live.contains(id) && !kept.contains(id));
        if all_live {
            kept.extend(entries);
        } else {
            rewrite.push((name.clone(), path.clone(), entries));
        }
    }
    let mut writer: Option<PackWriter> = None;
    for (_, _, entries) in &rewrite {
        for id in entries {
            if !live.contains(id) || !kept.insert(*id) {
                continue;
            }
            let (kind, bytes) = store.get_raw(id)?.ok_or(Error::MissingObject(*id))?;
            let w = PackWriter::in_slot(&mut writer, store.tmp_dir(), store.levels())?;
            w.add(kind, *id, &bytes)?;
        }
    }
    if let Some(w) = writer {
        if w.is_empty() {
            w.abandon();
        } else {
            w.finish(store.tmp_dir(), store.packs_dir())?;
        }
    }
    for (name, path, _) in &rewrite {
        let idx = store.packs_dir().join(format!("pack-{name}.idx"));
        fs::remove_file(&idx).ctx("remove", &idx)?;
        fs::remove_file(path).ctx("remove", path)?;
    }
    remove_orphan_packs(store.packs_dir())?;
    fsutil::sync_dir(store.packs_dir())?;
    store.reload()?;
    let after = store.stats()?;
    report.packs_after = after.packs;
    report.bytes_after = after.pack_bytes;
    report.objects_kept = kept.len() as u64;
    report.objects_removed = (before.objects as u64).saturating_sub(after.objects as u64);
    Ok(report)
}

fn pack_entries(store: &Store, name: &str) -> Result<Vec<ObjectId>> {
    let idx = store.packs_dir().join(format!("pack-{name}.idx"));
    let bytes = fs::read(&idx).ctx("read", &idx)?;
    Ok(pack::parse_index(&idx, &bytes)?
        .1
        .into_iter()
        .map(|e| e.0)
        .collect())
}

/// Deletes `.pack` files that have no index (left by a crash between the two renames).
fn remove_orphan_packs(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).ctx("list", dir)? {
        let path = e.ctx("list", dir)?.path();
        if path.extension().is_some_and(|x| x == "pack") && !path.with_extension("idx").exists() {
            fs::remove_file(&path).ctx("remove", &path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::put_blob;
    use crate::commit::{Commit, CommitOptions};
    use crate::document::{Document, blob_ref};
    use crate::path::StatePath;
    use crate::pods::Expect;
    use crate::tree::{self, Entry};
    use serde_json::json;

    fn commit(store: &Store, tag: &str, size: usize) -> CommitId {
        let body: Vec<u8> = tag.bytes().cycle().take(size).collect();
        let b = put_blob(store, &body).expect("blob").blob;
        let d = Document::new(json!({"schema": "s3.object/1", "tag": tag, "body": blob_ref(&b)}))
            .expect("doc");
        let e = Entry::store_doc(store, &d).expect("store");
        let root = tree::build(
            store,
            vec![(
                StatePath::new(["a", "r", "s3", "object", tag]).expect("p"),
                e,
            )],
        )
        .expect("tree");
        let c = Commit::new(store, root, CommitOptions::default())
            .expect("c")
            .store(store)
            .expect("s");
        store.flush().expect("flush");
        c
    }

    #[test]
    fn verify_reports_a_damaged_pack_by_pod_and_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let c = commit(&store, "one", 50_000);
        store.create_version("p1", c, Expect::Any).expect("v1");
        assert!(verify(&store).expect("verify").is_ok());
        drop(store);
        let pack = fs::read_dir(dir.path().join("packs"))
            .expect("ls")
            .map(|e| e.expect("e").path())
            .find(|p| p.extension().is_some_and(|x| x == "pack"))
            .expect("a pack");
        let mut bytes = fs::read(&pack).expect("read");
        let n = bytes.len();
        bytes[n / 2] ^= 0x55;
        fs::write(&pack, bytes).expect("write");
        let store = Store::open(dir.path()).expect("reopen");
        let report = verify(&store).expect("verify");
        assert!(!report.is_ok());
        assert_eq!(
            (report.versions[0].pod.as_str(), report.versions[0].version),
            ("p1", Some(1))
        );
        assert!(!report.versions[0].problems.is_empty());
    }

    #[test]
    fn gc_removes_only_unreachable_objects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let keep = commit(&store, "keep", 300_000);
        let drop_me = commit(&store, "drop", 300_000);
        let pinned = commit(&store, "pinned", 1000);
        store.create_version("p1", keep, Expect::Any).expect("v1");
        store
            .create_version("p1", drop_me, Expect::Any)
            .expect("v2");
        store.set_ref("snapshot", pinned).expect("ref");
        store.delete_version("p1", 2).expect("delete v2");
        assert!(
            matches!(gc(dir.path()), Err(Error::Busy { .. })),
            "gc must refuse while the store is open"
        );
        drop(store);
        let report = gc(dir.path()).expect("gc");
        assert!(
            report.objects_removed > 0 && report.bytes_after < report.bytes_before,
            "{report:?}"
        );
        let store = Store::open(dir.path()).expect("reopen");
        let v = verify(&store).expect("verify");
        assert!(v.is_ok(), "{v:?}");
        assert_eq!(v.versions.len(), 2);
        assert!(store.get_raw(&drop_me.0).expect("get").is_none());
        assert!(store.get_raw(&keep.0).expect("get").is_some());
    }
}
