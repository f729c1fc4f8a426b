//! Crash-safe file primitives: every durable write is temp file + fsync + rename + directory
//! fsync; "create only if absent" uses `hard_link`, which fails atomically when the name exists.
//! Large files are written around the page cache where the file system allows it.

use std::fs::{self, File};
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

/// How long ago the entry was last modified (zero when that cannot be told).
pub fn age(entry: &fs::DirEntry) -> std::time::Duration {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

/// Removes the files of `dir` named `<prefix>*.tmp` (as [`unique_name`] makes them) that were
/// last modified more than `older_than` ago: temp files of writers that died before renaming
/// them. Failures are ignored; a missing `dir` holds none.
pub fn sweep_temps(dir: &Path, prefix: &str, older_than: std::time::Duration) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".tmp") && age(&e) > older_than {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// fsyncs a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .ctx("fsync directory", dir)
}

/// Writes `bytes` to a fresh temp file in `tmp_dir` and fsyncs it; returns its path.
pub fn write_temp(tmp_dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let path = tmp_dir.join(unique_name("w-", ".tmp"));
    write_new(&path, bytes, true)?;
    Ok(path)
}

/// The unit of direct I/O: file offsets, lengths and buffer addresses are multiples of it.
pub const DIRECT_ALIGN: usize = 4096;
/// The pieces in which [`write_new`] writes around the page cache.
const DIRECT_CHUNK: usize = 1 << 20;

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
}

/// Creates `path` (which must not exist) holding `bytes`, and fsyncs it. With `try_direct`,
/// every whole [`DIRECT_CHUNK`] goes straight to the device (`O_DIRECT`, through an aligned
/// buffer) where the file system allows it; the rest, and everything from a chunk the file
/// system refuses on, goes through the page cache.
///
/// Why: the large files written here (packs) are written once. Through the page cache every
/// byte is copied into freshly allocated pages, and on the project's VM (whose balloon hands
/// freed memory back to the host) that copy ran at about 400 MB/s: 28 % of
/// `podstack-remote`'s CPU while it received a push. Direct writes cost almost no CPU
/// (`docs/performance.md`).
fn write_new(path: &Path, bytes: &[u8], try_direct: bool) -> Result<()> {
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .ctx("create", path)?;
    let whole = bytes.len() - bytes.len() % DIRECT_CHUNK;
    let direct = if try_direct && whole > 0 {
        use std::os::unix::fs::OpenOptionsExt;
        File::options()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()
    } else {
        None
    };
    let mut done = 0;
    if let Some(direct) = direct {
        let mut buf = AlignedBuf::zeroed(DIRECT_CHUNK).ctx("allocate", path)?;
        while done < whole {
            let chunk = buf.as_mut_slice();
            chunk.copy_from_slice(&bytes[done..done + DIRECT_CHUNK]);
            match direct.write_all_at(chunk, done as u64) {
                Ok(()) => done += DIRECT_CHUNK,
                // Refused for its alignment (some file systems want more): the rest goes
                // through the page cache, this chunk again whole.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                Err(e) => return Err(e).ctx("write", path),
            }
        }
    }
    file.write_all_at(&bytes[done..], done as u64)
        .ctx("write", path)?;
    file.sync_all().ctx("fsync", path)
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

    /// Sizes around the chunk and alignment boundaries, written with and without direct I/O.
    #[test]
    fn large_files_are_written_whole_with_and_without_direct_io() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, len) in [
            7,
            DIRECT_ALIGN,
            DIRECT_CHUNK - 1,
            DIRECT_CHUNK,
            DIRECT_CHUNK + 1,
            3 * DIRECT_CHUNK + DIRECT_ALIGN + 5,
        ]
        .into_iter()
        .enumerate()
        {
            for direct in [true, false] {
                let bytes = pattern(len, i as u32);
                let path = dir.path().join(format!("{i}-{direct}"));
                write_new(&path, &bytes, direct).expect("write");
                assert_eq!(
                    fs::read(&path).expect("read"),
                    bytes,
                    "{len} bytes, {direct}"
                );
                assert!(write_new(&path, &bytes, direct).is_err(), "the file exists");
            }
        }
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
