//! Golden pods: pods written by earlier podstack versions load, whole and unchanged, in this
//! build. See `tests/golden/README.md`.
//!
//! For every `tests/golden/*.pod` (fixtures added later are picked up by name) and each of
//! four moments after the pod was made (60 s, 3 days, 8 days, 30 days), a fresh emulator's
//! clock is moved to that moment and the archive is loaded with `POST
//! /_localstack/pods?merge=overwrite`. Then:
//! - the state is exported again (`GET /_localstack/pods/state`) and compared with the
//!   fixture, read with podstore alone: the same resource paths but for exactly those the
//!   documented time rules drop at that moment, and the same documents (but for what those
//!   rules change: in-flight messages become visible, expired deduplication entries go),
//!   wherever the schema version is still the fixture's;
//! - `/_localstack/pods/state/metamodel` lists the same resources;
//! - `tests/golden/check_golden.py` checks the state through the AWS APIs with boto3,
//!   against expectations written out there.
//!
//! Finally every document schema this build writes must appear in some golden pod, so a new
//! schema version cannot land without a fixture of it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use e2e::{Emulator, have_boto3, workspace_root};
use podstore::{Commit, Document, Entry, ObjectKind, Objects, Store};
use serde_json::{Value, json};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// A moment after the pod was made at which it is loaded.
#[derive(Debug, Clone, Copy)]
struct Phase {
    /// `check_golden.py`'s name of it.
    name: &'static str,
    /// Seconds after the pod's commit time.
    after: i64,
    /// How many of the golden pod's resources the time rules drop then.
    dropped: usize,
    /// How many checks `check_golden.py` runs then.
    checks: usize,
}

const PHASES: [Phase; 4] = [
    Phase {
        name: "fresh",
        after: 60,
        dropped: 0,
        checks: 14,
    },
    // 3 STS credentials, golden-orders' 4 messages.
    Phase {
        name: "3d",
        after: 3 * DAY,
        dropped: 7,
        checks: 4,
    },
    // … and golden/retired, the 6 FIFO messages, golden-b-queue's and golden-c-queue's.
    Phase {
        name: "8d",
        after: 8 * DAY,
        dropped: 16,
        checks: 3,
    },
    // … and golden-dlq's message.
    Phase {
        name: "30d",
        after: 30 * DAY,
        dropped: 17,
        checks: 4,
    },
];

/// Resources per `<account>/<region>/<service>/<type>` of a golden pod made by
/// `tests/golden/make_golden.py`.
const INVENTORY: &[(&str, usize)] = &[
    ("000000000000/us-east-1/s3/bucket", 3),
    ("000000000000/us-east-1/s3/object", 12),
    ("000000000000/us-east-1/s3/upload", 2),
    ("000000000000/us-east-1/secretsmanager/secret", 5),
    ("000000000000/us-east-1/sqs/message", 11),
    ("000000000000/us-east-1/sqs/queue", 3),
    ("000000000000/us-west-2/s3/bucket", 1),
    ("000000000000/us-west-2/s3/object", 1),
    ("111111111111/eu-west-1/s3/bucket", 1),
    ("111111111111/eu-west-1/s3/object", 1),
    ("111111111111/eu-west-1/secretsmanager/secret", 1),
    ("111111111111/eu-west-1/sqs/message", 1),
    ("111111111111/eu-west-1/sqs/queue", 1),
    ("111111111111/global/sts/credential", 1),
    ("111111111111/us-east-1/s3/bucket", 1),
    ("111111111111/us-east-1/s3/object", 1),
    ("222222222222/ap-southeast-2/s3/bucket", 1),
    ("222222222222/ap-southeast-2/s3/object", 1),
    ("222222222222/ap-southeast-2/sqs/message", 1),
    ("222222222222/ap-southeast-2/sqs/queue", 1),
    ("222222222222/global/sts/credential", 2),
];

