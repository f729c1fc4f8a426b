//! The storage contract: [`storage_contract`] drives every [`Storage`] method the way the server
//! relies on them — absent keys, overwrites, empty and binary objects, create-if-absent, byte
//! ranges, sorted prefix listings across S3's 1000-key pages, deletes, invalid keys — so one
//! check serves every backend (the directory in unit tests, podstack's emulator and moto in the
//! end-to-end tests).

use std::fmt::Debug;

use crate::storage::{Storage, StorageResult};

/// Keys put to exercise listing pagination (an S3 page holds at most 1000).
const MANY: usize = 1001;
/// Threads putting and deleting those keys.
const WORKERS: usize = 8;

/// Runs the contract on `s`, which must hold nothing under `contract/`, and removes what it
/// wrote. Returns the first violation found.
pub fn storage_contract(s: &dyn Storage) -> Result<(), String> {
    let before = ok(s, "list contract/", s.list("contract/"))?;
    if !before.is_empty() {
        return Err(format!(
            "{}: already holds keys under contract/",
            s.describe()
        ));
    }
    objects(s)?;
    create(s)?;
    ranges(s)?;
    listing(s)?;
    pagination(s)?;
    invalid_keys(s)?;
    let left = ok(s, "list contract/", s.list("contract/"))?;
    parallel(&left, |k| ok(s, &format!("delete {k}"), s.delete(k)))?;
    same(
        s,
        "list contract/ after deleting all",
        ok(s, "list", s.list("contract/"))?,
        vec![],
    )
}

/// The result of a call, or its error named with the storage and the call.
fn ok<T>(s: &dyn Storage, what: &str, r: StorageResult<T>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {what}: {e}", s.describe()))
}

/// Fails unless `got == want`.
fn same<T: PartialEq + Debug>(s: &dyn Storage, what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{}: {what}: got {got:?}, want {want:?}",
            s.describe()
        ))
    }
}

/// Fails unless the call failed.
fn fails<T: Debug>(s: &dyn Storage, what: &str, r: StorageResult<T>) -> Result<(), String> {
    match r {
        Ok(v) => Err(format!(
            "{}: {what}: succeeded with {v:?}, want an error",
            s.describe()
        )),
        Err(_) => Ok(()),
    }
}

/// Runs `f` on every key, from [`WORKERS`] threads.
fn parallel(keys: &[String], f: impl Fn(&str) -> Result<(), String> + Sync) -> Result<(), String> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let f = &f;
                scope.spawn(move || keys.iter().skip(w).step_by(WORKERS).try_for_each(|k| f(k)))
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into())))
    })
}

fn objects(s: &dyn Storage) -> Result<(), String> {
    let k = "contract/obj/a.bin";
    same(s, "get of an absent key", ok(s, "get", s.get(k))?, None)?;
    let all_bytes: Vec<u8> = (0..=255).collect();
    ok(s, "put", s.put(k, &all_bytes))?;
    same(s, "get after put", ok(s, "get", s.get(k))?, Some(all_bytes))?;
    ok(s, "put over", s.put(k, b"second"))?;
    same(
        s,
        "get after overwrite",
        ok(s, "get", s.get(k))?,
        Some(b"second".to_vec()),
    )?;
    ok(s, "put empty", s.put("contract/obj/empty", b""))?;
    same(
        s,
        "get empty",
        ok(s, "get", s.get("contract/obj/empty"))?,
        Some(vec![]),
    )?;
    ok(s, "delete", s.delete(k))?;
    same(s, "get after delete", ok(s, "get", s.get(k))?, None)?;
    ok(s, "delete again", s.delete(k))?;
    ok(s, "delete never-written", s.delete("contract/obj/never"))
}

fn create(s: &dyn Storage) -> Result<(), String> {
    let k = "contract/cas/1.json";
    same(
        s,
        "first create",
        ok(s, "create", s.create(k, b"first"))?,
        true,
    )?;
    same(
        s,
        "second create",
        ok(s, "create", s.create(k, b"second"))?,
        false,
    )?;
    same(
        s,
        "get after create twice",
        ok(s, "get", s.get(k))?,
        Some(b"first".to_vec()),
    )?;
    ok(s, "put", s.put("contract/cas/2.json", b"put"))?;
    let over_put = ok(s, "create", s.create("contract/cas/2.json", b"x"))?;
    same(s, "create over a put", over_put, false)?;
    ok(s, "delete", s.delete(k))?;
    same(
        s,
        "create after delete",
        ok(s, "create", s.create(k, b"third"))?,
        true,
    )?;
    same(
        s,
        "get after recreate",
        ok(s, "get", s.get(k))?,
        Some(b"third".to_vec()),
    )
}

