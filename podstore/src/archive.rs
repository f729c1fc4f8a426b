//! Single-file archives of one pod version: a tar file with exactly two regular files.
//!
//! ```text
//! podstack-archive.json   manifest: format, commit, pod and version, object list with sizes
//! objects.stream          every reachable object as a transfer stream (see `transfer`)
//! ```
//! Import never unpacks anything to disk: it reads the two entries by name, refuses anything
//! else (other names, links, devices, absurd sizes, truncation, objects that do not match
//! their ids, an incomplete commit) and stages objects so that a refused file leaves the store
//! unchanged.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

use crate::commit::Commit;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::{CommitId, ObjectId};
use crate::object::{ObjectKind, Objects};
use crate::store::Store;
use crate::transfer::{self, StreamLimits, StreamWriter};

/// The archive format this build writes and reads.
pub const ARCHIVE_FORMAT: u32 = 1;
const MANIFEST_NAME: &str = "podstack-archive.json";
const STREAM_NAME: &str = "objects.stream";
const MAX_MANIFEST: u64 = 256 << 20;

/// The manifest at the head of an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `podstack.archive`.
    pub kind: String,
    /// Archive format version.
    pub format: u32,
    /// The commit archived.
    pub commit: CommitId,
    /// The pod it came from, if any.
    #[serde(default)]
    pub pod: Option<String>,
    /// Its version there.
    #[serde(default)]
    pub version: Option<u64>,
    /// When the archive was written (Unix seconds).
    pub created: i64,
    /// Number of objects.
    pub objects: u64,
    /// Their uncompressed bytes.
    pub bytes: u64,
    /// Every object: id, kind name, size.
    pub list: Vec<(ObjectId, String, u64)>,
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveStats {
    /// Objects in the archive.
    pub objects: u64,
    /// Their uncompressed bytes.
    pub bytes: u64,
    /// Size of the archive file.
    pub archive_bytes: u64,
}

/// What an import found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportedArchive {
    /// The commit, now in the store.
    pub commit: CommitId,
    /// The pod named in the manifest.
    pub pod: Option<String>,
    /// Its version there.
    pub version: Option<u64>,
    /// Objects in the archive.
    pub objects: u64,
    /// Their uncompressed bytes.
    pub bytes: u64,
    /// Objects the store did not have before.
    pub new_objects: u64,
}

/// Writes commit `commit` (and, for the manifest, the pod and version it is known as) to `out`.
pub fn export_archive(
    store: &Store,
    commit: CommitId,
    pod: Option<(&str, u64)>,
    out: impl Write,
) -> Result<ArchiveStats> {
    let reach = transfer::reachable(store, &[commit], &HashSet::new(), false)?;
    let tmp_path = store
        .tmp_dir()
        .join(fsutil::unique_name("archive-", ".tmp"));
    let result = write_archive(store, commit, pod, &reach.objects, &tmp_path, out);
    let _ = std::fs::remove_file(&tmp_path);
    result
}

fn write_archive(
    store: &Store,
    commit: CommitId,
    pod: Option<(&str, u64)>,
    objects: &[(ObjectId, ObjectKind)],
    tmp_path: &std::path::Path,
    out: impl Write,
) -> Result<ArchiveStats> {
    let tmp = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp_path)
        .ctx("create", tmp_path)?;
    let mut w = StreamWriter::new(BufWriter::new(tmp))?;
    let mut list = Vec::with_capacity(objects.len());
    // Everything but chunk lists in storage order (each block decoded once); the lists last,
    // after the chunks they name, so that a receiver can check them as they arrive.
    let (lists, rest): (Vec<_>, Vec<_>) = objects
        .iter()
        .copied()
        .partition(|(_, k)| *k == ObjectKind::Chunks);
    let rest: Vec<ObjectId> = rest.into_iter().map(|(id, _)| id).collect();
    store.read_in_storage_order(&rest, &mut |id, kind, bytes| {
        list.push((*id, kind.name().to_owned(), bytes.len() as u64));
        w.object(kind, id, bytes)
    })?;
    for (id, _) in lists {
        let (kind, bytes) = store.get_raw(&id)?.ok_or(Error::MissingObject(id))?;
        list.push((id, kind.name().to_owned(), bytes.len() as u64));
        w.object(kind, &id, &bytes)?;
    }
    let (stats, buf) = w.finish()?;
    let mut tmp = buf.into_inner().map_err(|e| Error::Io {
        op: "write",
        path: tmp_path.to_owned(),
        source: e.into_error(),
    })?;
    let manifest = Manifest {
        kind: "podstack.archive".into(),
        format: ARCHIVE_FORMAT,
        commit,
        pod: pod.map(|p| p.0.to_owned()),
        version: pod.map(|p| p.1),
        created: fsutil::now_unix(),
        objects: stats.objects,
        bytes: stats.raw_bytes,
        list,
    };
    let manifest_bytes =
        serde_json::to_vec(&manifest).expect("works because Manifest is plain data");
    tmp.seek(SeekFrom::Start(0)).ctx("seek", tmp_path)?;
    let mut counter = CountingWriter { inner: out, n: 0 };
    {
        let mut tar = tar::Builder::new(&mut counter);
        tar.mode(tar::HeaderMode::Deterministic);
        append(
            &mut tar,
            MANIFEST_NAME,
            manifest_bytes.len() as u64,
            &manifest_bytes[..],
        )?;
        append(
            &mut tar,
            STREAM_NAME,
            stats.stream_bytes,
            BufReader::new(tmp),
        )?;
        tar.finish().map_err(|e| archive_io("write", e))?;
    }
    counter.inner.flush().map_err(|e| archive_io("write", e))?;
    Ok(ArchiveStats {
        objects: stats.objects,
        bytes: stats.raw_bytes,
        archive_bytes: counter.n,
    })
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.append_data(&mut h, name, data)
        .map_err(|e| archive_io("write", e))
}

