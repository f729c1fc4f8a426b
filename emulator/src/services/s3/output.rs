//! Streams object bodies out of the pod store: small ones read at once, large ones by a
//! blocking task feeding a bounded channel, so a multi-GiB object never sits in memory.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use podstore::{BlobInfo, BlobReader, Store};
use tokio::sync::mpsc;

use crate::http::body::Body;

/// Bodies up to this size are read in one go.
const INLINE: u64 = 1 << 20;
const PIECE: usize = 256 * 1024;
/// Bodies up to this size are read on the async worker itself: such a read (one small pack
/// record, usually from the page cache) costs microseconds, while `block_in_place` hands the
/// worker's core to another thread (4.4 context switches per request against 1.0, about 40%
/// of a small GET's CPU). The rare exception: an object still in the store's open pack waits
/// for the pack writer's lock while a PUT that filled the pack fsyncs it, and the worker
/// waits with it.
const ON_WORKER: u64 = 16 * 1024;

/// The bytes `[start, start + len)` of the concatenation of `blobs`.
pub fn body(store: &Store, blobs: &[BlobInfo], start: u64, len: u64) -> std::io::Result<Body> {
    if len == 0 {
        return Ok(Body::Empty);
    }
    if len <= INLINE {
        let mut buf = Vec::with_capacity(len as usize);
        let mut read = || {
            copy_range(store, blobs, start, len, &mut |b| {
                buf.extend_from_slice(b);
                Ok(())
            })
        };
        if len <= ON_WORKER {
            read()?;
        } else {
            tokio::task::block_in_place(read)?;
        }
        return Ok(Body::full(buf));
    }
    let (tx, rx) = mpsc::channel(8);
    let store = store.clone();
    let blobs = blobs.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut send = |b: &[u8]| {
            tx.blocking_send(Ok(Bytes::copy_from_slice(b)))
                .map_err(|_| std::io::Error::other("client went away"))
        };
        if let Err(e) = copy_range(&store, &blobs, start, len, &mut send) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Ok(Body::Stream(rx, len))
}

/// Calls `sink` with consecutive pieces of the range.
pub fn copy_range(
    store: &Store,
    blobs: &[BlobInfo],
    mut start: u64,
    mut len: u64,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; PIECE.min(len as usize)];
    for b in blobs {
        if len == 0 {
            break;
        }
        if start >= b.size {
            start -= b.size;
            continue;
        }
        let mut r = BlobReader::open(store, &b.id).map_err(std::io::Error::other)?;
        r.seek(SeekFrom::Start(start))?;
        let mut left = (b.size - start).min(len);
        while left > 0 {
            let want = (left as usize).min(PIECE);
            let n = r.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::other(format!("blob {} ended early", b.id)));
            }
            sink(&buf[..n])?;
            left -= n as u64;
            len -= n as u64;
        }
        start = 0;
    }
    Ok(())
}
