//! Crash-safe file primitives: every durable write is temp file + fsync + rename + directory
//! fsync; "create only if absent" uses `hard_link`, which fails atomically when the name exists.
//! Large files are written around the page cache ([`AppendFile`]).

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique within this machine for the life of this process.
pub fn unique_name(prefix: &str, suffix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{nanos:08x}{suffix}", std::process::id())
}

/// fsyncs a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .ctx("fsync directory", dir)
}

/// Writes `bytes` to a fresh temp file in `tmp_dir` and fsyncs it; returns its path. A file
/// of [`DIRECT_CHUNK`] or more is written through an [`AppendFile`].
pub fn write_temp(tmp_dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let path = tmp_dir.join(unique_name("w-", ".tmp"));
    if bytes.len() >= DIRECT_CHUNK {
        let mut f = AppendFile::create_new(&path)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    } else {
        let mut f = File::create(&path).ctx("create", &path)?;
        f.write_all(bytes).ctx("write", &path)?;
        f.sync_all().ctx("fsync", &path)?;
    }
    Ok(path)
}

/// The unit of direct I/O: file offsets, lengths and buffer addresses are multiples of it.
pub const DIRECT_ALIGN: usize = 4096;
/// Bytes an [`AppendFile`] gathers before one direct write.
pub const DIRECT_CHUNK: usize = 1 << 20;

/// A buffer whose start is [`DIRECT_ALIGN`]-aligned, as direct I/O needs: a vector
/// over-allocated by one alignment unit, used from its first aligned byte.
#[derive(Debug)]
pub struct AlignedBuf {
    backing: Vec<u8>,
    start: usize,
    cap: usize,
}

impl AlignedBuf {
    /// Zeroed, `cap` bytes (rounded up to a multiple of [`DIRECT_ALIGN`]).
    pub fn zeroed(cap: usize) -> std::io::Result<Self> {
        let cap = cap.next_multiple_of(DIRECT_ALIGN);
        let backing = vec![0u8; cap + DIRECT_ALIGN];
        let start = backing.as_ptr().align_offset(DIRECT_ALIGN);
        if start + cap > backing.len() {
            return Err(std::io::Error::other("cannot align a direct I/O buffer"));
        }
        Ok(Self {
            backing,
            start,
            cap,
        })
    }

    /// The whole aligned buffer.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.backing[self.start..self.start + self.cap]
    }

    /// The aligned buffer's first `len` bytes.
    pub fn prefix(&self, len: usize) -> &[u8] {
        &self.backing[self.start..self.start + len.min(self.cap)]
    }
}

/// A new file written front to back, whose full [`DIRECT_CHUNK`]s go straight to the device
/// (`O_DIRECT`) where the file system allows it; the rest (the last partial chunk, and every
/// write where direct I/O is refused) is written through the page cache.
///
/// Why: the files written this way (packs) are large and written once. Through the page
/// cache every byte is copied into freshly allocated pages, and on the project's VM (whose
/// balloon hands freed memory back to the host) that copy ran at about 400 MB/s: 28 % of
/// `podstack-remote`'s CPU while it received a push. Direct writes cost almost no CPU
/// (`docs/performance.md`). Reads see every byte written so far, whether it is on disk yet
/// or still gathered here.
#[derive(Debug)]
pub struct AppendFile {
    path: PathBuf,
    /// Reads, the writes direct I/O does not take, and the final fsync.
    file: File,
    /// The same file opened with `O_DIRECT`; `None` where the file system refuses it.
    direct: Option<File>,
    /// Bytes from `flushed` on, not written yet (allocated at the first write).
    buf: Option<AlignedBuf>,
    buffered: usize,
    /// Bytes in the file.
    flushed: u64,
}

