//! A remote's repository: verified objects in packs, pod version records and tokens, laid out
//! in a [`Storage`]. The server serves one; the CLI uses one directly for `s3://` remotes.
//!
//! ```text
//! podstack-remote.json     {"format":1}
//! packs/<h>.pack           an object stream exactly as received (docs/formats.md), h = the
//!                          checksum of its index
//! packs/<h>.idx            "PSRIDX02" count:u64 (id:[32] kind:u8 offset:u64 len:u32 raw_len:u64
//!                          block_off:u32 block_count:u32)* sha256(everything before):[32];
//!                          offset and len locate the object's frame; for an object in a block
//!                          frame, block_off is where its bytes start in the decoded block and
//!                          block_count the number of objects in the block (0 otherwise).
//!                          Written after the pack, so a pack without its index is an
//!                          interrupted upload and is ignored. ("PSRIDX01" indexes, without the
//!                          last two fields, are still read.)
//! pods/<name>/<n>.json     a RemoteVersion; created only if absent (compare-and-swap)
//! tokens/<name>.json       a token record (see `auth`)
//! ```
//!
//! Invariants: every object in a pack was checked against its id before the pack was written
//! (chunk lists by hashing the chunks they list); a version record is created only once the
//! commit and everything it reaches are present; records are never overwritten except by a
//! deletion tombstone, and numbers are never reused.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use podstore::transfer::{self, FrameInfo, StreamLimits};
use podstore::{Commit, CommitId, ObjectId, ObjectKind, Objects, StoredObject, hex};
use sha2::{Digest, Sha256};

use crate::protocol::{ListedObject, PackReceipt, PodEntry, RemoteVersion, VersionList};
use crate::storage::{Storage, StorageError};

/// The layout's format number.
pub const LAYOUT_FORMAT: u64 = 1;
const MARKER: &str = "podstack-remote.json";
const IDX_MAGIC: &[u8; 8] = b"PSRIDX02";
const IDX_MAGIC_V1: &[u8; 8] = b"PSRIDX01";
const IDX_ENTRY_V1: usize = 32 + 1 + 8 + 4 + 8;
const IDX_ENTRY: usize = IDX_ENTRY_V1 + 4 + 4;
/// Small objects (trees, commits, chunk lists) are cached up to this many bytes.
const CACHE_BYTES: usize = 256 << 20;
/// Block frames kept decoded (each up to about 6 MiB; per thread of a busy server, one or two
/// are in use at a time).
const RECENT_FRAMES: usize = 16;

/// What went wrong in a repository operation.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Content was refused (a bad object, an incomplete commit, a bad name).
    #[error("{0}")]
    Invalid(String),
    /// No such pod or version.
    #[error("{0}")]
    NotFound(String),
    /// The pod moved on: `latest` is its latest live version.
    #[error("{message}")]
    Conflict {
        /// For people.
        message: String,
        /// The latest live version.
        latest: Option<u64>,
    },
    /// The storage holds something that makes no sense.
    #[error("corrupt remote storage: {0}")]
    Corrupt(String),
}

/// Results of repository operations.
pub type RepoResult<T> = std::result::Result<T, RepoError>;

/// A frame: its pack and offset.
type FrameKey = (Arc<str>, u64);

#[derive(Clone, Debug)]
struct Loc {
    pack: Arc<str>,
    /// The frame holding the object.
    offset: u64,
    len: u32,
    kind: ObjectKind,
    /// The object's logical size.
    raw_len: u64,
    /// In a block frame: where its bytes start in the decoded block, and how many objects the
    /// block holds.
    in_block: Option<(u32, u32)>,
}

impl Loc {
    fn frame_key(&self) -> FrameKey {
        (self.pack.clone(), self.offset)
    }
}

#[derive(Debug, Default)]
struct Index {
    packs: HashSet<String>,
    objects: HashMap<ObjectId, Loc>,
}

#[derive(Debug, Default)]
struct Cache {
    map: HashMap<ObjectId, StoredObject>,
    bytes: usize,
}

/// Objects located for a stream by [`Repo::plan_objects`].
#[derive(Debug)]
pub struct ObjectsPlan {
    ids: Vec<ObjectId>,
    locs: Vec<Loc>,
    /// Per block frame: how many of its objects are asked for, and their bytes.
    asked: HashMap<FrameKey, (u32, u64)>,
    size_bound: u64,
}

impl ObjectsPlan {
    /// The most bytes the stream can take.
    pub fn size_bound(&self) -> u64 {
        self.size_bound
    }
}

/// A repository on a storage.
#[derive(Debug)]
pub struct Repo {
    storage: Box<dyn Storage>,
    index: RwLock<Index>,
    /// Trees and commits known to reach only present objects (objects are never removed).
    complete: RwLock<HashSet<ObjectId>>,
    cache: Mutex<Cache>,
    /// Block frames decoded lately, newest last.
    recent: Mutex<VecDeque<(FrameKey, Arc<transfer::DecodedFrame>)>>,
    /// A local directory keeping a copy of every pack index read (see `open_with_index_cache`).
    index_cache: Option<PathBuf>,
}

fn corrupt(what: impl Into<String>) -> RepoError {
    RepoError::Corrupt(what.into())
}

fn store_err(e: podstore::Error) -> RepoError {
    match e {
        podstore::Error::InvalidArchive(m) => RepoError::Invalid(m),
        podstore::Error::InvalidPodName { .. } => RepoError::Invalid(e.to_string()),
        other => RepoError::Corrupt(other.to_string()),
    }
}

fn lock_poisoned() -> RepoError {
    corrupt("an internal lock was poisoned by a panic")
}

impl Repo {
    /// Opens the repository on `storage`, laying it out when the storage is empty.
    pub fn open(storage: Box<dyn Storage>) -> RepoResult<Self> {
        Self::open_with_index_cache(storage, None)
    }

