//! Blobs: written as a stream, stored whole when small and as a chunk list when large, read
//! back as a stream with seeking. A blob's id is always the SHA-256 of its whole content.
//!
//! Chunk list encoding: `"PSCL" varint(total) varint(count) (id:[32] varint(len))*`.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::chunker::{self, MAX_CHUNK};
use crate::error::{Error, Result};
use crate::id::{BlobId, ObjectId};
use crate::object::{ObjectKind, Objects, Reader, put_varint};

/// Blobs up to this size are stored whole; larger ones are chunked.
pub const CHUNK_THRESHOLD: usize = 128 * 1024;
const LIST_MAGIC: &[u8; 4] = b"PSCL";
/// How much the writer buffers before cutting chunks.
const WRITE_BUFFER: usize = 4 << 20;

/// A stored blob: its id and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BlobInfo {
    /// SHA-256 of the content.
    pub id: BlobId,
    /// Content length in bytes.
    pub size: u64,
}

/// What a write stored: the blob and how many of its bytes were new to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobWrite {
    /// The blob.
    pub blob: BlobInfo,
    /// Bytes of chunks (or the whole blob) the store did not have before.
    pub new_bytes: u64,
}

/// Streams a blob into a store. Memory use is bounded by a few MiB whatever the blob size.
pub struct BlobWriter<'a, O: Objects + ?Sized> {
    objects: &'a O,
    hasher: Sha256,
    buf: Vec<u8>,
    chunks: Vec<(ObjectId, u32)>,
    total: u64,
    new_bytes: u64,
}

impl<O: Objects + ?Sized> std::fmt::Debug for BlobWriter<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("total", &self.total)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl<'a, O: Objects + ?Sized> BlobWriter<'a, O> {
    /// A writer into `objects`.
    pub fn new(objects: &'a O) -> Self {
        Self {
            objects,
            hasher: Sha256::new(),
            buf: Vec::new(),
            chunks: Vec::new(),
            total: 0,
            new_bytes: 0,
        }
    }

    /// Adds content.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.total += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITE_BUFFER {
            self.cut_chunks(false)?;
        }
        Ok(())
    }

    /// Stores the chunks that are final; with `last`, everything.
    fn cut_chunks(&mut self, last: bool) -> Result<()> {
        let mut off = 0;
        while off < self.buf.len() {
            let rest = &self.buf[off..];
            if !last && rest.len() < MAX_CHUNK {
                break;
            }
            let n = chunker::cut(rest);
            let chunk = &rest[..n];
            let id = ObjectId::of(chunk);
            if self.objects.put_raw(ObjectKind::Blob, id, chunk)? {
                self.new_bytes += n as u64;
            }
            self.chunks.push((id, n as u32));
            off += n;
        }
        self.buf.drain(..off);
        Ok(())
    }

    /// Stores what is left and the chunk list; returns the blob.
    pub fn finish(mut self) -> Result<BlobWrite> {
        let id = ObjectId(self.hasher.clone().finalize().into());
        let size = self.total;
        if self.chunks.is_empty() && self.buf.len() <= CHUNK_THRESHOLD {
            if self.objects.put_raw(ObjectKind::Blob, id, &self.buf)? {
                self.new_bytes += size;
            }
        } else {
            self.cut_chunks(true)?;
            let list = encode_list(size, &self.chunks);
            self.objects.put_raw(ObjectKind::Chunks, id, &list)?;
        }
        Ok(BlobWrite {
            blob: BlobInfo {
                id: BlobId(id),
                size,
            },
            new_bytes: self.new_bytes,
        })
    }
}

impl<O: Objects + ?Sized> io::Write for BlobWriter<'_, O> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        BlobWriter::write(self, buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Stores `data` as a blob.
pub fn put_blob<O: Objects + ?Sized>(objects: &O, data: &[u8]) -> Result<BlobWrite> {
    let mut w = BlobWriter::new(objects);
    w.write(data)?;
    w.finish()
}

pub(crate) fn encode_list(total: u64, chunks: &[(ObjectId, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + chunks.len() * 36);
    out.extend_from_slice(LIST_MAGIC);
    put_varint(&mut out, total);
    put_varint(&mut out, chunks.len() as u64);
    for (id, len) in chunks {
        out.extend_from_slice(&id.0);
        put_varint(&mut out, u64::from(*len));
    }
    out
}

/// Decodes a chunk list into (total size, chunks).
pub fn decode_list(id: &ObjectId, bytes: &[u8]) -> Result<(u64, Vec<(ObjectId, u64)>)> {
    let corrupt = |reason: String| Error::CorruptObject { id: *id, reason };
    if bytes.len() < 4 || &bytes[..4] != LIST_MAGIC {
        return Err(corrupt("not a chunk list".into()));
    }
    let mut r = Reader::new(&bytes[4..]);
    let parse = |r: &mut Reader<'_>| -> Result<(u64, Vec<(ObjectId, u64)>), String> {
        let total = r.varint()?;
        let count = r.varint()?;
        if count > (bytes.len() / 33) as u64 {
            return Err(format!("claims {count} chunks, too many for its size"));
        }
        let mut chunks = Vec::with_capacity(count as usize);
        let mut sum = 0u64;
        for _ in 0..count {
            let cid = r.id()?;
            let len = r.varint()?;
            sum = sum.checked_add(len).ok_or("sizes overflow")?;
            chunks.push((cid, len));
        }
        if sum != total || !r.is_empty() {
            return Err(format!(
                "chunk sizes add up to {sum}, the list says {total}"
            ));
        }
        Ok((total, chunks))
    };
    parse(&mut r).map_err(corrupt)
}