impl AppendFile {
    /// Creates `path`, which must not exist.
    pub fn create_new(path: &Path) -> Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .ctx("create", path)?;
        let direct = {
            use std::os::unix::fs::OpenOptionsExt;
            File::options()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .ok()
        };
        Ok(Self {
            path: path.to_owned(),
            file,
            direct,
            buf: None,
            buffered: 0,
            flushed: 0,
        })
    }

    /// The file (for locks; write only through `self`).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Bytes written so far (on disk or gathered).
    pub fn len(&self) -> u64 {
        self.flushed + self.buffered as u64
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let buf = match &mut self.buf {
                Some(b) => b,
                None => self
                    .buf
                    .insert(AlignedBuf::zeroed(DIRECT_CHUNK).ctx("allocate", &self.path)?),
            };
            let n = bytes.len().min(DIRECT_CHUNK - self.buffered);
            buf.as_mut_slice()[self.buffered..self.buffered + n].copy_from_slice(&bytes[..n]);
            self.buffered += n;
            bytes = &bytes[n..];
            if self.buffered == DIRECT_CHUNK {
                self.flush(DIRECT_CHUNK)?;
            }
        }
        Ok(())
    }

    /// Writes the first `len` gathered bytes, directly when `len` and the file's length are
    /// aligned, and keeps the rest gathered.
    fn flush(&mut self, len: usize) -> Result<()> {
        let Some(buf) = self.buf.as_mut() else {
            return Ok(());
        };
        let aligned =
            len.is_multiple_of(DIRECT_ALIGN) && self.flushed.is_multiple_of(DIRECT_ALIGN as u64);
        let mut done = false;
        if let (true, Some(direct)) = (aligned, &self.direct) {
            match direct.write_all_at(buf.prefix(len), self.flushed) {
                Ok(()) => done = true,
                // Refused for its alignment (some file systems want more): write this and
                // everything after it through the page cache. A part that did land is
                // written again with the same bytes.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                Err(e) => return Err(e).ctx("write", &self.path),
            }
        }
        if !done {
            self.file
                .write_all_at(buf.prefix(len), self.flushed)
                .ctx("write", &self.path)?;
        }
        buf.as_mut_slice().copy_within(len..self.buffered, 0);
        self.buffered -= len;
        self.flushed += len as u64;
        Ok(())
    }

    /// Writes everything gathered and makes the file durable (data and size).
    pub fn sync_all(&mut self) -> Result<()> {
        let aligned = self.buffered - self.buffered % DIRECT_ALIGN;
        self.flush(aligned)?;
        self.flush(self.buffered)?;
        self.file.sync_all().ctx("fsync", &self.path)
    }

    /// Reads `out.len()` bytes at `off`, which must all have been written.
    pub fn read_exact_at(&self, out: &mut [u8], off: u64) -> Result<()> {
        let end = off + out.len() as u64;
        if end > self.len() {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
                .ctx("read", &self.path);
        }
        // The part already in the file, then the part still gathered.
        let on_disk = (self.flushed.saturating_sub(off)).min(out.len() as u64) as usize;
        let (head, tail) = out.split_at_mut(on_disk);
        if !head.is_empty() {
            self.file.read_exact_at(head, off).ctx("read", &self.path)?;
        }
        if !tail.is_empty() {
            let from = (off + on_disk as u64 - self.flushed) as usize;
            let buf = self.buf.as_ref().map(|b| b.prefix(self.buffered));
            let gathered = buf
                .and_then(|b| b.get(from..from + tail.len()))
                .ok_or_else(|| std::io::Error::other("gathered bytes missing"))
                .ctx("read", &self.path)?;
            tail.copy_from_slice(gathered);
        }
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes through the page cache only, as on a file system without direct I/O.
    #[cfg(test)]
    fn without_direct(mut self) -> Self {
        self.direct = None;
        self
    }
}

/// Atomically replaces `dest` with `bytes`.
pub fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(tmp_dir, bytes)?;
    fs::rename(&tmp, dest).ctx("rename into place", dest)?;
    sync_dir(parent(dest))
}

