//! Pack files: many objects in one file, grouped into compressed blocks, with an index file.
//!
//! ```text
//! pack-<name>.pack  = "PSPACK01" block*
//! block             = codec:u8 stored_len:u32le raw_len:u32le stored_bytes
//!                     (codec 0 = raw, 1 = zstd; raw where compression saves < 1/16)
//! raw block content = record*,  record = kind:u8 len:u32le bytes
//! pack-<name>.idx   = "PSIDXZ01" raw_len:u64le zstd(raw index)
//! raw index         = "PSIDX001" pack_len:u64le count:u64le entry* sha256(all before):[32]
//! entry (58 bytes)  = id:[32] kind:u8 codec:u8 block_off:u64le block_stored:u32le
//!                     block_raw:u32le obj_off:u32le obj_len:u32le     (in pack order)
//! ```
//!
//! Objects under 16 KiB (documents, tree nodes, small blobs) share ~256 KiB blocks; larger
//! ones (chunks of big blobs, whole blobs up to 128 KiB) share ~2 MiB blocks. Big blocks give
//! zstd the context it needs to match compressing the whole pack (`docs/performance.md`
//! measured independent 64 KiB blocks 4% larger), and large blobs are read sequentially, so
//! their blocks are decompressed once per read; a small object still costs one small block.
//! The pack is renamed into place before its index: the index is the commit point, and a pack
//! without an index is garbage that `gc` removes. `<name>` is the SHA-256 of the index body.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::ObjectId;
use crate::object::{BlockMember, ObjectKind, Reader};

pub(crate) const PACK_MAGIC: &[u8; 8] = b"PSPACK01";
pub(crate) const IDX_MAGIC: &[u8; 8] = b"PSIDX001";
/// An index file: this magic, the raw index length, then the raw index zstd-compressed.
const IDX_FILE_MAGIC: &[u8; 8] = b"PSIDXZ01";
/// Largest raw index accepted (about 18 million objects).
const MAX_IDX: u64 = 1 << 30;
/// Raw bytes gathered before a block of small objects is compressed and written.
pub(crate) const SMALL_BLOCK: usize = 1 << 20;
/// Raw bytes gathered before a block of large objects is compressed and written.
pub(crate) const BULK_BLOCK: usize = 4 << 20;
/// zstd levels of new packs' blocks: one for blocks of small objects (documents, tree nodes,
/// small blobs), one for blocks of large objects (chunks, whole blobs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Levels {
    /// Blocks of objects under 16 KiB.
    pub small: i32,
    /// Blocks of larger objects.
    pub bulk: i32,
}

impl Levels {
    /// Pod stores: small blocks compress a few per cent better with more effort and are a
    /// small share of the bytes (`docs/performance.md`).
    pub const STORE: Self = Self { small: 8, bulk: 5 };
    /// A running emulator: it writes objects all the time (every save, every upload), on the
    /// CPU its requests need. Level 1 is 7–9× faster than 8 on documents and tree nodes for
    /// about 5 % more bytes, and on large objects about 1.4× faster than 3 for 2 % more
    /// (`docs/performance.md`).
    pub const LIVE: Self = Self::uniform(1);

    /// One level for both kinds of block.
    pub const fn uniform(level: i32) -> Self {
        Self {
            small: level,
            bulk: level,
        }
    }
}

/// Objects below this size go into small blocks.
const SMALL_OBJECT: usize = 16 * 1024;
/// Stored bytes after which a pack is finished and a new one begun.
pub(crate) const PACK_TARGET: u64 = 32 << 20;
/// The largest single object a pack holds; larger blobs are chunked first.
pub const MAX_OBJECT: usize = 64 << 20;
const BLOCK_HEADER: u64 = 9;
pub(crate) const RECORD_HEADER: usize = 5;
const ENTRY_LEN: usize = 58;

/// Where an object lives inside a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub kind: ObjectKind,
    pub codec: u8,
    pub block_off: u64,
    pub block_stored: u32,
    pub block_raw: u32,
    pub obj_off: u32,
    pub obj_len: u32,
}