fn ranges(s: &dyn Storage) -> Result<(), String> {
    let k = "contract/range.bin";
    let data: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
    ok(s, "put", s.put(k, &data))?;
    for (start, len) in [(0u64, 10u64), (90, 10), (37, 1), (0, 100), (5, 0)] {
        let end = usize::try_from(start + len).map_err(|e| e.to_string())?;
        let want = data[usize::try_from(start).map_err(|e| e.to_string())?..end].to_vec();
        let got = ok(
            s,
            &format!("get_range {start}+{len}"),
            s.get_range(k, start, len),
        )?;
        same(s, &format!("get_range {start}+{len}"), got, want)?;
    }
    for (start, len) in [(95u64, 10u64), (100, 1), (200, 5)] {
        fails(
            s,
            &format!("get_range {start}+{len} of 100 bytes"),
            s.get_range(k, start, len),
        )?;
    }
    fails(
        s,
        "get_range of an absent key",
        s.get_range("contract/absent", 0, 1),
    )
}

fn listing(s: &dyn Storage) -> Result<(), String> {
    let keys = [
        "contract/list/b/2",
        "contract/list/a.json",
        "contract/list/Z",
        "contract/list/b/1",
    ];
    for k in keys.iter().chain(&["contract/listx/e"]) {
        ok(s, "put", s.put(k, k.as_bytes()))?;
    }
    let mut want: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    same(
        s,
        "list contract/list/",
        ok(s, "list", s.list("contract/list/"))?,
        want.clone(),
    )?;
    let sub = ok(s, "list", s.list("contract/list/b/"))?;
    same(
        s,
        "list contract/list/b/",
        sub,
        vec!["contract/list/b/1".into(), "contract/list/b/2".into()],
    )?;
    same(
        s,
        "list of an empty prefix",
        ok(s, "list", s.list("contract/none/"))?,
        vec![],
    )?;
    let all = ok(s, "list", s.list(""))?;
    let mine: Vec<String> = all
        .iter()
        .filter(|k| k.starts_with("contract/list/"))
        .cloned()
        .collect();
    same(s, "list \"\" (keys under contract/list/)", mine, want)?;
    same(s, "list \"\" is sorted", all.is_sorted(), true)
}

fn pagination(s: &dyn Storage) -> Result<(), String> {
    let keys: Vec<String> = (0..MANY)
        .map(|i| format!("contract/many/k{i:05}"))
        .collect();
    parallel(&keys, |k| {
        ok(s, &format!("put {k}"), s.put(k, k.as_bytes()))
    })?;
    same(
        s,
        "list of 1001 keys",
        ok(s, "list", s.list("contract/many/"))?,
        keys,
    )
}

fn invalid_keys(s: &dyn Storage) -> Result<(), String> {
    fails(s, "get ../x", s.get("../x"))?;
    fails(s, "put /abs", s.put("/abs", b""))?;
    fails(s, "create a//b", s.create("contract//b", b""))?;
    fails(s, "delete a b", s.delete("contract/a b"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::DirStorage;

    #[test]
    fn directory_storage_keeps_the_contract() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = DirStorage::open(dir.path()).expect("open");
        storage_contract(&s).expect("contract");
        storage_contract(&s).expect("contract again: it cleaned up");
    }

    /// A backend whose create overwrites, which the contract must catch.
    #[derive(Debug)]
    struct Overwriting(DirStorage);

    impl Storage for Overwriting {
        fn describe(&self) -> String {
            self.0.describe()
        }
        fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
            self.0.get(key)
        }
        fn get_range(&self, key: &str, start: u64, len: u64) -> StorageResult<Vec<u8>> {
            self.0.get_range(key, start, len)
        }
        fn put(&self, key: &str, bytes: &[u8]) -> StorageResult<()> {
            self.0.put(key, bytes)
        }
        fn create(&self, key: &str, bytes: &[u8]) -> StorageResult<bool> {
            self.0.put(key, bytes).map(|()| true)
        }
        fn list(&self, prefix: &str) -> StorageResult<Vec<String>> {
            self.0.list(prefix)
        }
        fn delete(&self, key: &str) -> StorageResult<()> {
            self.0.delete(key)
        }
    }

    #[test]
    fn the_contract_catches_a_create_that_overwrites() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Overwriting(DirStorage::open(dir.path()).expect("open"));
        let e = storage_contract(&s).expect_err("must fail");
        assert!(e.contains("second create"), "{e}");
    }
}
