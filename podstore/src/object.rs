//! Object kinds, the [`Objects`] access trait, and small binary encoding helpers.
//!
//! Every object is addressed by the SHA-256 of its *logical* bytes: for a blob that is its whole
//! content even when the store keeps it as a chunk list ([`ObjectKind::Chunks`]); for every other
//! kind it is the canonical bytes stored.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::id::ObjectId;

/// What an object is. The numeric values are part of the on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// Raw bytes stored whole (also every chunk of a chunked blob).
    Blob = 1,
    /// A large blob stored as a list of chunks; its id is the hash of the whole content.
    Chunks = 2,
    /// A resource document: canonical JSON.
    Document = 3,
    /// A tree node.
    Tree = 4,
    /// A commit: canonical JSON.
    Commit = 5,
}

impl ObjectKind {
    /// Decodes the on-disk byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Blob,
            2 => Self::Chunks,
            3 => Self::Document,
            4 => Self::Tree,
            5 => Self::Commit,
            _ => return None,
        })
    }

    /// Lower-case name for messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Blob => "blob",
            Self::Chunks => "chunk list",
            Self::Document => "document",
            Self::Tree => "tree",
            Self::Commit => "commit",
        }
    }
}

/// Read and write access to objects: the pack store, an in-memory store, or an overlay.
///
/// `put_raw` never checks that `id` matches `bytes`; callers go through [`Objects::put`] (which
/// hashes) or, for chunk lists, through the blob writer (which hashes the content it lists).
pub trait Objects: Send + Sync {
    /// The object's kind and stored bytes, or `None` when absent.
    fn get_raw(&self, id: &ObjectId) -> Result<Option<StoredObject>>;
    /// Stores an object under `id` unless present. Returns whether it was new.
    fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> Result<bool>;
    /// Whether the object is present.
    fn contains(&self, id: &ObjectId) -> Result<bool>;

    /// The object's kind, without reading it where the store can tell from its index.
    fn kind_of(&self, id: &ObjectId) -> Result<Option<ObjectKind>> {
        Ok(self.get_raw(id)?.map(|(k, _)| k))
    }

    /// Stores a block of objects received whole (every member already checked against its
    /// id). A pack store keeps the block as it came, compression included; others store the
    /// members one by one.
    fn put_block(&self, block: &ReceivedBlock<'_>) -> Result<()> {
        for m in block.members {
            self.put_raw(m.kind, m.id, m.bytes_in(block.raw))?;
        }
        Ok(())
    }

    /// Hashes and stores `bytes`; returns the id.
    fn put(&self, kind: ObjectKind, bytes: &[u8]) -> Result<ObjectId> {
        let id = ObjectId::of(bytes);
        self.put_raw(kind, id, bytes)?;
        Ok(id)
    }

    /// The object's bytes, failing when it is absent or of another kind.
    fn get_kind(&self, id: &ObjectId, expected: ObjectKind) -> Result<Arc<Vec<u8>>> {
        match self.get_raw(id)? {
            None => Err(Error::MissingObject(*id)),
            Some((kind, bytes)) if kind == expected => Ok(bytes),
            Some((kind, _)) => Err(Error::WrongKind {
                id: *id,
                expected: expected.name(),
                found: kind.name(),
            }),
        }
    }
}

/// One object of a block: its record's place in the decoded block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMember {
    /// The object.
    pub id: ObjectId,
    /// Its kind.
    pub kind: ObjectKind,
    /// Offset of its bytes (after the record header) in the decoded block.
    pub off: u32,
    /// Their length.
    pub len: u32,
}

/// A block of objects as a pack stores it (`codec` 0 = raw, 1 = zstd; decoded, a run of
/// records `kind:u8 len:u32le bytes`, see `pack`), received whole and decoded.
#[derive(Clone, Copy, Debug)]
pub struct ReceivedBlock<'a> {
    /// How `stored` is encoded.
    pub codec: u8,
    /// The block as it travelled.
    pub stored: &'a [u8],
    /// The block decoded.
    pub raw: &'a [u8],
    /// Every record in it, in order.
    pub members: &'a [BlockMember],
}