/// Whether a block is not worth compressing: four 16 KiB samples spread over it, compressed
/// at level 1, none of which shrinks by 1/32. Random data (encrypted or compressed uploads)
/// then costs no compression time at all; a block with any compressible part is compressed.
pub(crate) fn looks_incompressible(buf: &[u8]) -> bool {
    const SAMPLE: usize = 16 * 1024;
    if buf.len() < 8 * SAMPLE {
        return false;
    }
    let step = (buf.len() - SAMPLE) / 3;
    (0..4).all(|i| {
        let s = &buf[i * step..i * step + SAMPLE];
        zstd::bulk::compress(s, 1).is_ok_and(|c| c.len() > SAMPLE - SAMPLE / 32)
    })
}

/// Reads the stored (still encoded) bytes of the block at `loc` from `file`.
pub(crate) fn read_stored(file: &File, path: &Path, loc: &Loc) -> Result<Vec<u8>> {
    let mut stored = vec![0u8; loc.block_stored as usize];
    file.read_exact_at(&mut stored, loc.block_off + BLOCK_HEADER)
        .ctx("read pack", path)?;
    Ok(stored)
}

/// Reads and decodes one block at `loc` from `file`.
pub(crate) fn read_block(file: &File, path: &Path, loc: &Loc) -> Result<Vec<u8>> {
    let stored = read_stored(file, path, loc)?;
    decode_block(loc.codec, stored, loc.block_raw as usize).map_err(|reason| Error::CorruptFile {
        path: path.to_owned(),
        reason: format!("block at offset {}: {reason}", loc.block_off),
    })
}

fn decode_block(codec: u8, stored: Vec<u8>, raw_len: usize) -> Result<Vec<u8>, String> {
    let raw = match codec {
        0 => stored,
        1 => zstd::bulk::decompress(&stored, raw_len).map_err(|e| format!("zstd: {e}"))?,
        c => return Err(format!("unknown codec {c}")),
    };
    if raw.len() != raw_len {
        return Err(format!(
            "block is {} bytes, index says {raw_len}",
            raw.len()
        ));
    }
    Ok(raw)
}

/// Slices an object out of its decoded block, checking the record header.
pub(crate) fn object_in_block(block: &[u8], id: &ObjectId, loc: &Loc) -> Result<Vec<u8>, String> {
    let start = loc.obj_off as usize;
    let end = start + loc.obj_len as usize;
    if start < RECORD_HEADER || end > block.len() {
        return Err("index points outside its block".into());
    }
    let len = u32::from_le_bytes([
        block[start - 4],
        block[start - 3],
        block[start - 2],
        block[start - 1],
    ]);
    if block[start - 5] != loc.kind as u8 || len != loc.obj_len {
        return Err(format!(
            "record header does not describe object {}",
            id.short()
        ));
    }
    Ok(block[start..end].to_vec())
}

/// Parses an index file; checks its trailer hash.
pub(crate) fn parse_index(path: &Path, file: &[u8]) -> Result<(u64, Vec<(ObjectId, Loc)>)> {
    let corrupt = |reason: String| Error::CorruptFile {
        path: path.to_owned(),
        reason,
    };
    if file.len() < 16 || &file[..8] != IDX_FILE_MAGIC {
        return Err(corrupt("not a pack index (bad magic or too short)".into()));
    }
    let mut raw_len = [0u8; 8];
    raw_len.copy_from_slice(&file[8..16]);
    let raw_len = u64::from_le_bytes(raw_len);
    if raw_len > MAX_IDX {
        return Err(corrupt(format!("claims {raw_len} bytes uncompressed")));
    }
    let bytes = zstd::bulk::decompress(&file[16..], raw_len as usize)
        .map_err(|e| corrupt(format!("does not decompress: {e}")))?;
    if bytes.len() as u64 != raw_len {
        return Err(corrupt("shorter than its header says".into()));
    }
    let bytes = bytes.as_slice();
    if bytes.len() < 8 + 16 + 32 || &bytes[..8] != IDX_MAGIC {
        return Err(corrupt("not a pack index (bad magic or too short)".into()));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 32);
    if ObjectId::of(body).0 != trailer {
        return Err(corrupt("checksum mismatch".into()));
    }
    let mut r = Reader::new(&body[8..]);
    let parse = |r: &mut Reader<'_>| -> Result<(u64, Vec<(ObjectId, Loc)>), String> {
        let pack_len = r.u64_le()?;
        let count = r.u64_le()?;
        if count as usize > body.len() / ENTRY_LEN {
            return Err(format!("claims {count} entries, too many for its size"));
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let id = r.id()?;
            let kind = ObjectKind::from_u8(r.u8()?).ok_or("unknown object kind")?;
            let codec = r.u8()?;
            let loc = Loc {
                kind,
                codec,
                block_off: r.u64_le()?,
                block_stored: r.u32_le()?,
                block_raw: r.u32_le()?,
                obj_off: r.u32_le()?,
                obj_len: r.u32_le()?,
            };
            out.push((id, loc));
        }
        if !r.is_empty() {
            return Err("trailing bytes after the entries".into());
        }
        Ok((pack_len, out))
    };
    parse(&mut r).map_err(corrupt)
}

