//! Persistence, state endpoints and preseeding against the real `podstack` binary: crashes
//! (SIGKILL), graceful stops (SIGTERM), every save and load strategy, corrupt input.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Emulator, http};

const ON_REQUEST: &[(&str, &str)] = &[
    ("PERSISTENCE", "1"),
    ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
];
const MANUAL: &[(&str, &str)] = &[("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", "MANUAL")];

fn get(emu: &Emulator, path: &str) -> (u16, Vec<u8>) {
    let r = emu.http("GET", path, &[], b"");
    (r.status, r.body)
}

fn post(emu: &Emulator, path: &str, body: &[u8]) -> (u16, String) {
    let r = emu.http("POST", path, &[], body);
    (r.status, r.text())
}

/// Commits the emulator's state and makes it version 1 of pod `name` in its local store.
fn commit_as_pod(emu: &Emulator, name: &str) {
    let (status, text) = post(emu, "/_podstack/state/commit", br#"{"message": "fixture"}"#);
    assert_eq!(status, 200, "{text}");
    let commit: podstore::CommitId = serde_json::from_str::<serde_json::Value>(&text)
        .expect("json")["commit"]
        .as_str()
        .expect("commit")
        .parse()
        .expect("id");
    let store = podstore::Store::open(emu.data_dir().join("store")).expect("store");
    store
        .create_version(name, commit, podstore::Expect::Any)
        .expect("version");
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged() {
    let emu = Emulator::start_with_env(ON_REQUEST);
    emu.put_ok("/crash", b"");
    let url = emu.sqs_ok("CreateQueue", serde_json::json!({"QueueName": "crash-q"}))["QueueUrl"]
        .as_str()
        .expect("url")
        .to_owned();
    let acked: Arc<Mutex<Vec<u32>>> = Arc::default();
    let (port, acked2) = (emu.port, acked.clone());
    let writer = std::thread::spawn(move || {
        for i in 0u32..100_000 {
            let path = format!("/crash/k{i}");
            let ok = http(port, "PUT", &path, &[], format!("v{i}").as_bytes())
                .is_ok_and(|r| r.status == 200);
            if !ok {
                return;
            }
            acked2.lock().expect("lock").push(i);
        }
    });
    let started = Instant::now();
    while acked.lock().expect("lock").len() < 40 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    emu.sqs_ok(
        "SendMessage",
        serde_json::json!({"QueueUrl": url, "MessageBody": "durable"}),
    );
    let emu = emu.kill_and_restart(ON_REQUEST);
    writer.join().expect("writer");
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 40,
        "only {} writes were acknowledged before the kill",
        acked.len()
    );
    for i in &acked {
        let (status, body) = get(&emu, &format!("/crash/k{i}"));
        assert_eq!(
            (status, body),
            (200, format!("v{i}").into_bytes()),
            "acknowledged write k{i} lost"
        );
    }
    let got = emu.sqs_ok("ReceiveMessage", serde_json::json!({"QueueUrl": url}));
    assert_eq!(got["Messages"][0]["Body"], "durable");
}

#[test]
fn scheduled_saves_survive_a_crash() {
    let env = [("PERSISTENCE", "1"), ("SNAPSHOT_FLUSH_INTERVAL", "0.2")];
    let emu = Emulator::start_with_env(&env);
    emu.put_ok("/sched", b"");
    emu.put_ok("/sched/a", b"alpha");
    let deadline = Instant::now() + Duration::from_secs(10);
    while emu.health()["persistence"]["status"]["last_snapshot"].is_null() {
        assert!(
            Instant::now() < deadline,
            "no scheduled save within 10 s: {}",
            emu.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let emu = emu.kill_and_restart(&env);
    assert_eq!(get(&emu, "/sched/a"), (200, b"alpha".to_vec()));
}

#[test]
fn on_shutdown_saves_on_sigterm_only() {
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_SHUTDOWN"),
    ];
    let emu = Emulator::start_with_env(&env);
    emu.put_ok("/shut", b"");
    emu.put_ok("/shut/kept", b"1");
    let emu = emu.stop_and_restart(&env);
    assert_eq!(get(&emu, "/shut/kept"), (200, b"1".to_vec()));
    emu.put_ok("/shut/lost", b"2");
    let emu = emu.kill_and_restart(&env);
    assert_eq!(
        get(&emu, "/shut/lost").0,
        404,
        "a crash loses what ON_SHUTDOWN had not saved"
    );
    assert_eq!(get(&emu, "/shut/kept").0, 200);
}

#[test]
fn manual_saves_and_loads_through_the_endpoints() {
    let emu = Emulator::start_with_env(MANUAL);
    emu.put_ok("/man", b"");
    emu.put_ok("/man/a", b"a");
    let emu = emu.kill_and_restart(MANUAL);
    assert_eq!(get(&emu, "/man/a").0, 404, "nothing was saved");
    emu.put_ok("/man", b"");
    emu.put_ok("/man/b", b"b");
    let (status, lines) = post(&emu, "/_localstack/state/save", b"");
    assert_eq!(status, 200, "{lines}");
    assert!(
        lines
            .lines()
            .any(|l| l == r#"{"service":"s3","status":"ok"}"#),
        "{lines}"
    );
    let load_manual = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "MANUAL"),
        ("SNAPSHOT_LOAD_STRATEGY", "MANUAL"),
    ];
    let emu = emu.kill_and_restart(&load_manual);
    assert_eq!(
        get(&emu, "/man/b").0,
        404,
        "MANUAL loading waits for the endpoint"
    );
    let (status, lines) = post(&emu, "/_localstack/state/s3/load", b"");
    assert_eq!(status, 200, "{lines}");
    assert_eq!(get(&emu, "/man/b"), (200, b"b".to_vec()));
    let lazy = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "MANUAL"),
        ("SNAPSHOT_LOAD_STRATEGY", "ON_REQUEST"),
    ];
    let emu = emu.kill_and_restart(&lazy);
    assert_eq!(
        get(&emu, "/man/b"),
        (200, b"b".to_vec()),
        "ON_REQUEST loads S3 on its first request"
    );
    let (status, _) = post(&emu, "/_localstack/state/s3/reset", b"");
    assert_eq!(status, 200);
    assert_eq!(get(&emu, "/man/b").0, 404);
}

