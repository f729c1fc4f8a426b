//! Building blocks for moving objects between stores: reachability, "which of these are
//! missing", and a streamed object format verified on receipt.
//!
//! ```text
//! stream = "PSSTRM01" frame* end
//! frame  = 1:u8 kind:u8 id:[32] varint(raw_len) codec:u8 varint(stored_len) stored
//!        | 2:u8 varint(count) id:[32]*count varint(raw_len) codec:u8 varint(stored_len) stored
//! end    = 0:u8 varint(count of objects)
//! ```
//! A frame of tag 1 carries one object. A frame of tag 2 carries a block of objects exactly as
//! a pack stores it: `stored` decodes to `raw_len` bytes of `count` records
//! `kind:u8 len:u32le bytes`, the i-th being object `id[i]`; a sender forwards a block it
//! holds without decoding it, a pack store receiving it keeps it as it is. Blocks never hold
//! chunk lists. Chunk lists travel after their chunks (in this stream or an earlier one), so
//! a receiver can check each object against its id as it arrives: plain objects by hashing
//! their bytes, chunk lists by hashing the content of the chunks they list.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::blob::decode_list;
use crate::commit::Commit;
use crate::error::{Error, Result};
use crate::id::{CommitId, ObjectId, TreeId};
use crate::object::{BlockMember, ObjectKind, Objects, ReceivedBlock, put_varint};
use crate::pack::{MAX_OBJECT, RECORD_HEADER, looks_incompressible};
use crate::tree;

/// The magic bytes every stream starts with.
pub const STREAM_MAGIC: &[u8; 8] = b"PSSTRM01";
const TAG_END: u8 = 0;
const TAG_OBJECT: u8 = 1;
const TAG_BLOCK: u8 = 2;
/// The largest decoded block a stream may carry (a pack's block holds at most one object of
/// [`MAX_OBJECT`] bytes, or about 6 MiB of smaller ones).
pub const MAX_BLOCK: usize = MAX_OBJECT + (8 << 20);

/// Reachable objects, children before parents, plus problems met on the way.
#[derive(Debug, Default)]
pub struct Reachable {
    /// Object ids with kinds, in dependency order.
    pub objects: Vec<(ObjectId, ObjectKind)>,
    /// Missing or corrupt objects that stopped the walk below them (only when tolerant).
    pub problems: Vec<String>,
}

/// Collects every object reachable from `commits`, skipping whatever is in `exclude` (and,
/// for trees, everything below them). Tree nodes and commits read on the way are checked
/// against their ids. With `tolerant`, a missing or corrupt node is recorded in `problems`
/// and the walk goes on; otherwise it is an error.
pub fn reachable<O: Objects + ?Sized>(
    objects: &O,
    commits: &[CommitId],
    exclude: &HashSet<ObjectId>,
    tolerant: bool,
) -> Result<Reachable> {
    let mut w = Walker {
        objects,
        seen: exclude.clone(),
        out: Reachable::default(),
        tolerant,
    };
    for c in commits {
        w.commit(*c)?;
    }
    Ok(w.out)
}

/// Every object reachable from the commits in `have` (for [`reachable`]'s `exclude`): what a
/// receiver that holds those commits already has.
pub fn have_set<O: Objects + ?Sized>(objects: &O, have: &[CommitId]) -> Result<HashSet<ObjectId>> {
    let r = reachable(objects, have, &HashSet::new(), true)?;
    Ok(r.objects.into_iter().map(|(id, _)| id).collect())
}

/// The ids in `ids` that `objects` does not hold.
pub fn missing<O: Objects + ?Sized>(objects: &O, ids: &[ObjectId]) -> Result<Vec<ObjectId>> {
    let mut out = Vec::new();
    for id in ids {
        if !objects.contains(id)? {
            out.push(*id);
        }
    }
    Ok(out)
}

struct Walker<'a, O: Objects + ?Sized> {
    objects: &'a O,
    seen: HashSet<ObjectId>,
    out: Reachable,
    tolerant: bool,
}