/// The raw index, entries in pack order (so that neighbouring entries share their block
/// fields and compress well; readers load it into a hash map).
fn encode_index(pack_len: u64, entries: &mut [(ObjectId, Loc)]) -> Vec<u8> {
    entries.sort_by_key(|e| (e.1.block_off, e.1.obj_off));
    let mut out = Vec::with_capacity(56 + entries.len() * ENTRY_LEN);
    out.extend_from_slice(IDX_MAGIC);
    out.extend_from_slice(&pack_len.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (id, l) in entries.iter() {
        out.extend_from_slice(&id.0);
        out.push(l.kind as u8);
        out.push(l.codec);
        out.extend_from_slice(&l.block_off.to_le_bytes());
        out.extend_from_slice(&l.block_stored.to_le_bytes());
        out.extend_from_slice(&l.block_raw.to_le_bytes());
        out.extend_from_slice(&l.obj_off.to_le_bytes());
        out.extend_from_slice(&l.obj_len.to_le_bytes());
    }
    let sum = ObjectId::of(&out);
    out.extend_from_slice(&sum.0);
    out
}

/// Where a not-yet-finished object can be read from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pending {
    /// In a block still being filled (`bulk` or small): offset and length in it.
    InBlock {
        kind: ObjectKind,
        bulk: bool,
        off: u32,
        len: u32,
    },
    /// In a block already written to the temp pack file.
    Written(Loc),
}

/// A block being filled.
#[derive(Debug, Default)]
struct OpenBlock {
    buf: Vec<u8>,
    entries: Vec<BlockMember>,
}

/// Builds one pack in `tmp/`; finished packs are renamed into `packs/`.
pub(crate) struct PackWriter {
    tmp_path: PathBuf,
    file: File,
    len: u64,
    small: OpenBlock,
    bulk: OpenBlock,
    entries: Vec<(ObjectId, Loc)>,
    pub(crate) pending: HashMap<ObjectId, Pending>,
    levels: Levels,
    /// The last written block decoded for a read (chunks of a blob are read in a row).
    last_read: std::sync::Mutex<Option<(u64, std::sync::Arc<Vec<u8>>)>>,
}

impl std::fmt::Debug for PackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackWriter")
            .field("tmp_path", &self.tmp_path)
            .field("len", &self.len)
            .field("objects", &self.pending.len())
            .finish()
    }
}

/// A finished pack: its name and entries.
#[derive(Debug)]
pub(crate) struct FinishedPack {
    pub name: String,
    pub entries: Vec<(ObjectId, Loc)>,
}

