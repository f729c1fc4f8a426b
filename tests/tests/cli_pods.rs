//! The `podstack pod …` and `state …` commands against the real binary: the seed's basic use
//! case with the aws CLI (commit, restart fresh, inject, everything back byte for byte),
//! versions, diff, every merge strategy with dry runs, export/import round trips, and the
//! archive path used when the CLI and the emulator do not share a pod store.

use e2e::{Emulator, have_aws, podstack_run, pseudo_random};
use serde_json::json;

fn queues(emu: &Emulator) -> Vec<String> {
    let mut names: Vec<String> = emu.sqs_ok("ListQueues", json!({}))["QueueUrls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str()?.rsplit('/').next().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The seed's basic use case, with the aws CLI: state made by the CLI comes back, the 3 MB
/// object byte for byte, after a commit, a stop and a fresh start.
#[test]
fn basic_use_case_commit_restart_inject() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    emu.aws_ok(&["s3", "mb", "s3://test-bucket"]);
    emu.aws_ok(&["sqs", "create-queue", "--queue-name", "test-queue"]);
    emu.aws_ok(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "db-password",
        "--secret-string",
        "s3cr3t",
    ]);
    let big = pseudo_random(3 << 20, 42);
    let file = emu.scratch().join("big.bin");
    std::fs::write(&file, &big).expect("write");
    emu.aws_ok(&[
        "s3",
        "cp",
        file.to_str().expect("utf8"),
        "s3://test-bucket/big.bin",
    ]);

    let out = emu.podstack_json(&["pod", "commit", "p1", "-m", "seed state"]);
    assert_eq!(
        (out["pod"].as_str(), out["version"].as_u64()),
        (Some("p1"), Some(1))
    );
    assert_eq!(out["via"], "shared-store");
    assert_eq!(out["services"]["s3"]["resources"], 2, "{out}");
    assert_eq!(out["services"]["sqs"]["resources"], 1, "{out}");
    assert_eq!(out["services"]["secretsmanager"]["resources"], 1, "{out}");
    assert!(
        out["bytes"]["new"].as_u64().expect("new") >= 3 << 20,
        "{out}"
    );

    // Stop, start fresh (no persistence: the state is empty), inject.
    let emu = emu.stop_and_restart(&[]);
    assert!(queues(&emu).is_empty());
    let text = emu.podstack_ok(&["pod", "inject", "p1"]);
    assert!(text.contains("injected p1:1"), "{text}");

    let listed = emu.aws_ok(&["s3", "ls", "s3://test-bucket/"]);
    assert!(listed.contains("big.bin"), "{listed}");
    let back = emu.scratch().join("back.bin");
    emu.aws_ok(&[
        "s3",
        "cp",
        "s3://test-bucket/big.bin",
        back.to_str().expect("utf8"),
    ]);
    assert!(
        std::fs::read(&back).expect("read") == big,
        "the object differs"
    );
    let url = emu.aws_json(&["sqs", "get-queue-url", "--queue-name", "test-queue"]);
    assert!(
        url["QueueUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with("/test-queue"))
    );
    let secret = emu.aws_json(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "db-password",
    ]);
    assert_eq!(secret["SecretString"], "s3cr3t");

    let status = emu.podstack_json(&["status"]);
    assert_eq!(status["running"], true);
    assert_eq!(status["shared_store"], true);
    assert_eq!(status["loaded_pods"][0]["pod"], "p1:1", "{status}");

    // Committing the same state again makes a version that reuses every byte.
    let again = emu.podstack_json(&["pod", "commit", "p1"]);
    assert_eq!(again["version"], 2);
    assert!(
        again["bytes"]["reused"].as_u64().expect("reused") >= 3 << 20,
        "{again}"
    );
    assert!(
        again["bytes"]["new"].as_u64().expect("new") < 64 << 10,
        "{again}"
    );
}