/// Creates `dest` with `bytes` only if no file of that name exists. Returns `false` (and leaves
/// everything unchanged) when it does.
pub fn create_exclusive(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<bool> {
    let tmp = write_temp(tmp_dir, bytes)?;
    let linked = fs::hard_link(&tmp, dest);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(parent(dest))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).ctx("link into place", dest),
    }
}

fn parent(p: &Path) -> &Path {
    p.parent().unwrap_or(Path::new("."))
}

/// Current time in whole seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-11-22T11:54:49Z`).
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_348_489), "2026-11-22T11:54:49Z");
    }

    /// Deterministic bytes that differ at every offset class a chunk boundary can fall on.
    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed).to_le_bytes()[1])
            .collect()
    }

    fn append_then_read(direct: bool) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut f = AppendFile::create_new(&path).expect("create");
        if !direct {
            f = f.without_direct();
        }
        // Pieces that straddle chunk and alignment boundaries in every way.
        let sizes = [
            7,
            DIRECT_ALIGN - 7,
            DIRECT_CHUNK - 1,
            1,
            1,
            3 * DIRECT_CHUNK + 5,
            100_000,
            DIRECT_ALIGN,
        ];
        let mut all = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let piece = pattern(*n, i as u32);
            f.write_all(&piece).expect("write");
            all.extend_from_slice(&piece);
            assert_eq!(f.len(), all.len() as u64);
            // Every range reads back, whether on disk, gathered, or across both.
            for (off, len) in [
                (0, all.len().min(10)),
                (
                    all.len().saturating_sub(DIRECT_ALIGN + 3),
                    DIRECT_ALIGN.min(all.len()),
                ),
                (all.len() / 3, all.len() / 2),
            ] {
                let off = off.min(all.len() - len);
                let mut out = vec![0u8; len];
                f.read_exact_at(&mut out, off as u64).expect("read");
                assert_eq!(
                    out,
                    all[off..off + len],
                    "read {len} at {off} after piece {i}"
                );
            }
        }
        let mut past = [0u8; 2];
        assert!(f.read_exact_at(&mut past, all.len() as u64 - 1).is_err());
        f.sync_all().expect("sync");
        // Writing on after a sync (the file now ends unaligned) still works.
        f.write_all(&pattern(DIRECT_CHUNK + 9, 99))
            .expect("write after sync");
        all.extend_from_slice(&pattern(DIRECT_CHUNK + 9, 99));
        f.sync_all().expect("sync again");
        assert_eq!(fs::read(&path).expect("read file"), all);
    }

    #[test]
    fn append_file_reads_back_what_it_wrote_directly() {
        append_then_read(true);
    }

    #[test]
    fn append_file_reads_back_what_it_wrote_through_the_cache() {
        append_then_read(false);
    }

    #[test]
    fn write_temp_writes_large_and_small_files_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        for len in [0, 5, DIRECT_CHUNK, 2 * DIRECT_CHUNK + 4097] {
            let bytes = pattern(len, 1);
            let p = write_temp(dir.path(), &bytes).expect("write_temp");
            assert_eq!(fs::read(&p).expect("read"), bytes, "{len} bytes");
        }
    }

    #[test]
    fn aligned_buffers_are_aligned() {
        for cap in [1, DIRECT_ALIGN, DIRECT_CHUNK + 1] {
            let mut b = AlignedBuf::zeroed(cap).expect("buf");
            let s = b.as_mut_slice();
            assert_eq!(s.as_ptr().align_offset(DIRECT_ALIGN), 0);
            assert!(s.len() >= cap && s.len().is_multiple_of(DIRECT_ALIGN));
        }
    }

    #[test]
    fn create_exclusive_refuses_existing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("a");
        assert!(create_exclusive(dir.path(), &dest, b"1").expect("first"));
        assert!(!create_exclusive(dir.path(), &dest, b"2").expect("second"));
        assert_eq!(fs::read(&dest).expect("read"), b"1");
    }
}
