//! End-to-end tests that drive the real `podstack` binary with real clients (the aws CLI,
//! boto3, curl-like raw HTTP).
//!
//! [`Emulator::start`] runs `podstack start` on a free loopback port with a temporary data
//! directory, waits for `/_localstack/health`, and kills the process (by its own PID) when
//! dropped, printing its log if the test is failing. [`Emulator::aws`] and
//! [`Emulator::python`] run the clients against it; [`http`] is a tiny std-only HTTP/1.1
//! client for requests the SDKs cannot make (malformed bodies, presigned URLs, raw hosts).
//!
//! Tools: when `aws` or boto3 is missing, tests skip loudly unless `CI` is set, in which case
//! a missing tool is a failure (`tests/run` installs them).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod remote;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate lives in the workspace")
        .to_path_buf()
}

/// The `podstack` binary of this workspace's debug build.
pub fn podstack_binary() -> PathBuf {
    workspace_binary("podstack", "podstack")
}

/// The `podstack-remote` binary of this workspace's debug build.
pub fn remote_binary() -> PathBuf {
    workspace_binary("podstack-remote", "remote-server")
}

/// A binary of this workspace's debug build (`package` builds it).
fn workspace_binary(name: &str, package: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = target.join("debug").join(name);
    assert!(
        bin.is_file(),
        "{} does not exist: run `cargo build -p {package}` first (tests/run does)",
        bin.display()
    );
    warn_if_stale(&bin);
    bin
}

/// Warns (once) when a source file of the binary is newer than the binary: the tests would
/// exercise old code.
fn warn_if_stale(bin: &Path) {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
            return;
        };
        let root = workspace_root();
        let newer = ["cli/src", "emulator/src", "podstore/src", "remote-server/src"]
            .iter()
            .find_map(|d| newer_file(&root.join(d), built));
        if let Some(file) = newer {
            eprintln!(
                "WARNING: {} is newer than {}: run `cargo build -p podstack -p remote-server` to test the \
                 current code",
                file.display(),
                bin.display()
            );
        }
    });
}

fn newer_file(dir: &Path, than: std::time::SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if let Some(p) = newer_file(&path, than) {
                return Some(p);
            }
        } else if meta.modified().is_ok_and(|m| m > than) {
            return Some(path);
        }
    }
    None
}

/// Whether the tests run in CI, where a missing client is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Returns whether a client is usable; when it is not, fails in CI and otherwise prints a
/// loud skip notice (the caller then returns).
pub fn tool_available(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    assert!(
        !in_ci(),
        "{what} is required in CI (install it: python3 -m pip install awscli boto3)"
    );
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {what} is not installed; this end-to-end test did not run.");
    eprintln!("!!! Install it (python3 -m pip install awscli boto3) or run tests/run.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    false
}

fn runs(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the aws CLI is usable (skips or fails as [`tool_available`] says). The probe runs
/// once per test binary.
pub fn have_aws() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| runs("aws", &["--version"]));
    tool_available("the aws CLI", found)
}

/// Whether python3 with boto3 is usable (skips or fails as [`tool_available`] says).
pub fn have_boto3() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| runs("python3", &["-c", "import boto3"]));
    tool_available("python3 with boto3", found)
}

/// A running `podstack start`, killed on drop.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The directory of data and log, shared by restarts of the same emulator.
    dir: std::sync::Arc<tempfile::TempDir>,
}

/// Picks a free loopback port by binding port 0 and releasing it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

