//! [`Store`]: the on-disk object store, shared by every process on the machine.
//!
//! ```text
//! <root>/store.json               {"format": 1}
//! <root>/lock                     flock: shared while a handle is open, exclusive for gc
//! <root>/packs/pack-<name>.pack   objects (see `pack`)
//! <root>/packs/pack-<name>.idx    their index; its presence makes the pack live
//! <root>/tmp/                     packs and files being written
//! <root>/pods/<name>/<N>.json     pod versions (see `pods`)
//! ```
//!
//! Concurrency: each writing handle fills its own temp pack, so processes never write the same
//! file; packs are immutable once renamed into `packs/`. Another process's new packs are found
//! by rescanning `packs/` when a read misses. Refs are created with an atomic create-if-absent.
//! `gc` is the only operation that deletes, and it needs the exclusive lock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::ObjectId;
use crate::object::{BlockMember, ObjectKind, Objects, ReceivedBlock, StoredObject, poisoned};
use crate::pack::{self, FinishedPack, Levels, Loc, PackWriter};

/// The store format this build reads and writes.
pub const STORE_FORMAT: u64 = 1;
const CACHE_BLOCKS: usize = 32;
/// Pack files kept open at once. A store can hold thousands of packs (every durable save
/// writes one), so files are opened on demand rather than one per pack for good.
const OPEN_FILES: usize = 64;

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// zstd levels of new packs (default [`Levels::STORE`]).
    pub levels: Levels,
    /// Take the store alone (gc); fails with [`Error::Busy`] while any other handle is open.
    pub exclusive: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            levels: Levels::STORE,
            exclusive: false,
        }
    }
}

/// A handle on a pod store directory. Cheap to clone; safe to share between threads.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    packs_dir: PathBuf,
    tmp_dir: PathBuf,
    _lock: File,
    levels: Levels,
    index: RwLock<Index>,
    writer: Mutex<Option<PackWriter>>,
    cache: Mutex<BlockCache>,
    open_files: Mutex<VecDeque<(u32, Arc<File>)>>,
    problems: Mutex<Vec<String>>,
}

/// A callback that receives objects: id, kind and bytes.
pub type ObjectVisitor<'a> = dyn FnMut(&ObjectId, ObjectKind, &[u8]) -> Result<()> + 'a;

/// Recently decoded blocks, keyed by (pack number, block offset).
type BlockCache = VecDeque<((u32, u64), Arc<Vec<u8>>)>;

#[derive(Debug, Default)]
struct Index {
    map: HashMap<ObjectId, (u32, Loc)>,
    packs: Vec<PackHandle>,
    names: HashSet<String>,
    dir_mtime: Option<SystemTime>,
}

#[derive(Debug)]
pub(crate) struct PackHandle {
    pub name: String,
    pub path: PathBuf,
    pub len: u64,
}

/// Sizes of a store, for `store stats` and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Live pack files.
    pub packs: usize,
    /// Objects in them (duplicates across packs counted once).
    pub objects: usize,
    /// Bytes of pack files on disk.
    pub pack_bytes: u64,
}

