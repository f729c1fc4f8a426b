//! The emulator's lifecycle through the CLI (`start -d`, `status`, `wait`, `logs`, `stop`,
//! stale pid files) and every documented exit code on its error path.

use std::path::Path;
use std::process::Stdio;

use e2e::{Emulator, free_port, podstack_command, podstack_run};

/// Stops (by the pid in its pid file, which this test's `start -d` wrote) a background
/// emulator that a failing test left running.
struct StopOnDrop<'a> {
    home: &'a Path,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let pid_file = self.home.join("podstack.pid");
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[test]
fn start_detached_status_logs_wait_stop() {
    let home = tempfile::tempdir().expect("dir");
    let _guard = StopOnDrop { home: home.path() };
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let run = |args: &[&str]| podstack_run(home.path(), &endpoint, args);

    let r = run(&["status", "--format", "json"]);
    assert_eq!(r.code, 5, "not running yet: {}", r.stderr);
    assert_eq!(r.json()["running"], false);
    assert!(r.stderr.contains("podstack start"), "{}", r.stderr);

    let listen = format!("127.0.0.1:{port}");
    let r = run(&["start", "-d", "--listen", &listen, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pid = r.json()["pid"].as_u64().expect("pid");
    let pid_file = home.path().join("podstack.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid file").trim(),
        pid.to_string()
    );

    let r = run(&["wait", "--timeout", "10"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["status", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.json();
    assert_eq!(
        (s["running"].as_bool(), s["pid"].as_u64()),
        (Some(true), Some(pid))
    );
    assert_eq!(s["shared_store"], true);
    assert_eq!(s["services"]["sqs"], "running");
    let r = run(&["status"]);
    assert!(r.stdout.contains("loaded pods: none"), "{}", r.stdout);

    // A second start finds the first.
    let r = run(&["start", "-d", "--listen", &listen]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("already running"), "{}", r.stderr);

    let r = run(&["logs", "-n", "5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Ready."), "{}", r.stdout);

    // `logs -f` follows: it prints what is already there and keeps running.
    let mut follow = podstack_command(home.path(), &endpoint)
        .args(["logs", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn logs -f");
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(
        follow.try_wait().expect("try_wait").is_none(),
        "logs -f ended"
    );
    let _ = follow.kill();
    let _ = follow.wait();

    let r = run(&["stop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("stopped"), "{}", r.stderr);
    assert!(!pid_file.exists());
    let r = run(&["status"]);
    assert_eq!(r.code, 5);
    let r = run(&["stop"]);
    assert_eq!(r.code, 0, "stopping twice is fine: {}", r.stderr);
    assert!(r.stderr.contains("not running"), "{}", r.stderr);

    // A stale pid file (a pid that is not podstack) is cleaned up, never signalled.
    std::fs::write(&pid_file, format!("{}\n", std::process::id())).expect("write");
    let r = run(&["stop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("stale"), "{}", r.stderr);
    assert!(!pid_file.exists());

    // A start that fails (the port is taken) shows the log's end and exits 4.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let r = run(&["start", "-d", "--listen", &addr]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("already in use"), "{}", r.stderr);
    assert!(!pid_file.exists());
}

#[test]
fn every_error_path_has_its_exit_code() {
    let home = tempfile::tempdir().expect("dir");
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let run = |args: &[&str]| podstack_run(home.path(), &nobody, args);
    let expect = |args: &[&str], code: i32, needle: &str| {
        let r = run(args);
        assert_eq!(r.code, code, "podstack {}: {}", args.join(" "), r.stderr);
        assert!(
            r.stderr.contains(needle),
            "podstack {}: {:?} not in\n{}",
            args.join(" "),
            needle,
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        r
    };

    // 2: usage.
    expect(&["pod", "inject", "bad name"], 2, "invalid pod name");
    expect(&["pod", "inject", "p1:0"], 2, "not a version number");
    expect(
        &["pod", "inject", "p1", "--strategy", "sideways"],
        2,
        "sideways",
    );
    expect(
        &["pod", "commit", "p1", "-s", "sqss"],
        2,
        "did you mean \"sqs\"",
    );
    expect(&["pod", "frobnicate"], 2, "unrecognized subcommand");
    expect(
        &["--endpoint", "ftp://x:1", "status"],
        2,
        "only http:// and https://",
    );
    // 5: unreachable, with what to do.
    expect(&["pod", "commit", "p1"], 5, "run `podstack start`");
    expect(&["state", "reset"], 5, "not reachable");
    // 7: timeout.
    expect(&["wait", "--timeout", "0.3"], 7, "did not answer");

    // 3: not found, with a suggestion.
    let emu = Emulator::start();
    emu.podstack_ok(&["pod", "commit", "p1"]);
    let r = emu.podstack(&["pod", "inject", "p2"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("did you mean \"p1\"?"), "{}", r.stderr);
    let r = emu.podstack(&["pod", "export", "p1:9", "-o", "x.tar"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let r = emu.podstack(&["pod", "import", "/nonexistent/p.tar"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let r = emu.podstack(&["logs"]);
    assert_eq!(r.code, 3, "no log without start -d: {}", r.stderr);

    // 6: invalid input, and nothing changes.
    let junk = emu.scratch().join("junk.tar");
    std::fs::write(&junk, b"this is not an archive").expect("write");
    let junk_s = junk.to_str().expect("utf8");
    let r = emu.podstack(&["pod", "import", junk_s]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stderr.contains("invalid archive"), "{}", r.stderr);
    let r = emu.podstack(&["state", "import", junk_s]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);

    // 4: conflict (the store is in use).
    let r = emu.podstack(&["store", "gc"]);
    assert_eq!(r.code, 4, "{}", r.stderr);

    // Deleting needs -y when nobody can answer a question.
    let r = emu.podstack(&["pod", "delete", "p1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("-y"), "{}", r.stderr);

    // A configuration file with an unknown key names the file and the key.
    let cfg = emu.scratch().join("config.yaml");
    std::fs::write(&cfg, "endpiont: http://127.0.0.1:1\n").expect("write");
    let out = podstack_command(&emu.data_dir(), &emu.endpoint)
        .env("PODSTACK_CONFIG", &cfg)
        .args(["pod", "list"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("config.yaml") && stderr.contains("endpiont"),
        "{stderr}"
    );
    // ... and a good one supplies the endpoint (the flag and the variable are unset here).
    std::fs::write(
        &cfg,
        format!(
            "endpoint: {}\nmerge_strategy: service-merge\n",
            emu.endpoint
        ),
    )
    .expect("write");
    let out = podstack_command(&emu.data_dir(), &emu.endpoint)
        .env_remove("PODSTACK_ENDPOINT")
        .env("PODSTACK_CONFIG", &cfg)
        .args(["pod", "inject", "p1", "--dry-run", "--format", "json"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["strategy"], "service-merge");

    // A closed stdout is not an error: exit 0, nothing on stderr.
    let mut child = podstack_command(&emu.data_dir(), &emu.endpoint)
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
