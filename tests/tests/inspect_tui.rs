//! `podstack pod inspect` in a real terminal: tmux runs the browser on a pod archive built
//! here, the test types a search with `send-keys`, reads the screen with `capture-pane`, quits,
//! and checks that the program exited and left the terminal as it found it (main screen, cooked
//! mode with echo).
//!
//! Skips loudly when tmux is missing (fails in CI).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use podstore::tree::{self, Entry};
use podstore::{Commit, CommitOptions, Document, StatePath, Store};
use serde_json::json;

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn capture(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "inspect"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "inspect"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    fn send_literal(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "inspect", "-l", text]);
        assert!(out.status.success(), "send-keys -l {text:?}: {out:?}");
    }

    /// Waits until the screen satisfies `ok`; returns it.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.capture();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn have_tmux() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !e2e::in_ci(),
            "tmux is required in CI (apt-get install tmux)"
        );
        eprintln!();
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!(
            "!!! SKIPPED: tmux is not installed; the `pod inspect` terminal test did not run."
        );
        eprintln!("!!! Install it (apt-get install tmux) or run tests/run.");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    }
    found
}

/// Writes a pod archive of 300 queues and a few other resources to `file`.
fn build_archive(dir: &Path, file: &Path) {
    let store = Store::open(dir.join("build-store")).expect("store");
    let mut entries = Vec::new();
    let mut add = |path: &str, v: serde_json::Value| {
        let d = Document::new(v).expect("doc");
        let e = Entry::store_doc(&store, &d).expect("store doc");
        entries.push((StatePath::parse(path).expect("path"), e));
    };
    for i in 0..300 {
        add(
            &format!("000000000000/us-east-1/sqs/queue/jobs-{i:03}"),
            json!({"schema": "sqs.queue/1", "name": format!("jobs-{i:03}")}),
        );
    }
    add(
        "000000000000/us-east-1/s3/bucket/reports",
        json!({"schema": "s3.bucket/1", "name": "reports"}),
    );
    add(
        "000000000000/eu-west-1/secretsmanager/secret/payments-key",
        json!({"schema": "secretsmanager.secret/1", "name": "payments-key"}),
    );
    let root = tree::build(&store, entries).expect("tree");
    let commit = Commit::new(
        &store,
        root,
        CommitOptions {
            message: "inspect test".into(),
            time: Some(1_767_225_600),
            ..CommitOptions::default()
        },
    )
    .expect("commit")
    .store(&store)
    .expect("store commit");
    store.flush().expect("flush");
    let out = std::fs::File::create(file).expect("create archive");
    podstore::export_archive(&store, commit, Some(("tui", 1)), out).expect("export");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn search_for_a_resource_and_quit_in_tmux() {
    if !have_tmux() {
        return;
    }
    let bin = e2e::podstack_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("tui.tar");
    build_archive(dir.path(), &archive);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");

    // After the browser exits the shell reports its status and the terminal modes, then
    // waits, so that the pane can still be read.
    let script = format!(
        "PODSTACK_HOME={} {} pod inspect {}; echo \"inspect exited $?\"; echo \"modes $(stty -a \
         | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' ')\"; \
         echo checks-done; sleep 120",
        shell_quote(&home.to_string_lossy()),
        shell_quote(&bin.to_string_lossy()),
        shell_quote(&archive.to_string_lossy()),
    );
    let tmux = Tmux {
        socket: format!("podstack-inspect-{}", std::process::id()),
    };
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "45",
        "-s",
        "inspect",
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");

    let first = tmux.wait_for("the browser", |s| s.contains("? help"));
    assert!(first.contains("000000000000"), "{first}");
    assert!(
        first.contains("302"),
        "the account counts its resources: {first}"
    );

    tmux.send(&["/"]);
    tmux.send_literal("jobs-217");
    tmux.wait_for("the search prompt", |s| s.contains("/jobs-217"));
    tmux.send(&["Enter"]);
    let found = tmux.wait_for("the match", |s| s.contains("match 1/1"));
    assert!(
        found.contains("resource  000000000000/us-east-1/sqs/queue/jobs-217"),
        "the document pane shows the match:\n{found}"
    );
    assert!(
        found.contains("\"name\": \"jobs-217\""),
        "the document is shown:\n{found}"
    );
    // The match's row is in view and selected (drawn in reverse video: SGR 7).
    let styled = tmux.run(&["capture-pane", "-p", "-e", "-t", "inspect"]);
    let styled = String::from_utf8_lossy(&styled.stdout);
    let row = styled
        .lines()
        .find(|l| l.contains("jobs-217") && !l.contains("resource"))
        .unwrap_or_else(|| panic!("the match's row is not in view:\n{found}"));
    let before_name = &row[..row.find("jobs-217").unwrap_or(0)];
    assert!(
        before_name.contains("\u{1b}[7m")
            || before_name.contains(";7m")
            || before_name.contains("[7;"),
        "the match's row is selected: {row:?}"
    );

    tmux.send(&["q"]);
    let after = tmux.wait_for("the browser to exit", |s| s.contains("checks-done"));
    assert!(after.contains("inspect exited 0"), "{after}");
    assert!(
        !after.contains("? help"),
        "the alternate screen was left:\n{after}"
    );
    let modes = after
        .lines()
        .find(|l| l.starts_with("modes "))
        .unwrap_or_default();
    assert!(
        modes.split_whitespace().any(|m| m == "icanon")
            && modes.split_whitespace().any(|m| m == "echo"),
        "the terminal is back in cooked mode with echo: {modes:?}\n{after}"
    );
}