impl Store {
    /// Opens (creating if absent or empty) the store at `root` with default options.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, StoreOptions::default())
    }

    /// Opens the store at `root`.
    pub fn open_with(root: impl AsRef<Path>, opts: StoreOptions) -> Result<Self> {
        let root = root.as_ref().to_owned();
        init_layout(&root)?;
        let lock_path = root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx("open", &lock_path)?;
        if opts.exclusive {
            lock.try_lock().map_err(|_| Error::Busy {
                path: root.clone(),
                what: "another podstack process has it open".into(),
            })?;
        } else {
            lock.lock_shared().ctx("lock", &lock_path)?;
        }
        let store = Self {
            inner: Arc::new(Inner {
                packs_dir: root.join("packs"),
                tmp_dir: root.join("tmp"),
                root,
                _lock: lock,
                levels: opts.levels,
                index: RwLock::new(Index::default()),
                writer: Mutex::new(None),
                cache: Mutex::new(VecDeque::new()),
                open_files: Mutex::new(VecDeque::new()),
                problems: Mutex::new(Vec::new()),
            }),
        };
        store.sweep_tmp();
        store.refresh()?;
        Ok(store)
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.inner.tmp_dir
    }

    pub(crate) fn packs_dir(&self) -> &Path {
        &self.inner.packs_dir
    }

    /// Index files that could not be loaded (reported by verify).
    pub fn problems(&self) -> Vec<String> {
        self.inner
            .problems
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// Makes every object written through this handle durable (finishes the open pack).
    pub fn flush(&self) -> Result<()> {
        let mut w = self.inner.writer.lock().map_err(|_| poisoned())?;
        if let Some(writer) = w.take() {
            if writer.is_empty() {
                writer.abandon();
            } else {
                let done = writer.finish(&self.inner.tmp_dir, &self.inner.packs_dir)?;
                self.register(done)?;
            }
        }
        Ok(())
    }

    /// The objects among `ids`, and the chunks of chunk lists among them, that were written
    /// through this handle and are not yet durable (not in a finished pack), with their kinds
    /// and bytes: what a write-ahead journal must hold to make them durable without finishing
    /// the pack. Objects already durable, or unknown, are left out.
    pub fn unflushed(&self, ids: &[ObjectId]) -> Result<Vec<(ObjectId, ObjectKind, Vec<u8>)>> {
        let w = self.inner.writer.lock().map_err(|_| poisoned())?;
        let Some(writer) = w.as_ref() else {
            return Ok(Vec::new());
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut todo: Vec<ObjectId> = ids.to_vec();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some((kind, bytes)) = writer.read(&id)? {
                if kind == ObjectKind::Chunks {
                    let (_, chunks) = crate::blob::decode_list(&id, &bytes)?;
                    todo.extend(chunks.into_iter().map(|(c, _)| c));
                }
                out.push((id, kind, bytes));
            }
        }
        Ok(out)
    }

    /// Drops objects written since the last flush (used when an import fails half way).
    pub fn discard_pending(&self) -> Result<()> {
        let mut w = self.inner.writer.lock().map_err(|_| poisoned())?;
        if let Some(writer) = w.take() {
            writer.abandon();
        }
        Ok(())
    }

    /// Pack count, object count and bytes on disk.
    pub fn stats(&self) -> Result<StoreStats> {
        let idx = self.inner.index.read().map_err(|_| poisoned())?;
        Ok(StoreStats {
            packs: idx.packs.len(),
            objects: idx.map.len(),
            pack_bytes: idx.packs.iter().map(|p| p.len).sum(),
        })
    }

    /// Every stored object with its kind (pending ones excluded).
    pub fn list_objects(&self) -> Result<Vec<(ObjectId, ObjectKind)>> {
        let idx = self.inner.index.read().map_err(|_| poisoned())?;
        Ok(idx.map.iter().map(|(id, (_, l))| (*id, l.kind)).collect())
    }

    /// Rescans `packs/` for packs written by other processes. Cheap when nothing changed.
    pub fn refresh(&self) -> Result<()> {
        let dir = &self.inner.packs_dir;
        let mtime = fs::metadata(dir).and_then(|m| m.modified()).ok();
        if mtime.is_some() && self.inner.index.read().map_err(|_| poisoned())?.dir_mtime == mtime {
            return Ok(());
        }
        let mut new = Vec::new();
        {
            let idx = self.inner.index.read().map_err(|_| poisoned())?;
            for e in fs::read_dir(dir).ctx("list", dir)? {
                let e = e.ctx("list", dir)?;
                let fname = e.file_name().to_string_lossy().into_owned();
                if let Some(name) = fname
                    .strip_prefix("pack-")
                    .and_then(|n| n.strip_suffix(".idx"))
                    && !idx.names.contains(name)
                {
                    new.push(name.to_owned());
                }
            }
        }
        new.sort();
        for name in new {
            match self.load_pack(&name) {
                Ok(done) => self.register(done)?,
                Err(e) => self.note_problem(e.to_string()),
            }
        }
        self.inner.index.write().map_err(|_| poisoned())?.dir_mtime = mtime;
        Ok(())
    }

    fn note_problem(&self, p: String) {
        if let Ok(mut v) = self.inner.problems.lock()
            && !v.contains(&p)
        {
            v.push(p);
        }
    }

    fn load_pack(&self, name: &str) -> Result<FinishedPack> {
        let idx_path = self.inner.packs_dir.join(format!("pack-{name}.idx"));
        let bytes = fs::read(&idx_path).ctx("read", &idx_path)?;
        let (pack_len, entries) = pack::parse_index(&idx_path, &bytes)?;
        let pack_path = self.inner.packs_dir.join(format!("pack-{name}.pack"));
        let actual = fs::metadata(&pack_path).ctx("stat", &pack_path)?.len();
        if actual != pack_len {
            return Err(Error::CorruptFile {
                path: pack_path,
                reason: format!("{actual} bytes, its index says {pack_len}"),
            });
        }
        Ok(FinishedPack {
            name: name.to_owned(),
            entries,
        })
    }

    pub(crate) fn register(&self, done: FinishedPack) -> Result<()> {
        let path = self
            .inner
            .packs_dir
            .join(format!("pack-{}.pack", done.name));
        let len = fs::metadata(&path).ctx("stat", &path)?.len();
        let mut idx = self.inner.index.write().map_err(|_| poisoned())?;
        if idx.names.contains(&done.name) {
            return Ok(());
        }
        let n = idx.packs.len() as u32;
        for (id, loc) in &done.entries {
            idx.map.entry(*id).or_insert((n, *loc));
        }
        idx.names.insert(done.name.clone());
        idx.packs.push(PackHandle {
            name: done.name,
            path,
            len,
        });
        Ok(())
    }

    /// Removes temp files left by dead processes: packs whose lock nobody holds, other
    /// temp files older than an hour.
    fn sweep_tmp(&self) {
        let Ok(rd) = fs::read_dir(&self.inner.tmp_dir) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            let age = fsutil::age(&e);
            let is_pack = path.extension().is_some_and(|x| x == "tmp")
                && e.file_name().to_string_lossy().starts_with("pack-");
            let dead = if is_pack {
                age > Duration::from_secs(60)
                    && File::open(&path).is_ok_and(|f| f.try_lock().is_ok())
            } else {
                age > Duration::from_secs(3600)
            };
            if dead {
                let _ = fs::remove_file(&path);
            }
        }
    }

    fn read_committed(&self, id: &ObjectId) -> Result<Option<StoredObject>> {
        let idx = self.inner.index.read().map_err(|_| poisoned())?;
        let Some(&(pack_no, loc)) = idx.map.get(id) else {
            return Ok(None);
        };
        let handle = &idx.packs[pack_no as usize];
        let block = self.block(pack_no, handle, &loc)?;
        let bytes =
            pack::object_in_block(&block, id, &loc).map_err(|reason| Error::CorruptFile {
                path: handle.path.clone(),
                reason: format!("object {}: {reason}", id.short()),
            })?;
        Ok(Some((loc.kind, Arc::new(bytes))))
    }

    fn block(&self, pack_no: u32, handle: &PackHandle, loc: &Loc) -> Result<Arc<Vec<u8>>> {
        let key = (pack_no, loc.block_off);
        if let Ok(cache) = self.inner.cache.lock()
            && let Some((_, b)) = cache.iter().find(|(k, _)| *k == key)
        {
            return Ok(b.clone());
        }
        let file = self.pack_file(pack_no, &handle.path)?;
        let block = Arc::new(pack::read_block(&file, &handle.path, loc)?);
        if let Ok(mut cache) = self.inner.cache.lock() {
            if cache.len() >= CACHE_BLOCKS {
                cache.pop_front();
            }
            cache.push_back((key, block.clone()));
        }
        Ok(block)
    }

    /// The logical size of a committed object, from the index (nothing is read); `None` when
    /// the object is absent or not yet flushed.
    pub fn object_size(&self, id: &ObjectId) -> Result<Option<u64>> {
        let index = self.inner.index.read().map_err(|_| poisoned())?;
        Ok(index.map.get(id).map(|(_, loc)| u64::from(loc.obj_len)))
    }

    /// Calls `f` for each of `ids` in the order the objects are stored, decompressing every
    /// block once: the way to read many objects (restore, export, verify). Objects not yet
    /// flushed come last. Fails on the first missing object.
    pub fn read_in_storage_order(&self, ids: &[ObjectId], f: &mut ObjectVisitor<'_>) -> Result<()> {
        let (mut located, pending, files) = {
            let idx = self.inner.index.read().map_err(|_| poisoned())?;
            let mut located = Vec::with_capacity(ids.len());
            let mut pending = Vec::new();
            for id in ids {
                match idx.map.get(id) {
                    Some(&(pack, loc)) => located.push((pack, loc, *id)),
                    None => pending.push(*id),
                }
            }
            let files: Vec<PathBuf> = idx.packs.iter().map(|p| p.path.clone()).collect();
            (located, pending, files)
        };
        located.sort_by_key(|(pack, loc, _)| (*pack, loc.block_off, loc.obj_off));
        let mut current: Option<((u32, u64), Vec<u8>)> = None;
        for (pack, loc, id) in located {
            let path = &files[pack as usize];
            if current
                .as_ref()
                .is_none_or(|(k, _)| *k != (pack, loc.block_off))
            {
                let file = self.pack_file(pack, path)?;
                current = Some(((pack, loc.block_off), pack::read_block(&file, path, &loc)?));
            }
            let block = &current.as_ref().expect("works because it was just set").1;
            let bytes =
                pack::object_in_block(block, &id, &loc).map_err(|reason| Error::CorruptFile {
                    path: path.clone(),
                    reason,
                })?;
            f(&id, loc.kind, &bytes)?;
        }
        for id in pending {
            let (kind, bytes) = self.get_raw(&id)?.ok_or(Error::MissingObject(id))?;
            f(&id, kind, &bytes)?;
        }
        Ok(())
    }

    /// The committed blocks whose every record is one of `ids`, chunk lists excepted, in
    /// storage order: these can travel as they are stored ([`Store::read_stored_block`]),
    /// without being decoded and encoded again. A block holding anything else (an object not
    /// asked for, a chunk list, a record the index does not name) is not among them.
    pub fn whole_blocks(&self, ids: &[ObjectId]) -> Result<Vec<WholeBlock>> {
        let idx = self.inner.index.read().map_err(|_| poisoned())?;
        let mut by_block: HashMap<(u32, u64), (Loc, Vec<BlockMember>)> = HashMap::new();
        let mut seen = HashSet::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(*id) {
                continue;
            }
            if let Some(&(pack, loc)) = idx.map.get(id) {
                by_block
                    .entry((pack, loc.block_off))
                    .or_insert_with(|| (loc, Vec::new()))
                    .1
                    .push(BlockMember {
                        id: *id,
                        kind: loc.kind,
                        off: loc.obj_off,
                        len: loc.obj_len,
                    });
            }
        }
        let mut out: Vec<WholeBlock> = by_block
            .into_iter()
            .filter_map(|((pack, _), (loc, mut members))| {
                members.sort_by_key(|m| m.off);
                let mut end = 0u64;
                for m in &members {
                    if m.kind == ObjectKind::Chunks
                        || u64::from(m.off) != end + pack::RECORD_HEADER as u64
                    {
                        return None;
                    }
                    end = u64::from(m.off) + u64::from(m.len);
                }
                (end == u64::from(loc.block_raw)).then_some(WholeBlock { pack, loc, members })
            })
            .collect();
        out.sort_by_key(|b| (b.pack, b.loc.block_off));
        Ok(out)
    }

    /// The stored bytes of a block that [`Store::whole_blocks`] found.
    pub fn read_stored_block(&self, block: &WholeBlock) -> Result<Vec<u8>> {
        let path = {
            let idx = self.inner.index.read().map_err(|_| poisoned())?;
            idx.packs
                .get(block.pack as usize)
                .map(|p| p.path.clone())
                .ok_or_else(|| Error::CorruptFile {
                    path: self.inner.packs_dir.clone(),
                    reason: format!("pack number {} vanished", block.pack),
                })?
        };
        let file = self.pack_file(block.pack, &path)?;
        pack::read_stored(&file, &path, &block.loc)
    }

    /// An open handle on pack number `pack_no` (cached; the least recently opened is closed
    /// when more than [`OPEN_FILES`] are open).
    fn pack_file(&self, pack_no: u32, path: &Path) -> Result<Arc<File>> {
        let mut open = self.inner.open_files.lock().map_err(|_| poisoned())?;
        if let Some((_, f)) = open.iter().find(|(n, _)| *n == pack_no) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(path).ctx("open", path)?);
        if open.len() >= OPEN_FILES {
            open.pop_front();
        }
        open.push_back((pack_no, f.clone()));
        Ok(f)
    }

    /// The live packs, for verify and gc.
    pub(crate) fn with_packs<T>(&self, f: impl FnOnce(&[PackHandle]) -> T) -> Result<T> {
        let idx = self.inner.index.read().map_err(|_| poisoned())?;
        Ok(f(&idx.packs))
    }

    /// Forgets every pack and reloads the index from disk (after gc rewrote packs).
    pub(crate) fn reload(&self) -> Result<()> {
        {
            let mut idx = self.inner.index.write().map_err(|_| poisoned())?;
            *idx = Index::default();
        }
        if let Ok(mut c) = self.inner.cache.lock() {
            c.clear();
        }
        if let Ok(mut o) = self.inner.open_files.lock() {
            o.clear();
        }
        self.refresh()
    }
}

