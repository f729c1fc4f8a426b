//! Remotes through the CLI: `remote add|list|remove` with their exit codes, `login` and
//! `logout` against a real `podstack-remote` server (the file fallback, `PODSTACK_TOKEN`,
//! refused tokens, an unreachable server), and the real Secret Service path: a private D-Bus
//! session (`dbus-run-session`) with `gnome-keyring-daemon` unlocked by a password.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::remote::RemoteServer;
use e2e::{CliRun, free_port, podstack_command};

/// A podstack home whose configuration directory is `<home>/cfg` (created by podstack).
struct Home {
    dir: tempfile::TempDir,
    /// Extra environment for every command.
    env: Vec<(String, String)>,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("dir"),
            env: Vec::new(),
        }
    }

    fn cfg(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = podstack_command(self.dir.path(), "http://127.0.0.1:9");
        c.env("PODSTACK_CONFIG", self.cfg().join("config.yaml"))
            .env_remove("PODSTACK_TOKEN")
            .env_remove("PODSTACK_KEYRING")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args);
        c
    }

    /// Runs podstack with `stdin` as its input and `env` added.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> CliRun {
        let mut child = self
            .command(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run podstack");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        CliRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> CliRun {
        self.run_with(args, &[], "")
    }

    /// Runs and requires exit code `code`.
    fn expect(&self, code: i32, args: &[&str]) -> CliRun {
        let r = self.run(args);
        assert_eq!(
            r.code,
            code,
            "podstack {}:\n--- stdout ---\n{}\n--- stderr ---\n{}",
            args.join(" "),
            r.stdout,
            r.stderr
        );
        r
    }

    /// `remote list --format json`: name → token source.
    fn token_sources(&self) -> Vec<(String, String)> {
        let js = self
            .expect(0, &["remote", "list", "--format", "json"])
            .json();
        js.as_array()
            .expect("array")
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().expect("name").to_owned(),
                    r["token"].as_str().expect("token").to_owned(),
                )
            })
            .collect()
    }
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A `podstack-remote serve` on a free port with one write token for "alice".
struct Server {
    url: String,
    token: String,
    _server: RemoteServer,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).expect("storage dir");
        let server = RemoteServer::start(&storage, dir.path());
        let token = server.token("alice", "write");
        Self {
            url: server.url.clone(),
            token,
            _server: server,
            _dir: dir,
        }
    }
}

#[test]
fn remote_add_list_remove_and_their_errors() {
    let home = Home::new();
    let r = home.expect(0, &["remote", "list"]);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("remote add"), "{}", r.stderr);
    assert_eq!(home.token_sources(), []);

    home.expect(0, &["remote", "add", "team", "HTTP://127.0.0.1:4567/"]);
    home.expect(0, &["remote", "add", "archive", "s3://pods-bucket/team/"]);
    let r = home.expect(4, &["remote", "add", "team", "http://elsewhere"]);
    assert!(r.stderr.contains("remote remove team"), "{}", r.stderr);
    for (url, says) in [
        ("http://bob:hunter2@h:1", "credentials"),
        ("https://h/?token=hunter2", "query"),
        (
            "oci://registry.example/pods",
            "not supported as remotes yet",
        ),
        ("ftp://h", "not supported"),
        ("h:1", "expected http://"),
    ] {
        let r = home.expect(2, &["remote", "add", "x", url]);
        assert!(r.stderr.contains(says), "{url}: {}", r.stderr);
        assert!(!r.stderr.contains("hunter2"), "{url}: {}", r.stderr);
    }
    let r = home.expect(2, &["remote", "add", "bad name", "http://h"]);
    assert!(r.stderr.contains("invalid remote name"), "{}", r.stderr);

    let r = home.expect(0, &["remote", "list"]);
    assert_eq!(
        r.stdout,
        "NAME     URL                    TOKEN\n\
         archive  s3://pods-bucket/team  aws\n\
         team     http://127.0.0.1:4567  none\n"
    );
    let js = home.expect(0, &["remote", "ls", "--format", "json"]).json();
    assert_eq!(js[1]["url"], "http://127.0.0.1:4567");
    assert_eq!(js[1]["type"], "http");
    assert_eq!(js[0]["type"], "s3");
    let file = home.cfg().join("remotes.json");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("remotes.json")).expect("json");
    assert_eq!(saved["remotes"].as_array().map(Vec::len), Some(2));

    let r = home.expect(2, &["login", "archive", "--token-stdin"]);
    assert!(r.stderr.contains("AWS"), "{}", r.stderr);
    let r = home.expect(2, &["login", "--token-stdin"]);
    assert!(r.stderr.contains("archive, team"), "{}", r.stderr);

    let r = home.expect(3, &["remote", "remove", "teem"]);
    assert!(r.stderr.contains("did you mean \"team\""), "{}", r.stderr);
    home.expect(0, &["remote", "rm", "team"]);
    assert_eq!(home.token_sources(), [("archive".into(), "aws".into())]);
    let r = home.expect(3, &["logout", "team"]);
    assert!(r.stderr.contains("no remote named"), "{}", r.stderr);
}