impl BlockMember {
    /// Its bytes in `raw`, the decoded block (which the caller has checked holds them).
    pub fn bytes_in<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        let start = self.off as usize;
        &raw[start..start + self.len as usize]
    }
}

/// A stored object: its kind and bytes.
pub type StoredObject = (ObjectKind, Arc<Vec<u8>>);

/// An in-memory object store: for tests, dry runs and staging.
#[derive(Debug, Default)]
pub struct MemObjects {
    map: RwLock<HashMap<ObjectId, StoredObject>>,
}

impl MemObjects {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of objects held.
    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every object held, in id order.
    pub fn drain_sorted(&self) -> Vec<(ObjectId, ObjectKind, Arc<Vec<u8>>)> {
        let map = match self.map.write() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(_) => HashMap::new(),
        };
        let mut v: Vec<_> = map.into_iter().map(|(id, (k, b))| (id, k, b)).collect();
        v.sort_by_key(|e| e.0);
        v
    }
}

impl Objects for MemObjects {
    fn get_raw(&self, id: &ObjectId) -> Result<Option<StoredObject>> {
        Ok(self.map.read().ok().and_then(|m| m.get(id).cloned()))
    }

    fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> Result<bool> {
        let mut m = self.map.write().map_err(|_| poisoned())?;
        if m.contains_key(&id) {
            return Ok(false);
        }
        m.insert(id, (kind, Arc::new(bytes.to_vec())));
        Ok(true)
    }

    fn contains(&self, id: &ObjectId) -> Result<bool> {
        Ok(self.map.read().map(|m| m.contains_key(id)).unwrap_or(false))
    }
}

/// Writes go to memory, reads fall through to `base`: lets a dry run build trees without
/// touching the store.
#[derive(Debug)]
pub struct Overlay<'a, B: Objects + ?Sized> {
    base: &'a B,
    top: MemObjects,
}

impl<'a, B: Objects + ?Sized> Overlay<'a, B> {
    /// An overlay on `base`.
    pub fn new(base: &'a B) -> Self {
        Self {
            base,
            top: MemObjects::new(),
        }
    }

    /// The objects written so far.
    pub fn written(&self) -> &MemObjects {
        &self.top
    }
}

impl<B: Objects + ?Sized> Objects for Overlay<'_, B> {
    fn get_raw(&self, id: &ObjectId) -> Result<Option<StoredObject>> {
        match self.top.get_raw(id)? {
            Some(v) => Ok(Some(v)),
            None => self.base.get_raw(id),
        }
    }

    fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> Result<bool> {
        if self.base.contains(&id)? {
            return Ok(false);
        }
        self.top.put_raw(kind, id, bytes)
    }

    fn contains(&self, id: &ObjectId) -> Result<bool> {
        Ok(self.top.contains(id)? || self.base.contains(id)?)
    }
}

pub(crate) fn poisoned() -> Error {
    Error::Io {
        op: "lock",
        path: "<in-memory state>".into(),
        source: std::io::Error::other("a thread panicked while holding a lock"),
    }
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over encoded bytes whose reads fail with a message instead of panicking.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(format!("varint too long at byte {}", self.pos))
    }

    pub(crate) fn id(&mut self) -> Result<ObjectId, String> {
        let b = self.bytes(32)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Ok(ObjectId(a))
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, String> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(Reader::new(&b).varint(), Ok(v));
        }
        assert!(Reader::new(&[0x80]).varint().is_err());
    }

    #[test]
    fn overlay_reads_through_and_keeps_writes_on_top() {
        let base = MemObjects::new();
        let a = base.put(ObjectKind::Blob, b"a").expect("put");
        let ov = Overlay::new(&base);
        assert!(ov.contains(&a).expect("contains"));
        let b = ov.put(ObjectKind::Blob, b"b").expect("put");
        assert!(ov.contains(&b).expect("contains"));
        assert!(!base.contains(&b).expect("contains"));
        assert_eq!(ov.written().len(), 1);
    }
}