impl<O: Objects + ?Sized> Walker<'_, O> {
    fn fail(&mut self, e: Error) -> Result<()> {
        if self.tolerant {
            self.out.problems.push(e.to_string());
            Ok(())
        } else {
            Err(e)
        }
    }

    fn commit(&mut self, id: CommitId) -> Result<()> {
        if !self.seen.insert(id.0) {
            return Ok(());
        }
        let loaded = self
            .objects
            .get_kind(&id.0, ObjectKind::Commit)
            .and_then(|b| check_hash(&id.0, &b).map(|()| b))
            .and_then(|b| Commit::parse(id, &b));
        match loaded {
            Ok(c) => {
                self.tree(c.root)?;
                self.out.objects.push((id.0, ObjectKind::Commit));
                Ok(())
            }
            Err(e) => self.fail(e),
        }
    }

    fn tree(&mut self, id: TreeId) -> Result<()> {
        if !self.seen.insert(id.0) {
            return Ok(());
        }
        let node = self
            .objects
            .get_kind(&id.0, ObjectKind::Tree)
            .and_then(|b| check_hash(&id.0, &b).and_then(|()| tree::decode_node(&id.0, &b)));
        let node = match node {
            Ok((n, _)) => n,
            Err(e) => return self.fail(e),
        };
        for (child, kind) in tree::node_refs(&node) {
            match kind {
                ObjectKind::Tree => self.tree(TreeId(child))?,
                ObjectKind::Blob => self.blob(child)?,
                _ => self.leaf(child, kind),
            }
        }
        self.out.objects.push((id.0, ObjectKind::Tree));
        Ok(())
    }

    fn leaf(&mut self, id: ObjectId, kind: ObjectKind) {
        if self.seen.insert(id) {
            self.out.objects.push((id, kind));
        }
    }

    fn blob(&mut self, id: ObjectId) -> Result<()> {
        if self.seen.contains(&id) {
            return Ok(());
        }
        match self.objects.kind_of(&id) {
            Ok(Some(ObjectKind::Chunks)) => {
                self.seen.insert(id);
                let list = self
                    .objects
                    .get_kind(&id, ObjectKind::Chunks)
                    .and_then(|b| decode_list(&id, &b));
                match list {
                    Ok((_, chunks)) => {
                        for (c, _) in chunks {
                            self.leaf(c, ObjectKind::Blob);
                        }
                        self.out.objects.push((id, ObjectKind::Chunks));
                        Ok(())
                    }
                    Err(e) => self.fail(e),
                }
            }
            Ok(Some(_)) => {
                self.leaf(id, ObjectKind::Blob);
                Ok(())
            }
            Ok(None) => {
                self.seen.insert(id);
                self.fail(Error::MissingObject(id))
            }
            Err(e) => self.fail(e),
        }
    }
}

fn check_hash(id: &ObjectId, bytes: &[u8]) -> Result<()> {
    if ObjectId::of(bytes) == *id {
        Ok(())
    } else {
        Err(Error::CorruptObject {
            id: *id,
            reason: "content does not match its id".into(),
        })
    }
}

/// Checks an object's content against its id: its hash, and for a chunk list the hash of the
/// whole listed content (which covers every chunk byte; chunks are checked one by one where
/// they are read as objects: on receipt and in verify's storage-order pass). Returns the
/// logical size.
pub fn check_object<O: Objects + ?Sized>(objects: &O, id: &ObjectId) -> Result<u64> {
    let (kind, bytes) = objects.get_raw(id)?.ok_or(Error::MissingObject(*id))?;
    if kind != ObjectKind::Chunks {
        check_hash(id, &bytes)?;
        return Ok(bytes.len() as u64);
    }
    check_list(objects, &Held::default(), id, &bytes).map_err(|e| Error::CorruptObject {
        id: *id,
        reason: e.to_string(),
    })
}

/// Writes objects as a stream.
pub struct StreamWriter<W: Write> {
    out: W,
    count: u64,
    raw_bytes: u64,
    sent_bytes: u64,
    /// One zstd context for every object (making one per object costs more than small
    /// objects' compression).
    zstd: zstd::bulk::Compressor<'static>,
}

impl<W: Write> std::fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("count", &self.count)
            .field("raw_bytes", &self.raw_bytes)
            .finish_non_exhaustive()
    }
}

impl<W: Write> StreamWriter<W> {
    /// Starts a stream.
    pub fn new(mut out: W) -> Result<Self> {
        out.write_all(STREAM_MAGIC).map_err(stream_io)?;
        Ok(Self {
            out,
            count: 0,
            raw_bytes: 0,
            sent_bytes: STREAM_MAGIC.len() as u64,
            zstd: zstd::bulk::Compressor::new(1).map_err(stream_io)?,
        })
    }

    /// Appends one object, compressed when that pays.
    pub fn object(&mut self, kind: ObjectKind, id: &ObjectId, raw: &[u8]) -> Result<()> {
        // Random data (encrypted or compressed uploads) costs no compression time.
        let compressed = if looks_incompressible(raw) {
            None
        } else {
            self.zstd.compress(raw).ok()
        };
        let (codec, stored): (u8, &[u8]) = match &compressed {
            Some(c) if c.len() < raw.len() - raw.len() / 16 => (1, c),
            _ => (0, raw),
        };
        let mut head = Vec::with_capacity(48);
        head.push(TAG_OBJECT);
        head.push(kind as u8);
        head.extend_from_slice(&id.0);
        put_varint(&mut head, raw.len() as u64);
        head.push(codec);
        put_varint(&mut head, stored.len() as u64);
        self.out.write_all(&head).map_err(stream_io)?;
        self.out.write_all(stored).map_err(stream_io)?;
        self.count += 1;
        self.raw_bytes += raw.len() as u64;
        self.sent_bytes += (head.len() + stored.len()) as u64;
        Ok(())
    }

    /// Appends a block of objects as a pack stores it (see the module's format): `stored`,
    /// encoded with `codec`, decodes to `raw_len` bytes holding `members`' records in order.
    pub fn block(
        &mut self,
        members: &[BlockMember],
        codec: u8,
        raw_len: u32,
        stored: &[u8],
    ) -> Result<()> {
        let mut head = Vec::with_capacity(16 + members.len() * 32);
        head.push(TAG_BLOCK);
        put_varint(&mut head, members.len() as u64);
        for m in members {
            head.extend_from_slice(&m.id.0);
        }
        put_varint(&mut head, u64::from(raw_len));
        head.push(codec);
        put_varint(&mut head, stored.len() as u64);
        self.out.write_all(&head).map_err(stream_io)?;
        self.out.write_all(stored).map_err(stream_io)?;
        self.count += members.len() as u64;
        self.raw_bytes += members.iter().map(|m| u64::from(m.len)).sum::<u64>();
        self.sent_bytes += (head.len() + stored.len()) as u64;
        Ok(())
    }