    /// Opens a repository like [`Repo::open`], keeping a copy of every pack index it reads
    /// from the storage in the directory `cache` (created when missing) and reading it from
    /// there next time. A pack's name is the SHA-256 of its index, and packs are never
    /// rewritten, so a cached copy either matches its name and checksum (and is used) or is
    /// ignored and fetched again; the cache may be shared by any number of remotes and
    /// deleted at any time. For a bucket used directly (`s3://`), where every command opens
    /// the repository again, this turns one GET per pack into one per pack not seen before.
    /// Temp files that a process killed while writing a copy left in `cache` are removed once
    /// they are an hour old.
    pub fn open_with_index_cache(
        storage: Box<dyn Storage>,
        cache: Option<PathBuf>,
    ) -> RepoResult<Self> {
        let marker = format!("{{\"format\":{LAYOUT_FORMAT}}}");
        if !storage.create(MARKER, marker.as_bytes())? {
            let found = storage.get(MARKER)?.unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&found).map_err(|e| {
                corrupt(format!(
                    "{MARKER} in {} is not JSON: {e}",
                    storage.describe()
                ))
            })?;
            if v.get("format").and_then(serde_json::Value::as_u64) != Some(LAYOUT_FORMAT) {
                return Err(corrupt(format!(
                    "{} holds a remote of format {}, this podstack reads format {LAYOUT_FORMAT}",
                    storage.describe(),
                    v.get("format").map(ToString::to_string).unwrap_or_default()
                )));
            }
        }
        if let Some(dir) = &cache {
            podstore::fsutil::sweep_temps(dir, "idx-", std::time::Duration::from_secs(3600));
        }
        let repo = Self {
            storage,
            index: RwLock::new(Index::default()),
            complete: RwLock::new(HashSet::new()),
            cache: Mutex::new(Cache::default()),
            recent: Mutex::new(VecDeque::new()),
            index_cache: cache,
        };
        repo.refresh()?;
        Ok(repo)
    }

    /// The storage under the repository.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// Loads the indexes of packs written since the last refresh (by this or another process).
    pub fn refresh(&self) -> RepoResult<()> {
        let keys = self.storage.list("packs/")?;
        let known = self
            .index
            .read()
            .map_err(|_| lock_poisoned())?
            .packs
            .clone();
        for key in keys {
            let Some(name) = key
                .strip_prefix("packs/")
                .and_then(|k| k.strip_suffix(".idx"))
            else {
                continue;
            };
            if known.contains(name) {
                continue;
            }
            let pack: Arc<str> = Arc::from(name);
            let entries = match self.cached_index(&pack) {
                Some(entries) => entries,
                None => {
                    let bytes = self
                        .storage
                        .get(&key)?
                        .ok_or_else(|| corrupt(format!("{key} vanished while listed")))?;
                    let entries = decode_index(&pack, &bytes)?;
                    self.cache_index(name, &bytes);
                    entries
                }
            };
            let mut index = self.index.write().map_err(|_| lock_poisoned())?;
            for (id, loc) in entries {
                index.objects.entry(id).or_insert(loc);
            }
            index.packs.insert(name.to_owned());
        }
        Ok(())
    }

    /// Where the cached copy of pack `name`'s index goes, if there is a cache and the name is
    /// one this layout writes (64 lower-case hex digits: a listed key is not trusted as a
    /// file name).
    fn cached_index_path(&self, name: &str) -> Option<PathBuf> {
        let dir = self.index_cache.as_ref()?;
        let is_name =
            name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        is_name.then(|| dir.join(format!("{name}.idx")))
    }

    /// The entries of pack `pack`'s cached index, when a copy is cached whose checksum is the
    /// pack's name and which decodes.
    fn cached_index(&self, pack: &Arc<str>) -> Option<Vec<(ObjectId, Loc)>> {
        let bytes = std::fs::read(self.cached_index_path(pack)?).ok()?;
        let sum = bytes.len().checked_sub(32).map(|at| &bytes[at..])?;
        if hex(sum) != **pack {
            return None;
        }
        decode_index(pack, &bytes).ok()
    }

    /// Keeps a copy of pack `name`'s index, verified already. Failing to is not an error: the
    /// index is fetched again next time. Written to a temp file and renamed, so a reader never
    /// sees half a file (and would reject one); not fsynced, since a lost copy costs a GET.
    fn cache_index(&self, name: &str, bytes: &[u8]) {
        let Some(path) = self.cached_index_path(name) else {
            return;
        };
        let Some(dir) = path.parent() else {
            return;
        };
        let tmp = dir.join(podstore::fsutil::unique_name("idx-", ".tmp"));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The ids in `ids` the repository lacks.
    pub fn missing(&self, ids: &[ObjectId]) -> RepoResult<Vec<ObjectId>> {
        let lacking = |this: &Self| -> RepoResult<Vec<ObjectId>> {
            let index = this.index.read().map_err(|_| lock_poisoned())?;
            Ok(ids
                .iter()
                .filter(|id| !index.objects.contains_key(id))
                .copied()
                .collect())
        };
        let first = lacking(self)?;
        if first.is_empty() {
            return Ok(first);
        }
        self.refresh()?;
        lacking(self)
    }

    /// Verifies every object of a received stream and stores the stream as one pack. A bad
    /// object refuses the whole pack; nothing is written then.
    pub fn receive_pack(&self, bytes: &[u8]) -> RepoResult<PackReceipt> {
        let staged = Incoming(self);
        let mut frames: Vec<FrameInfo> = Vec::new();
        let limits = StreamLimits {
            max_objects: 10_000_000,
            max_raw_bytes: 4 << 30,
        };
        let (stats, _) =
            transfer::read_stream_indexed(bytes, &staged, limits, &mut |f| frames.push(f))
                .map_err(store_err)?;
        let mut receipt = PackReceipt {
            objects: stats.objects,
            new_objects: 0,
            bytes: bytes.len() as u64,
        };
        {
            let index = self.index.read().map_err(|_| lock_poisoned())?;
            frames.retain(|f| !index.objects.contains_key(&f.id));
        }
        receipt.new_objects = frames.len() as u64;
        if frames.is_empty() {
            return Ok(receipt);
        }
        // The pack is named by its index's checksum, which covers every id, offset and length
        // in it: hashing the whole pack again would cost as much as verifying it. Two packs
        // with the same index hold the same verified frames at the same places, so either
        // may stand under the name.
        let idx = encode_index(&frames)?;
        let name = hex(&idx[idx.len() - 32..]);
        self.storage.put(&format!("packs/{name}.pack"), bytes)?;
        self.storage.put(&format!("packs/{name}.idx"), &idx)?;
        self.cache_index(&name, &idx);
        let pack: Arc<str> = Arc::from(name.as_str());
        let mut index = self.index.write().map_err(|_| lock_poisoned())?;
        for f in &frames {
            index.objects.entry(f.id).or_insert(Loc {
                pack: pack.clone(),
                offset: f.offset,
                len: frame_len(f.len)?,
                kind: f.kind,
                raw_len: f.raw_len,
                in_block: f.in_block,
            });
        }
        index.packs.insert(name);
        Ok(receipt)
    }

    /// Writes the objects `ids` as an object stream, frames copied as stored: a block frame
    /// whole when every object in it is asked for (at the place of the first), else the
    /// objects asked for out of it one by one. Fails when one is absent.
    pub fn write_objects(&self, ids: &[ObjectId], out: &mut Vec<u8>) -> RepoResult<()> {
        let plan = self.plan_objects(ids)?;
        self.write_planned(&plan, out)
    }

    /// Locates the objects `ids` for [`Repo::write_planned`], from the index alone: nothing is
    /// read yet, and the plan knows how large the stream can get. Fails when one is absent.
    pub fn plan_objects(&self, ids: &[ObjectId]) -> RepoResult<ObjectsPlan> {
        let mut locs = Vec::with_capacity(ids.len());
        {
            let index = self.index.read().map_err(|_| lock_poisoned())?;
            for id in ids {
                let loc = index.objects.get(id).ok_or_else(|| {
                    RepoError::NotFound(format!("object {} is not on the remote", id.short()))
                })?;
                locs.push(loc.clone());
            }
        }
        // Per block frame: the objects asked for in it, and their bytes.
        let mut asked: HashMap<FrameKey, (u32, u64)> = HashMap::new();
        let mut counted = HashSet::with_capacity(ids.len());
        for (id, loc) in ids.iter().zip(&locs) {
            if loc.in_block.is_some() && counted.insert(*id) {
                let e = asked.entry(loc.frame_key()).or_default();
                e.0 += 1;
                e.1 += loc.raw_len;
            }
        }
        // What `write_planned` writes, frame by frame, at most: a frame copied as stored is
        // its length; an object written out of a block is its bytes stored raw at worst
        // (compressed only when smaller) behind a frame head of at most 55 bytes.
        let mut size_bound = (transfer::STREAM_MAGIC.len() + 11) as u64;
        let mut whole = HashSet::new();
        for loc in &locs {
            size_bound += match loc.in_block {
                None => u64::from(loc.len),
                Some((_, count)) => {
                    let key = loc.frame_key();
                    if asked.get(&key).map(|a| a.0) != Some(count) {
                        loc.raw_len + 55
                    } else if whole.insert(key) {
                        u64::from(loc.len)
                    } else {
                        0
                    }
                }
            };
        }
        Ok(ObjectsPlan {
            ids: ids.to_vec(),
            locs,
            asked,
            size_bound,
        })
    }

    /// Writes the stream `plan` was made for (see [`Repo::write_objects`]).
    pub fn write_planned(&self, plan: &ObjectsPlan, out: &mut Vec<u8>) -> RepoResult<()> {
        let ObjectsPlan {
            ids, locs, asked, ..
        } = plan;
        let frames = self.read_frames(locs)?;
        let mut w = transfer::StreamWriter::new(&mut *out).map_err(store_err)?;
        let mut copied: HashSet<FrameKey> = HashSet::new();
        for (id, loc) in ids.iter().zip(locs) {
            let key = loc.frame_key();
            let frame = frames
                .get(&key)
                .ok_or_else(|| corrupt("a frame read went missing"))?;
            let Some((_, count)) = loc.in_block else {
                w.frame(frame, 1, loc.raw_len).map_err(store_err)?;
                continue;
            };
            let (n, bytes) = asked.get(&key).copied().unwrap_or_default();
            if n == count {
                if copied.insert(key) {
                    w.frame(frame, u64::from(count), bytes).map_err(store_err)?;
                }
                continue;
            }
            let (d, _) = self.decoded_frame(loc, Some(frame))?;
            let m = d
                .members
                .iter()
                .find(|m| m.id == *id)
                .ok_or_else(|| misplaced(loc, id))?;
            w.object(m.kind, id, m.bytes_in(&d.raw))
                .map_err(store_err)?;
        }
        w.finish().map_err(store_err)?;
        Ok(())
    }

    /// Reads the frames at `locs` in storage order, coalescing neighbours; by (pack, offset).
    fn read_frames(&self, locs: &[Loc]) -> RepoResult<HashMap<FrameKey, Vec<u8>>> {
        let mut sorted: Vec<&Loc> = locs.iter().collect();
        sorted.sort_by(|a, b| (a.pack.as_ref(), a.offset).cmp(&(b.pack.as_ref(), b.offset)));
        sorted.dedup_by(|a, b| a.pack == b.pack && a.offset == b.offset);
        let mut frames = HashMap::with_capacity(sorted.len());
        let mut i = 0;
        while i < sorted.len() {
            let first = sorted[i];
            let start = first.offset;
            let mut end = start + u64::from(first.len);
            let mut j = i + 1;
            while j < sorted.len() {
                let l = sorted[j];
                if l.pack != first.pack || l.offset > end + (64 << 10) || end - start > (16 << 20) {
                    break;
                }
                end = end.max(l.offset + u64::from(l.len));
                j += 1;
            }
            let key = format!("packs/{}.pack", first.pack);
            let range = self.storage.get_range(&key, start, end - start)?;
            for l in &sorted[i..j] {
                let from = usize::try_from(l.offset - start).map_err(|_| corrupt("offset"))?;
                let frame = range
                    .get(from..from + l.len as usize)
                    .ok_or_else(|| corrupt(format!("pack {} is shorter than its index", l.pack)))?;
                frames.insert(l.frame_key(), frame.to_vec());
            }
            i = j;
        }
        Ok(frames)
    }

    /// Every object `commit` reaches, with its size (stored, or logical for an object in a
    /// block). The objects of one block frame are listed together, at the place of the first,
    /// so that batches cut from the listing ask for whole blocks; each chunk list comes right
    /// after the last of its chunks. Fails when the commit is incomplete.
    pub fn listing(&self, commit: CommitId) -> RepoResult<Vec<ListedObject>> {
        let r = transfer::reachable(self, &[commit], &HashSet::new(), false).map_err(store_err)?;
        let index = self.index.read().map_err(|_| lock_poisoned())?;
        // The objects of a block frame move up to the first of them.
        let mut first_of_frame: HashMap<FrameKey, usize> = HashMap::new();
        let mut grouped = Vec::with_capacity(r.objects.len());
        for (i, (id, kind)) in r.objects.into_iter().enumerate() {
            let loc = index.objects.get(&id).ok_or_else(|| {
                corrupt(format!(
                    "object {} of commit {} is missing",
                    id.short(),
                    commit.0.short()
                ))
            })?;
            let (first, size) = match loc.in_block {
                Some(_) => (
                    *first_of_frame.entry(loc.frame_key()).or_insert(i),
                    loc.raw_len,
                ),
                None => (i, u64::from(loc.len)),
            };
            grouped.push(((first, i), (id, kind as u8, size)));
        }
        drop(index);
        grouped.sort_by_key(|(k, _)| *k);
        let out: Vec<ListedObject> = grouped.into_iter().map(|(_, o)| o).collect();
        // Each chunk list right after the last of its chunks (grouping moved chunks earlier
        // only), so that a batch cut from the listing holds a list with its last chunks.
        let at: HashMap<ObjectId, usize> = out.iter().enumerate().map(|(i, o)| (o.0, i)).collect();
        let mut keyed: Vec<((usize, u8), ListedObject)> = Vec::with_capacity(out.len());
        for (i, o) in out.into_iter().enumerate() {
            let mut key = (i, 0);
            if o.1 == ObjectKind::Chunks as u8 {
                let bytes = self.get_kind(&o.0, ObjectKind::Chunks).map_err(store_err)?;
                let (_, chunks) = podstore::decode_list(&o.0, &bytes).map_err(store_err)?;
                let last = chunks.iter().filter_map(|(c, _)| at.get(c)).max();
                key = (last.copied().unwrap_or(i), 1);
            }
            keyed.push((key, o));
        }
        keyed.sort_by_key(|(k, _)| *k);
        Ok(keyed.into_iter().map(|(_, o)| o).collect())
    }

    /// Checks that `commit` and everything it reaches are present.
    fn check_complete(&self, commit: CommitId) -> RepoResult<()> {
        self.refresh()?;
        let known = self.complete.read().map_err(|_| lock_poisoned())?.clone();
        let r = transfer::reachable(self, &[commit], &known, false).map_err(|e| match e {
            podstore::Error::MissingObject(id) => RepoError::Invalid(format!(
                "commit {} is incomplete on the remote: object {} is missing (push its objects first)",
                commit.0.short(),
                id.short()
            )),
            other => store_err(other),
        })?;
        let index = self.index.read().map_err(|_| lock_poisoned())?;
        let absent = r
            .objects
            .iter()
            .filter(|(id, _)| !index.objects.contains_key(id))
            .count();
        if absent > 0 {
            return Err(RepoError::Invalid(format!(
                "commit {} is incomplete on the remote: {absent} objects are missing (push them first)",
                commit.0.short()
            )));
        }
        drop(index);
        let mut complete = self.complete.write().map_err(|_| lock_poisoned())?;
        for (id, kind) in r.objects {
            if matches!(kind, ObjectKind::Tree | ObjectKind::Commit) {
                complete.insert(id);
            }
        }
        Ok(())
    }

    fn records(&self, name: &str) -> RepoResult<Vec<RemoteVersion>> {
        podstore::validate_name(name).map_err(store_err)?;
        let prefix = format!("pods/{name}/");
        let mut out = Vec::new();
        for key in self.storage.list(&prefix)? {
            let Some(n) = key
                .strip_prefix(&prefix)
                .and_then(|k| k.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let Some(bytes) = self.storage.get(&key)? else {
                continue;
            };
            let rec: RemoteVersion = serde_json::from_slice(&bytes)
                .map_err(|e| corrupt(format!("{key} is not a version record: {e}")))?;
            if rec.version != n || (rec.commit.is_none() && !rec.deleted) {
                return Err(corrupt(format!("{key} does not match its name")));
            }
            out.push(rec);
        }
        out.sort_by_key(|r| r.version);
        Ok(out)
    }

    /// The live versions of a pod (404 when it has none).
    pub fn versions(&self, name: &str) -> RepoResult<VersionList> {
        let all = self.records(name)?;
        let highest = all.last().map_or(0, |r| r.version);
        let versions: Vec<RemoteVersion> = all.into_iter().filter(|r| !r.deleted).collect();
        if versions.is_empty() {
            let names: Vec<String> = self.pods()?.into_iter().map(|p| p.name).collect();
            let hint = podstore::closest(name, &names)
                .map(|n| format!("; did you mean {n:?}?"))
                .unwrap_or_default();
            return Err(RepoError::NotFound(format!(
                "no pod {name:?} on the remote{hint}"
            )));
        }
        Ok(VersionList {
            name: name.to_owned(),
            versions,
            highest,
        })
    }

    /// One live version.
    pub fn version(&self, name: &str, version: u64) -> RepoResult<RemoteVersion> {
        self.versions(name)?
            .versions
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                RepoError::NotFound(format!(
                    "pod {name:?} has no version {version} on the remote"
                ))
            })
    }

    /// Every pod with a live version.
    pub fn pods(&self) -> RepoResult<Vec<PodEntry>> {
        let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for key in self.storage.list("pods/")? {
            let mut parts = key.splitn(3, '/');
            let (_, Some(name), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            by_name
                .entry(name.to_owned())
                .or_default()
                .push(file.to_owned());
        }
        let mut out = Vec::new();
        for name in by_name.keys() {
            if podstore::validate_name(name).is_err() {
                continue;
            }
            let live: Vec<RemoteVersion> = self
                .records(name)?
                .into_iter()
                .filter(|r| !r.deleted)
                .collect();
            if let Some(last) = live.last() {
                out.push(PodEntry {
                    name: name.clone(),
                    latest: last.version,
                    versions: live.len(),
                    updated: last.created,
                });
            }
        }
        Ok(out)
    }

    /// Creates version `version` of `name` for `commit`, if the pod's latest live version is
    /// still `expected_latest` and the number is above every number used. Compare-and-swap: of
    /// two concurrent pushes on the same base, one wins and the other gets a conflict.
    pub fn create_version(
        &self,
        name: &str,
        version: u64,
        commit: CommitId,
        expected_latest: Option<u64>,
        pushed_by: &str,
    ) -> RepoResult<RemoteVersion> {
        let all = self.records(name)?;
        let latest = all.iter().rev().find(|r| !r.deleted).map(|r| r.version);
        let highest = all.last().map_or(0, |r| r.version);
        if latest != expected_latest {
            return Err(RepoError::Conflict {
                message: format!(
                    "pod {name:?} on the remote is at {} but the push was based on {}; pull first",
                    describe_version(latest),
                    describe_version(expected_latest)
                ),
                latest,
            });
        }
        if version <= highest {
            return Err(RepoError::Conflict {
                message: format!(
                    "version {version} of pod {name:?} was already used on the remote (numbers up to {highest} are taken)"
                ),
                latest,
            });
        }
        self.check_complete(commit)?;
        let c = Commit::load(self, commit).map_err(store_err)?;
        let rec = RemoteVersion {
            version,
            commit: Some(commit),
            created: podstore::now_unix(),
            deleted: false,
            pushed_by: pushed_by.to_owned(),
            message: c.message,
            services: c.services,
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| corrupt(e.to_string()))?;
        if !self
            .storage
            .create(&format!("pods/{name}/{version}.json"), &bytes)?
        {
            let latest = self
                .records(name)?
                .iter()
                .rev()
                .find(|r| !r.deleted)
                .map(|r| r.version);
            return Err(RepoError::Conflict {
                message: format!(
                    "another push created version {version} of pod {name:?} first; pull first"
                ),
                latest,
            });
        }
        Ok(rec)
    }

    /// Deletes one version (`Some`) or every version of a pod; numbers stay taken.
    pub fn delete(&self, name: &str, version: Option<u64>) -> RepoResult<Vec<u64>> {
        let live = self.versions(name)?.versions;
        let doomed: Vec<RemoteVersion> = match version {
            None => live,
            Some(n) => vec![live.into_iter().find(|v| v.version == n).ok_or_else(|| {
                RepoError::NotFound(format!("pod {name:?} has no version {n} on the remote"))
            })?],
        };
        let mut gone = Vec::new();
        for rec in doomed {
            let tomb = RemoteVersion {
                commit: None,
                deleted: true,
                ..rec
            };
            let bytes = serde_json::to_vec(&tomb).map_err(|e| corrupt(e.to_string()))?;
            self.storage
                .put(&format!("pods/{name}/{}.json", tomb.version), &bytes)?;
            gone.push(tomb.version);
        }
        Ok(gone)
    }

    fn read_object(&self, id: &ObjectId) -> RepoResult<Option<StoredObject>> {
        if let Some(hit) = self.cache.lock().map_err(|_| lock_poisoned())?.map.get(id) {
            return Ok(Some(hit.clone()));
        }
        let Some(loc) = self
            .index
            .read()
            .map_err(|_| lock_poisoned())?
            .objects
            .get(id)
            .cloned()
        else {
            return Ok(None);
        };
        let (decoded, fresh) = self.decoded_frame(&loc, None)?;
        let m = decoded
            .members
            .iter()
            .find(|m| m.id == *id && m.kind == loc.kind)
            .ok_or_else(|| misplaced(&loc, id))?;
        let obj: StoredObject = (m.kind, Arc::new(m.bytes_in(&decoded.raw).to_vec()));
        if !fresh {
            return Ok(Some(obj));
        }
        // Walks read every tree, commit and chunk list: keep those of the whole frame (a block
        // is decoded once, not once per object in it).
        let mut cache = self.cache.lock().map_err(|_| lock_poisoned())?;
        for m in &decoded.members {
            if matches!(
                m.kind,
                ObjectKind::Tree | ObjectKind::Commit | ObjectKind::Chunks
            ) && cache.bytes + m.len as usize <= CACHE_BYTES
                && !cache.map.contains_key(&m.id)
            {
                cache.bytes += m.len as usize;
                cache
                    .map
                    .insert(m.id, (m.kind, Arc::new(m.bytes_in(&decoded.raw).to_vec())));
            }
        }
        Ok(Some(obj))
    }
}