/// Whether the load rules drop the golden pod's resource at `path` when it is loaded `after`
/// seconds after the pod was made: the rules in each service's `snapshot.rs` in the emulator,
/// for what make_golden.py makes.
fn dropped(path: &str, after: i64) -> bool {
    let s: Vec<&str> = path.split('/').collect();
    match s.as_slice() {
        // AssumeRole for 12 h, GetSessionToken for 36 h.
        [_, "global", "sts", "credential", _] => after > 36 * HOUR,
        // Messages past their queue's retention period.
        [_, _, "sqs", "message", queue, _] => {
            let retention = match *queue {
                "golden-orders" => 2 * DAY,
                "golden-dlq" => 14 * DAY,
                _ => 4 * DAY,
            };
            after > retention
        }
        // Past its 7-day deletion window.
        [
            "000000000000",
            "us-east-1",
            "secretsmanager",
            "secret",
            "golden%2Fretired",
        ] => after > 7 * DAY,
        _ => false,
    }
}

/// What a pod archive holds, read with podstore alone.
#[derive(Debug)]
struct Pod {
    commit: Commit,
    /// Document by state path (string form).
    docs: BTreeMap<String, Value>,
}

fn read_pod(archive: &[u8], scratch: &Path) -> Pod {
    let store = Store::open(scratch).expect("open a scratch store");
    let imported = podstore::import_archive(&store, archive).expect("a valid pod archive");
    let commit = Commit::load(&store, imported.commit).expect("its commit");
    let mut docs = BTreeMap::new();
    for (path, entry) in podstore::tree::leaves(&store, commit.root).expect("walk the state") {
        let Entry::Doc { id, .. } = entry else {
            panic!("{path}: a leaf that is not a document");
        };
        let bytes = store
            .get_kind(&id.object(), ObjectKind::Document)
            .expect("the document");
        let doc = Document::parse(&bytes).expect("a canonical document");
        docs.insert(path.to_string(), doc.into_value());
    }
    Pod { commit, docs }
}

fn schema_of(v: &Value) -> &str {
    v["schema"].as_str().unwrap_or_default()
}

/// Every golden pod, sorted by name.
fn fixtures() -> Vec<PathBuf> {
    let dir = workspace_root().join("tests").join("golden");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pod"))
        .collect();
    out.sort();
    out
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// The golden pod's own inventory: resources per account/region/service/type.
fn inventory(pod: &Pod) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for path in pod.docs.keys() {
        let s: Vec<&str> = path.split('/').collect();
        *out.entry(s[..4].join("/")).or_default() += 1;
    }
    out
}