/// The chunks a blob is stored as: itself when whole, its listed chunks when chunked.
pub(crate) fn blob_parts<O: Objects + ?Sized>(
    objects: &O,
    id: &BlobId,
) -> Result<(ObjectKind, Vec<(ObjectId, u64)>)> {
    match objects.get_raw(&id.0)? {
        None => Err(Error::MissingObject(id.0)),
        Some((ObjectKind::Blob, b)) => Ok((ObjectKind::Blob, vec![(id.0, b.len() as u64)])),
        Some((ObjectKind::Chunks, b)) => Ok((ObjectKind::Chunks, decode_list(&id.0, &b)?.1)),
        Some((k, _)) => Err(Error::WrongKind {
            id: id.0,
            expected: "blob",
            found: k.name(),
        }),
    }
}

/// Reads a blob as a stream; supports `Seek` so ranges read only the chunks they touch.
pub struct BlobReader<'a, O: Objects + ?Sized> {
    objects: &'a O,
    parts: Vec<(ObjectId, u64)>,
    starts: Vec<u64>,
    size: u64,
    pos: u64,
    current: Option<(usize, Arc<Vec<u8>>)>,
}

impl<O: Objects + ?Sized> std::fmt::Debug for BlobReader<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("size", &self.size)
            .field("pos", &self.pos)
            .finish()
    }
}

impl<'a, O: Objects + ?Sized> BlobReader<'a, O> {
    /// Opens blob `id`.
    pub fn open(objects: &'a O, id: &BlobId) -> Result<Self> {
        let (_, parts) = blob_parts(objects, id)?;
        let mut starts = Vec::with_capacity(parts.len());
        let mut size = 0;
        for (_, len) in &parts {
            starts.push(size);
            size += len;
        }
        Ok(Self {
            objects,
            parts,
            starts,
            size,
            pos: 0,
            current: None,
        })
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the whole blob into memory (for small blobs and tests).
    pub fn read_all(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.size as usize);
        self.read_to_end(&mut out).map_err(|e| Error::Io {
            op: "read blob",
            path: "<store>".into(),
            source: e,
        })?;
        Ok(out)
    }

    fn part(&mut self, i: usize) -> io::Result<Arc<Vec<u8>>> {
        if let Some((j, b)) = &self.current
            && *j == i
        {
            return Ok(b.clone());
        }
        let (cid, len) = self.parts[i];
        let b = self
            .objects
            .get_kind(&cid, ObjectKind::Blob)
            .map_err(io::Error::other)?;
        if b.len() as u64 != len {
            return Err(io::Error::other(format!(
                "chunk {} is {} bytes, its list says {len}",
                cid.short(),
                b.len()
            )));
        }
        self.current = Some((i, b.clone()));
        Ok(b)
    }
}

impl<O: Objects + ?Sized> Read for BlobReader<'_, O> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let i = self.starts.partition_point(|&s| s <= self.pos) - 1;
        let part = self.part(i)?;
        let off = (self.pos - self.starts[i]) as usize;
        let n = buf.len().min(part.len() - off);
        buf[..n].copy_from_slice(&part[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<O: Objects + ?Sized> Seek for BlobReader<'_, O> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::other("seek before the start of the blob"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::MemObjects;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        crate::testkit::random_bytes(seed, n)
    }

    #[test]
    fn small_and_large_blobs_round_trip_with_whole_content_ids() {
        let store = MemObjects::new();
        for n in [
            0usize,
            1,
            1000,
            CHUNK_THRESHOLD,
            CHUNK_THRESHOLD + 1,
            3 << 20,
        ] {
            let data = noise(n, n as u64);
            let mut w = BlobWriter::new(&store);
            for piece in data.chunks(7919) {
                w.write(piece).expect("write");
            }
            let done = w.finish().expect("finish");
            assert_eq!(done.blob.id.0, ObjectId::of(&data), "size {n}");
            assert_eq!(done.blob.size, n as u64);
            let back = BlobReader::open(&store, &done.blob.id)
                .expect("open")
                .read_all()
                .expect("read");
            assert_eq!(back, data, "size {n}");
        }
    }

    #[test]
    fn editing_the_middle_of_a_large_blob_stores_few_new_bytes() {
        let store = MemObjects::new();
        let mut data = noise(8 << 20, 9);
        put_blob(&store, &data).expect("first");
        data[4 << 20..(4 << 20) + 100].fill(0);
        let second = put_blob(&store, &data).expect("second");
        assert!(
            second.new_bytes < 600 * 1024,
            "new bytes {}",
            second.new_bytes
        );
    }

    #[test]
    fn seek_reads_ranges() {
        let store = MemObjects::new();
        let data = noise(1 << 20, 3);
        let b = put_blob(&store, &data).expect("put").blob;
        let mut r = BlobReader::open(&store, &b.id).expect("open");
        r.seek(SeekFrom::Start(500_000)).expect("seek");
        let mut buf = vec![0u8; 100_000];
        r.read_exact(&mut buf).expect("read");
        assert_eq!(buf, &data[500_000..600_000]);
    }
}
