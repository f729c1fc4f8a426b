//! Crash safety: child processes commit in a loop and are killed (SIGKILL) at random moments,
//! two at a time so that concurrent commits race too. After every round the store must open,
//! every pod version must verify, and version numbers must never repeat.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use podstore::{
    BlobWriter, Commit, CommitOptions, Document, Entry, Expect, StatePath, Store, blob_ref, tree,
    verify,
};

const CHILD_ENV: &str = "PODSTORE_CRASH_CHILD_DIR";

/// Not a test on its own: the body that children run until killed.
#[test]
fn crash_child_commit_loop() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let worker: u64 = std::process::id().into();
    let store = Store::open(&dir).expect("child opens the store");
    for round in 0u64.. {
        commit_once(&store, worker, round);
    }
}

fn commit_once(store: &Store, worker: u64, round: u64) {
    let mut entries = Vec::new();
    for i in 0..16u64 {
        let size = ((worker * 31 + round * 7 + i * 13) % 5) as usize * 45_000 + 10;
        let mut w = BlobWriter::new(store);
        let body = podstore::testkit::random_bytes(worker ^ (round << 20) ^ (i << 40), size);
        w.write(&body).expect("write");
        let blob = w.finish().expect("finish").blob;
        let doc = Document::new(serde_json::json!({
            "schema": "s3.object/1", "round": round, "body": blob_ref(&blob)
        }))
        .expect("doc");
        let path = StatePath::new([
            "000000000000",
            "us-east-1",
            "s3",
            "object",
            &format!("k{i}"),
        ])
        .expect("path");
        entries.push((path, Entry::store_doc(store, &doc).expect("store doc")));
    }
    let root = tree::build(store, entries).expect("build");
    let commit = Commit::new(store, root, CommitOptions::default())
        .expect("commit")
        .store(store)
        .expect("store commit");
    store.flush().expect("flush");
    store
        .create_version("crash", commit, Expect::Any)
        .expect("version");
}

fn spawn_child(dir: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "crash_child_commit_loop",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child")
}

fn jitter_ms(seed: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    50 + (u64::from(nanos) ^ seed.wrapping_mul(0x9e37_79b9)) % 900
}

#[test]
fn killed_commits_never_corrupt_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    Store::open(dir.path()).expect("init");
    let mut last_seen = 0;
    for round in 0..15u64 {
        let mut children = [spawn_child(dir.path()), spawn_child(dir.path())];
        std::thread::sleep(Duration::from_millis(jitter_ms(round)));
        children[0].kill().expect("kill a");
        std::thread::sleep(Duration::from_millis(jitter_ms(round + 99) / 4));
        children[1].kill().expect("kill b");
        for c in &mut children {
            c.wait().expect("reap");
        }
        let store = Store::open(dir.path()).expect("store opens after a crash");
        let report = verify(&store).expect("verify runs");
        assert!(report.is_ok(), "round {round}: {report:#?}");
        let versions = store.versions("crash").map(|v| v.len()).unwrap_or(0);
        assert!(versions >= last_seen, "versions went backwards");
        last_seen = versions;
    }
    assert!(
        last_seen > 0,
        "no commit completed in any round; the test proved nothing"
    );
}