/// Moves a fresh emulator's clock to `at` (Unix seconds; only forward).
fn set_clock(emu: &Emulator, fixture: &str, at: i64) {
    let now = |advance: i64| -> i64 {
        let r = emu.http(
            "POST",
            &format!("/_podstack/clock?advance={advance}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "clock control: {}", r.text());
        let v: Value = serde_json::from_slice(&r.body).expect("json");
        v["now_ms"].as_i64().expect("now_ms")
    };
    let ahead_ms = at * 1000 - now(0);
    assert!(
        ahead_ms > 0,
        "{fixture}: its time rules need the clock at {at}, which has passed: golden pods are made \
         with the clock far ahead (tests/golden/README.md)"
    );
    let reached = now((ahead_ms + 999) / 1000);
    assert!(
        reached >= at * 1000 && reached < (at + 5) * 1000,
        "{reached}"
    );
}

/// The document a load and export should give for the golden pod's `fixture` document: the
/// same, but for what the load rules change (`loaded` is what it gave).
fn expected_after_load(path: &str, fixture: &Value, loaded: &Value, load_ms: i64) -> Value {
    let mut want = fixture.clone();
    match schema_of(fixture) {
        // An in-flight message becomes visible at load: no receipt, visible at the load at
        // the latest (`min(visible_at, now)`).
        "sqs.message/1" if !fixture["receipt"].is_null() => {
            let visible_at = loaded["visible_at"].as_i64().expect("visible_at");
            let was = fixture["visible_at"].as_i64().expect("visible_at");
            let ok = if was <= load_ms - 5_000 {
                visible_at == was
            } else {
                visible_at <= was && (visible_at - load_ms).abs() < 5_000
            };
            assert!(
                ok,
                "{path}: visible_at {visible_at} (was {was}, loaded at about {load_ms})"
            );
            want["receipt"] = Value::Null;
            want["visible_at"] = json!(visible_at);
        }
        // Deduplication entries past their expiry are dropped.
        "sqs.queue/1" => {
            let kept: Vec<Value> = fixture["dedup"]
                .as_array()
                .expect("dedup")
                .iter()
                .filter(|e| e[1].as_i64().expect("expiry") > load_ms)
                .cloned()
                .collect();
            want["dedup"] = Value::Array(kept);
        }
        _ => {}
    }
    want
}

/// The top-level fields in which two documents differ, for a failure message.
fn differences(want: &Value, got: &Value) -> String {
    let empty = serde_json::Map::new();
    let (w, g) = (
        want.as_object().unwrap_or(&empty),
        got.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = w.keys().chain(g.keys()).collect();
    keys.into_iter()
        .filter(|k| w.get(*k) != g.get(*k))
        .map(|k| {
            format!(
                "\n  {k}: expected {}, got {}",
                w.get(k).unwrap_or(&Value::Null),
                g.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

/// Loads `archive` into a fresh emulator `phase.after` seconds after the pod was made and
/// checks the state; returns the schemas the build says it writes.
fn check_phase(fixture: &str, archive: &[u8], pod: &Pod, phase: Phase) -> BTreeSet<String> {
    let emu = Emulator::start_with_env(&[("PODSTACK_CLOCK_CONTROL", "1")]);
    let load_s = pod.commit.time + phase.after;
    set_clock(&emu, fixture, load_s);
    let r = emu.http(
        "POST",
        "/_localstack/pods?merge=overwrite",
        &[("content-type", "application/x-tar")],
        archive,
    );
    assert_eq!(r.status, 201, "{fixture} ({}): {}", phase.name, r.text());
    let services: BTreeSet<String> = r
        .text()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("an NDJSON line");
            assert_eq!(v["status"], "ok", "{fixture}: {l}");
            v["service"].as_str().expect("service").to_owned()
        })
        .collect();
    for svc in ["s3", "secretsmanager", "sqs", "sts"] {
        assert!(
            services.contains(svc),
            "{fixture}: {svc} not loaded: {services:?}"
        );
    }

    // Exported again at once, before any API call changes anything.
    let again = emu.get_ok("/_localstack/pods/state");
    let scratch = tempfile::tempdir().expect("temp dir");
    let loaded = read_pod(&again, scratch.path());
    let expected: BTreeSet<&String> = pod
        .docs
        .keys()
        .filter(|p| !dropped(p, phase.after))
        .collect();
    assert_eq!(
        pod.docs.len() - expected.len(),
        phase.dropped,
        "{fixture} ({}): resources the time rules drop",
        phase.name
    );
    let got: BTreeSet<&String> = loaded.docs.keys().collect();
    let lost: Vec<&&String> = expected.difference(&got).collect();
    let extra: Vec<&&String> = got.difference(&expected).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "{fixture} loaded {} s after it was made: lost {lost:#?}, gained {extra:#?}",
        phase.after
    );
    let mut migrated = 0;
    for path in expected {
        let (was, now) = (&pod.docs[path], &loaded.docs[path]);
        if schema_of(was) != schema_of(now) {
            // A newer schema: its migration has its own tests; the API checks cover meaning.
            migrated += 1;
            continue;
        }
        let want = expected_after_load(path, was, now, load_s * 1000);
        assert!(
            now == &want,
            "{fixture} ({}): {path} changed on a load and export: {}",
            phase.name,
            differences(&want, now)
        );
    }
    if migrated > 0 {
        eprintln!(
            "{fixture} ({}): {migrated} documents are in a newer schema now",
            phase.name
        );
    }

    // The metamodel lists the same resources (ids are the path's segments after the type).
    let model: Value = serde_json::from_slice(&emu.get_ok("/_localstack/pods/state/metamodel"))
        .expect("metamodel JSON");
    let mut listed = BTreeSet::new();
    for (account, regions) in model.as_object().expect("accounts") {
        for (region, services) in regions.as_object().expect("regions") {
            for (service, types) in services.as_object().expect("services") {
                for (ty, ids) in types.as_object().expect("types") {
                    for id in ids.as_array().expect("ids") {
                        let id = id.as_str().expect("id");
                        listed.insert(format!("{account}/{region}/{service}/{ty}/{id}"));
                    }
                }
            }
        }
    }
    let in_export: BTreeSet<String> = loaded
        .docs
        .keys()
        .map(|p| {
            podstore::StatePath::parse(p)
                .expect("a state path")
                .segments()
                .join("/")
        })
        .collect();
    assert_eq!(listed, in_export, "{fixture} ({}): metamodel", phase.name);

    if have_boto3() {
        run_checks(&emu, fixture, pod, phase);
    }
    loaded
        .commit
        .services
        .values()
        .flat_map(|s| s.schemas.iter().map(|(k, v)| format!("{k}/{v}")))
        .collect()
}

/// Runs `check_golden.py` for `phase`.
fn run_checks(emu: &Emulator, fixture: &str, pod: &Pod, phase: Phase) {
    let keys: Vec<&str> = pod
        .docs
        .keys()
        .filter_map(|p| {
            let s: Vec<&str> = p.split('/').collect();
            matches!(s.as_slice(), [_, "global", "sts", "credential", _]).then(|| s[4])
        })
        .collect();
    let script = workspace_root().join("tests/golden/check_golden.py");
    let keys = serde_json::to_string(&keys).expect("json");
    let time = pod.commit.time.to_string();
    let out = emu.python(&script, &[phase.name, &keys, &time, "-v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.status.success(),
        "{fixture} ({}): the API checks failed:\n{report}",
        phase.name
    );
    let ran: usize = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no unittest summary:\n{report}"));
    assert_eq!(ran, phase.checks, "{fixture} ({}):\n{report}", phase.name);
    assert!(
        stderr.lines().any(|l| l.trim() == "OK") && !stderr.contains("skipped"),
        "{report}"
    );
}

#[test]
fn every_golden_pod_loads_whole_in_this_build() {
    let all = fixtures();
    assert!(!all.is_empty(), "no tests/golden/*.pod");
    let mut covered = BTreeSet::new();
    let mut written = BTreeSet::new();
    for path in &all {
        let fixture = name_of(path);
        let archive = std::fs::read(path).expect("read the golden pod");
        assert!(
            archive.len() < 1 << 20,
            "{fixture}: {} bytes; keep golden pods small",
            archive.len()
        );
        let scratch = tempfile::tempdir().expect("temp dir");
        let pod = read_pod(&archive, scratch.path());
        let want: BTreeMap<String, usize> = INVENTORY
            .iter()
            .map(|(k, n)| ((*k).to_owned(), *n))
            .collect();
        assert_eq!(inventory(&pod), want, "{fixture}: what it holds");
        covered.extend(pod.docs.values().map(|d| schema_of(d).to_owned()));
        eprintln!(
            "{fixture}: {} resources, made by {} at {}",
            pod.docs.len(),
            pod.commit.emulator_version,
            podstore::format_rfc3339(pod.commit.time)
        );
        for phase in PHASES {
            written.extend(check_phase(&fixture, &archive, &pod, phase));
        }
    }
    let missing: Vec<&String> = written.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "this build writes {missing:?}, which no golden pod holds: add a golden pod made with \
         this build (tests/golden/README.md)"
    );
}