impl Repo {
    /// The frame at `loc` decoded (`frame`: its bytes, when read already), from the recently
    /// decoded frames when there; the flag tells whether it was decoded now. Reading the
    /// chunks of a blob one by one decodes each of its blocks once.
    fn decoded_frame(
        &self,
        loc: &Loc,
        frame: Option<&[u8]>,
    ) -> RepoResult<(Arc<transfer::DecodedFrame>, bool)> {
        let key = loc.frame_key();
        {
            let recent = self.recent.lock().map_err(|_| lock_poisoned())?;
            if let Some((_, d)) = recent.iter().find(|(k, _)| *k == key) {
                return Ok((d.clone(), false));
            }
        }
        let read;
        let frame = match frame {
            Some(f) => f,
            None => {
                read = self.storage.get_range(
                    &format!("packs/{}.pack", loc.pack),
                    loc.offset,
                    u64::from(loc.len),
                )?;
                &read
            }
        };
        let decoded = Arc::new(
            transfer::decode_frame(frame)
                .map_err(|e| corrupt(format!("pack {}: {e}", loc.pack)))?,
        );
        if loc.in_block.is_some() {
            let mut recent = self.recent.lock().map_err(|_| lock_poisoned())?;
            if recent.len() >= RECENT_FRAMES {
                recent.pop_front();
            }
            recent.push_back((key, decoded.clone()));
        }
        Ok((decoded, true))
    }
}