fn archive_io(op: &str, e: std::io::Error) -> Error {
    Error::InvalidArchive(format!("{op}: {e}"))
}

struct CountingWriter<W: Write> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads an archive into `store`. The store is unchanged unless the whole archive is valid.
pub fn import_archive(store: &Store, input: impl Read) -> Result<ImportedArchive> {
    let staging = store.stage();
    let mut tar = tar::Archive::new(input);
    let mut entries = tar
        .entries()
        .map_err(|e| Error::InvalidArchive(format!("not a tar archive: {e}")))?;
    let mut next = |want: &str| -> Result<tar::Entry<'_, _>> {
        let entry = entries
            .next()
            .ok_or_else(|| Error::InvalidArchive(format!("{want} is missing (file truncated?)")))?
            .map_err(|e| Error::InvalidArchive(format!("not a podstack archive: {e}")))?;
        check_entry(&entry, want)?;
        Ok(entry)
    };
    let manifest: Manifest = {
        let entry = next(MANIFEST_NAME)?;
        if entry.header().size().unwrap_or(u64::MAX) > MAX_MANIFEST {
            return Err(Error::InvalidArchive("manifest is absurdly large".into()));
        }
        serde_json::from_reader(entry)
            .map_err(|e| Error::InvalidArchive(format!("manifest is not valid: {e}")))?
    };
    if manifest.kind != "podstack.archive" || manifest.format > ARCHIVE_FORMAT {
        return Err(Error::InvalidArchive(format!(
            "archive {} format {} is not one this podstack reads (format {ARCHIVE_FORMAT})",
            manifest.kind, manifest.format
        )));
    }
    let limits = StreamLimits {
        max_objects: manifest.objects,
        max_raw_bytes: manifest.bytes,
    };
    let new_objects = {
        let entry = next(STREAM_NAME)?;
        let (stats, ids) = transfer::read_stream(entry, &staging, limits)?;
        if stats.objects != manifest.objects || stats.raw_bytes != manifest.bytes {
            return Err(Error::InvalidArchive(
                "object stream does not match the manifest".into(),
            ));
        }
        let listed: HashSet<ObjectId> = manifest.list.iter().map(|e| e.0).collect();
        if ids.iter().any(|id| !listed.contains(id)) || listed.len() != ids.len() {
            return Err(Error::InvalidArchive(
                "object stream does not match the manifest's list".into(),
            ));
        }
        ids.iter()
            .filter(|id| !store.contains(id).unwrap_or(false))
            .count() as u64
    };
    if let Some(extra) = entries.next() {
        let name = extra
            .ok()
            .and_then(|e| e.path().ok().map(|p| p.display().to_string()))
            .unwrap_or_default();
        if !name.is_empty() {
            return Err(Error::InvalidArchive(format!(
                "unexpected entry {name:?} after the objects"
            )));
        }
    }
    let reach = transfer::reachable(&staging, &[manifest.commit], &HashSet::new(), true)?;
    if let Some(p) = reach.problems.first() {
        return Err(Error::InvalidArchive(format!(
            "the archived commit is incomplete: {p}"
        )));
    }
    Commit::load(&staging, manifest.commit)?;
    staging.commit()?;
    Ok(ImportedArchive {
        commit: manifest.commit,
        pod: manifest.pod,
        version: manifest.version,
        objects: manifest.objects,
        bytes: manifest.bytes,
        new_objects,
    })
}