impl Emulator {
    /// Starts the emulator and waits (up to ~10 s) until it is healthy.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Like [`Emulator::start`], with extra environment variables for the server (e.g.
    /// `PODSTACK_CLOCK_CONTROL=1`, which lets tests move its clock instead of sleeping).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        Self::spawn_in(
            std::sync::Arc::new(tempfile::tempdir().expect("temp dir")),
            env,
        )
    }

    /// The data directory (`--data-dir`): the pod store lives in `store/` below it.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn_in(dir: std::sync::Arc<tempfile::TempDir>, env: &[(&str, &str)]) -> Self {
        let bin = podstack_binary();
        // A port picked this way can be taken by someone else before podstack binds it;
        // try a few times.
        for _ in 0..3 {
            let port = free_port();
            let log = File::options()
                .create(true)
                .append(true)
                .open(dir.path().join("podstack.log"))
                .expect("log file");
            let child = Command::new(&bin)
                .args([
                    "start",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--data-dir",
                ])
                .arg(dir.path().join("data"))
                .env_remove("GATEWAY_LISTEN")
                .env_remove("PODSTACK_HOME")
                .env_remove("PERSISTENCE")
                .env_remove("AUTO_LOAD_POD")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("spawn podstack");
            let mut emu = Self {
                child,
                port,
                endpoint: format!("http://127.0.0.1:{port}"),
                dir: dir.clone(),
            };
            match emu.wait_healthy(Duration::from_secs(10)) {
                Ok(()) => return emu,
                Err(why) => {
                    let log = emu.log();
                    assert!(
                        log.contains("already in use"),
                        "podstack did not become healthy: {why}\n--- log ---\n{log}"
                    );
                    eprintln!("port {port} was taken; retrying");
                }
            }
        }
        panic!("could not start podstack on a free port");
    }

    /// Kills the server (SIGKILL, like a crash) and starts a new one on the same data.
    pub fn kill_and_restart(mut self, env: &[(&str, &str)]) -> Self {
        self.stop();
        Self::spawn_in(self.dir.clone(), env)
    }

    /// Stops the server gracefully (SIGTERM, waiting for it to exit) and starts a new one on
    /// the same data.
    pub fn stop_and_restart(mut self, env: &[(&str, &str)]) -> Self {
        self.terminate();
        Self::spawn_in(self.dir.clone(), env)
    }

    /// Sends SIGTERM to the server (our own child, by its PID) and waits for it to exit.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "podstack did not stop within 20 s of SIGTERM\n--- log ---\n{}",
            self.log()
        );
    }

    /// The JSON of `/_localstack/health`.
    pub fn health(&self) -> serde_json::Value {
        let r = self.http("GET", "/_localstack/health", &[], b"");
        serde_json::from_slice(&r.body).expect("health is JSON")
    }

    fn wait_healthy(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("podstack exited with {status}"));
            }
            match http(self.port, "GET", "/_localstack/health", &[], b"") {
                Ok(r) if r.status == 200 && r.text().contains("\"s3\"") => return Ok(()),
                Ok(r) => last = format!("status {}: {}", r.status, r.text()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not healthy after {limit:?}; last answer: {last}"))
    }

    /// The emulator's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("podstack.log")).unwrap_or_default()
    }

    /// A scratch directory that lives as long as the emulator.
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).expect("scratch dir");
        p
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A raw HTTP request to the emulator.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        http(self.port, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n--- log ---\n{}", self.log()))
    }

    /// `PUT path` (an S3 bucket or object) that must answer 200.
    pub fn put_ok(&self, path: &str, body: &[u8]) {
        let r = self.http("PUT", path, &[], body);
        assert_eq!(r.status, 200, "PUT {path}: {}", r.text());
    }

    /// An SQS JSON-protocol call (`AmazonSQS.<op>`) that must answer 200: the answer.
    pub fn sqs_ok(&self, op: &str, input: serde_json::Value) -> serde_json::Value {
        let target = format!("AmazonSQS.{op}");
        let headers = [
            ("x-amz-target", target.as_str()),
            ("content-type", "application/x-amz-json-1.0"),
        ];
        let r = self.http("POST", "/", &headers, input.to_string().as_bytes());
        assert_eq!(r.status, 200, "{op}: {}", r.text());
        serde_json::from_slice(&r.body).expect("json")
    }

    /// `GET path` that must answer 200: the body.
    pub fn get_ok(&self, path: &str) -> Vec<u8> {
        let r = self.http("GET", path, &[], b"");
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.body
    }

    /// Runs `aws --endpoint-url … ARGS` with test credentials.
    pub fn aws(&self, args: &[&str]) -> Output {
        aws_command(&self.endpoint)
            .args(args)
            .output()
            .expect("run aws")
    }

    /// Runs the aws CLI and returns its stdout; panics (with stderr) when it fails.
    pub fn aws_ok(&self, args: &[&str]) -> String {
        let out = self.aws(args);
        assert!(
            out.status.success(),
            "aws {} failed with {}:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("aws prints UTF-8")
    }

    /// Runs the aws CLI and parses its JSON output (`null` when it prints nothing).
    pub fn aws_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.aws_ok(args);
        if out.trim().is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("aws {} printed no JSON ({e}):\n{out}", args.join(" ")))
    }

    /// Runs the aws CLI expecting failure; returns (exit code, stderr).
    pub fn aws_err(&self, args: &[&str]) -> (i32, String) {
        let out = self.aws(args);
        assert!(
            !out.status.success(),
            "aws {} unexpectedly succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `python3 SCRIPT ARGS` with `PODSTACK_ENDPOINT` (and test credentials) set.
    pub fn python(&self, script: &Path, args: &[&str]) -> Output {
        Command::new("python3")
            .arg(script)
            .args(args)
            .envs(client_env())
            .env("PODSTACK_ENDPOINT", &self.endpoint)
            .env("PODSTACK_PORT", self.port.to_string())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run python3")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- podstack log (port {}) ---\n{}--- end of log ---",
                self.port,
                self.log()
            );
        }
    }
}