/// A block of a pack made only of objects asked for (see [`Store::whole_blocks`]).
#[derive(Clone, Debug)]
pub struct WholeBlock {
    pack: u32,
    loc: Loc,
    /// Its records, in order.
    pub members: Vec<BlockMember>,
}

impl WholeBlock {
    /// How the stored bytes are encoded (0 raw, 1 zstd).
    pub fn codec(&self) -> u8 {
        self.loc.codec
    }

    /// The stored length.
    pub fn stored_len(&self) -> u32 {
        self.loc.block_stored
    }

    /// The decoded length.
    pub fn raw_len(&self) -> u32 {
        self.loc.block_raw
    }

    /// The members' bytes (the decoded length without record headers).
    pub fn object_bytes(&self) -> u64 {
        self.members.iter().map(|m| u64::from(m.len)).sum()
    }
}

/// A private write area of a store: objects put here are readable through it at once, but
/// become part of the store only on [`Staging::commit`]; dropping it leaves the store as it
/// was. Imports and loads stage, validate, then commit.
#[derive(Debug)]
pub struct Staging {
    store: Store,
    writer: Mutex<Option<PackWriter>>,
    levels: Levels,
}

impl Staging {
    /// The store staged into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes every staged object durable and part of the store.
    pub fn commit(self) -> Result<()> {
        let writer = self.writer.lock().map_err(|_| poisoned())?.take();
        if let Some(w) = writer {
            if w.is_empty() {
                w.abandon();
            } else {
                let done = w.finish(self.store.tmp_dir(), self.store.packs_dir())?;
                self.store.register(done)?;
            }
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Ok(mut w) = self.writer.lock()
            && let Some(w) = w.take()
        {
            w.abandon();
        }
    }
}

impl Objects for Staging {
    fn get_raw(&self, id: &ObjectId) -> Result<Option<StoredObject>> {
        {
            let w = self.writer.lock().map_err(|_| poisoned())?;
            if let Some(writer) = w.as_ref()
                && let Some((kind, bytes)) = writer.read(id)?
            {
                return Ok(Some((kind, Arc::new(bytes))));
            }
        }
        self.store.get_raw(id)
    }

    fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> Result<bool> {
        if self.store.contains(&id)? {
            return Ok(false);
        }
        let mut w = self.writer.lock().map_err(|_| poisoned())?;
        if w.as_ref().is_some_and(|wr| wr.pending.contains_key(&id)) {
            return Ok(false);
        }
        PackWriter::in_slot(&mut w, self.store.tmp_dir(), self.levels)?.add(kind, id, bytes)?;
        Ok(true)
    }

    /// Keeps the block as it came (no second compression); objects stored already are left
    /// out of the index.
    fn put_block(&self, block: &ReceivedBlock<'_>) -> Result<()> {
        let mut fresh = Vec::with_capacity(block.members.len());
        for m in block.members {
            if !self.contains(&m.id)? {
                fresh.push(*m);
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let raw_len = u32::try_from(block.raw.len())
            .map_err(|_| Error::InvalidArchive("a block over 4 GiB".into()))?;
        let mut w = self.writer.lock().map_err(|_| poisoned())?;
        PackWriter::in_slot(&mut w, self.store.tmp_dir(), self.levels)?.add_block(
            block.codec,
            block.stored,
            raw_len,
            &fresh,
        )
    }

    fn kind_of(&self, id: &ObjectId) -> Result<Option<ObjectKind>> {
        {
            let w = self.writer.lock().map_err(|_| poisoned())?;
            if let Some(k) = w.as_ref().and_then(|wr| wr.kind_of(id)) {
                return Ok(Some(k));
            }
        }
        self.store.kind_of(id)
    }

    fn contains(&self, id: &ObjectId) -> Result<bool> {
        {
            let w = self.writer.lock().map_err(|_| poisoned())?;
            if w.as_ref().is_some_and(|wr| wr.pending.contains_key(id)) {
                return Ok(true);
            }
        }
        self.store.contains(id)
    }
}

impl Store {
    /// Opens a staging area on this store.
    pub fn stage(&self) -> Staging {
        self.stage_with_levels(self.inner.levels)
    }

    /// Opens a staging area whose packs use zstd `levels` (pulls use a low level: received
    /// objects must be stored as fast as the network brings them).
    pub fn stage_with_levels(&self, levels: Levels) -> Staging {
        Staging {
            store: self.clone(),
            writer: Mutex::new(None),
            levels,
        }
    }

    /// The zstd levels of this handle's new packs.
    pub fn levels(&self) -> Levels {
        self.inner.levels
    }
}

fn init_layout(root: &Path) -> Result<()> {
    let marker = root.join("store.json");
    match fs::read(&marker) {
        Ok(bytes) => check_marker(root, &bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let non_empty = fs::read_dir(root).is_ok_and(|mut d| d.next().is_some());
            if non_empty {
                return Err(Error::NotAStore {
                    path: root.to_owned(),
                    reason: "the directory is not empty and has no store.json".into(),
                });
            }
            fs::create_dir_all(root.join("tmp")).ctx("create", root)?;
            let body = format!("{{\"format\":{STORE_FORMAT}}}\n");
            fsutil::write_atomic(&root.join("tmp"), &marker, body.as_bytes())?;
        }
        Err(e) => return Err(e).ctx("read", &marker),
    }
    for sub in ["packs", "tmp", "pods"] {
        fs::create_dir_all(root.join(sub)).ctx("create", root.join(sub))?;
    }
    Ok(())
}

fn check_marker(root: &Path, bytes: &[u8]) -> Result<()> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::NotAStore {
        path: root.to_owned(),
        reason: format!("store.json is not JSON: {e}"),
    })?;
    match v.get("format").and_then(|f| f.as_u64()) {
        Some(STORE_FORMAT) => Ok(()),
        Some(n) => Err(Error::NotAStore {
            path: root.to_owned(),
            reason: format!("store format {n}, this podstack reads format {STORE_FORMAT}"),
        }),
        None => Err(Error::NotAStore {
            path: root.to_owned(),
            reason: "store.json has no format number".into(),
        }),
    }
}

impl Objects for Store {
    fn get_raw(&self, id: &ObjectId) -> Result<Option<StoredObject>> {
        if let Some(v) = self.read_committed(id)? {
            return Ok(Some(v));
        }
        {
            let w = self.inner.writer.lock().map_err(|_| poisoned())?;
            if let Some(writer) = w.as_ref()
                && let Some((kind, bytes)) = writer.read(id)?
            {
                return Ok(Some((kind, Arc::new(bytes))));
            }
        }
        self.refresh()?;
        self.read_committed(id)
    }

    fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> Result<bool> {
        if self
            .inner
            .index
            .read()
            .map_err(|_| poisoned())?
            .map
            .contains_key(&id)
        {
            return Ok(false);
        }
        let mut w = self.inner.writer.lock().map_err(|_| poisoned())?;
        if w.as_ref().is_some_and(|wr| wr.pending.contains_key(&id)) {
            return Ok(false);
        }
        let writer = PackWriter::in_slot(&mut w, &self.inner.tmp_dir, self.inner.levels)?;
        writer.add(kind, id, bytes)?;
        if writer.size() >= pack::PACK_TARGET {
            let full = w.take().expect("works because it is Some");
            let done = full.finish(&self.inner.tmp_dir, &self.inner.packs_dir)?;
            self.register(done)?;
        }
        Ok(true)
    }

    /// From the index (or the pending pack): walks that only need kinds read no block.
    fn kind_of(&self, id: &ObjectId) -> Result<Option<ObjectKind>> {
        if let Some((_, loc)) = self.inner.index.read().map_err(|_| poisoned())?.map.get(id) {
            return Ok(Some(loc.kind));
        }
        {
            let w = self.inner.writer.lock().map_err(|_| poisoned())?;
            if let Some(k) = w.as_ref().and_then(|wr| wr.kind_of(id)) {
                return Ok(Some(k));
            }
        }
        Ok(self.get_raw(id)?.map(|(k, _)| k))
    }