fn check_entry<R: Read>(entry: &tar::Entry<'_, R>, want: &str) -> Result<()> {
    let path = entry
        .path()
        .map_err(|e| Error::InvalidArchive(format!("bad entry name: {e}")))?;
    let name = path.to_string_lossy();
    if name != want {
        return Err(Error::InvalidArchive(format!(
            "unexpected entry {name:?}, expected {want:?}"
        )));
    }
    if entry.header().entry_type() != tar::EntryType::Regular {
        return Err(Error::InvalidArchive(format!(
            "entry {name:?} is not a regular file"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::put_blob;
    use crate::commit::CommitOptions;
    use crate::document::{Document, blob_ref};
    use crate::path::StatePath;
    use crate::tree::{self, Entry};
    use serde_json::json;

    fn sample(store: &Store) -> CommitId {
        let body: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
        let b = put_blob(store, &body).expect("blob").blob;
        let d = Document::new(json!({"schema": "s3.object/1", "body": blob_ref(&b)})).expect("doc");
        let e = Entry::store_doc(store, &d).expect("store");
        let root = tree::build(
            store,
            vec![(StatePath::parse("a/r/s3/object/k").expect("p"), e)],
        )
        .expect("tree");
        let c = Commit::new(store, root, CommitOptions::default())
            .expect("c")
            .store(store)
            .expect("s");
        store.flush().expect("flush");
        c
    }

    fn snapshot(dir: &std::path::Path) -> Vec<(String, u64)> {
        let mut v: Vec<_> = std::fs::read_dir(dir.join("packs"))
            .expect("ls")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().expect("meta").len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn export_import_round_trip_into_another_store() {
        let (a, b) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let sa = Store::open(a.path()).expect("open a");
        let c = sample(&sa);
        let mut file = Vec::new();
        let stats = export_archive(&sa, c, Some(("p1", 1)), &mut file).expect("export");
        assert_eq!(stats.archive_bytes, file.len() as u64);
        let sb = Store::open(b.path()).expect("open b");
        let got = import_archive(&sb, &file[..]).expect("import");
        assert_eq!(
            (got.commit, got.pod.as_deref(), got.new_objects),
            (c, Some("p1"), stats.objects)
        );
        assert!(transfer::reachable(&sb, &[c], &HashSet::new(), false).is_ok());
    }

    #[test]
    fn hostile_archives_fail_and_leave_the_store_unchanged() {
        let (a, b) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let sa = Store::open(a.path()).expect("open a");
        let c = sample(&sa);
        let mut good = Vec::new();
        export_archive(&sa, c, None, &mut good).expect("export");
        let mut flipped = good.clone();
        let mid = good.len() / 2;
        flipped[mid] ^= 0xff;
        let mut linked = Vec::new();
        {
            let mut t = tar::Builder::new(&mut linked);
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            t.append_link(&mut h, MANIFEST_NAME, "/etc/passwd")
                .expect("link");
            t.finish().expect("finish");
        }
        let mut traversal = Vec::new();
        {
            let mut t = tar::Builder::new(&mut traversal);
            let mut h = tar::Header::new_gnu();
            h.set_size(2);
            h.set_entry_type(tar::EntryType::Regular);
            h.as_gnu_mut().expect("gnu").name[..10].copy_from_slice(b"../../evil");
            h.set_cksum();
            t.append(&h, &b"{}"[..]).expect("append");
            t.finish().expect("finish");
        }
        let random: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let sb = Store::open(b.path()).expect("open b");
        let before = snapshot(b.path());
        for (what, bytes) in [
            ("truncated", &good[..good.len() / 3]),
            ("flipped byte", &flipped[..]),
            ("symlink", &linked[..]),
            ("path traversal", &traversal[..]),
            ("random bytes", &random[..]),
            ("empty", &[][..]),
        ] {
            let err = import_archive(&sb, bytes).expect_err(what);
            assert!(
                matches!(err, Error::InvalidArchive(_) | Error::CorruptObject { .. }),
                "{what}: {err}"
            );
            assert_eq!(snapshot(b.path()), before, "{what} changed the store");
            assert!(
                std::fs::read_dir(b.path().join("tmp"))
                    .expect("tmp")
                    .next()
                    .is_none(),
                "{what} left temp files"
            );
        }
    }
}