    /// Copies a frame as it is (one that [`read_stream_indexed`] located in a verified
    /// stream) holding `objects` objects of `raw_bytes` bytes in all.
    pub fn frame(&mut self, frame: &[u8], objects: u64, raw_bytes: u64) -> Result<()> {
        self.out.write_all(frame).map_err(stream_io)?;
        self.count += objects;
        self.raw_bytes += raw_bytes;
        self.sent_bytes += frame.len() as u64;
        Ok(())
    }

    /// Copies objects from a store, in the order given.
    pub fn objects_from<O: Objects + ?Sized>(
        &mut self,
        objects: &O,
        ids: &[(ObjectId, ObjectKind)],
    ) -> Result<()> {
        for (id, _) in ids {
            let (kind, bytes) = objects.get_raw(id)?.ok_or(Error::MissingObject(*id))?;
            self.object(kind, id, &bytes)?;
        }
        Ok(())
    }

    /// Ends the stream; returns (objects, raw bytes, bytes written) and the writer.
    pub fn finish(mut self) -> Result<(StreamStats, W)> {
        let end = stream_end(self.count);
        self.out.write_all(&end).map_err(stream_io)?;
        self.out.flush().map_err(stream_io)?;
        let stats = StreamStats {
            objects: self.count,
            raw_bytes: self.raw_bytes,
            stream_bytes: self.sent_bytes + end.len() as u64,
        };
        Ok((stats, self.out))
    }
}

/// Counts of a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StreamStats {
    /// Objects in it.
    pub objects: u64,
    /// Their uncompressed bytes.
    pub raw_bytes: u64,
    /// Bytes on the wire.
    pub stream_bytes: u64,
}

/// Limits on what a received stream may hold.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// At most this many objects.
    pub max_objects: u64,
    /// At most this many uncompressed bytes in all.
    pub max_raw_bytes: u64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_objects: 100_000_000,
            max_raw_bytes: 1 << 40,
        }
    }
}

fn stream_io(e: std::io::Error) -> Error {
    Error::InvalidArchive(format!("object stream: {e}"))
}

/// Reads a stream into `sink`, verifying every object against its id before storing it.
/// Stops at the first bad object; what was stored before stays in `sink` (callers stage).
pub fn read_stream<R: Read, O: Objects + ?Sized>(
    input: R,
    sink: &O,
    limits: StreamLimits,
) -> Result<(StreamStats, Vec<ObjectId>)> {
    read_stream_indexed(input, sink, limits, &mut |_| {})
}

/// Where one frame of a stream lies, for keeping a received stream as it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The object.
    pub id: ObjectId,
    /// Its kind.
    pub kind: ObjectKind,
    /// Byte offset of the frame (its tag byte) from the start of the stream.
    pub offset: u64,
    /// The frame's length in bytes.
    pub len: u64,
    /// The object's logical size.
    pub raw_len: u64,
    /// For an object in a block frame: the offset of its bytes in the decoded block, and the
    /// number of objects in the block.
    pub in_block: Option<(u32, u32)>,
}

/// [`read_stream`], also telling `on_frame` where each verified object's frame lies.
pub fn read_stream_indexed<R: Read, O: Objects + ?Sized>(
    input: R,
    sink: &O,
    limits: StreamLimits,
    on_frame: &mut dyn FnMut(FrameInfo),
) -> Result<(StreamStats, Vec<ObjectId>)> {
    read_stream_inner(input, sink, limits, on_frame, None)
}

/// Chunk lists of a stream that could not be checked on arrival: their chunks were neither
/// in the stream nor in the sink (they may be in another stream still on its way). Each is
/// an id and the list's bytes, for [`check_deferred`] once the chunks are there.
pub type Deferred = Vec<(ObjectId, Vec<u8>)>;

/// [`read_stream`], setting aside (not storing) the chunk lists whose chunks are missing
/// instead of failing on them. Anything else wrong still fails the stream.
pub fn read_stream_deferring<R: Read, O: Objects + ?Sized>(
    input: R,
    sink: &O,
    limits: StreamLimits,
) -> Result<(StreamStats, Vec<ObjectId>, Deferred)> {
    let mut deferred = Deferred::new();
    let (stats, ids) = read_stream_inner(input, sink, limits, &mut |_| {}, Some(&mut deferred))?;
    Ok((stats, ids, deferred))
}

/// Checks and stores chunk lists set aside by [`read_stream_deferring`], now that their
/// chunks should be in `sink`; fails on the first that still does not match its chunks.
pub fn check_deferred<O: Objects + ?Sized>(sink: &O, deferred: &Deferred) -> Result<()> {
    let held = Held::default();
    for (id, bytes) in deferred {
        receive(sink, &held, ObjectKind::Chunks, *id, bytes, false)?;
    }
    Ok(())
}