    fn contains(&self, id: &ObjectId) -> Result<bool> {
        if self
            .inner
            .index
            .read()
            .map_err(|_| poisoned())?
            .map
            .contains_key(id)
        {
            return Ok(true);
        }
        let w = self.inner.writer.lock().map_err(|_| poisoned())?;
        Ok(w.as_ref().is_some_and(|wr| wr.pending.contains_key(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_survive_reopen_and_pending_are_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut ids = Vec::new();
        for i in 0..2000u32 {
            let body = format!(
                "{{\"n\":{i},\"pad\":\"{}\"}}",
                "x".repeat((i % 97) as usize)
            );
            ids.push((
                store
                    .put(ObjectKind::Document, body.as_bytes())
                    .expect("put"),
                body,
            ));
        }
        let (id0, body0) = &ids[0];
        let got = store
            .get_kind(id0, ObjectKind::Document)
            .expect("pending read");
        assert_eq!(got.as_slice(), body0.as_bytes());
        assert!(
            !store
                .put_raw(ObjectKind::Document, *id0, body0.as_bytes())
                .expect("dup")
        );
        store.flush().expect("flush");
        drop(store);
        let store = Store::open(dir.path()).expect("reopen");
        for (id, body) in &ids {
            assert_eq!(
                store
                    .get_kind(id, ObjectKind::Document)
                    .expect("get")
                    .as_slice(),
                body.as_bytes()
            );
        }
        assert_eq!(store.stats().expect("stats").objects, 2000);
    }

    #[test]
    fn storage_order_reads_visit_every_object_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut ids = Vec::new();
        for i in 0..500u32 {
            ids.push(
                store
                    .put(ObjectKind::Blob, format!("object {i}").as_bytes())
                    .expect("put"),
            );
        }
        store.flush().expect("flush");
        let late = store.put(ObjectKind::Blob, b"not flushed").expect("put");
        ids.push(late);
        ids.reverse();
        let mut seen = std::collections::HashSet::new();
        store
            .read_in_storage_order(&ids, &mut |id, _, bytes| {
                assert_eq!(ObjectId::of(bytes), *id);
                assert!(seen.insert(*id));
                Ok(())
            })
            .expect("read");
        assert_eq!(seen.len(), 501);
        let missing = ObjectId::of(b"never stored");
        let err = store
            .read_in_storage_order(&[missing], &mut |_, _, _| Ok(()))
            .expect_err("missing");
        assert!(matches!(err, Error::MissingObject(_)));
    }

    #[test]
    fn thousands_of_packs_do_not_exhaust_file_descriptors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut ids = Vec::new();
        for i in 0..1500u32 {
            ids.push(
                store
                    .put(ObjectKind::Blob, format!("pack {i}").as_bytes())
                    .expect("put"),
            );
            store.flush().expect("flush: one pack per object");
        }
        assert_eq!(store.stats().expect("stats").packs, 1500);
        for id in ids.iter().rev().chain(ids.iter()) {
            assert!(store.get_raw(id).expect("read").is_some());
        }
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(fds < 500, "{fds} file descriptors open");
    }

    #[test]
    fn a_second_handle_sees_packs_of_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Store::open(dir.path()).expect("open a");
        let b = Store::open(dir.path()).expect("open b");
        let id = a.put(ObjectKind::Blob, b"hello").expect("put");
        assert!(b.get_raw(&id).expect("get").is_none());
        a.flush().expect("flush");
        assert_eq!(
            b.get_kind(&id, ObjectKind::Blob).expect("get").as_slice(),
            b"hello"
        );
    }

    #[test]
    fn refuses_foreign_directories_and_newer_formats() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("x"), "x").expect("write");
        assert!(matches!(
            Store::open(dir.path()),
            Err(Error::NotAStore { .. })
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("store.json"), "{\"format\":99}").expect("write");
        let err = Store::open(dir.path()).expect_err("newer format");
        assert!(err.to_string().contains("format 99"), "{err}");
    }

    #[test]
    fn exclusive_open_is_refused_while_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _a = Store::open(dir.path()).expect("open");
        let opts = StoreOptions {
            exclusive: true,
            ..StoreOptions::default()
        };
        assert!(matches!(
            Store::open_with(dir.path(), opts),
            Err(Error::Busy { .. })
        ));
    }
}
