//! Incremental persistence against the real binary: every change a request makes must reach
//! the next snapshot. The boto3 suites run again with persistence on and a check after every
//! AWS call (`tests/python/verify_snapshots.py`): the incremental snapshot must equal the live
//! state exported whole. And under ON_REQUEST, state rebuilt from the journal after kill -9
//! must equal the state before it.

use e2e::{Emulator, have_boto3, run_python_suite_via};

const SCHEDULED_FAST: &[(&str, &str)] = &[
    ("PERSISTENCE", "1"),
    ("SNAPSHOT_SAVE_STRATEGY", "SCHEDULED"),
    ("SNAPSHOT_FLUSH_INTERVAL", "0.05"),
    ("PODSTACK_CLOCK_CONTROL", "1"),
];

const ON_REQUEST: &[(&str, &str)] = &[
    ("PERSISTENCE", "1"),
    ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ("PODSTACK_CLOCK_CONTROL", "1"),
];

#[test]
fn s3_suite_snapshots_equal_the_live_state() {
    if !have_boto3() {
        return;
    }
    let emu = Emulator::start_with_env(SCHEDULED_FAST);
    run_python_suite_via(
        &emu,
        "tests/python/verify_snapshots.py",
        "tests/python/s3_boto3.py",
        30,
    );
}

#[test]
fn services_suite_snapshots_equal_the_live_state() {
    if !have_boto3() {
        return;
    }
    let emu = Emulator::start_with_env(ON_REQUEST);
    run_python_suite_via(
        &emu,
        "tests/python/verify_snapshots.py",
        "tests/python/services_boto3.py",
        15,
    );
}

/// The live state exported whole, as a tree root (a commit of the emulator's own store).
fn live_root(emu: &Emulator) -> String {
    let r = emu.http("POST", "/_podstack/state/commit", &[], b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v["root"].as_str().expect("root").to_owned()
}

#[test]
fn journal_replay_after_kill_9_rebuilds_the_same_state() {
    if !have_boto3() {
        return;
    }
    // ON_REQUEST: every acknowledged change is in the journal (snapshots only start when it
    // grows large, which this run does not reach).
    let emu = Emulator::start_with_env(ON_REQUEST);
    let script = e2e::workspace_root().join("tests/python/services_boto3.py");
    let out = emu.python(&script, &["-v"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A last change, so that the journal also holds what reads changed (last access dates).
    let r = emu.http("PUT", "/sync-point", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let before = live_root(&emu);
    let emu = emu.kill_and_restart(ON_REQUEST);
    let health = emu.health();
    let status = &health["persistence"]["status"];
    assert_eq!(
        status["recovered"]["root"].as_str(),
        Some(before.as_str()),
        "the state rebuilt from the journal differs from the state before kill -9: {health}"
    );
    assert!(
        status["recovered"]["journal_records"].as_u64() > Some(10),
        "{health}"
    );
    assert!(
        status["problems"].as_array().is_some_and(|p| p.is_empty()),
        "{health}"
    );
}