/// The sink of a received stream: the stream itself is kept as the pack, so objects are
/// checked and let go (no copy); chunk lists find their chunks in the stream (the reader keeps
/// them) or in the repository.
struct Incoming<'a>(&'a Repo);

impl Objects for Incoming<'_> {
    fn get_raw(&self, id: &ObjectId) -> podstore::Result<Option<StoredObject>> {
        self.0.get_raw(id)
    }

    fn put_raw(&self, _: ObjectKind, _: ObjectId, _: &[u8]) -> podstore::Result<bool> {
        Ok(true)
    }

    fn put_block(&self, _: &podstore::ReceivedBlock<'_>) -> podstore::Result<()> {
        Ok(())
    }

    fn contains(&self, id: &ObjectId) -> podstore::Result<bool> {
        self.0.contains(id)
    }

    fn kind_of(&self, id: &ObjectId) -> podstore::Result<Option<ObjectKind>> {
        self.0.kind_of(id)
    }
}

fn misplaced(loc: &Loc, id: &ObjectId) -> RepoError {
    corrupt(format!(
        "pack {} holds another object where the index says {}",
        loc.pack,
        id.short()
    ))
}

fn describe_version(v: Option<u64>) -> String {
    v.map_or_else(|| "no version".to_owned(), |n| format!("version {n}"))
}