impl PackWriter {
    /// Starts a pack in `tmp_dir`, holding an exclusive lock on it so sweepers leave it alone.
    pub(crate) fn create(tmp_dir: &Path, levels: Levels) -> Result<Self> {
        let tmp_path = tmp_dir.join(fsutil::unique_name("pack-", ".tmp"));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .ctx("create", &tmp_path)?;
        file.try_lock().map_err(|e| Error::Io {
            op: "lock",
            path: tmp_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        file.write_all(PACK_MAGIC).ctx("write", &tmp_path)?;
        Ok(Self {
            tmp_path,
            file,
            len: PACK_MAGIC.len() as u64,
            small: OpenBlock::default(),
            bulk: OpenBlock::default(),
            entries: Vec::new(),
            pending: HashMap::new(),
            levels,
            last_read: std::sync::Mutex::new(None),
        })
    }

    /// The writer in `slot`, started in `tmp_dir` with `levels` when there is none yet.
    pub(crate) fn in_slot<'a>(
        slot: &'a mut Option<PackWriter>,
        tmp_dir: &Path,
        levels: Levels,
    ) -> Result<&'a mut PackWriter> {
        match slot {
            Some(w) => Ok(w),
            None => Ok(slot.insert(Self::create(tmp_dir, levels)?)),
        }
    }