fn read_stream_inner<R: Read, O: Objects + ?Sized>(
    input: R,
    sink: &O,
    limits: StreamLimits,
    on_frame: &mut dyn FnMut(FrameInfo),
    mut defer: Option<&mut Deferred>,
) -> Result<(StreamStats, Vec<ObjectId>)> {
    let mut input = Counting { inner: input, n: 0 };
    let bad = |m: String| Error::InvalidArchive(m);
    let mut magic = [0u8; 8];
    input
        .read_exact(&mut magic)
        .map_err(|_| bad("object stream is empty or truncated".into()))?;
    if &magic != STREAM_MAGIC {
        return Err(bad("not a podstack object stream (bad magic)".into()));
    }
    let mut stats = StreamStats::default();
    let mut ids = Vec::new();
    let mut zstd = zstd::bulk::Decompressor::new().map_err(stream_io)?;
    let mut held = Held::default();
    loop {
        let offset = input.n;
        match read_u8(&mut input)? {
            TAG_END => {
                let count = read_varint(&mut input)?;
                if count != stats.objects {
                    return Err(bad(format!(
                        "stream ends claiming {count} objects, it held {}",
                        stats.objects
                    )));
                }
                return Ok((stats, ids));
            }
            TAG_OBJECT => {
                let (kind, id, raw) = read_frame_body(&mut input, &mut stats, limits, &mut zstd)?;
                if !receive(sink, &held, kind, id, &raw, defer.is_some())? {
                    if let Some(d) = defer.as_deref_mut() {
                        d.push((id, raw));
                    }
                    continue;
                }
                let raw = Arc::new(raw);
                if kind == ObjectKind::Blob {
                    held.keep(id, &raw, 0, raw.len());
                }
                ids.push(id);
                on_frame(FrameInfo {
                    id,
                    kind,
                    offset,
                    len: input.n - offset,
                    raw_len: raw.len() as u64,
                    in_block: None,
                });
            }
            TAG_BLOCK => {
                let block = read_block_body(&mut input, &mut stats, limits, &mut zstd)?;
                sink.put_block(&ReceivedBlock {
                    codec: block.codec,
                    stored: block.stored(),
                    raw: &block.raw,
                    members: &block.members,
                })?;
                let count = block.members.len() as u32;
                let raw = Arc::new(block.raw);
                for m in &block.members {
                    if m.kind == ObjectKind::Blob {
                        held.keep(m.id, &raw, m.off as usize, m.len as usize);
                    }
                    ids.push(m.id);
                    on_frame(FrameInfo {
                        id: m.id,
                        kind: m.kind,
                        offset,
                        len: input.n - offset,
                        raw_len: u64::from(m.len),
                        in_block: Some((m.off, count)),
                    });
                }
            }
            t => return Err(bad(format!("unknown frame tag {t}"))),
        }
    }
}

/// The objects of one frame, decoded: their bytes lie in `raw`.
#[derive(Debug)]
pub struct DecodedFrame {
    /// The decoded object (a frame of one) or block.
    pub raw: Vec<u8>,
    /// Every object in it.
    pub members: Vec<BlockMember>,
}

/// Decodes one frame of a stream (as [`FrameInfo`] locates it), checking every object but
/// chunk lists against its id (a chunk list was checked against its chunks on receipt).
pub fn decode_frame(frame: &[u8]) -> Result<DecodedFrame> {
    let mut input = frame;
    let mut stats = StreamStats::default();
    let mut zstd = zstd::bulk::Decompressor::new().map_err(stream_io)?;
    let decoded = match read_u8(&mut input)? {
        TAG_OBJECT => {
            let (kind, id, raw) =
                read_frame_body(&mut input, &mut stats, StreamLimits::default(), &mut zstd)?;
            if kind != ObjectKind::Chunks {
                check_hash(&id, &raw)?;
            }
            let len = u32::try_from(raw.len()).map_err(|_| bad_size(&id))?;
            DecodedFrame {
                raw,
                members: vec![BlockMember {
                    id,
                    kind,
                    off: 0,
                    len,
                }],
            }
        }
        TAG_BLOCK => {
            let block =
                read_block_body(&mut input, &mut stats, StreamLimits::default(), &mut zstd)?;
            DecodedFrame {
                raw: block.raw,
                members: block.members,
            }
        }
        _ => return Err(Error::InvalidArchive("not an object frame".into())),
    };
    if !input.is_empty() {
        return Err(Error::InvalidArchive(
            "an object frame has trailing bytes".into(),
        ));
    }
    Ok(decoded)
}

fn bad_size(id: &ObjectId) -> Error {
    Error::InvalidArchive(format!("object {} claims an absurd size", id.short()))
}

/// The end of a stream holding `count` objects (for writers that copy frames as they are).
pub fn stream_end(count: u64) -> Vec<u8> {
    let mut end = vec![0u8];
    put_varint(&mut end, count);
    end
}

struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Reads a frame after its tag byte; counts it against `limits`.
fn read_frame_body<R: Read>(
    input: &mut R,
    stats: &mut StreamStats,
    limits: StreamLimits,
    zstd: &mut zstd::bulk::Decompressor<'static>,
) -> Result<(ObjectKind, ObjectId, Vec<u8>)> {
    let bad = |m: String| Error::InvalidArchive(m);
    let kind =
        ObjectKind::from_u8(read_u8(input)?).ok_or_else(|| bad("unknown object kind".into()))?;
    let mut id = [0u8; 32];
    input
        .read_exact(&mut id)
        .map_err(|_| bad("stream truncated".into()))?;
    let id = ObjectId(id);
    let raw_len = read_varint(input)?;
    let codec = read_u8(input)?;
    let stored_len = read_varint(input)?;
    if raw_len > MAX_OBJECT as u64 || stored_len > raw_len + 1024 {
        return Err(bad(format!(
            "object {} claims an absurd size ({raw_len} bytes)",
            id.short()
        )));
    }
    stats.objects += 1;
    stats.raw_bytes += raw_len;
    if stats.objects > limits.max_objects || stats.raw_bytes > limits.max_raw_bytes {
        return Err(bad("stream holds more than its limits allow".into()));
    }
    let mut stored = vec![0u8; stored_len as usize];
    input
        .read_exact(&mut stored)
        .map_err(|_| bad("stream truncated".into()))?;
    let raw = match codec {
        0 => stored,
        1 => zstd
            .decompress(&stored, raw_len as usize)
            .map_err(|e| bad(format!("object {} does not decompress: {e}", id.short())))?,
        c => return Err(bad(format!("unknown codec {c}"))),
    };
    if raw.len() as u64 != raw_len {
        return Err(bad(format!("object {} has the wrong length", id.short())));
    }
    Ok((kind, id, raw))
}

/// A block frame after its tag byte, decoded and split into its records, each checked.
struct BlockBody {
    codec: u8,
    /// The encoded bytes, unless the block travelled raw (then they are `raw`).
    encoded: Option<Vec<u8>>,
    raw: Vec<u8>,
    members: Vec<BlockMember>,
}

impl BlockBody {
    fn stored(&self) -> &[u8] {
        self.encoded.as_deref().unwrap_or(&self.raw)
    }
}

/// Reads a block frame after its tag byte and checks every object in it against its id;
/// counts its objects against `limits`.
fn read_block_body<R: Read>(
    input: &mut R,
    stats: &mut StreamStats,
    limits: StreamLimits,
    zstd: &mut zstd::bulk::Decompressor<'static>,
) -> Result<BlockBody> {
    let bad = |m: String| Error::InvalidArchive(m);
    let count = read_varint(input)?;
    if count == 0
        || count > (MAX_BLOCK / RECORD_HEADER) as u64
        || count > limits.max_objects.saturating_sub(stats.objects)
    {
        return Err(bad(format!("a block claims {count} objects")));
    }
    // Grown as ids arrive: a count is only a claim until they do.
    let mut ids = Vec::with_capacity(count.min(4096) as usize);
    for _ in 0..count {
        let mut id = [0u8; 32];
        input
            .read_exact(&mut id)
            .map_err(|_| bad("stream truncated".into()))?;
        ids.push(ObjectId(id));
    }
    let raw_len = read_varint(input)?;
    let codec = read_u8(input)?;
    let stored_len = read_varint(input)?;
    if raw_len > MAX_BLOCK as u64 || stored_len > raw_len + 1024 {
        return Err(bad(format!(
            "a block claims an absurd size ({raw_len} bytes)"
        )));
    }
    let mut stored = vec![0u8; stored_len as usize];
    input
        .read_exact(&mut stored)
        .map_err(|_| bad("stream truncated".into()))?;
    let (raw, encoded) = match codec {
        0 => (stored, None),
        1 => (
            zstd.decompress(&stored, raw_len as usize)
                .map_err(|e| bad(format!("a block does not decompress: {e}")))?,
            Some(stored),
        ),
        c => return Err(bad(format!("unknown codec {c}"))),
    };
    if raw.len() as u64 != raw_len {
        return Err(bad("a block has the wrong length".into()));
    }
    let mut members = Vec::with_capacity(ids.len());
    let mut pos = 0usize;
    for id in ids {
        let short = || {
            bad(format!(
                "block record of object {} is cut short",
                id.short()
            ))
        };
        let head = raw.get(pos..pos + RECORD_HEADER).ok_or_else(short)?;
        let kind = ObjectKind::from_u8(head[0])
            .ok_or_else(|| bad(format!("object {} has an unknown kind", id.short())))?;
        if kind == ObjectKind::Chunks {
            return Err(bad(format!(
                "chunk list {} travels in a block; chunk lists travel alone",
                id.short()
            )));
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let off = pos + RECORD_HEADER;
        if off + len as usize > raw.len() {
            return Err(short());
        }
        members.push(BlockMember {
            id,
            kind,
            off: off as u32,
            len,
        });
        pos = off + len as usize;
        stats.objects += 1;
        stats.raw_bytes += u64::from(len);
    }
    if pos != raw.len() {
        return Err(bad("a block holds more records than it names".into()));
    }
    if stats.objects > limits.max_objects || stats.raw_bytes > limits.max_raw_bytes {
        return Err(bad("stream holds more than its limits allow".into()));
    }
    for m in &members {
        check_received(&m.id, m.bytes_in(&raw))?;
    }
    Ok(BlockBody {
        codec,
        encoded,
        raw,
        members,
    })
}

/// Checks a received object (not a chunk list) against its id.
fn check_received(id: &ObjectId, bytes: &[u8]) -> Result<()> {
    if ObjectId::of(bytes) != *id {
        return Err(Error::InvalidArchive(format!(
            "object {} does not match its id",
            id.short()
        )));
    }
    Ok(())
}

/// Verifies one received object and stores it. With `may_defer`, a chunk list whose chunks
/// are missing is neither stored nor an error: the answer is `false`.
fn receive<O: Objects + ?Sized>(
    sink: &O,
    held: &Held,
    kind: ObjectKind,
    id: ObjectId,
    raw: &[u8],
    may_defer: bool,
) -> Result<bool> {
    if kind == ObjectKind::Chunks {
        match check_list(sink, held, &id, raw) {
            Ok(_) => {}
            Err(ListError::Missing(_)) if may_defer => return Ok(false),
            Err(e) => {
                return Err(Error::InvalidArchive(format!(
                    "chunk list {}: {e}",
                    id.short()
                )));
            }
        }
    } else {
        check_received(&id, raw)?;
    }
    sink.put_raw(kind, id, raw)?;
    Ok(true)
}

/// Why a chunk list does not check out.
enum ListError {
    /// A chunk it lists is not at hand.
    Missing(ObjectId),
    /// It is wrong.
    Bad(String),
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(c) => write!(f, "chunk {} is missing", c.short()),
            Self::Bad(why) => f.write_str(why),
        }
    }
}