#[test]
fn pod_archives_round_trip_and_bad_ones_change_nothing() {
    let emu = Emulator::start();
    emu.put_ok("/pod", b"");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    emu.put_ok("/pod/big", &body);
    emu.sqs_ok("CreateQueue", serde_json::json!({"QueueName": "pod-q"}));
    let r = emu.http("GET", "/_localstack/pods/state?services=s3,sqs", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-localstack-pod-services"), Some("s3,sqs"));
    assert_eq!(
        r.header("x-localstack-pod-size")
            .and_then(|s| s.parse().ok()),
        Some(r.body.len())
    );
    let archive = r.body;
    let (status, _) = post(&emu, "/_localstack/state/reset", b"");
    assert_eq!(status, 200);
    assert_eq!(get(&emu, "/pod/big").0, 404);
    let random: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    for (what, bad) in [
        ("random bytes", &random[..]),
        ("truncated", &archive[..archive.len() / 2]),
    ] {
        let (status, text) = post(&emu, "/_localstack/pods?merge=overwrite", bad);
        assert!((400..500).contains(&status), "{what}: {status} {text}");
        assert_eq!(get(&emu, "/pod/big").0, 404, "{what} changed the state");
    }
    let (status, lines) = post(&emu, "/_localstack/pods?merge=overwrite", &archive);
    assert_eq!(status, 201, "{lines}");
    assert!(lines.contains(r#""service":"s3""#), "{lines}");
    assert_eq!(get(&emu, "/pod/big"), (200, body));
    let model = emu.http("GET", "/_localstack/pods/state/metamodel", &[], b"");
    let model: serde_json::Value = serde_json::from_slice(&model.body).expect("json");
    assert_eq!(model["000000000000"]["us-east-1"]["s3"]["bucket"][0], "pod");
    assert_eq!(
        model["000000000000"]["us-east-1"]["sqs"]["queue"][0],
        "pod-q"
    );
}

#[test]
fn a_damaged_snapshot_is_reported_and_the_emulator_still_starts() {
    let emu = Emulator::start_with_env(MANUAL);
    emu.put_ok("/dmg", b"");
    emu.put_ok("/dmg/first", b"1");
    assert_eq!(post(&emu, "/_localstack/state/save", b"").0, 200);
    emu.put_ok("/dmg/second", b"2");
    assert_eq!(post(&emu, "/_localstack/state/save", b"").0, 200);
    let mut emu = emu;
    emu.terminate();
    // Damage the newest pack: the latest snapshot's documents live there.
    let packs = emu.data_dir().join("store/packs");
    let newest = std::fs::read_dir(&packs)
        .expect("packs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("a pack");
    let mut bytes = std::fs::read(&newest).expect("read pack");
    let n = bytes.len();
    for b in &mut bytes[8..n] {
        *b ^= 0x5a;
    }
    std::fs::write(&newest, bytes).expect("write pack");
    let emu = emu.kill_and_restart(MANUAL);
    let health = emu.health();
    assert_eq!(health["services"]["s3"], "running");
    let problems = health["persistence"]["status"]["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!problems.is_empty(), "the damage is reported: {health}");
    assert_eq!(
        get(&emu, "/dmg/first"),
        (200, b"1".to_vec()),
        "the previous snapshot was loaded: {health}"
    );
}

#[test]
fn auto_load_pod_preseeds_from_the_local_store() {
    let emu = Emulator::start();
    emu.put_ok("/seed", b"");
    emu.put_ok("/seed/fixture", b"from the pod");
    commit_as_pod(&emu, "fixtures");
    let emu = emu.kill_and_restart(&[("AUTO_LOAD_POD", "fixtures")]);
    assert_eq!(
        get(&emu, "/seed/fixture"),
        (200, b"from the pod".to_vec()),
        "{}",
        emu.log()
    );
    let emu = emu.kill_and_restart(&[("AUTO_LOAD_POD", "no-such-pod")]);
    assert!(
        emu.log().contains("no pod \"no-such-pod\""),
        "{}",
        emu.log()
    );
    assert_eq!(get(&emu, "/seed/fixture").0, 404);
}

/// The init directory (`<data dir>/init-pods.d`): a `*.txt` list of pods and a `*.tar`
/// archive are loaded at start, with `MERGE_STRATEGY` (`service-merge` here, so that the
/// second keeps the first's bucket). With `PERSISTENCE=1` they seed only the first start; once
/// a snapshot exists it wins, and the pods are not applied over it again.
#[test]
fn the_init_directory_preseeds_and_saved_state_takes_precedence() {
    let emu = Emulator::start();
    emu.put_ok("/from-archive", b"");
    emu.put_ok("/from-archive/a", b"archived");
    let r = emu.http("GET", "/_localstack/pods/state?services=s3", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let archive = r.body;
    assert_eq!(post(&emu, "/_localstack/state/reset", b"").0, 200);
    emu.put_ok("/from-list", b"");
    emu.put_ok("/from-list/l", b"listed");
    commit_as_pod(&emu, "listed");
    let init = emu.data_dir().join("init-pods.d");
    std::fs::create_dir_all(&init).expect("init dir");
    std::fs::write(init.join("pods.txt"), "# fixtures\nlisted\n").expect("list");
    std::fs::write(init.join("fixture.tar"), &archive).expect("archive");
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "MANUAL"),
        ("MERGE_STRATEGY", "service-merge"),
    ];

    let emu = emu.kill_and_restart(&env);
    assert_eq!(
        get(&emu, "/from-list/l"),
        (200, b"listed".to_vec()),
        "{}",
        emu.log()
    );
    assert_eq!(
        get(&emu, "/from-archive/a"),
        (200, b"archived".to_vec()),
        "{}",
        emu.log()
    );
    // Change what the pods seeded, and save.
    assert_eq!(emu.http("DELETE", "/from-list/l", &[], b"").status, 204);
    let (status, lines) = post(&emu, "/_localstack/state/save", b"");
    assert_eq!(status, 200, "{lines}");

    let emu = emu.kill_and_restart(&env);
    assert!(
        emu.log().contains("pods to preseed are skipped"),
        "{}",
        emu.log()
    );
    assert_eq!(
        get(&emu, "/from-list/l").0,
        404,
        "the pod was not applied again"
    );
    assert_eq!(get(&emu, "/from-archive/a"), (200, b"archived".to_vec()));
}

#[test]
fn native_import_dry_run_reports_and_changes_nothing() {
    let emu = Emulator::start();
    emu.put_ok("/nat1", b"");
    let (_, text) = post(&emu, "/_podstack/state/commit", b"{}");
    let commit = serde_json::from_str::<serde_json::Value>(&text).expect("json")["commit"]
        .as_str()
        .expect("c")
        .to_owned();
    assert_eq!(post(&emu, "/_localstack/state/reset", b"").0, 200);
    emu.put_ok("/nat2", b"");
    let (status, text) = post(
        &emu,
        &format!("/_podstack/state/import?commit={commit}&strategy=overwrite&dry_run=true"),
        b"",
    );
    assert_eq!(status, 200, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        report["services"]["s3"],
        serde_json::json!({"added": 1, "modified": 0, "deleted": 1})
    );
    assert_eq!(
        emu.http("HEAD", "/nat2", &[], b"").status,
        200,
        "a dry run changes nothing"
    );
    let (status, _) = post(
        &emu,
        &format!("/_podstack/state/import?commit={commit}&strategy=overwrite"),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(emu.http("HEAD", "/nat2", &[], b"").status, 404);
    assert_eq!(emu.http("HEAD", "/nat1", &[], b"").status, 200);
}

/// Takes a real archive, adds an SQS message whose queue does not exist, and loads it: the
/// load fails naming `sqs`, and the S3 part of the same archive is not applied either.
#[test]
fn a_load_that_fails_half_way_changes_nothing() {
    let emu = Emulator::start();
    emu.put_ok("/half-a", b"");
    let archive = emu.http("GET", "/_localstack/pods/state", &[], b"").body;
    assert_eq!(post(&emu, "/_localstack/state/reset", b"").0, 200);
    emu.put_ok("/half-b", b"");

    let dir = tempfile::tempdir().expect("dir");
    let store = podstore::Store::open(dir.path()).expect("store");
    let imported = podstore::import_archive(&store, &archive[..]).expect("import");
    let root = podstore::Commit::load(&store, imported.commit)
        .expect("commit")
        .root;
    let doc = podstore::Document::new(
        serde_json::json!({"schema": "sqs.message/1", "id": "m1", "body": "orphan"}),
    )
    .expect("doc");
    let entry = podstore::Entry::store_doc(&store, &doc).expect("store doc");
    let path = podstore::StatePath::new([
        "000000000000",
        "us-east-1",
        "sqs",
        "message",
        "ghost-queue",
        "m1",
    ])
    .expect("path");
    let bad_root =
        podstore::tree::update(&store, Some(root), vec![(path, Some(entry))]).expect("update");
    let commit = podstore::Commit::new(&store, bad_root, podstore::CommitOptions::default())
        .expect("commit")
        .store(&store)
        .expect("store commit");
    store.flush().expect("flush");
    let mut bad = Vec::new();
    podstore::export_archive(&store, commit, None, &mut bad).expect("export");

    let (status, lines) = post(&emu, "/_localstack/pods?merge=overwrite", &bad);
    assert_eq!(status, 422, "{lines}");
    assert!(
        lines.contains(r#""service":"sqs""#),
        "the error names the failing service: {lines}"
    );
    assert_eq!(
        emu.http("HEAD", "/half-b", &[], b"").status,
        200,
        "state unchanged"
    );
    assert_eq!(
        emu.http("HEAD", "/half-a", &[], b"").status,
        404,
        "the S3 part was not applied"
    );
}
