//! The directory backend: each key is a file under the root; writes go through `tmp/` with
//! fsync and rename, and "create if absent" is a hard link, which fails atomically when the
//! name exists (so two servers on one shared directory still get compare-and-swap).

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use podstore::fsutil;

use super::{Storage, StorageError, StorageResult, check_key};

/// A storage directory.
#[derive(Debug)]
pub struct DirStorage {
    root: PathBuf,
    tmp: PathBuf,
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> StorageError {
    StorageError::Failed(format!("cannot {what} {}: {e}", path.display()))
}

impl DirStorage {
    /// Opens (creating when absent) the storage directory at `root`.
    pub fn open(root: impl AsRef<Path>) -> StorageResult<Self> {
        let root = root.as_ref().to_path_buf();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        Ok(Self { root, tmp })
    }

    fn path(&self, key: &str) -> StorageResult<PathBuf> {
        check_key(key)?;
        if key == "tmp" || key.starts_with("tmp/") {
            return Err(StorageError::Failed(format!(
                "reserved storage key {key:?}"
            )));
        }
        Ok(self.root.join(key))
    }

    fn parent_of(&self, path: &Path) -> StorageResult<()> {
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<String>) -> StorageResult<()> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("list", dir, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| io_err("list", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = format!("{rel}{name}");
            if key == "tmp" || check_key(&key).is_err() {
                continue;
            }
            let ft = entry.file_type().map_err(|e| io_err("list", dir, e))?;
            if ft.is_dir() {
                self.walk(&entry.path(), &format!("{key}/"), out)?;
            } else if ft.is_file() {
                out.push(key);
            }
        }
        Ok(())
    }
}

impl Storage for DirStorage {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path, e)),
        }
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> StorageResult<Vec<u8>> {
        let path = self.path(key)?;
        let mut f = File::open(&path).map_err(|e| io_err("open", &path, e))?;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| io_err("seek in", &path, e))?;
        let mut buf = vec![0u8; usize::try_from(len).map_err(|e| io_err("read", &path, e))?];
        f.read_exact(&mut buf)
            .map_err(|e| io_err(&format!("read {len} bytes at {start} of"), &path, e))?;
        Ok(buf)
    }

    fn put(&self, key: &str, bytes: &[u8]) -> StorageResult<()> {
        let path = self.path(key)?;
        self.parent_of(&path)?;
        fsutil::write_atomic(&self.tmp, &path, bytes)
            .map_err(|e| StorageError::Failed(e.to_string()))
    }

    fn create(&self, key: &str, bytes: &[u8]) -> StorageResult<bool> {
        let path = self.path(key)?;
        self.parent_of(&path)?;
        fsutil::create_exclusive(&self.tmp, &path, bytes)
            .map_err(|e| StorageError::Failed(e.to_string()))
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<String>> {
        let mut out = Vec::new();
        let dir_part = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let dir = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.path(dir_part.trim_end_matches('/'))?
        };
        self.walk(&dir, dir_part, &mut out)?;
        out.retain(|k| k.starts_with(prefix));
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_create_list_delete() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = DirStorage::open(dir.path()).expect("open");
        assert_eq!(s.get("a/b.json").expect("get"), None);
        s.put("a/b.json", b"one").expect("put");
        assert_eq!(
            s.get("a/b.json").expect("get").as_deref(),
            Some(&b"one"[..])
        );
        assert!(!s.create("a/b.json", b"two").expect("create"));
        assert_eq!(
            s.get("a/b.json").expect("get").as_deref(),
            Some(&b"one"[..])
        );
        assert!(s.create("a/c.json", b"three").expect("create"));
        s.put("ab/x", b"0123456789").expect("put");
        assert_eq!(s.get_range("ab/x", 3, 4).expect("range"), b"3456");
        assert!(s.get_range("ab/x", 8, 4).is_err());
        assert_eq!(s.list("a/").expect("list"), vec!["a/b.json", "a/c.json"]);
        assert_eq!(
            s.list("").expect("list"),
            vec!["a/b.json", "a/c.json", "ab/x"]
        );
        s.delete("a/b.json").expect("delete");
        s.delete("a/b.json").expect("delete twice");
        assert_eq!(s.list("a/").expect("list"), vec!["a/c.json"]);
        assert!(s.get("../etc").is_err());
        assert!(s.put("tmp/x", b"").is_err());
    }
}