    /// Bytes written so far (stored, plus the open blocks' raw bytes).
    pub(crate) fn size(&self) -> u64 {
        self.len + (self.small.buf.len() + self.bulk.buf.len()) as u64
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds an object (the caller has checked it is not stored yet).
    pub(crate) fn add(&mut self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> Result<()> {
        if bytes.len() > MAX_OBJECT {
            return Err(Error::CorruptObject {
                id,
                reason: format!(
                    "{} bytes is over the {MAX_OBJECT}-byte object limit",
                    bytes.len()
                ),
            });
        }
        let bulk = bytes.len() >= SMALL_OBJECT;
        let target = if bulk { BULK_BLOCK } else { SMALL_BLOCK };
        let open_len = if bulk {
            self.bulk.buf.len()
        } else {
            self.small.buf.len()
        };
        if open_len > 0 && open_len + bytes.len() > target + target / 2 {
            self.flush_block(bulk)?;
        }
        let block = if bulk {
            &mut self.bulk
        } else {
            &mut self.small
        };
        block.buf.push(kind as u8);
        block
            .buf
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        let off = block.buf.len() as u32;
        block.buf.extend_from_slice(bytes);
        let len = bytes.len() as u32;
        block.entries.push(BlockMember { id, kind, off, len });
        let full = block.buf.len() >= target;
        self.pending.insert(
            id,
            Pending::InBlock {
                kind,
                bulk,
                off,
                len,
            },
        );
        if full {
            self.flush_block(bulk)?;
        }
        Ok(())
    }

    /// Appends an encoded block: `stored` (encoded with `codec`) decodes to `raw_len` bytes
    /// holding `members` (a block filled here, or one received whole and checked by the
    /// caller). Only `members` are indexed (a caller may leave out objects stored already).
    pub(crate) fn add_block(
        &mut self,
        codec: u8,
        stored: &[u8],
        raw_len: u32,
        members: &[BlockMember],
    ) -> Result<()> {
        let stored_len = u32::try_from(stored.len()).map_err(|_| {
            Error::InvalidArchive(format!(
                "a block of {} bytes is too large for a pack",
                stored.len()
            ))
        })?;
        let block_off = self.len;
        let mut header = [0u8; BLOCK_HEADER as usize];
        header[0] = codec;
        header[1..5].copy_from_slice(&stored_len.to_le_bytes());
        header[5..9].copy_from_slice(&raw_len.to_le_bytes());
        self.file.write_all(&header).ctx("write", &self.tmp_path)?;
        self.file.write_all(stored).ctx("write", &self.tmp_path)?;
        self.len += BLOCK_HEADER + u64::from(stored_len);
        for m in members {
            let loc = Loc {
                kind: m.kind,
                codec,
                block_off,
                block_stored: stored_len,
                block_raw: raw_len,
                obj_off: m.off,
                obj_len: m.len,
            };
            self.entries.push((m.id, loc));
            self.pending.insert(m.id, Pending::Written(loc));
        }
        Ok(())
    }

    /// The kind of a pending object, without reading it.
    pub(crate) fn kind_of(&self, id: &ObjectId) -> Option<ObjectKind> {
        self.pending.get(id).map(|p| match p {
            Pending::InBlock { kind, .. } => *kind,
            Pending::Written(loc) => loc.kind,
        })
    }

    /// Reads a pending object.
    pub(crate) fn read(&self, id: &ObjectId) -> Result<Option<(ObjectKind, Vec<u8>)>> {
        match self.pending.get(id) {
            None => Ok(None),
            Some(Pending::InBlock {
                kind,
                bulk,
                off,
                len,
            }) => {
                let buf = if *bulk {
                    &self.bulk.buf
                } else {
                    &self.small.buf
                };
                let s = *off as usize..(*off + *len) as usize;
                Ok(Some((*kind, buf[s].to_vec())))
            }
            Some(Pending::Written(loc)) => {
                let block = self.written_block(loc)?;
                let bytes =
                    object_in_block(&block, id, loc).map_err(|reason| Error::CorruptFile {
                        path: self.tmp_path.clone(),
                        reason,
                    })?;
                Ok(Some((loc.kind, bytes)))
            }
        }
    }

    /// A block already written to the temp file, decoded (cached: the last one).
    fn written_block(&self, loc: &Loc) -> Result<std::sync::Arc<Vec<u8>>> {
        let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((off, b)) = last.as_ref()
            && *off == loc.block_off
        {
            return Ok(b.clone());
        }
        let b = std::sync::Arc::new(read_block(&self.file, &self.tmp_path, loc)?);
        *last = Some((loc.block_off, b.clone()));
        Ok(b)
    }

    fn flush_block(&mut self, bulk: bool) -> Result<()> {
        let block = std::mem::take(if bulk {
            &mut self.bulk
        } else {
            &mut self.small
        });
        if block.buf.is_empty() {
            return Ok(());
        }
        let raw_len = block.buf.len();
        let level = if bulk {
            self.levels.bulk
        } else {
            self.levels.small
        };
        let compressed = if looks_incompressible(&block.buf) {
            None
        } else {
            zstd::bulk::compress(&block.buf, level).ok()
        };
        let (codec, stored): (u8, &[u8]) = match &compressed {
            Some(c) if c.len() < raw_len - raw_len / 16 => (1, c),
            _ => (0, &block.buf),
        };
        self.add_block(codec, stored, raw_len as u32, &block.entries)
    }

    /// Writes the last block, makes pack and index durable and renames both into `packs_dir`.
    pub(crate) fn finish(mut self, tmp_dir: &Path, packs_dir: &Path) -> Result<FinishedPack> {
        self.flush_block(false)?;
        self.flush_block(true)?;
        self.file.sync_all().ctx("fsync", &self.tmp_path)?;
        let idx = encode_index(self.len, &mut self.entries);
        let name = ObjectId::of(&idx[..idx.len() - 32]).to_hex();
        let mut file = Vec::with_capacity(idx.len() / 2);
        file.extend_from_slice(IDX_FILE_MAGIC);
        file.extend_from_slice(&(idx.len() as u64).to_le_bytes());
        file.extend_from_slice(&zstd::bulk::compress(&idx, 3).map_err(|e| Error::Io {
            op: "compress index",
            path: self.tmp_path.clone(),
            source: e,
        })?);
        let idx_tmp = fsutil::write_temp(tmp_dir, &file)?;
        let pack_path = packs_dir.join(format!("pack-{name}.pack"));
        let idx_path = packs_dir.join(format!("pack-{name}.idx"));
        fs::rename(&self.tmp_path, &pack_path).ctx("rename into place", &pack_path)?;
        fs::rename(&idx_tmp, &idx_path).ctx("rename into place", &idx_path)?;
        fsutil::sync_dir(packs_dir)?;
        Ok(FinishedPack {
            name,
            entries: self.entries,
        })
    }

    /// Drops the unfinished pack.
    pub(crate) fn abandon(self) {
        let _ = fs::remove_file(&self.tmp_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_blocks_skip_compression_and_mixed_ones_do_not() {
        let random = crate::testkit::random_bytes(0x9e37_79b9_7f4a_7c15, 512 * 1024);
        assert!(looks_incompressible(&random));
        let mut mixed = random.clone();
        mixed[160 * 1024..200 * 1024].fill(b'a');
        assert!(!looks_incompressible(&mixed));
        assert!(
            !looks_incompressible(&random[..1000]),
            "small blocks are always tried"
        );
    }
}