/// Versions, diff (two refs and against the emulator), every strategy with and without dry
/// runs, three-way conflicts, delete.
#[test]
fn versions_diff_and_every_strategy() {
    let emu = Emulator::start();
    emu.put_ok("/bkt1", b"");
    emu.put_ok("/bkt1/k1", b"one");
    emu.sqs_ok("CreateQueue", json!({"QueueName": "q1"}));
    emu.podstack_json(&["pod", "commit", "p1", "-m", "v1"]);
    emu.sqs_ok("CreateQueue", json!({"QueueName": "q2"}));
    emu.put_ok("/bkt1/k1", b"two");
    let v2 = emu.podstack_json(&["pod", "save", "p1", "-m", "v2"]);
    assert_eq!(v2["version"], 2);

    let versions = emu.podstack_json(&["pod", "versions", "p1"]);
    let msgs: Vec<&str> = versions
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["message"].as_str().expect("message"))
        .collect();
    assert_eq!(msgs, ["v1", "v2"]);
    let list = emu.podstack_json(&["pod", "list"]);
    assert_eq!(list[0]["name"], "p1");
    assert_eq!(list[0]["latest"], 2);

    let d = emu.podstack_json(&["pod", "diff", "p1:1", "p1:2"]);
    assert_eq!(
        d["services"]["sqs"],
        json!({"added": 1, "modified": 0, "deleted": 0})
    );
    assert_eq!(d["services"]["s3"]["modified"], 1, "{d}");
    assert!(
        d["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .any(|c| c["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("sqs/queue/q2"))
                && c["kind"] == "added"),
        "{d}"
    );
    // One ref: against the running emulator (which has a local edit).
    emu.sqs_ok("CreateQueue", json!({"QueueName": "local"}));
    let d = emu.podstack_json(&["pod", "diff", "p1"]);
    assert_eq!(d["services"]["sqs"]["added"], 1, "{d}");
    let text = emu.podstack_ok(&["-v", "pod", "diff", "p1"]);
    assert!(
        text.contains("+ 000000000000/us-east-1/sqs/queue/local"),
        "{text}"
    );

    // Dry runs change nothing and list deletions.
    let dry = emu.podstack_json(&[
        "pod",
        "inject",
        "p1:1",
        "--strategy",
        "overwrite",
        "--dry-run",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["services"]["sqs"]["deleted"], 2, "q2 and local: {dry}");
    assert_eq!(dry["services"]["s3"]["modified"], 1, "{dry}");
    assert_eq!(queues(&emu), ["local", "q1", "q2"]);
    let dry = emu.podstack_json(&[
        "pod",
        "inject",
        "p1:1",
        "--strategy",
        "service-merge",
        "--dry-run",
    ]);
    assert!(
        dry["services"]["sqs"].is_null(),
        "service-merge deletes nothing: {dry}"
    );
    assert_eq!(dry["services"]["s3"]["modified"], 1, "{dry}");

    // overwrite: exactly the pod.
    emu.podstack_ok(&["pod", "inject", "p1:1", "--strategy", "overwrite", "-y"]);
    assert_eq!(queues(&emu), ["q1"]);
    assert_eq!(emu.get_ok("/bkt1/k1"), b"one");

    // service-merge: union, the pod wins on the same resource.
    emu.sqs_ok("CreateQueue", json!({"QueueName": "local"}));
    emu.podstack_ok(&["pod", "inject", "p1", "--strategy", "service-merge"]);
    assert_eq!(queues(&emu), ["local", "q1", "q2"]);
    assert_eq!(emu.get_ok("/bkt1/k1"), b"two");

    // account-region-merge (the default): the pod's (account, region, service) replaces ours.
    emu.podstack_ok(&["pod", "inject", "p1:1"]);
    assert_eq!(queues(&emu), ["q1"]);

    // three-way against the last load (p1:1): local edits survive, the pod's changes apply,
    // both sides changing k1 is a conflict that keeps the local edit.
    emu.sqs_ok("CreateQueue", json!({"QueueName": "mine"}));
    emu.put_ok("/bkt1/k1", b"local edit");
    let r = emu.podstack(&[
        "pod",
        "inject",
        "p1:2",
        "--strategy",
        "three-way",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json();
    assert_eq!(out["conflicts"].as_array().map(Vec::len), Some(1), "{out}");
    assert!(r.stderr.contains("conflict"), "{}", r.stderr);
    assert_eq!(queues(&emu), ["mine", "q1", "q2"]);
    assert_eq!(emu.get_ok("/bkt1/k1"), b"local edit");

    let status = emu.podstack_json(&["status"]);
    let loaded: Vec<&str> = status["loaded_pods"]
        .as_array()
        .expect("loaded")
        .iter()
        .map(|l| l["pod"].as_str().expect("pod"))
        .collect();
    assert_eq!(loaded, ["p1:1", "p1:2", "p1:1", "p1:2"], "{status}");

    // Delete a version, then the pod.
    emu.podstack_ok(&["pod", "delete", "p1:1", "-y"]);
    let versions = emu.podstack_json(&["pod", "versions", "p1"]);
    assert_eq!(versions.as_array().map(Vec::len), Some(1));
    emu.podstack_ok(&["pod", "rm", "p1", "--yes"]);
    assert_eq!(emu.podstack_json(&["pod", "list"]), json!([]));
    let r = emu.podstack(&["pod", "versions", "p1"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
}

/// Export and import round trip between two stores, state export/import/reset, and the
/// archive path (the CLI's store is not the emulator's).
#[test]
fn export_import_round_trip_and_foreign_stores() {
    let emu = Emulator::start();
    emu.put_ok("/bkt1", b"");
    let body = pseudo_random(300_000, 7);
    emu.put_ok("/bkt1/blob", &body);
    emu.sqs_ok("CreateQueue", json!({"QueueName": "q1"}));
    let c = emu.podstack_json(&["pod", "commit", "p1"]);
    let tar = emu.scratch().join("p1.tar");
    let tar_s = tar.to_str().expect("utf8");
    let e = emu.podstack_json(&["pod", "export", "p1", "-o", tar_s]);
    assert_eq!(e["pod"], "p1:1");
    assert!(tar.is_file());
    // inspect reads an archive without adding it to any store.
    let inspected = emu.podstack_json(&["pod", "inspect", tar_s]);
    assert_eq!(
        (inspected["pod"].as_str(), inspected["version"].as_u64()),
        (Some("p1"), Some(1))
    );
    assert_eq!(
        emu.podstack_json(&["pod", "list"]).as_array().map(Vec::len),
        Some(1)
    );

    // Another data directory: a CLI that does not share the emulator's store.
    let other = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| podstack_run(other.path(), &emu.endpoint, args);
    let r = run(&["pod", "import", tar_s, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let imp = r.json();
    assert_eq!(
        (imp["pod"].as_str(), imp["created"].as_bool()),
        (Some("p1"), Some(true))
    );
    assert_eq!(
        imp["commit"], c["commit"],
        "the same state has the same commit"
    );
    let r = run(&["pod", "import", tar_s, "--format", "json"]);
    assert_eq!(
        r.json()["created"],
        false,
        "importing again adds no version"
    );
    let r = run(&["pod", "import", tar_s, "--name", "copy"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Inject from the foreign store: sent as an archive; dry runs need a shared store.
    let r = run(&["pod", "inject", "copy", "--dry-run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--dry-run needs"), "{}", r.stderr);
    emu.podstack_ok(&["state", "reset"]);
    assert!(queues(&emu).is_empty());
    let r = run(&["pod", "inject", "copy", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["via"], "archive");
    assert_eq!(queues(&emu), ["q1"]);
    assert!(emu.get_ok("/bkt1/blob") == body);
    // Commit from the foreign store: fetched as an archive, message kept.
    let r = run(&[
        "pod",
        "commit",
        "remote-copy",
        "-m",
        "fetched",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rc = r.json();
    assert_eq!(
        (rc["via"].as_str(), rc["message"].as_str()),
        (Some("archive"), Some("fetched"))
    );
    let r = run(&["pod", "diff", "copy", "remote-copy", "--format", "json"]);
    assert_eq!(r.json()["changes"], json!([]), "same state, no differences");

    // state export / reset / import.
    let st = emu.scratch().join("state.tar");
    let st_s = st.to_str().expect("utf8");
    emu.podstack_ok(&["state", "export", st_s, "-s", "sqs"]);
    emu.podstack_ok(&["state", "reset", "-s", "sqs"]);
    assert!(queues(&emu).is_empty());
    assert!(
        emu.get_ok("/bkt1/blob") == body,
        "s3 untouched by an sqs reset"
    );
    let out = emu.podstack_json(&["state", "import", st_s, "--strategy", "service-merge"]);
    assert_eq!(out["services"], json!(["sqs"]));
    assert_eq!(queues(&emu), ["q1"]);

    // The store is sound; gc refuses while the emulator holds it.
    let v = emu.podstack_json(&["store", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    let r = emu.podstack(&["store", "gc"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("in use"), "{}", r.stderr);
    let r = run(&["store", "gc", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
