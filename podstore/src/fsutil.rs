//! Crash-safe file primitives: every durable write is temp file + fsync + rename + directory
//! fsync; "create only if absent" uses `hard_link`, which fails atomically when the name exists.

use std::fs::{self, File};
use std::io::Write;
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

/// Writes `bytes` to a fresh temp file in `tmp_dir` and fsyncs it; returns its path.
pub fn write_temp(tmp_dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let path = tmp_dir.join(unique_name("w-", ".tmp"));
    let mut f = File::create(&path).ctx("create", &path)?;
    f.write_all(bytes).ctx("write", &path)?;
    f.sync_all().ctx("fsync", &path)?;
    Ok(path)
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

    #[test]
    fn create_exclusive_refuses_existing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("a");
        assert!(create_exclusive(dir.path(), &dest, b"1").expect("first"));
        assert!(!create_exclusive(dir.path(), &dest, b"2").expect("second"));
        assert_eq!(fs::read(&dest).expect("read"), b"1");
    }
}
