//! The pod archive reader (`podstore::import_archive`) on arbitrary bytes, into one store kept
//! for the whole run: a bad archive must be an error that leaves the store unchanged and
//! valid, never a panic.
#![no_main]

use std::sync::OnceLock;

static STORE: OnceLock<(tempfile::TempDir, podstore::Store)> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = podstore::Store::open(dir.path().join("store")).expect("a store");
        (dir, store)
    });
    let _ = podstore::import_archive(store, data);
});