#[test]
fn login_and_logout_with_the_file_fallback() {
    let server = Server::start();
    let home = Home::new();
    let cfg = home.cfg();
    home.expect(0, &["remote", "add", "team", &server.url]);
    let creds = cfg.join("credentials.json");

    // No terminal and no --token-stdin: nothing to read the token from.
    let r = home.expect(2, &["login", "team"]);
    assert!(r.stderr.contains("--token-stdin"), "{}", r.stderr);
    // A wrong token is refused and nothing is stored.
    let r = home.run_with(&["login", "team", "--token-stdin"], &[], "pst_wrong\n");
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert!(r.stderr.contains("the token was refused"), "{}", r.stderr);
    assert!(!creds.exists());

    let token_line = format!("{}\n", server.token);
    let r = home.run_with(&["login", "team", "--token-stdin"], &[], &token_line);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        format!(
            "logged in to team as alice (write); token stored in {}",
            creds.display()
        )
    );
    assert!(
        r.stderr
            .contains("no OS keyring available (DBUS_SESSION_BUS_ADDRESS is not set)")
            && r.stderr.contains("stored unencrypted in"),
        "{}",
        r.stderr
    );
    assert_eq!(mode(&creds), 0o600);
    assert_eq!(mode(&cfg), 0o700);
    assert!(
        std::fs::read_to_string(&creds)
            .expect("creds")
            .contains(&server.token)
    );
    assert_eq!(home.token_sources(), [("team".into(), "file".into())]);
    let r = home.expect(0, &["remote", "list"]);
    assert!(!r.stdout.contains(&server.token) && !r.stderr.contains(&server.token));

    // PODSTACK_TOKEN overrides the stored token (CI).
    let js = home
        .run_with(
            &["remote", "list", "--format", "json"],
            &[("PODSTACK_TOKEN", "pst_from_env")],
            "",
        )
        .json();
    assert_eq!(js[0]["token"], "env");
    assert!(!js.to_string().contains("pst_from_env"));

    // JSON login; an unreachable server is exit 5; forcing an absent Secret Service fails.
    let r = home.run_with(
        &["login", "--token-stdin", "--format", "json"],
        &[("PODSTACK_KEYRING", "file")],
        &token_line,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let js = r.json();
    assert_eq!(
        (&js["remote"], &js["name"], &js["role"], &js["stored_in"]),
        (
            &"team".into(),
            &"alice".into(),
            &"write".into(),
            &"file".into()
        )
    );
    assert!(!r.stderr.contains("no OS keyring"), "forced: {}", r.stderr);
    let down = format!("http://127.0.0.1:{}", free_port());
    home.expect(0, &["remote", "add", "down", &down]);
    let r = home.run_with(&["login", "down", "--token-stdin"], &[], &token_line);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let r = home.run_with(
        &["login", "team", "--token-stdin"],
        &[("PODSTACK_KEYRING", "secret-service")],
        &token_line,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("DBUS_SESSION_BUS_ADDRESS"),
        "{}",
        r.stderr
    );

    let r = home.expect(0, &["logout", "team"]);
    assert!(
        r.stdout.contains("removed its token from") && r.stdout.contains("credentials.json"),
        "{}",
        r.stdout
    );
    assert!(
        !std::fs::read_to_string(&creds)
            .expect("creds")
            .contains(&server.token)
    );
    let r = home.expect(0, &["logout", "team"]);
    assert!(r.stderr.contains("no token was stored"), "{}", r.stderr);
    assert_eq!(
        home.token_sources(),
        [
            ("down".into(), "none".into()),
            ("team".into(), "none".into())
        ]
    );
}