/// What a `podstack` command did.
#[derive(Debug, Clone)]
pub struct CliRun {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl CliRun {
    /// stdout parsed as JSON (panics with both streams when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "podstack printed no JSON ({e}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// `podstack` with a clean environment: data in `home`, the emulator at `endpoint`, no
/// configuration file, no inherited `PODSTACK_*`, `MERGE_STRATEGY`, `NO_COLOR` or D-Bus
/// session (so no real keyring).
pub fn podstack_command(home: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(podstack_binary());
    for k in [
        "PODSTACK_HOME",
        "PODSTACK_ENDPOINT",
        "PODSTACK_CONFIG",
        "MERGE_STRATEGY",
        "GATEWAY_LISTEN",
        "AUTO_LOAD_POD",
        "PERSISTENCE",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        // Never a developer's real token or desktop keyring.
        "PODSTACK_TOKEN",
        "PODSTACK_KEYRING",
        "DBUS_SESSION_BUS_ADDRESS",
    ] {
        c.env_remove(k);
    }
    c.env("PODSTACK_HOME", home)
        .env("PODSTACK_ENDPOINT", endpoint)
        .env("PODSTACK_CONFIG", home.join("no-config.yaml"))
        .stdin(Stdio::null());
    c
}

/// Runs `podstack ARGS` (see [`podstack_command`]) and collects what it did.
pub fn podstack_run(home: &Path, endpoint: &str, args: &[&str]) -> CliRun {
    let out = podstack_command(home, endpoint)
        .args(args)
        .output()
        .expect("run podstack");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Emulator {
    /// Runs the `podstack` CLI against this emulator, sharing its data directory (and so its
    /// pod store).
    pub fn podstack(&self, args: &[&str]) -> CliRun {
        podstack_run(&self.data_dir(), &self.endpoint, args)
    }

    /// Like [`Emulator::podstack`]; panics (with both streams) unless it exits 0, and
    /// returns stdout.
    pub fn podstack_ok(&self, args: &[&str]) -> String {
        let r = self.podstack(args);
        assert_eq!(
            r.code,
            0,
            "podstack {} failed:\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- server log ---\n{}",
            args.join(" "),
            r.stdout,
            r.stderr,
            self.log()
        );
        r.stdout
    }

    /// `podstack ARGS --format json`, which must succeed, parsed.
    pub fn podstack_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.podstack_ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("podstack {} printed no JSON ({e}):\n{out}", args.join(" ")))
    }
}

/// Environment for AWS clients: fixed test credentials, region, no pager, no config files.
pub fn client_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_PAGER", String::new()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
    ]
}