fn frame_len(len: u64) -> RepoResult<u32> {
    u32::try_from(len).map_err(|_| RepoError::Invalid(format!("an object frame of {len} bytes")))
}

/// The repository is a read-only [`Objects`]: objects arrive only as verified packs.
impl Objects for Repo {
    fn get_raw(&self, id: &ObjectId) -> podstore::Result<Option<StoredObject>> {
        self.read_object(id)
            .map_err(|e| podstore::Error::InvalidArchive(e.to_string()))
    }

    fn put_raw(&self, _kind: ObjectKind, id: ObjectId, _bytes: &[u8]) -> podstore::Result<bool> {
        Err(podstore::Error::InvalidArchive(format!(
            "object {} can reach the remote only in a pack",
            id.short()
        )))
    }

    fn contains(&self, id: &ObjectId) -> podstore::Result<bool> {
        Ok(self
            .index
            .read()
            .map(|i| i.objects.contains_key(id))
            .unwrap_or(false))
    }

    fn kind_of(&self, id: &ObjectId) -> podstore::Result<Option<ObjectKind>> {
        Ok(self
            .index
            .read()
            .ok()
            .and_then(|i| i.objects.get(id).map(|l| l.kind)))
    }
}

fn encode_index(frames: &[FrameInfo]) -> RepoResult<Vec<u8>> {
    let mut out = Vec::with_capacity(16 + frames.len() * IDX_ENTRY + 32);
    out.extend_from_slice(IDX_MAGIC);
    out.extend_from_slice(&(frames.len() as u64).to_le_bytes());
    for f in frames {
        out.extend_from_slice(&f.id.0);
        out.push(f.kind as u8);
        out.extend_from_slice(&f.offset.to_le_bytes());
        out.extend_from_slice(&frame_len(f.len)?.to_le_bytes());
        out.extend_from_slice(&f.raw_len.to_le_bytes());
        let (off, count) = f.in_block.unwrap_or((0, 0));
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

fn decode_index(pack: &Arc<str>, bytes: &[u8]) -> RepoResult<Vec<(ObjectId, Loc)>> {
    let bad = |why: &str| corrupt(format!("index of pack {pack}: {why}"));
    let entry_len = match bytes.get(..8) {
        Some(m) if m == IDX_MAGIC => IDX_ENTRY,
        Some(m) if m == IDX_MAGIC_V1 => IDX_ENTRY_V1,
        _ => return Err(bad("not a pack index")),
    };
    if bytes.len() < 48 {
        return Err(bad("too short"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err(bad("checksum mismatch"));
    }
    let count = u64::from_le_bytes(body[8..16].try_into().map_err(|_| bad("short"))?);
    let entries = &body[16..];
    if entries.len() as u64 != count.saturating_mul(entry_len as u64) {
        return Err(bad("wrong length"));
    }
    let u32_at = |e: &[u8], at: usize| -> RepoResult<u32> {
        Ok(u32::from_le_bytes(
            e[at..at + 4].try_into().map_err(|_| bad("short"))?,
        ))
    };
    entries
        .chunks_exact(entry_len)
        .map(|e| {
            let id = ObjectId(e[..32].try_into().map_err(|_| bad("short id"))?);
            let kind = ObjectKind::from_u8(e[32]).ok_or_else(|| bad("unknown kind"))?;
            let offset = u64::from_le_bytes(e[33..41].try_into().map_err(|_| bad("short"))?);
            let len = u32_at(e, 41)?;
            let raw_len = u64::from_le_bytes(e[45..53].try_into().map_err(|_| bad("short"))?);
            let in_block = if entry_len == IDX_ENTRY && u32_at(e, 57)? > 0 {
                Some((u32_at(e, 53)?, u32_at(e, 57)?))
            } else {
                None
            };
            Ok((
                id,
                Loc {
                    pack: pack.clone(),
                    offset,
                    len,
                    kind,
                    raw_len,
                    in_block,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::DirStorage;
    use podstore::MemObjects;
    use podstore::testkit::one_object_commit;
    use podstore::transfer::StreamWriter;

    fn pack_of(o: &MemObjects, commits: &[CommitId]) -> Vec<u8> {
        let r = transfer::reachable(o, commits, &HashSet::new(), false).expect("reachable");
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        w.objects_from(o, &r.objects).expect("objects");
        w.finish().expect("finish").1
    }

    fn repo(dir: &std::path::Path) -> Repo {
        Repo::open(Box::new(DirStorage::open(dir).expect("dir"))).expect("repo")
    }

    /// A directory storage counting the pack indexes read from it.
    #[derive(Debug)]
    struct Counting {
        inner: DirStorage,
        index_gets: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Storage for Counting {
        fn describe(&self) -> String {
            self.inner.describe()
        }
        fn get(&self, key: &str) -> crate::storage::StorageResult<Option<Vec<u8>>> {
            if key.ends_with(".idx") {
                self.index_gets
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            self.inner.get(key)
        }
        fn get_range(
            &self,
            key: &str,
            start: u64,
            len: u64,
        ) -> crate::storage::StorageResult<Vec<u8>> {
            self.inner.get_range(key, start, len)
        }
        fn put(&self, key: &str, bytes: &[u8]) -> crate::storage::StorageResult<()> {
            self.inner.put(key, bytes)
        }
        fn create(&self, key: &str, bytes: &[u8]) -> crate::storage::StorageResult<bool> {
            self.inner.create(key, bytes)
        }
        fn list(&self, prefix: &str) -> crate::storage::StorageResult<Vec<String>> {
            self.inner.list(prefix)
        }
        fn delete(&self, key: &str) -> crate::storage::StorageResult<()> {
            self.inner.delete(key)
        }
    }

    /// Opens the repository in `dir` with the index cache `cache`; returns it and how many
    /// pack indexes it read from the storage while opening.
    fn open_cached(dir: &std::path::Path, cache: &std::path::Path) -> (Repo, usize) {
        let gets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let storage = Counting {
            inner: DirStorage::open(dir).expect("dir"),
            index_gets: gets.clone(),
        };
        let r = Repo::open_with_index_cache(Box::new(storage), Some(cache.to_path_buf()))
            .expect("repo");
        (r, gets.load(std::sync::atomic::Ordering::SeqCst))
    }

    #[test]
    fn pack_indexes_are_read_once_then_from_the_cache_which_is_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = tempfile::tempdir().expect("cache");
        let o = MemObjects::new();
        let commits: Vec<CommitId> = (0..3).map(|i| one_object_commit(&o, i, 5000)).collect();
        // Another writer (a server, a colleague) adds three packs.
        let writer = repo(dir.path());
        for c in &commits {
            writer.receive_pack(&pack_of(&o, &[*c])).expect("pack");
        }
        let (first, gets) = open_cached(dir.path(), cache.path());
        assert_eq!(gets, 3, "a cold cache reads every index");
        let (second, gets) = open_cached(dir.path(), cache.path());
        assert_eq!(gets, 0, "a warm cache reads none");
        for r in [&first, &second] {
            let ids: Vec<ObjectId> = commits.iter().map(|c| c.0).collect();
            assert!(r.missing(&ids).expect("missing").is_empty());
        }
        // A pack this process writes is cached as it is written.
        let c4 = one_object_commit(&o, 9, 5000);
        second.receive_pack(&pack_of(&o, &[c4])).expect("pack");
        let (_, gets) = open_cached(dir.path(), cache.path());
        assert_eq!(gets, 0, "the pack written through the cache is cached");
        // Damaged or foreign copies are ignored, fetched again and repaired.
        let mut cached: Vec<_> = std::fs::read_dir(cache.path())
            .expect("list")
            .map(|e| e.expect("entry").path())
            .collect();
        cached.sort();
        assert_eq!(cached.len(), 4);
        let mut flipped = std::fs::read(&cached[0]).expect("read");
        flipped[20] ^= 1;
        std::fs::write(&cached[0], &flipped).expect("flip");
        std::fs::write(&cached[1], std::fs::read(&cached[2]).expect("read")).expect("swap");
        std::fs::write(&cached[3], b"").expect("truncate");
        let (r, gets) = open_cached(dir.path(), cache.path());
        assert_eq!(gets, 3, "three bad copies are fetched again");
        let mut ids: Vec<ObjectId> = commits.iter().map(|c| c.0).collect();
        ids.push(c4.0);
        assert!(r.missing(&ids).expect("missing").is_empty());
        let (_, gets) = open_cached(dir.path(), cache.path());
        assert_eq!(gets, 0, "and repaired");
    }

    #[test]
    fn opening_removes_temp_copies_left_an_hour_ago_and_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = tempfile::tempdir().expect("cache");
        let aged = |name: &str, secs: u64| {
            let path = cache.path().join(name);
            let f = std::fs::File::create(&path).expect("create");
            let then = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
            f.set_modified(then).expect("mtime");
            path
        };
        let dead = aged("idx-4242-7-0000abcd.tmp", 2 * 3600);
        let writing = aged("idx-4243-1-0000abcd.tmp", 60);
        let foreign = aged("notes-1.tmp", 2 * 3600);
        let copy = aged(&format!("{}.idx", "ab".repeat(32)), 2 * 3600);
        open_cached(dir.path(), cache.path());
        assert!(!dead.exists(), "a temp copy two hours old is removed");
        for kept in [&writing, &foreign, &copy] {
            assert!(kept.exists(), "{} is kept", kept.display());
        }
    }

    #[test]
    fn listed_names_that_are_not_pack_names_never_become_cache_paths() {
        let cache = tempfile::tempdir().expect("cache");
        let dir = tempfile::tempdir().expect("tmp");
        let r = Repo::open_with_index_cache(
            Box::new(DirStorage::open(dir.path()).expect("dir")),
            Some(cache.path().to_path_buf()),
        )
        .expect("repo");
        let good = "0123456789abcdef".repeat(4);
        assert!(r.cached_index_path(&good).is_some());
        for bad in [
            "../../etc/passwd",
            &good.to_uppercase(),
            &good[1..],
            &format!("{good}0"),
        ] {
            assert!(r.cached_index_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn packs_versions_and_compare_and_swap() {
        let dir = tempfile::tempdir().expect("tmp");
        let r = repo(dir.path());
        let o = MemObjects::new();
        let c1 = one_object_commit(&o, 1, 700_000);
        let c2 = one_object_commit(&o, 2, 10);
        // A version whose objects are not there is refused.
        let err = r
            .create_version("p", 1, c1, None, "t")
            .expect_err("incomplete");
        assert!(matches!(err, RepoError::Invalid(_)), "{err}");
        let got = r.receive_pack(&pack_of(&o, &[c1])).expect("pack");
        assert_eq!(got.objects, got.new_objects);
        assert!(r.missing(&[c1.0]).expect("missing").is_empty());
        assert_eq!(r.missing(&[c2.0]).expect("missing"), vec![c2.0]);
        r.create_version("p", 1, c1, None, "t").expect("v1");
        // Same base twice: the second loses.
        r.receive_pack(&pack_of(&o, &[c2])).expect("pack");
        r.create_version("p", 2, c2, Some(1), "t").expect("v2");
        let err = r
            .create_version("p", 3, c2, Some(1), "t")
            .expect_err("stale");
        assert!(
            matches!(
                err,
                RepoError::Conflict {
                    latest: Some(2),
                    ..
                }
            ),
            "{err}"
        );
        // A second handle (another server on the same storage) sees everything.
        let r2 = repo(dir.path());
        assert_eq!(r2.versions("p").expect("versions").versions.len(), 2);
        let listing = r2.listing(c1).expect("listing");
        assert_eq!(listing.last().map(|l| l.0), Some(c1.0));
        let ids: Vec<ObjectId> = listing.iter().map(|l| l.0).collect();
        let mut stream = Vec::new();
        r2.write_objects(&ids, &mut stream).expect("write");
        let back = MemObjects::new();
        transfer::read_stream(&stream[..], &back, StreamLimits::default()).expect("read back");
        assert!(back.contains(&c1.0).expect("contains"));
        // Deleting keeps the number taken.
        r2.delete("p", Some(2)).expect("delete");
        assert_eq!(r2.versions("p").expect("v").highest, 2);
        let err = r2
            .create_version("p", 2, c2, Some(1), "t")
            .expect_err("reuse");
        assert!(matches!(err, RepoError::Conflict { .. }), "{err}");
        r2.create_version("p", 3, c2, Some(1), "t").expect("v3");
        assert!(matches!(r2.versions("q"), Err(RepoError::NotFound(_))));
    }

    #[test]
    fn stored_blocks_are_kept_and_sent_whole_or_split() {
        let (local_dir, dir) = (
            tempfile::tempdir().expect("l"),
            tempfile::tempdir().expect("r"),
        );
        let local = podstore::Store::open(local_dir.path()).expect("store");
        let c = podstore::testkit::random_object_commit(&local, 1, 2 << 20);
        local.flush().expect("flush");
        let r = transfer::reachable(&local, &[c], &HashSet::new(), false).expect("reachable");
        let ids: Vec<ObjectId> = r.objects.iter().map(|o| o.0).collect();
        // As a push sends them: whole blocks, then the rest (the chunk list) one by one.
        let blocks = local.whole_blocks(&ids).expect("blocks");
        let in_blocks: HashSet<ObjectId> = blocks
            .iter()
            .flat_map(|b| b.members.iter().map(|m| m.id))
            .collect();
        assert!(
            in_blocks.len() > 3,
            "chunks and the small objects travel in blocks"
        );
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        for b in &blocks {
            let stored = local.read_stored_block(b).expect("stored");
            w.block(&b.members, b.codec(), b.raw_len(), &stored)
                .expect("block");
        }
        let rest: Vec<(ObjectId, ObjectKind)> = r
            .objects
            .iter()
            .filter(|o| !in_blocks.contains(&o.0))
            .copied()
            .collect();
        assert!(rest.iter().any(|o| o.1 == ObjectKind::Chunks));
        w.objects_from(&local, &rest).expect("rest");
        let (_, pack) = w.finish().expect("finish");
        let first = repo(dir.path());
        first.receive_pack(&pack).expect("receive");
        // A second server reads the index back, walks the commit and answers downloads.
        let r2 = repo(dir.path());
        r2.create_version("p", 1, c, None, "t").expect("complete");
        let listing = r2.listing(c).expect("listing");
        let all: Vec<ObjectId> = listing.iter().map(|l| l.0).collect();
        for (i, l) in listing.iter().enumerate() {
            if l.1 == ObjectKind::Chunks as u8 {
                let bytes = r2.get_kind(&l.0, ObjectKind::Chunks).expect("list");
                let (_, chunks) = podstore::decode_list(&l.0, &bytes).expect("decode");
                let last = chunks
                    .iter()
                    .map(|(c, _)| all.iter().position(|x| x == c).expect("listed"))
                    .max();
                assert_eq!(last, Some(i - 1), "a list comes right after its last chunk");
            }
        }
        let mut whole = Vec::new();
        r2.write_objects(&all, &mut whole).expect("all");
        let back = MemObjects::new();
        let mut in_block_frames = 0;
        transfer::read_stream_indexed(&whole[..], &back, StreamLimits::default(), &mut |f| {
            in_block_frames += usize::from(f.in_block.is_some());
        })
        .expect("read all");
        assert_eq!(in_block_frames, in_blocks.len(), "blocks go out whole");
        assert!(transfer::reachable(&back, &[c], &HashSet::new(), false).is_ok());
        // Part of a block: only the objects asked for, each in its own frame.
        let part: Vec<ObjectId> = blocks[0].members.iter().skip(1).map(|m| m.id).collect();
        let mut split = Vec::new();
        r2.write_objects(&part, &mut split).expect("part");
        let back = MemObjects::new();
        let mut frames = 0;
        let (stats, got) =
            transfer::read_stream_indexed(&split[..], &back, StreamLimits::default(), &mut |f| {
                assert!(f.in_block.is_none());
                frames += 1;
            })
            .expect("read part");
        assert_eq!((stats.objects, got), (part.len() as u64, part.clone()));
        assert_eq!(frames, part.len());
        // The size a plan promises before reading holds for every shape of stream (whole
        // blocks, objects out of a block stored raw, a chunk list's own frame, an id asked
        // twice), and is not far above it.
        let mut twice = part.clone();
        twice.push(part[0]);
        let chunk_list = listing
            .iter()
            .find(|l| l.1 == ObjectKind::Chunks as u8)
            .map(|l| l.0)
            .expect("a chunk list");
        for ids in [
            all.clone(),
            part.clone(),
            twice,
            vec![chunk_list, chunk_list],
        ] {
            let plan = r2.plan_objects(&ids).expect("plan");
            let mut out = Vec::new();
            r2.write_planned(&plan, &mut out).expect("write");
            let (len, bound) = (out.len() as u64, plan.size_bound());
            assert!(len <= bound, "{len} bytes written, {bound} promised");
            assert!(bound - len <= 64 * ids.len() as u64, "{bound} for {len}");
        }
        let absent = [all[0], ObjectId::of(b"not on the remote")];
        assert!(matches!(
            r2.plan_objects(&absent),
            Err(RepoError::NotFound(_))
        ));
    }

    #[test]
    fn indexes_of_both_formats_are_read() {
        let id = ObjectId::of(b"x");
        let mut v1 = IDX_MAGIC_V1.to_vec();
        v1.extend_from_slice(&1u64.to_le_bytes());
        v1.extend_from_slice(&id.0);
        v1.push(ObjectKind::Blob as u8);
        v1.extend_from_slice(&8u64.to_le_bytes());
        v1.extend_from_slice(&40u32.to_le_bytes());
        v1.extend_from_slice(&1u64.to_le_bytes());
        let sum = Sha256::digest(&v1);
        v1.extend_from_slice(&sum);
        let pack: Arc<str> = Arc::from("p");
        let old = decode_index(&pack, &v1).expect("v1");
        assert_eq!(old.len(), 1);
        assert_eq!(
            (old[0].1.offset, old[0].1.len, old[0].1.in_block),
            (8, 40, None)
        );
        let frames = [FrameInfo {
            id,
            kind: ObjectKind::Blob,
            offset: 8,
            len: 300,
            raw_len: 1,
            in_block: Some((5, 3)),
        }];
        let new = decode_index(&pack, &encode_index(&frames).expect("encode")).expect("v2");
        assert_eq!(new[0].1.in_block, Some((5, 3)));
        let mut bad = v1.clone();
        bad[20] ^= 1;
        assert!(decode_index(&pack, &bad).is_err());
    }

    #[test]
    fn a_bad_object_refuses_the_whole_pack() {
        let dir = tempfile::tempdir().expect("tmp");
        let r = repo(dir.path());
        let o = MemObjects::new();
        let c = one_object_commit(&o, 1, 5000);
        let mut bytes = pack_of(&o, &[c]);
        let n = bytes.len();
        bytes[n - 20] ^= 0x40;
        assert!(r.receive_pack(&bytes).is_err());
        assert!(r.storage().list("packs/").expect("list").is_empty());
        assert!(r.receive_pack(b"garbage").is_err());
    }
}