/// `login` without `--token-stdin` on a terminal (a pty from util-linux `script`): the token
/// is asked for with echo off, so it never appears in the terminal's output.
#[test]
fn login_asks_on_the_terminal_without_echo() {
    let has_script = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_script {
        eprintln!("!!! SKIPPED: util-linux `script` (for a pty) is not installed");
        return;
    }
    let server = Server::start();
    let home = Home::new();
    home.expect(0, &["remote", "add", "team", &server.url]);
    let podstack = home.command(&["login", "team"]);
    let line = format!("{} login team", podstack.get_program().to_string_lossy());
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (k, v) in podstack.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let mut child = script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains("token for team") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => panic!("no prompt: {}", String::from_utf8_lossy(&seen)),
        }
    }
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{}\n", server.token).as_bytes())
        .expect("type the token");
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(20)) {
        seen.extend(chunk);
    }
    drop(stdin);
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    let text = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{text}");
    assert!(
        text.contains("logged in to team as alice (write)"),
        "{text}"
    );
    assert!(
        !text.contains(&server.token),
        "the token was echoed:\n{text}"
    );
}

/// A private D-Bus session running `gnome-keyring-daemon`, unlocked with a password; ended
/// by closing the shell's stdin (dbus-run-session then stops the bus and the daemon).
struct KeyringSession {
    child: Child,
    stdin: Option<ChildStdin>,
    address: String,
    _dir: tempfile::TempDir,
}

impl KeyringSession {
    /// Whether `dbus-run-session` and `gnome-keyring-daemon` are installed; a loud skip
    /// notice when not (tests/run installs them with apt-get).
    fn available() -> bool {
        let found = ["dbus-run-session", "gnome-keyring-daemon"]
            .iter()
            .all(|b| {
                Command::new("sh")
                    .args(["-c", &format!("command -v {b}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
        if !found {
            eprintln!();
            eprintln!(
                "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            );
            eprintln!("!!! SKIPPED: dbus-run-session or gnome-keyring-daemon is not installed;");
            eprintln!("!!! the Secret Service test did not run. Install them with");
            eprintln!(
                "!!! apt-get install --no-install-recommends gnome-keyring dbus-daemon dbus-bin"
            );
            eprintln!("!!! (tests/run does).");
            eprintln!(
                "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            );
        }
        found
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let runtime = dir.path().join("run");
        std::fs::create_dir(&runtime).expect("runtime dir");
        let script = "printf %s \"$KEYRING_PASSWORD\" | \
                      gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 3; \
                      echo \"$DBUS_SESSION_BUS_ADDRESS\"; read _";
        let mut child = Command::new("dbus-run-session")
            .args(["--", "sh", "-c", script])
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("KEYRING_PASSWORD", "e2e-password")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-run-session");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the bus address");
        let address = line.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "no D-Bus session (got {address:?}; exit {:?})",
            child.try_wait()
        );
        Self {
            stdin: child.stdin.take(),
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn login_stores_the_token_in_the_secret_service() {
    if !KeyringSession::available() {
        return;
    }
    let server = Server::start();
    let session = KeyringSession::start();
    let mut home = Home::new();
    home.env
        .push(("DBUS_SESSION_BUS_ADDRESS".into(), session.address.clone()));
    let creds = home.cfg().join("credentials.json");
    home.expect(0, &["remote", "add", "team", &server.url]);
    let token_line = format!("{}\n", server.token);

    let r = home.run_with(&["login", "team", "--token-stdin"], &[], &token_line);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        "logged in to team as alice (write); token stored in the OS keyring"
    );
    assert!(!r.stderr.contains("no OS keyring"), "{}", r.stderr);
    assert!(
        !creds.exists(),
        "the token went to the keyring, not the file"
    );
    assert_eq!(home.token_sources(), [("team".into(), "keyring".into())]);

    // Forced backends: the file even with a keyring, the keyring on demand.
    let r = home.run_with(
        &["login", "team", "--token-stdin"],
        &[("PODSTACK_KEYRING", "file")],
        &token_line,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(creds.exists());
    assert_eq!(
        home.token_sources(),
        [("team".into(), "keyring".into())],
        "the keyring comes before the file"
    );
    let r = home.run_with(
        &["login", "team", "--token-stdin"],
        &[("PODSTACK_KEYRING", "secret-service")],
        &token_line,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !std::fs::read_to_string(&creds)
            .expect("creds")
            .contains(&server.token),
        "storing in the keyring removes the file's copy"
    );

    let r = home.expect(0, &["logout", "team"]);
    assert!(r.stdout.contains("from the keyring"), "{}", r.stdout);
    assert_eq!(home.token_sources(), [("team".into(), "none".into())]);
    let r = home.expect(0, &["logout", "team"]);
    assert!(r.stderr.contains("no token was stored"), "{}", r.stderr);
    drop(session);
}