/// `aws --endpoint-url ENDPOINT` with [`client_env`], ready for arguments.
pub fn aws_command(endpoint: &str) -> Command {
    let mut c = Command::new("aws");
    c.envs(client_env())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .args(["--endpoint-url", endpoint])
        .stdin(Stdio::null());
    c
}

/// A response read by [`http`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-cased) in order.
    pub headers: Vec<(String, String)>,
    /// Body (chunked encoding removed).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port` (`Connection: close`) and reads the answer.
/// `path` is sent as is (include the query). A `Host` header in `headers` replaces the default.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned())
}

fn parse_response(raw: &[u8], head: bool) -> std::io::Result<RawResponse> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head_text = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("bad chunk"))?;
        let size_text = std::str::from_utf8(&rest[..nl]).map_err(|_| bad("bad chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("bad chunk size"))?;
        rest = &rest[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err(bad("short chunk"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Splits `http://host:port/path?query` into (port, path with query).
pub fn split_url(url: &str) -> (u16, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80);
    (
        port,
        if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    )
}

/// Deterministic pseudo-random bytes (xorshift), for bodies that must not compress or repeat.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// MD5 of `data` as lower-case hex (RFC 1321), to check ETags without a dependency.
pub fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i: i32| (f64::from(i + 1).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for block in msg.chunks_exact(64) {
        let m: Vec<u32> = block
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
    }
    h.iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The text between `<tag>` and `</tag>` of the first such element.
pub fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// Runs a Python unittest script against `emu` (endpoint in `PODSTACK_ENDPOINT`) and fails
/// unless it passed with at least `min_tests` tests and none skipped.
pub fn run_python_suite(emu: &Emulator, script: &str, min_tests: usize) {
    let script = workspace_root().join(script);
    let out = emu.python(&script, &["-v"]);
    check_python_suite(emu, &script, &out, min_tests);
}

/// Runs the unittest suite `script` through the wrapper `runner` (which takes the suite's
/// path as its first argument), with the same checks as [`run_python_suite`].
pub fn run_python_suite_via(emu: &Emulator, runner: &str, script: &str, min_tests: usize) {
    let script = workspace_root().join(script);
    let runner = workspace_root().join(runner);
    let path = script.to_string_lossy().into_owned();
    let out = emu.python(&runner, &[&path, "-v"]);
    check_python_suite(emu, &script, &out, min_tests);
}

fn check_python_suite(emu: &Emulator, script: &Path, out: &Output, min_tests: usize) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // unittest reports on stderr; show it whenever the test fails.
    let report = format!(
        "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server log ---\n{}",
        emu.log()
    );
    assert!(
        out.status.success(),
        "{} failed:\n{report}",
        script.display()
    );
    let ran: usize = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no unittest summary:\n{report}"));
    assert!(ran >= min_tests, "only {ran} tests ran:\n{report}");
    assert!(
        stderr.lines().any(|l| l.trim() == "OK"),
        "unittest did not report OK:\n{report}"
    );
    assert!(!stderr.contains("skipped"), "tests were skipped:\n{report}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let r = parse_response(
            b"HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\nETag: \"x\"\r\n\r\nabc",
            false,
        )
        .expect("plain");
        assert_eq!(
            (r.status, r.header("etag"), r.body.as_slice()),
            (206, Some("\"x\""), &b"abc"[..])
        );
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            false,
        )
        .expect("chunked");
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn urls_and_xml() {
        assert_eq!(
            split_url("http://127.0.0.1:4566/b/k?X-Amz-Signature=1"),
            (4566, "/b/k?X-Amz-Signature=1".to_owned())
        );
        assert_eq!(xml_text("<a><Code>X</Code></a>", "Code"), Some("X"));
        assert_eq!(pseudo_random(100, 7), pseudo_random(100, 7));
        assert_ne!(pseudo_random(100, 7), pseudo_random(100, 8));
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(md5_hex(&[b'a'; 1000]), "cabe45dcc9ae5b66ba86600cca6b8ba8");
    }
}