/// The blobs received so far in a stream (bytes shared, not copied), so that a chunk list is
/// checked against its chunks without reading them back from the sink.
#[derive(Default)]
struct Held {
    blobs: HashMap<ObjectId, (Arc<Vec<u8>>, usize, usize)>,
}

impl Held {
    fn keep(&mut self, id: ObjectId, buf: &Arc<Vec<u8>>, off: usize, len: usize) {
        self.blobs.insert(id, (buf.clone(), off, len));
    }
}

/// Checks a chunk list: its chunks (from this stream, else from `sink`) have the sizes it
/// lists, and their content hashes to its id. Returns the blob's size.
fn check_list<O: Objects + ?Sized>(
    sink: &O,
    held: &Held,
    id: &ObjectId,
    raw: &[u8],
) -> Result<u64, ListError> {
    let (total, chunks) = decode_list(id, raw).map_err(|e| ListError::Bad(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut sum = 0u64;
    for (c, size) in &chunks {
        let len = match held.blobs.get(c) {
            Some((buf, off, len)) => {
                hasher.update(&buf[*off..*off + *len]);
                *len
            }
            None => {
                let bytes = sink.get_kind(c, ObjectKind::Blob).map_err(|e| match e {
                    Error::MissingObject(_) => ListError::Missing(*c),
                    other => ListError::Bad(other.to_string()),
                })?;
                hasher.update(&bytes[..]);
                bytes.len()
            }
        };
        if len as u64 != *size {
            return Err(ListError::Bad(format!(
                "chunk {} is {len} bytes, the list says {size}",
                c.short()
            )));
        }
        sum += len as u64;
    }
    if sum != total {
        return Err(ListError::Bad(format!(
            "chunks add up to {sum} bytes, the list says {total}"
        )));
    }
    if ObjectId(hasher.finalize().into()) != *id {
        return Err(ListError::Bad(
            "chunks do not add up to the blob's content".into(),
        ));
    }
    Ok(total)
}

fn read_u8<R: Read>(r: &mut R) -> Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)
        .map_err(|_| Error::InvalidArchive("object stream truncated".into()))?;
    Ok(b[0])
}

fn read_varint<R: Read>(r: &mut R) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = read_u8(r)?;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(Error::InvalidArchive("bad varint in object stream".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::MemObjects;
    use crate::testkit::one_object_commit;

    #[test]
    fn stream_round_trip_moves_exactly_the_reachable_objects() {
        let src = MemObjects::new();
        let c = one_object_commit(&src, 1, 600_000);
        let r = reachable(&src, &[c], &HashSet::new(), false).expect("reachable");
        assert_eq!(r.objects.last().map(|o| o.0), Some(c.0));
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        w.objects_from(&src, &r.objects).expect("objects");
        let (stats, bytes) = w.finish().expect("finish");
        let dst = MemObjects::new();
        let (got, ids) = read_stream(&bytes[..], &dst, StreamLimits::default()).expect("read");
        assert_eq!(got.objects, stats.objects);
        assert_eq!(ids.len(), r.objects.len());
        assert!(
            reachable(&dst, &[c], &HashSet::new(), false)
                .expect("complete")
                .problems
                .is_empty()
        );
    }

    #[test]
    fn random_objects_travel_raw_and_text_compressed() {
        let random = crate::testkit::random_bytes(0x9e37_79b9_7f4a_7c15, 256 << 10);
        let text = b"GET /index.html 200 1234\n".repeat(10_000);
        for (bytes, compressed) in [(&random[..], false), (&text[..], true)] {
            let mut w = StreamWriter::new(Vec::new()).expect("w");
            w.object(ObjectKind::Blob, &ObjectId::of(bytes), bytes)
                .expect("object");
            let (stats, out) = w.finish().expect("finish");
            assert_eq!(stats.stream_bytes < bytes.len() as u64 / 2, compressed);
            let back = MemObjects::new();
            read_stream(&out[..], &back, StreamLimits::default()).expect("read");
            assert!(back.contains(&ObjectId::of(bytes)).expect("contains"));
        }
    }

    #[test]
    fn exclude_skips_what_the_other_side_has() {
        let o = MemObjects::new();
        let c1 = one_object_commit(&o, 1, 10);
        let c2 = one_object_commit(&o, 2, 10);
        let have = have_set(&o, &[c1]).expect("have");
        let r = reachable(&o, &[c2], &have, false).expect("reachable");
        assert!(r.objects.iter().all(|(id, _)| !have.contains(id)));
        assert!(!r.objects.is_empty());
    }

    /// A store holding text and random objects of every size class, flushed into packs.
    fn store_with_blocks(dir: &std::path::Path) -> (crate::Store, Vec<ObjectId>) {
        let store = crate::Store::open(dir).expect("open");
        let mut ids = Vec::new();
        for i in 0..300u32 {
            let body = format!("document {i} ").repeat(1 + (i as usize % 40) * 50);
            ids.push(
                store
                    .put(ObjectKind::Document, body.as_bytes())
                    .expect("put"),
            );
        }
        for seed in 0..6u64 {
            let big = crate::testkit::random_bytes(0x2545_f491_4f6c_dd1d ^ (seed << 32), 700 << 10);
            ids.push(store.put(ObjectKind::Blob, &big).expect("put"));
        }
        store.flush().expect("flush");
        (store, ids)
    }

    fn blocks_stream(store: &crate::Store, blocks: &[crate::WholeBlock]) -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        for b in blocks {
            let stored = store.read_stored_block(b).expect("stored");
            w.block(&b.members, b.codec(), b.raw_len(), &stored)
                .expect("block");
        }
        w.finish().expect("finish").1
    }

    #[test]
    fn blocks_travel_as_stored_and_a_store_keeps_them_verbatim() {
        let (a_dir, b_dir) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let (a, ids) = store_with_blocks(a_dir.path());
        let blocks = a.whole_blocks(&ids).expect("blocks");
        let covered: HashSet<ObjectId> = blocks
            .iter()
            .flat_map(|b| b.members.iter().map(|m| m.id))
            .collect();
        assert_eq!(covered.len(), ids.len(), "every object is in a whole block");
        assert!(blocks.iter().any(|b| b.codec() == 1) && blocks.iter().any(|b| b.codec() == 0));
        let stream = blocks_stream(&a, &blocks);
        let b = crate::Store::open(b_dir.path()).expect("open b");
        let staging = b.stage();
        let mut located = Vec::new();
        let (stats, got) =
            read_stream_indexed(&stream[..], &staging, StreamLimits::default(), &mut |f| {
                located.push(f);
            })
            .expect("read");
        staging.commit().expect("commit");
        assert_eq!(stats.objects, ids.len() as u64);
        assert_eq!(got.len(), ids.len());
        assert!(located.iter().all(|f| f.in_block.is_some()));
        for id in &ids {
            let (_, bytes) = b.get_raw(id).expect("get").expect("present");
            assert_eq!(ObjectId::of(&bytes), *id);
        }
        // The receiving store holds the very blocks that were sent.
        let again = b.whole_blocks(&ids).expect("blocks");
        assert_eq!(again.len(), blocks.len());
        for (x, y) in blocks.iter().zip(&again) {
            assert_eq!(
                a.read_stored_block(x).expect("a"),
                b.read_stored_block(y).expect("b")
            );
        }
        // A frame located by the reader decodes on its own into the same objects.
        let f = located[0];
        let frame = &stream[f.offset as usize..(f.offset + f.len) as usize];
        let d = decode_frame(frame).expect("decode");
        assert_eq!(d.members.len() as u32, f.in_block.expect("in block").1);
        assert!(d.members.iter().any(|m| m.id == f.id));
    }

    #[test]
    fn whole_blocks_leave_out_blocks_holding_objects_not_asked_for() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, ids) = store_with_blocks(dir.path());
        let all = store.whole_blocks(&ids).expect("all");
        let first = &all[0];
        let partial: Vec<ObjectId> = ids
            .iter()
            .filter(|id| *id != &first.members[0].id)
            .copied()
            .collect();
        let some = store.whole_blocks(&partial).expect("some");
        assert_eq!(some.len(), all.len() - 1);
        assert!(some.iter().all(|b| b.members[0].id != first.members[0].id));
    }

    /// A raw block frame around `records` (kind, bytes), naming `ids`.
    fn raw_block(ids: &[ObjectId], records: &[(u8, &[u8])]) -> Vec<u8> {
        let mut raw = Vec::new();
        for (kind, bytes) in records {
            raw.push(*kind);
            raw.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            raw.extend_from_slice(bytes);
        }
        let members: Vec<BlockMember> = ids
            .iter()
            .map(|id| BlockMember {
                id: *id,
                kind: ObjectKind::Blob,
                off: 0,
                len: 0,
            })
            .collect();
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        w.block(&members, 0, raw.len() as u32, &raw).expect("block");
        w.finish().expect("finish").1
    }

    #[test]
    fn bad_blocks_are_refused_and_store_nothing() {
        let (x, y) = (b"first object".as_slice(), b"second object".as_slice());
        let (ix, iy) = (ObjectId::of(x), ObjectId::of(y));
        let good = raw_block(&[ix, iy], &[(1, x), (1, y)]);
        let sink = MemObjects::new();
        read_stream(&good[..], &sink, StreamLimits::default()).expect("good block");
        assert!(sink.contains(&iy).expect("contains"));
        let one = StreamLimits {
            max_objects: 1,
            ..StreamLimits::default()
        };
        let err = read_stream(&good[..], &MemObjects::new(), one).expect_err("over the limit");
        assert!(err.to_string().contains("claims 2 objects"), "{err}");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                raw_block(&[ix, iy], &[(1, x), (1, b"tampered")]),
                "does not match",
            ),
            (raw_block(&[ix, iy], &[(1, x)]), "cut short"),
            (raw_block(&[ix], &[(1, x), (1, y)]), "more records"),
            (raw_block(&[ix, iy], &[(1, x), (2, y)]), "chunk list"),
            (raw_block(&[ix, iy], &[(1, x), (9, y)]), "unknown kind"),
            (raw_block(&[], &[]), "0 objects"),
        ];
        for (stream, why) in cases {
            let sink = MemObjects::new();
            let err =
                read_stream(&stream[..], &sink, StreamLimits::default()).expect_err("refused");
            assert!(err.to_string().contains(why), "{why}: {err}");
            assert!(
                !sink.contains(&ix).expect("contains"),
                "{why}: nothing stored"
            );
        }
    }

    #[test]
    fn a_chunk_list_must_match_the_chunks_it_lists() {
        let src = MemObjects::new();
        let c = crate::testkit::random_object_commit(&src, 3, 600_000);
        let r = reachable(&src, &[c], &HashSet::new(), false).expect("reachable");
        let (list, _) = *r
            .objects
            .iter()
            .find(|o| o.1 == ObjectKind::Chunks)
            .expect("a chunked blob");
        let (total, chunks) = decode_list(
            &list,
            &src.get_kind(&list, ObjectKind::Chunks).expect("list"),
        )
        .expect("decode");
        let chunks: Vec<(ObjectId, u32)> = chunks.iter().map(|(c, n)| (*c, *n as u32)).collect();
        let mut swapped = chunks.clone();
        swapped.swap(0, 1);
        let mut short = chunks.clone();
        short[0].1 -= 1;
        for (bad, why) in [
            (crate::blob::encode_list(total, &swapped), "do not add up"),
            (crate::blob::encode_list(total, &short), "the list says"),
            (crate::blob::encode_list(total, &chunks[1..]), "add up to"),
        ] {
            let mut w = StreamWriter::new(Vec::new()).expect("w");
            for (c, _) in &chunks {
                let bytes = src.get_kind(c, ObjectKind::Blob).expect("chunk");
                w.object(ObjectKind::Blob, c, &bytes).expect("chunk");
            }
            w.object(ObjectKind::Chunks, &list, &bad).expect("list");
            let (_, stream) = w.finish().expect("finish");
            let err = read_stream(&stream[..], &MemObjects::new(), StreamLimits::default())
                .expect_err("refused");
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
        // Chunks already held by the receiver count too.
        let have = MemObjects::new();
        for (c, _) in &chunks {
            have.put_raw(
                ObjectKind::Blob,
                *c,
                &src.get_kind(c, ObjectKind::Blob).expect("chunk"),
            )
            .expect("put");
        }
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        w.objects_from(&src, &[(list, ObjectKind::Chunks)])
            .expect("list");
        let (_, stream) = w.finish().expect("finish");
        read_stream(&stream[..], &have, StreamLimits::default()).expect("list of held chunks");
        let err = read_stream(&stream[..], &MemObjects::new(), StreamLimits::default())
            .expect_err("chunks missing");
        assert!(err.to_string().contains("is missing"), "{err}");
        // Deferring: the list is set aside, not stored, and checked once the chunks are in.
        let later = MemObjects::new();
        let (stats, got, deferred) =
            read_stream_deferring(&stream[..], &later, StreamLimits::default()).expect("defer");
        assert_eq!((stats.objects, got.len(), deferred.len()), (1, 0, 1));
        assert!(!later.contains(&list).expect("contains"));
        let mut wrong = deferred.clone();
        wrong[0].1 = crate::blob::encode_list(total, &swapped);
        for (c, _) in &chunks {
            later
                .put_raw(
                    ObjectKind::Blob,
                    *c,
                    &src.get_kind(c, ObjectKind::Blob).expect("chunk"),
                )
                .expect("put");
        }
        let err = check_deferred(&later, &wrong).expect_err("a wrong list");
        assert!(err.to_string().contains("do not add up"), "{err}");
        check_deferred(&later, &deferred).expect("checked");
        assert!(later.contains(&list).expect("contains"));
    }

    #[test]
    fn tampered_truncated_and_random_streams_are_refused() {
        let src = MemObjects::new();
        let c = one_object_commit(&src, 1, 1000);
        let r = reachable(&src, &[c], &HashSet::new(), false).expect("reachable");
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        w.objects_from(&src, &r.objects).expect("objects");
        let (_, bytes) = w.finish().expect("finish");
        let mut tampered = bytes.clone();
        let n = tampered.len();
        tampered[n - 10] ^= 1;
        for bad in [
            &tampered[..],
            &bytes[..bytes.len() - 5],
            b"random bytes, not a stream",
            &[],
        ] {
            let dst = MemObjects::new();
            let err = read_stream(bad, &dst, StreamLimits::default()).expect_err("refused");
            assert!(matches!(err, Error::InvalidArchive(_)), "{err}");
        }
    }
}
