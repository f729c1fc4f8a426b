//! `cargo bench -p emulator --bench persistence`: what persistence costs (the benchmark of the
//! issue "State export/import, persistence and CI preseeding").
//!
//! - Throughput of S3 PutObject (1 KiB) and SQS SendMessage with 8 clients: without
//!   persistence, `SCHEDULED` with the default 15 s interval (no save falls in the run) and with
//!   a 1 s interval (saves during the run), and `ON_REQUEST`, in interleaved rounds; p50/p99
//!   and the ratio to no persistence. Targets: `SCHEDULED` ≥ 90 %, `ON_REQUEST` ≥ 50 %.
//! - A big state built through the API (9,000 small S3 objects, 256 objects of 4 MiB of random
//!   bytes = 1 GiB, 500 queues with 3 messages each, 500 secrets): the first save, saves after
//!   one change (target ≤ 50 ms), start-up with it loaded `ON_STARTUP` (target ≤ 500 ms), and
//!   the latency of requests that overlap a running save against those that do not.
//! - Where the time of a save and of a load goes: the same calls `Gateway::save_snapshot` and
//!   `Gateway::load_snapshot` make, timed one by one in this process on the big state's store.
//!
//! The servers are `target/release/podstack start` (build it first:
//! `cargo build --release -p podstack`), on free loopback ports, with their data under
//! `target/persistence-bench` (removed at the end unless `PERSISTENCE_BENCH_KEEP=1`); each is
//! stopped by its own PID, also on failure. The load generator is a small HTTP/1.1 keep-alive
//! client over `TcpStream`; requests carry a SigV4-shaped `Authorization` header whose
//! credential scope routes them (signatures are not checked). Every response is checked.
//! `PERSISTENCE_BENCH_WRITE=1` also rewrites the `## emulator: persistence` section of
//! `docs/performance.md`; without it the results are only printed.
//! `PERSISTENCE_BENCH_ONLY=<text>` runs only the throughput rows whose "operation | mode"
//! contains the text (e.g. `SQS`, or `SQS SendMessage | ON_REQUEST`), prints them and writes
//! nothing: for iterating on, or profiling, one workload.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use emulator::internals::{S3Mark, state};
use emulator::{Config, Gateway, LoadStrategy, PersistConfig, SaveStrategy};
use podstore::{Commit, CommitOptions, TreeId};

#[path = "support/chunked.rs"]
mod chunked;
#[path = "../../podstore/benches/support/report.rs"]
mod report;
use chunked::read_chunked;

/// The command that produces the published numbers.
const COMMAND: &str = "cargo build --release -p podstack && PERSISTENCE_BENCH_WRITE=1 cargo bench -p emulator --bench persistence";
/// The heading of this bench's section of `docs/performance.md`.
const SECTION: &str = "## emulator: persistence";
/// Client threads of the throughput and overlap measurements.
const CLIENTS: usize = 8;
/// Rounds of the throughput runs (the table shows the median).
const ROUNDS: usize = 5;
/// Measured time of one throughput run.
const RUN_TIME: Duration = Duration::from_secs(3);
/// Unmeasured time before each throughput run (connections, first allocations).
const WARMUP: Duration = Duration::from_millis(300);
/// Keys a PutObject run cycles through.
const PUT_KEYS: u64 = 1000;
/// Size of a small object (PutObject runs and the big state's small objects).
const SMALL_SIZE: usize = 1024;
/// Small objects of the big state.
const SMALL_OBJECTS: usize = 9000;
/// 4 MiB objects of the big state (1 GiB).
const BIG_OBJECTS: usize = 256;
/// Size of a big object.
const BIG_SIZE: usize = 4 << 20;
/// Queues of the big state.
const QUEUES: usize = 500;
/// Messages in each queue of the big state.
const MESSAGES_PER_QUEUE: usize = 3;
/// Secrets of the big state.
const SECRETS: usize = 500;
/// Client threads that build the big state.
const BUILD_THREADS: usize = 4;
/// Saves after one change of the big state.
const CHANGED_SAVES: usize = 5;
/// Saves after one change of the tiny state (more: each is short, so a burst of background
/// load moves a single one a lot).
const TINY_SAVES: usize = 15;
/// Start-ups measured with the big state, and with an empty data directory.
const STARTS: usize = 3;
/// Length of the latency-while-saving run.
const OVERLAP_TIME: Duration = Duration::from_secs(12);
/// Pause between two saves of the latency-while-saving run (so that requests also run alone).
const SAVE_GAP: Duration = Duration::from_millis(700);
/// Free space the bench needs on the target file system.
const MIN_FREE_GIB: u64 = 6;
/// Target of a save after one change in the big state.
const SAVE_TARGET: Duration = Duration::from_millis(50);
/// Target of a start-up with the big state.
const START_TARGET: Duration = Duration::from_millis(500);
/// Longest wait for a server to become healthy or to stop.
const SERVER_WAIT: Duration = Duration::from_secs(300);
/// The account of every request (the access key `test` is not an account id).
const ACCOUNT: &str = "000000000000";
/// The bucket of the throughput PutObject runs and of the overlap run.
const HOT_BUCKET: &str = "bench-hot";
/// The big state's bucket of small objects.
const SMALL_BUCKET: &str = "bench-small";
/// The big state's bucket of 4 MiB objects.
const BIG_BUCKET: &str = "bench-big";
/// Environment variables of the bench's own environment that would change a server.
const CLEARED_ENV: [&str; 12] = [
    "PERSISTENCE",
    "SNAPSHOT_SAVE_STRATEGY",
    "SNAPSHOT_LOAD_STRATEGY",
    "SNAPSHOT_FLUSH_INTERVAL",
    "AUTO_LOAD_POD",
    "MERGE_STRATEGY",
    "GATEWAY_LISTEN",
    "PODSTACK_HOME",
    "PODSTACK_DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "AWS_DEFAULT_REGION",
    "PODSTACK_CLOCK_CONTROL",
];

/// Persistence with saves only through the endpoint (the big-state measurements).
const MANUAL: &[(&str, &str)] = &[("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", "MANUAL")];
/// Persistence loading the snapshot at start, saving by the default strategy.
const ON_STARTUP: &[(&str, &str)] = &[
    ("PERSISTENCE", "1"),
    ("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP"),
];

/// Results whose errors are messages for the person running the bench.
type Res<T> = Result<T, String>;

/// Runs the bench; a failure is printed and exits with status 1.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("persistence bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every measurement, prints the section and writes it when asked; always removes the
/// data directory (unless `PERSISTENCE_BENCH_KEEP=1`).
fn run() -> Res<()> {
    let root = workspace_root();
    let bin = target_dir(&root).join("release/podstack");
    if !bin.is_file() {
        return Err(format!(
            "{} is missing; run `cargo build --release -p podstack` first",
            bin.display()
        ));
    }
    let base = target_dir(&root).join("persistence-bench");
    if base.exists() {
        fs::remove_dir_all(&base).map_err(|e| format!("remove {}: {e}", base.display()))?;
    }
    fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    check_disk(&base)?;
    let result = measure(&bin, &base);
    if std::env::var("PERSISTENCE_BENCH_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("keeping {}", base.display());
    } else if let Err(e) = fs::remove_dir_all(&base) {
        eprintln!("could not remove {}: {e}", base.display());
    }
    let section = result?;
    println!("{section}");
    if only_filter().is_some() {
        eprintln!("PERSISTENCE_BENCH_ONLY is set: a partial run, docs/performance.md left alone");
        return Ok(());
    }
    if std::env::var("PERSISTENCE_BENCH_WRITE").is_ok_and(|v| v == "1") {
        report::write_section(&root.join("docs/performance.md"), SECTION, &section)
            .map_err(|e| format!("docs/performance.md: {e}"))?;
        eprintln!("wrote the section of docs/performance.md");
    }
    Ok(())
}

/// Every measurement, in order; returns the markdown section.
fn measure(bin: &Path, base: &Path) -> Res<String> {
    let machine_start = Machine::now(base);
    let throughput = throughput_runs(bin, base)?;
    if only_filter().is_some() {
        return Ok(throughput
            .iter()
            .map(|t| {
                format!(
                    "{} | {} | median {:.0} req/s | rounds {:?}\n",
                    t.workload.name(),
                    t.mode.label,
                    t.median_rps(),
                    t.rps.iter().map(|r| r.round()).collect::<Vec<_>>()
                )
            })
            .collect());
    }
    let big = big_state(bin, &base.join("big"))?;
    let phases = in_process_phases(&base.join("big/store"))?;
    let overlap = overlap_run(bin, &base.join("big"))?;
    let machine_end = Machine::now(base);
    Ok(render(&Results {
        machine: (machine_start, machine_end),
        throughput,
        big,
        phases,
        overlap,
    }))
}

/// The `PERSISTENCE_BENCH_ONLY` filter, when set.
fn only_filter() -> Option<String> {
    std::env::var("PERSISTENCE_BENCH_ONLY")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The workspace root (the parent of this crate).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Prints `df -h` of the data directory and fails when less than [`MIN_FREE_GIB`] is free.
fn check_disk(dir: &Path) -> Res<()> {
    let human = command_output("df", &["-h".as_ref(), dir.as_os_str()])?;
    eprintln!("{}", human.trim_end());
    let raw = command_output("df", &["-Pk".as_ref(), dir.as_os_str()])?;
    let free_kib: u64 = raw
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("cannot read the free space from `df -Pk`: {raw}"))?;
    if free_kib < MIN_FREE_GIB << 20 {
        return Err(format!(
            "only {} MiB free under {}; the bench needs {MIN_FREE_GIB} GiB",
            free_kib >> 10,
            dir.display()
        ));
    }
    Ok(())
}

/// Runs a command and returns its standard output.
fn command_output(program: &str, args: &[&std::ffi::OsStr]) -> Res<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{program} failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// HTTP client

/// A request: the credential scope names `service`; `headers` are extra header lines
/// (each ending in CRLF).
#[derive(Debug)]
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    service: &'a str,
    headers: &'a str,
    body: &'a [u8],
}

/// A response.
#[derive(Debug)]
struct Resp {
    status: u16,
    body: Vec<u8>,
}

impl Resp {
    /// The body as text (lossy).
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection, reopened when the server closed it.
#[derive(Debug)]
struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    /// A connection to `addr`, opened on first use.
    fn new(addr: SocketAddr) -> Self {
        Self { addr, stream: None }
    }

    /// Sends `req`; a reused connection that fails is reopened and the request sent again.
    fn send(&mut self, req: &Req<'_>) -> Res<Resp> {
        let reused = self.stream.is_some();
        match self.try_send(req) {
            Ok(r) => Ok(r),
            Err(_) if reused => self
                .try_send(req)
                .map_err(|e| format!("{} {}: {e}", req.method, req.path)),
            Err(e) => Err(format!("{} {}: {e}", req.method, req.path)),
        }
    }

    /// Sends `req` and fails unless the answer is 200.
    fn ok(&mut self, req: &Req<'_>) -> Res<Resp> {
        let r = self.send(req)?;
        if r.status != 200 {
            let text = r.text();
            return Err(format!(
                "{} {} answered {}: {}",
                req.method,
                req.path,
                r.status,
                &text[..text.len().min(300)]
            ));
        }
        Ok(r)
    }

    /// One attempt; the connection is dropped on any error or when the server closes it.
    fn try_send(&mut self, req: &Req<'_>) -> io::Result<Resp> {
        let result = self.exchange(req);
        match &result {
            Ok((_, true)) => {}
            _ => self.stream = None,
        }
        result.map(|(r, _)| r)
    }

    /// Writes the request and reads the answer; also says whether the connection stays open.
    fn exchange(&mut self, req: &Req<'_>) -> io::Result<(Resp, bool)> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(SERVER_WAIT))?;
            self.stream = Some(BufReader::new(s));
        }
        let addr = self.addr;
        let r = self.stream.as_mut().expect("connected just above");
        let mut wire = head(req, addr).into_bytes();
        if req.body.len() <= 64 << 10 {
            wire.extend_from_slice(req.body);
            r.get_mut().write_all(&wire)?;
        } else {
            r.get_mut().write_all(&wire)?;
            r.get_mut().write_all(req.body)?;
        }
        read_response(r, req.method == "HEAD")
    }
}

/// The request line and headers.
fn head(req: &Req<'_>, addr: SocketAddr) -> String {
    format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20260101T000000Z\r\nContent-Length: {}\r\n{}\r\n",
        req.method,
        req.path,
        req.service,
        req.body.len(),
        req.headers
    )
}

/// Reads one response; returns it and whether the connection may be reused.
fn read_response(r: &mut BufReader<TcpStream>, head_only: bool) -> io::Result<(Resp, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => keep = !value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if head_only {
    } else if chunked {
        read_chunked(r, &mut line, &mut body)?;
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
        keep = false;
    }
    Ok((Resp { status, body }, keep))
}

/// The string value of `"field":"…"` in a JSON text (escapes kept as the character after `\`).
fn json_str(text: &str, field: &str) -> Option<String> {
    let pattern = format!("\"{field}\":\"");
    let start = text.find(&pattern)? + pattern.len();
    let mut out = String::new();
    let mut chars = text[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// AWS and internal calls

/// `PUT /<bucket>`.
fn create_bucket(c: &mut Conn, bucket: &str) -> Res<()> {
    let path = format!("/{bucket}");
    c.ok(&Req {
        method: "PUT",
        path: &path,
        service: "s3",
        headers: "",
        body: b"",
    })
    .map(drop)
}

/// `PUT /<bucket>/<key>` with `body`.
fn put_object(c: &mut Conn, bucket: &str, key: &str, body: &[u8]) -> Res<()> {
    let path = format!("/{bucket}/{key}");
    c.ok(&Req {
        method: "PUT",
        path: &path,
        service: "s3",
        headers: "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Type: application/octet-stream\r\n",
        body,
    })
    .map(drop)
}

/// `GET /<bucket>/<key>`: the body.
fn get_object(c: &mut Conn, bucket: &str, key: &str) -> Res<Vec<u8>> {
    let path = format!("/{bucket}/{key}");
    c.ok(&Req {
        method: "GET",
        path: &path,
        service: "s3",
        headers: "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
        body: b"",
    })
    .map(|r| r.body)
}

/// A JSON-protocol call (`X-Amz-Target: <target>`); returns the answer's text.
fn json_call(c: &mut Conn, service: &str, target: &str, version: &str, body: &str) -> Res<String> {
    let headers =
        format!("X-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-{version}\r\n");
    c.ok(&Req {
        method: "POST",
        path: "/",
        service,
        headers: &headers,
        body: body.as_bytes(),
    })
    .map(|r| r.text())
}

/// SQS CreateQueue; returns the queue URL.
fn create_queue(c: &mut Conn, name: &str) -> Res<String> {
    let text = json_call(
        c,
        "sqs",
        "AmazonSQS.CreateQueue",
        "1.0",
        &format!(r#"{{"QueueName":"{name}"}}"#),
    )?;
    json_str(&text, "QueueUrl").ok_or_else(|| format!("CreateQueue: no QueueUrl in {text}"))
}

/// SQS SendMessage.
fn send_message(c: &mut Conn, url: &str, text: &str) -> Res<()> {
    let body = format!(r#"{{"QueueUrl":"{url}","MessageBody":"{text}"}}"#);
    let answer = json_call(c, "sqs", "AmazonSQS.SendMessage", "1.0", &body)?;
    if json_str(&answer, "MessageId").is_none() {
        return Err(format!("SendMessage: no MessageId in {answer}"));
    }
    Ok(())
}

/// SQS ReceiveMessage of at most one message, without waiting; returns its receipt handle.
fn receive_one(c: &mut Conn, url: &str) -> Res<Option<String>> {
    let body = format!(r#"{{"QueueUrl":"{url}","MaxNumberOfMessages":1,"WaitTimeSeconds":0}}"#);
    let answer = json_call(c, "sqs", "AmazonSQS.ReceiveMessage", "1.0", &body)?;
    Ok(json_str(&answer, "ReceiptHandle"))
}

/// SQS DeleteMessage.
fn delete_message(c: &mut Conn, url: &str, receipt: &str) -> Res<()> {
    let body = format!(r#"{{"QueueUrl":"{url}","ReceiptHandle":"{receipt}"}}"#);
    json_call(c, "sqs", "AmazonSQS.DeleteMessage", "1.0", &body).map(drop)
}

/// Secrets Manager CreateSecret.
fn create_secret(c: &mut Conn, name: &str, value: &str) -> Res<()> {
    let body = format!(r#"{{"Name":"{name}","SecretString":"{value}"}}"#);
    json_call(
        c,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        "1.1",
        &body,
    )
    .map(drop)
}

/// `POST /_localstack/state/save`; returns how long it took.
fn save_now(c: &mut Conn) -> Res<Duration> {
    let start = Instant::now();
    c.ok(&Req {
        method: "POST",
        path: "/_localstack/state/save",
        service: "s3",
        headers: "",
        body: b"",
    })?;
    Ok(start.elapsed())
}

/// `GET /_localstack/health`.
fn health(c: &mut Conn) -> Res<Resp> {
    c.send(&Req {
        method: "GET",
        path: "/_localstack/health",
        service: "s3",
        headers: "",
        body: b"",
    })
}

// ---------------------------------------------------------------------------------------------
// Servers

/// A running `podstack start`; stopped by its own PID, also when dropped.
#[derive(Debug)]
struct Server {
    child: Child,
    addr: SocketAddr,
    /// When the process was spawned.
    spawned: Instant,
}

impl Server {
    /// Starts podstack on a free port with its data in `data` and `env` set (the variables of
    /// [`CLEARED_ENV`] are removed first), and waits until health answers 200.
    fn start(bin: &Path, data: &Path, env: &[(&str, &str)]) -> Res<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log_path = data.with_extension("log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("open {}: {e}", log_path.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(["start", "--listen", &addr.to_string(), "--data-dir"])
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for k in CLEARED_ENV {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let mut server = Self {
            child,
            addr,
            spawned,
        };
        server.wait_healthy(&log_path)?;
        Ok(server)
    }

    /// Polls health until it answers 200 (the process exiting first is an error).
    fn wait_healthy(&mut self, log: &Path) -> Res<()> {
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "podstack exited ({status}) before it was healthy; see {}",
                    log.display()
                ));
            }
            if health(&mut Conn::new(self.addr)).is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if self.spawned.elapsed() > SERVER_WAIT {
                return Err(format!("podstack not healthy after {SERVER_WAIT:?}"));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Open file descriptors of the server process (from `/proc`).
    fn open_files(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, Iterator::count)
    }

    /// Stops the server with SIGTERM (its own PID) and waits for it to exit.
    fn stop(mut self) -> Res<()> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| format!("kill -TERM {pid}: {e}"))?;
        if !status.success() {
            return Err(format!("kill -TERM {pid} failed"));
        }
        let deadline = Instant::now() + SERVER_WAIT;
        while Instant::now() < deadline {
            if self.child.try_wait().map_err(|e| e.to_string())?.is_some() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "podstack {pid} did not stop within {SERVER_WAIT:?}"
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Res<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Pack files in a store: each save that wrote anything adds one (1 KiB bodies never fill a
/// pack), so their growth counts the saves of a run.
fn packs(data: &Path) -> usize {
    fs::read_dir(data.join("store/packs")).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".idx"))
            .count()
    })
}

// ---------------------------------------------------------------------------------------------
// Timed clients

/// One request: its start since the run's epoch, and its duration.
type Sample = (Duration, Duration);

/// A client thread: its connection and the requests it timed.
#[derive(Debug)]
struct Client {
    conn: Conn,
    epoch: Instant,
    samples: Vec<Sample>,
}

impl Client {
    /// Runs `f` and records it as one request.
    fn timed<T>(&mut self, f: impl FnOnce(&mut Conn) -> Res<T>) -> Res<T> {
        let start = Instant::now();
        let out = f(&mut self.conn)?;
        self.samples
            .push((start.duration_since(self.epoch), start.elapsed()));
        Ok(out)
    }
}

/// Runs `op(client, client index, iteration)` on `clients` threads for `time`; returns each
/// client's samples and the wall time until the last one finished.
fn run_clients<F>(
    addr: SocketAddr,
    clients: usize,
    time: Duration,
    epoch: Instant,
    op: &F,
) -> Res<(Vec<Vec<Sample>>, Duration)>
where
    F: Fn(&mut Client, usize, u64) -> Res<()> + Sync,
{
    let start = Instant::now();
    let deadline = start + time;
    let samples = thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || {
                    let mut client = Client {
                        conn: Conn::new(addr),
                        epoch,
                        samples: Vec::new(),
                    };
                    let mut i = 0;
                    while Instant::now() < deadline {
                        op(&mut client, c, i)?;
                        i += 1;
                    }
                    Ok(client.samples)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| "a client thread panicked".to_owned())?
            })
            .collect::<Res<Vec<_>>>()
    })?;
    Ok((samples, start.elapsed()))
}

/// Runs `f(conn, i)` for `i` in `0..n` on `threads` threads (thread `t` takes `i ≡ t`).
fn parallel<F>(addr: SocketAddr, threads: usize, n: usize, f: &F) -> Res<()>
where
    F: Fn(&mut Conn, usize) -> Res<()> + Sync,
{
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut conn = Conn::new(addr);
                    (t..n).step_by(threads).try_for_each(|i| f(&mut conn, i))
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| "a client thread panicked".to_owned())?
        })
    })
}

/// Latency statistics of a set of requests.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    count: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    /// Statistics of `latencies` (any order).
    fn of(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Self {
            count: latencies.len(),
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

/// The `p` quantile of sorted values (nearest rank).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some durations.
fn median(values: &[Duration]) -> Duration {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The largest of some durations.
fn max(values: &[Duration]) -> Duration {
    values.iter().copied().max().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Throughput

/// A persistence setting a throughput run is made under.
#[derive(Debug, Clone, Copy)]
struct Mode {
    label: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// The least acceptable fraction of the throughput without persistence.
    target: Option<f64>,
}

/// The settings compared, the first being the reference.
const MODES: [Mode; 4] = [
    Mode {
        label: "none",
        env: &[],
        target: None,
    },
    Mode {
        label: "SCHEDULED, 15 s (default: no save during the run)",
        env: &[
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_SAVE_STRATEGY", "SCHEDULED"),
        ],
        target: Some(0.9),
    },
    Mode {
        label: "SCHEDULED, 1 s (saves during the run)",
        env: &[
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_SAVE_STRATEGY", "SCHEDULED"),
            ("SNAPSHOT_FLUSH_INTERVAL", "1"),
        ],
        target: Some(0.9),
    },
    Mode {
        label: "ON_REQUEST",
        env: &[
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ],
        target: Some(0.5),
    },
];

/// An operation of the throughput runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// S3 PutObject of 1 KiB, cycling through [`PUT_KEYS`] keys.
    PutObject,
    /// SQS SendMessage to one queue.
    SendMessage,
}

impl Workload {
    /// The name in the table.
    fn name(self) -> &'static str {
        match self {
            Self::PutObject => "S3 PutObject 1 KiB",
            Self::SendMessage => "SQS SendMessage",
        }
    }

    /// Creates what the run writes to: the bucket's name or the queue's URL.
    fn prepare(self, c: &mut Conn) -> Res<String> {
        match self {
            Self::PutObject => create_bucket(c, HOT_BUCKET).map(|()| HOT_BUCKET.to_owned()),
            Self::SendMessage => create_queue(c, "bench-hot"),
        }
    }

    /// One timed request of client `c`, iteration `i`.
    fn step(self, client: &mut Client, target: &str, body: &[u8], c: usize, i: u64) -> Res<()> {
        match self {
            Self::PutObject => {
                let key = format!("k{:04}", (c as u64 * 7919 + i) % PUT_KEYS);
                client.timed(|conn| put_object(conn, target, &key, body))
            }
            Self::SendMessage => {
                let text = format!("persistence bench message {c}-{i}");
                client.timed(|conn| send_message(conn, target, &text))
            }
        }
    }
}

/// The result of one throughput run.
#[derive(Debug)]
struct RunResult {
    rps: f64,
    latencies: Vec<Duration>,
    /// Packs written during the measured run (one per save that wrote something).
    saves: usize,
    /// The server's open file descriptors at the end.
    open_files: usize,
}

/// A workload under a mode, over [`ROUNDS`] runs.
#[derive(Debug)]
struct Throughput {
    workload: Workload,
    mode: Mode,
    /// Requests per second of each round.
    rps: Vec<f64>,
    /// Latencies of all rounds.
    latencies: Vec<Duration>,
    /// Saves of all rounds.
    saves: usize,
    /// The server's open file descriptors at the end of each round.
    open_files: Vec<usize>,
}

impl Throughput {
    /// The median over the rounds of the requests per second.
    fn median_rps(&self) -> f64 {
        let mut v = self.rps.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or_default()
    }
}

/// Every workload under every mode, [`ROUNDS`] times (the modes interleaved, so that they see
/// the same background load), each run on a fresh server and data directory.
fn throughput_runs(bin: &Path, base: &Path) -> Res<Vec<Throughput>> {
    let only = only_filter();
    let mut out: Vec<Throughput> = [Workload::PutObject, Workload::SendMessage]
        .into_iter()
        .flat_map(|workload| {
            MODES.map(|mode| Throughput {
                workload,
                mode,
                rps: Vec::new(),
                latencies: Vec::new(),
                saves: 0,
                open_files: Vec::new(),
            })
        })
        .filter(|t| {
            only.as_ref().is_none_or(|o| {
                format!("{} | {}", t.workload.name(), t.mode.label).contains(o.as_str())
            })
        })
        .collect();
    for round in 0..ROUNDS {
        for (n, t) in out.iter_mut().enumerate() {
            let data = base.join(format!("throughput-{round}-{n}"));
            let r = throughput_run(bin, &data, t.workload, t.mode)?;
            eprintln!(
                "{:<20} {:<50} {:>8.0} req/s  saves {}",
                t.workload.name(),
                t.mode.label,
                r.rps,
                r.saves
            );
            t.rps.push(r.rps);
            t.latencies.extend(r.latencies);
            t.saves += r.saves;
            t.open_files.push(r.open_files);
            remove_data(&data)?;
        }
    }
    Ok(out)
}

/// One throughput run: warm-up, then [`RUN_TIME`] with [`CLIENTS`] clients.
fn throughput_run(bin: &Path, data: &Path, workload: Workload, mode: Mode) -> Res<RunResult> {
    let server = Server::start(bin, data, mode.env)?;
    let target = workload.prepare(&mut Conn::new(server.addr))?;
    let body = random_bytes(1, SMALL_SIZE);
    let op = |client: &mut Client, c: usize, i: u64| workload.step(client, &target, &body, c, i);
    run_clients(server.addr, CLIENTS, WARMUP, Instant::now(), &op)?;
    let packs_before = packs(data);
    let (samples, wall) = run_clients(server.addr, CLIENTS, RUN_TIME, Instant::now(), &op)?;
    let saves = packs(data).saturating_sub(packs_before);
    let open_files = server.open_files();
    server.stop()?;
    let latencies: Vec<Duration> = samples.into_iter().flatten().map(|s| s.1).collect();
    Ok(RunResult {
        rps: latencies.len() as f64 / wall.as_secs_f64(),
        latencies,
        saves,
        open_files,
    })
}

/// Removes a data directory (and its log) unless `PERSISTENCE_BENCH_KEEP=1`.
fn remove_data(data: &Path) -> Res<()> {
    if std::env::var("PERSISTENCE_BENCH_KEEP").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    let _ = fs::remove_file(data.with_extension("log"));
    fs::remove_dir_all(data).map_err(|e| format!("remove {}: {e}", data.display()))
}

// ---------------------------------------------------------------------------------------------
// The big state

/// Deterministic pseudo-random bytes (splitmix64), so bodies do not compress away.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = mix(seed ^ 0x5EED_5EED_5EED_5EED);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out.extend_from_slice(&mix(x).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The splitmix64 finalizer. Seeding with `mix(seed)` keeps the streams of neighbouring seeds
/// apart (with `seed × φ` they would be the same stream shifted by a word, and the store's
/// content-defined chunking would deduplicate them).
fn mix(x: u64) -> u64 {
    let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of small object `i`.
fn small_key(i: usize) -> String {
    format!("obj/{:05}", i)
}

/// The body of small object `i`.
fn small_body(i: usize) -> Vec<u8> {
    random_bytes((1 << 32) + i as u64, SMALL_SIZE)
}

/// The body of big object `i`.
fn big_body(i: usize) -> Vec<u8> {
    random_bytes((2 << 32) + i as u64, BIG_SIZE)
}

/// What the big-state measurements found.
#[derive(Debug)]
struct Big {
    build: Duration,
    first_save: Duration,
    changed_saves: Vec<Duration>,
    tiny_saves: Vec<Duration>,
    /// Start-ups with the big state: (healthy, healthy and one object read).
    starts: Vec<(Duration, Duration)>,
    /// Start-ups with an empty data directory, to healthy.
    empty_starts: Vec<Duration>,
    store_bytes: u64,
}

/// Builds the big state, times its saves, stops the server and times start-ups with it.
fn big_state(bin: &Path, data: &Path) -> Res<Big> {
    let tiny_saves = tiny_saves(bin, &data.with_extension("tiny"))?;
    let server = Server::start(bin, data, MANUAL)?;
    let started = Instant::now();
    build(server.addr)?;
    let build = started.elapsed();
    eprintln!("big state built in {}", secs(build));
    let mut conn = Conn::new(server.addr);
    let first_save = save_now(&mut conn)?;
    eprintln!("first save {}", ms(first_save));
    let mut changed_saves = Vec::new();
    for i in 0..CHANGED_SAVES {
        let body = random_bytes(7000 + i as u64, SMALL_SIZE);
        put_object(&mut conn, SMALL_BUCKET, &small_key(i), &body)?;
        changed_saves.push(save_now(&mut conn)?);
    }
    eprintln!("saves after one change: {:?}", changed_saves);
    server.stop()?;
    let store_bytes = dir_size(&data.join("store"));
    let starts = big_starts(bin, data)?;
    let empty_starts = empty_starts(bin, &data.with_extension("empty"))?;
    Ok(Big {
        build,
        first_save,
        changed_saves,
        tiny_saves,
        starts,
        empty_starts,
        store_bytes,
    })
}

/// Saves after one change of a tiny state (one bucket, one object): the fixed cost of a save.
fn tiny_saves(bin: &Path, data: &Path) -> Res<Vec<Duration>> {
    let server = Server::start(bin, data, MANUAL)?;
    let mut conn = Conn::new(server.addr);
    create_bucket(&mut conn, HOT_BUCKET)?;
    let mut out = Vec::new();
    for i in 0..TINY_SAVES {
        put_object(
            &mut conn,
            HOT_BUCKET,
            "one",
            &random_bytes(i as u64, SMALL_SIZE),
        )?;
        out.push(save_now(&mut conn)?);
    }
    server.stop()?;
    remove_data(data)?;
    eprintln!("tiny-state saves: {out:?}");
    Ok(out)
}

/// Builds the big state through the API with [`BUILD_THREADS`] clients.
fn build(addr: SocketAddr) -> Res<()> {
    let mut conn = Conn::new(addr);
    create_bucket(&mut conn, SMALL_BUCKET)?;
    create_bucket(&mut conn, BIG_BUCKET)?;
    parallel(addr, BUILD_THREADS, SMALL_OBJECTS, &|c, i| {
        put_object(c, SMALL_BUCKET, &small_key(i), &small_body(i))
    })?;
    parallel(addr, BUILD_THREADS, BIG_OBJECTS, &|c, i| {
        put_object(c, BIG_BUCKET, &format!("big/{i:03}"), &big_body(i))
    })?;
    parallel(addr, BUILD_THREADS, QUEUES, &|c, i| {
        let url = create_queue(c, &format!("bench-q-{i:03}"))?;
        (0..MESSAGES_PER_QUEUE).try_for_each(|m| send_message(c, &url, &format!("message {m}")))
    })?;
    parallel(addr, BUILD_THREADS, SECRETS, &|c, i| {
        create_secret(c, &format!("bench/secret-{i:03}"), &format!("value {i}"))
    })
}

/// Resources of the big state (documents add one per SQS message and per bucket).
fn resources() -> usize {
    SMALL_OBJECTS + BIG_OBJECTS + QUEUES + SECRETS
}

/// Start-ups loading the big state `ON_STARTUP`: to healthy, and to one object read back.
fn big_starts(bin: &Path, data: &Path) -> Res<Vec<(Duration, Duration)>> {
    let mut out = Vec::new();
    for n in 0..STARTS {
        let server = Server::start(bin, data, ON_STARTUP)?;
        let healthy = server.spawned.elapsed();
        let mut conn = Conn::new(server.addr);
        if get_object(&mut conn, SMALL_BUCKET, &small_key(SMALL_OBJECTS - 1))?
            != small_body(SMALL_OBJECTS - 1)
        {
            return Err("the loaded state lacks a small object".into());
        }
        let ready = server.spawned.elapsed();
        if n == 0 {
            check_loaded(&mut conn)?;
        }
        server.stop()?;
        out.push((healthy, ready));
    }
    eprintln!("start-ups with the big state: {out:?}");
    Ok(out)
}

/// After a load: a big object, a queue's messages and a secret are back (not timed).
fn check_loaded(conn: &mut Conn) -> Res<()> {
    let last = BIG_OBJECTS - 1;
    if get_object(conn, BIG_BUCKET, &format!("big/{last:03}"))? != big_body(last) {
        return Err("the loaded state lacks a big object".into());
    }
    let url = create_queue(conn, "bench-q-007")?;
    if receive_one(conn, &url)?.is_none() {
        return Err("the loaded queue has no message".into());
    }
    let text = json_call(
        conn,
        "secretsmanager",
        "secretsmanager.GetSecretValue",
        "1.1",
        r#"{"SecretId":"bench/secret-042"}"#,
    )?;
    if json_str(&text, "SecretString").as_deref() != Some("value 42") {
        return Err(format!("the loaded secret is wrong: {text}"));
    }
    Ok(())
}

/// Start-ups with an empty data directory and the same settings, to healthy.
fn empty_starts(bin: &Path, data: &Path) -> Res<Vec<Duration>> {
    let mut out = Vec::new();
    for _ in 0..STARTS {
        let server = Server::start(bin, data, ON_STARTUP)?;
        out.push(server.spawned.elapsed());
        server.stop()?;
        remove_data(data)?;
    }
    Ok(out)
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Latency while a save runs

/// Latency of requests that overlap a save and of those that do not, per kind of request.
#[derive(Debug)]
struct Overlap {
    saves: Vec<Duration>,
    /// (kind, during saves, outside saves).
    kinds: Vec<(&'static str, Stats, Stats)>,
}

/// Loads the big state (MANUAL saves) and runs [`CLIENTS`] clients for [`OVERLAP_TIME`] while
/// another thread saves every [`SAVE_GAP`]: half the clients put 1 KiB objects, half send,
/// receive and delete messages on their own queue (so the state stays the same size).
fn overlap_run(bin: &Path, data: &Path) -> Res<Overlap> {
    let env = [MANUAL, &[("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP")]].concat();
    let server = Server::start(bin, data, &env)?;
    let mut conn = Conn::new(server.addr);
    create_bucket(&mut conn, HOT_BUCKET)?;
    let half = CLIENTS / 2;
    let urls = (0..half)
        .map(|q| create_queue(&mut conn, &format!("bench-hot-{q}")))
        .collect::<Res<Vec<_>>>()?;
    let body = random_bytes(3, SMALL_SIZE);
    let op = |client: &mut Client, c: usize, i: u64| {
        if c < half {
            let key = format!("k{:04}", (c as u64 * 7919 + i) % PUT_KEYS);
            client.timed(|conn| put_object(conn, HOT_BUCKET, &key, &body))
        } else {
            sqs_cycle(client, &urls[c - half], i)
        }
    };
    let epoch = Instant::now();
    let done = AtomicBool::new(false);
    let (samples, saves) = thread::scope(|s| {
        let saver = s.spawn(|| save_repeatedly(server.addr, epoch, &done));
        let clients = run_clients(server.addr, CLIENTS, OVERLAP_TIME, epoch, &op);
        done.store(true, Ordering::SeqCst);
        let saves = saver
            .join()
            .map_err(|_| "the saving thread panicked".to_owned())?;
        Ok::<_, String>((clients?.0, saves?))
    })?;
    server.stop()?;
    let (puts, sqs) = samples.split_at(half);
    Ok(Overlap {
        kinds: vec![
            split_by_saves("S3 PutObject 1 KiB", puts, &saves),
            split_by_saves("SQS Send/Receive/DeleteMessage", sqs, &saves),
        ],
        saves: saves.iter().map(|s| s.1).collect(),
    })
}

/// SendMessage, ReceiveMessage and DeleteMessage on a queue of one client, each timed.
fn sqs_cycle(client: &mut Client, url: &str, i: u64) -> Res<()> {
    client.timed(|c| send_message(c, url, &format!("overlap message {i}")))?;
    let receipt = client
        .timed(|c| receive_one(c, url))?
        .ok_or("ReceiveMessage returned nothing")?;
    client.timed(|c| delete_message(c, url, &receipt))
}

/// Saves every [`SAVE_GAP`] until `done`; returns each save's start and duration.
fn save_repeatedly(addr: SocketAddr, epoch: Instant, done: &AtomicBool) -> Res<Vec<Sample>> {
    let mut conn = Conn::new(addr);
    let mut out = Vec::new();
    loop {
        thread::sleep(SAVE_GAP);
        if done.load(Ordering::SeqCst) {
            return Ok(out);
        }
        let start = Instant::now();
        save_now(&mut conn)?;
        out.push((start.duration_since(epoch), start.elapsed()));
    }
}

/// Splits requests into those whose time overlaps a save and the others.
fn split_by_saves(
    kind: &'static str,
    clients: &[Vec<Sample>],
    saves: &[Sample],
) -> (&'static str, Stats, Stats) {
    let overlaps = |(start, took): &Sample| {
        saves
            .iter()
            .any(|(s, d)| *start < *s + *d && *start + *took > *s)
    };
    let (during, outside): (Vec<Sample>, Vec<Sample>) =
        clients.iter().flatten().copied().partition(overlaps);
    let latencies = |v: Vec<Sample>| v.into_iter().map(|s| s.1).collect();
    (
        kind,
        Stats::of(latencies(during)),
        Stats::of(latencies(outside)),
    )
}

// ---------------------------------------------------------------------------------------------
// In-process phases

/// Save phase: storing the documents.
const STORE_DOCS: &str = "store the changed documents (canonical bytes' SHA-256, index lookup)";
/// Save phase: the tree.
const BUILD_TREE: &str = "apply the changes to the previous snapshot's tree (`tree::update`)";
/// Save phase: the commit object.
const COMMIT: &str = "commit (`Commit::new` counts resources, store)";
/// Save phase: making the new objects durable.
const FLUSH: &str = "flush (pack: write, fsync, rename; index; fsync dir)";
/// Save phase: the snapshot refs.
const REFS: &str = "advance the two refs (write, fsync, rename, fsync dir each)";
/// What the names of the `export_changes` save phases contain.
const EXPORT: &str = "`export_changes`";

/// Durations of named phases, over repetitions, in first-seen order.
#[derive(Debug, Default)]
struct Phases {
    /// Phases of a load of the snapshot (once).
    load: Vec<(String, Duration)>,
    /// Phases of a save after one change (each repetition).
    save: Vec<(String, Vec<Duration>)>,
    /// Documents in the saved tree.
    documents: usize,
}

impl Phases {
    /// Records one repetition of a save phase.
    fn save_phase(&mut self, name: &str, d: Duration) {
        match self.save.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v.push(d),
            None => self.save.push((name.to_owned(), vec![d])),
        }
    }
}

/// Opens the big state's store in this process, loads the snapshot phase by phase and saves
/// it [`CHANGED_SAVES`] times after a one-object change, phase by phase, with the calls of
/// `Gateway::load_snapshot` and `Gateway::save_snapshot`.
fn in_process_phases(store_dir: &Path) -> Res<Phases> {
    let mut config = Config::for_tests(store_dir.to_path_buf());
    config.persist = PersistConfig {
        enabled: true,
        save: SaveStrategy::Manual,
        load: LoadStrategy::Manual,
        interval: Duration::from_secs(15),
    };
    let gw = Gateway::new(config).map_err(|e| format!("open the store: {e}"))?;
    let mut phases = Phases::default();
    let mut base = load_phases(&gw, &mut phases)?;
    for i in 0..CHANGED_SAVES {
        touch_object(&gw, i)?;
        base = save_phases(&gw, &mut phases, base)?;
    }
    Ok(phases)
}

/// `load_snapshot`, timed: find and walk the snapshot, read and stage each service, install.
/// Returns the snapshot's root.
fn load_phases(gw: &Gateway, phases: &mut Phases) -> Res<TreeId> {
    let store = gw.store();
    let start = Instant::now();
    let (found, problems) = state::last_good_snapshot(store);
    let (_, root) = found.ok_or_else(|| format!("no snapshot to load: {problems:?}"))?;
    phases.load.push((
        "find the snapshot, walk every tree node and check its hash (`check_complete`)".into(),
        start.elapsed(),
    ));
    let services = gw.services();
    let now = gw.clock().now_ms();
    let mut staged = Vec::new();
    for svc in &services {
        let start = Instant::now();
        let leaves = state::service_leaves(store, root, svc.name()).map_err(|e| e.to_string())?;
        let n = leaves.len();
        phases.load.push((
            format!("{}: read and parse {n} documents", svc.name()),
            start.elapsed(),
        ));
        let start = Instant::now();
        staged.push(svc.stage(leaves, now)?);
        phases
            .load
            .push((format!("{}: decode (`stage`)", svc.name()), start.elapsed()));
    }
    let start = Instant::now();
    for (svc, s) in services.iter().zip(staged) {
        s.install();
        svc.mark_clean();
    }
    phases.load.push(("install".into(), start.elapsed()));
    Ok(root)
}

/// Changes one small object's metadata in memory: its document changes, as after a PutObject
/// (the body is the same blob, so no new blob is written).
fn touch_object(gw: &Gateway, i: usize) -> Res<()> {
    let mut state = gw.s3().write();
    let version = state
        .accounts
        .get_mut(ACCOUNT)
        .and_then(|buckets| buckets.get_mut(SMALL_BUCKET))
        .and_then(|b| b.objects.get_mut(&small_key(i)))
        .and_then(|versions| versions.last_mut())
        .ok_or_else(|| format!("object {} is not loaded", small_key(i)))?;
    version.last_modified += 1;
    state.marks.touch(S3Mark::Object {
        account: ACCOUNT.into(),
        bucket: SMALL_BUCKET.into(),
        key: small_key(i),
    });
    Ok(())
}

/// One save, as `Gateway::save_snapshot` makes it (each service's `export_changes`, the
/// changed documents stored, `ChangeSet::apply_to` the previous root, `commit_tree`,
/// `advance_snapshot_refs`), each step timed. Returns the new root.
fn save_phases(gw: &Gateway, phases: &mut Phases, base: TreeId) -> Res<TreeId> {
    let store = gw.store();
    let now = gw.clock().now_ms();
    let mut pending = state::ChangeSet::default();
    let mut store_docs = Duration::ZERO;
    for svc in gw.services() {
        let start = Instant::now();
        let delta = svc.export_changes(now)?;
        phases.save_phase(
            &format!(
                "{}: `export_changes` (copy the changed resources under the lock, encode)",
                svc.name()
            ),
            start.elapsed(),
        );
        let start = Instant::now();
        let changes = state::delta_changes(store, svc.name(), delta, Some(base), &pending)
            .map_err(|e| e.to_string())?;
        for (path, entry) in changes {
            pending.apply(path, entry);
        }
        store_docs += start.elapsed();
    }
    phases.documents = pending.len();
    phases.save_phase(STORE_DOCS, store_docs);
    let root = timed_phase(phases, BUILD_TREE, || {
        pending
            .apply_to(store, Some(base))
            .map_err(|e| e.to_string())
    })?;
    let commit = timed_phase(phases, COMMIT, || commit_of(store, root))?;
    timed_phase(phases, FLUSH, || store.flush().map_err(|e| e.to_string()))?;
    timed_phase(phases, REFS, || {
        state::advance_snapshot_refs(store, commit).map_err(|e| e.to_string())
    })?;
    Ok(root)
}

/// Runs `f` and records its time as a save phase.
fn timed_phase<T>(phases: &mut Phases, name: &str, f: impl FnOnce() -> Res<T>) -> Res<T> {
    let start = Instant::now();
    let out = f()?;
    phases.save_phase(name, start.elapsed());
    Ok(out)
}

/// Stores a snapshot commit of `root`.
fn commit_of(store: &podstore::Store, root: TreeId) -> Res<podstore::CommitId> {
    let opts = CommitOptions {
        message: "persistence bench".into(),
        author: "podstack".into(),
        ..CommitOptions::default()
    };
    let commit = Commit::new(store, root, opts).map_err(|e| e.to_string())?;
    commit.store(store).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Report

/// The machine and its load at one moment.
#[derive(Debug)]
struct Machine {
    date: String,
    cpu: String,
    memory: String,
    load: String,
    /// Median time to write and fsync a 4 KiB file in the data directory (what every durable
    /// step pays; other processes' writes to the same disk make it slower).
    fsync: Duration,
}

/// Files written and fsynced to measure the disk's fsync latency.
const FSYNC_PROBES: usize = 21;

/// The median time to create, write (4 KiB) and fsync a file in `dir`.
fn fsync_latency(dir: &Path) -> Duration {
    let path = dir.join("fsync-probe");
    let times: Vec<Duration> = (0..FSYNC_PROBES)
        .filter_map(|_| {
            let start = Instant::now();
            let mut f = File::create(&path).ok()?;
            f.write_all(&[7u8; 4096]).ok()?;
            f.sync_all().ok()?;
            Some(start.elapsed())
        })
        .collect();
    let _ = fs::remove_file(&path);
    median(&times)
}

impl Machine {
    /// Reads `/proc` and the clock, and probes fsync in `dir`.
    fn now(dir: &Path) -> Self {
        let hw = report::hardware();
        Self {
            date: command_output("date", &["-u".as_ref(), "+%Y-%m-%dT%H:%M:%SZ".as_ref()])
                .map(|d| d.trim().to_owned())
                .unwrap_or_default(),
            cpu: format!("{} × {}", hw.cores, hw.model),
            memory: format!("{:.0} GiB RAM", hw.mem_gib),
            load: report::load_average(),
            fsync: fsync_latency(dir),
        }
    }
}

/// Everything measured.
#[derive(Debug)]
struct Results {
    machine: (Machine, Machine),
    throughput: Vec<Throughput>,
    big: Big,
    phases: Phases,
    overlap: Overlap,
}

/// Milliseconds, with two decimals under 10 ms.
fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// Seconds with two decimals.
fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// "met" or "not met", for prose.
fn met_word(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

/// The markdown section.
fn render(r: &Results) -> String {
    let mut s = String::new();
    let (m0, m1) = &r.machine;
    let _ = writeln!(s, "{SECTION}\n");
    let _ = writeln!(
        s,
        "Command: `{COMMAND}` (without the variable it only prints; source \
         `emulator/benches/persistence.rs`).\n"
    );
    let _ = writeln!(
        s,
        "Run {}: {}, {}; load average {} at the start and {} at the end, fsync of a 4 KiB file \
         {} at the start and {} at the end (median of {FSYNC_PROBES}; the VM and its disk are \
         shared, so times are noisy). Servers are `target/release/podstack start` on loopback, data under \
         `target/persistence-bench` (page cache warm, fsync real); clients are HTTP/1.1 \
         keep-alive connections, one per thread, in the bench process on the same 2 cores.\n",
        m0.date,
        m0.cpu,
        m0.memory,
        m0.load,
        m1.load,
        ms(m0.fsync),
        ms(m1.fsync)
    );
    render_throughput(&mut s, &r.throughput);
    render_big(&mut s, &r.big, &r.overlap);
    render_phases(&mut s, &r.phases, &r.big);
    render_findings(&mut s, r);
    s
}

/// The throughput table.
fn render_throughput(s: &mut String, runs: &[Throughput]) {
    let _ = writeln!(
        s,
        "### Throughput with {CLIENTS} clients\n\n{ROUNDS} rounds, the modes interleaved; each run \
         on a fresh server and data directory: {CLIENTS} client threads for {} s after {} ms of \
         warm-up. req/s is the median of the rounds (lowest–highest in brackets), p50/p99 over \
         all rounds' requests. PutObject writes 1 KiB of random bytes to {PUT_KEYS} keys in \
         turn; SendMessage sends ~35 bytes to one queue, which keeps every message (so it grows \
         during the run, and so does every save of it). \"saves\" counts the pack files written \
         during the runs: one per save that wrote anything.\n",
        RUN_TIME.as_secs(),
        WARMUP.as_millis()
    );
    let _ = writeln!(
        s,
        "| operation | persistence | req/s | p50 | p99 | vs none | saves | requests per save | target | met? |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in runs {
        let reference = runs
            .iter()
            .find(|o| o.workload == t.workload && o.mode.target.is_none())
            .map_or(t.median_rps(), Throughput::median_rps);
        let ratio = t.median_rps() / reference;
        let stats = Stats::of(t.latencies.clone());
        let per_save = if t.saves == 0 {
            "—".to_owned()
        } else {
            format!("{:.1}", stats.count as f64 / t.saves as f64)
        };
        let (target, ok) = match t.mode.target {
            None => ("—".to_owned(), "—"),
            Some(min) => (format!("≥ {:.0} %", min * 100.0), report::met(ratio >= min)),
        };
        let low = t.rps.iter().copied().fold(f64::INFINITY, f64::min);
        let high = t.rps.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} ({low:.0}–{high:.0}) | {} | {} | {:.0} % | {} | {per_save} | {target} | {ok} |",
            t.workload.name(),
            t.mode.label,
            t.median_rps(),
            ms(stats.p50),
            ms(stats.p99),
            ratio * 100.0,
            t.saves,
        );
    }
    s.push('\n');
}

/// The big-state table and the latency-while-saving table.
fn render_big(s: &mut String, b: &Big, o: &Overlap) {
    let changed = median(&b.changed_saves);
    let ready: Vec<Duration> = b.starts.iter().map(|x| x.1).collect();
    let healthy: Vec<Duration> = b.starts.iter().map(|x| x.0).collect();
    let _ = writeln!(
        s,
        "### The big state\n\n{} resources built through the API in {} by {BUILD_THREADS} \
         clients: {SMALL_OBJECTS} S3 objects of 1 KiB, {BIG_OBJECTS} of 4 MiB of random bytes \
         (1 GiB), {QUEUES} SQS queues with {MESSAGES_PER_QUEUE} messages each, {SECRETS} \
         secrets; the store holds {:.0} MiB. Saves are `POST /_localstack/state/save` timed by \
         the client (server with `SNAPSHOT_SAVE_STRATEGY=MANUAL`); a \"change\" is a PutObject \
         of one small object. Start-up: from spawning `podstack start` with `PERSISTENCE=1 \
         SNAPSHOT_LOAD_STRATEGY=ON_STARTUP` until health answers 200, and until one loaded \
         object has also been read back and compared.\n",
        resources(),
        secs(b.build),
        b.store_bytes as f64 / (1 << 20) as f64
    );
    let _ = writeln!(
        s,
        "| measurement | result | target | met? |\n|---|---|---|---|"
    );
    let rows = [
        (
            "first save of the big state".to_owned(),
            ms(b.first_save),
            "—",
            "—",
        ),
        (
            format!("save after one change, big state (median of {CHANGED_SAVES}; max)"),
            format!("{}; {}", ms(changed), ms(max(&b.changed_saves))),
            "≤ 50 ms",
            report::met(changed <= SAVE_TARGET),
        ),
        (
            format!("save after one change, tiny state: 1 object (median of {TINY_SAVES}; max)"),
            format!("{}; {}", ms(median(&b.tiny_saves)), ms(max(&b.tiny_saves))),
            "—",
            "—",
        ),
        (
            format!(
                "start-up with the big state, to health 200 + one object read (median of {STARTS}; max)"
            ),
            format!("{}; {}", ms(median(&ready)), ms(max(&ready))),
            "≤ 500 ms",
            report::met(median(&ready) <= START_TARGET),
        ),
        (
            format!("start-up with the big state, to health 200 (median of {STARTS})"),
            ms(median(&healthy)),
            "—",
            "—",
        ),
        (
            format!("start-up with an empty data directory, to health 200 (median of {STARTS})"),
            ms(median(&b.empty_starts)),
            "—",
            "—",
        ),
    ];
    for (what, result, target, ok) in rows {
        let _ = writeln!(s, "| {what} | {result} | {target} | {ok} |");
    }
    let _ = writeln!(
        s,
        "\n### Latency while a save runs\n\nThe big state loaded (`MANUAL` saves), {CLIENTS} \
         clients for {} s: {} put 1 KiB objects ({PUT_KEYS} keys), {} each send, receive and \
         delete messages on their own queue; meanwhile another connection saves every {} ms \
         ({} saves, median {}, max {}). A request \"during a save\" overlaps one in time.\n",
        OVERLAP_TIME.as_secs(),
        CLIENTS / 2,
        CLIENTS / 2,
        SAVE_GAP.as_millis(),
        o.saves.len(),
        ms(median(&o.saves)),
        ms(max(&o.saves))
    );
    let _ = writeln!(
        s,
        "| requests | during a save: count, p50, p99, max | outside saves: count, p50, p99, max |\n|---|---|---|"
    );
    for (kind, during, outside) in &o.kinds {
        let _ = writeln!(
            s,
            "| {kind} | {}, {}, {}, {} | {}, {}, {}, {} |",
            during.count,
            ms(during.p50),
            ms(during.p99),
            ms(during.max),
            outside.count,
            ms(outside.p50),
            ms(outside.p99),
            ms(outside.max)
        );
    }
    s.push('\n');
}

/// The phase tables.
fn render_phases(s: &mut String, p: &Phases, b: &Big) {
    let total: Duration = p.save.iter().map(|(_, v)| median(v)).sum();
    let _ = writeln!(
        s,
        "### Where the time goes\n\nThe calls `Gateway::save_snapshot` and \
         `Gateway::load_snapshot` make, timed one by one in the bench process on the big state's \
         store. Save: median of {CHANGED_SAVES} saves, each after a change of one object's \
         metadata ({} changed documents per save); the rows add up to {} (the server's save after \
         one change took {} over HTTP). Only the copy of the changed resources inside the \
         `export_changes` rows is done under a service's lock.\n",
        p.documents,
        ms(total),
        ms(median(&b.changed_saves))
    );
    let _ = writeln!(s, "| save phase | median | max |\n|---|---|---|");
    for (name, v) in &p.save {
        let _ = writeln!(s, "| {name} | {} | {} |", ms(median(v)), ms(max(v)));
    }
    let _ = writeln!(s, "\n| load phase | time |\n|---|---|");
    for (name, d) in &p.load {
        let _ = writeln!(s, "| {name} | {} |", ms(*d));
    }
    s.push('\n');
}

/// The median of a save phase of the in-process measurement (zero when absent).
fn save_phase(p: &Phases, name: &str) -> Duration {
    p.save
        .iter()
        .find(|(n, _)| n == name)
        .map_or(Duration::ZERO, |(_, v)| median(v))
}

/// What the numbers say about the targets, computed from them.
fn render_findings(s: &mut String, r: &Results) {
    let _ = writeln!(s, "### Findings\n");
    findings_save(s, &r.phases, &r.big);
    findings_on_request(s, &r.throughput, &r.big);
    findings_scheduled(s, &r.throughput);
    findings_overlap(s, &r.phases, &r.overlap);
    findings_start(s, &r.phases, &r.big);
    s.push('\n');
}

/// What a save after one change costs, phase by phase.
fn findings_save(s: &mut String, p: &Phases, b: &Big) {
    let export: Duration = p
        .save
        .iter()
        .filter(|(n, _)| n.contains(EXPORT))
        .map(|(_, v)| median(v))
        .sum();
    let durable = save_phase(p, COMMIT) + save_phase(p, FLUSH) + save_phase(p, REFS);
    let changed = median(&b.changed_saves);
    let _ = writeln!(
        s,
        "- **Save after one change: {} against ≤ 50 ms, target {}.** Saves are incremental: each \
         service marks the resources its requests change, and a save encodes only those ({} for \
         all services' `export_changes`), stores their documents ({}) and applies them to the \
         previous snapshot's tree, rewriting only the directories on their paths ({}). What \
         remains is making the snapshot durable: commit, pack flush and refs, {} with their 7 \
         fsyncs. The first save of the big state, which writes every document and tree node, \
         took {}; the server's save over HTTP adds the request and the wait for the save lock.",
        ms(changed),
        met_word(changed <= SAVE_TARGET),
        ms(export),
        ms(save_phase(p, STORE_DOCS)),
        ms(save_phase(p, BUILD_TREE)),
        ms(durable),
        ms(b.first_save)
    );
}

/// What ON_REQUEST costs.
fn findings_on_request(s: &mut String, runs: &[Throughput], _b: &Big) {
    let mut parts = Vec::new();
    let mut all_met = true;
    for t in runs.iter().filter(|t| t.mode.label == "ON_REQUEST") {
        let ratio = t.median_rps() / reference_rps(runs, t.workload);
        all_met &= t.mode.target.is_none_or(|min| ratio >= min);
        let mut sorted = t.latencies.clone();
        sorted.sort_unstable();
        parts.push(format!(
            "{}: {:.0} % of no persistence, p99 {}",
            t.workload.name(),
            ratio * 100.0,
            ms(percentile(&sorted, 0.99))
        ));
    }
    let _ = writeln!(
        s,
        "- **ON_REQUEST: target {}.** A changing request is answered once its change is in the \
         write-ahead journal and the journal is durable: the requests waiting at that moment \
         share one synchronous append (one `O_DIRECT | O_DSYNC` write; group commit), instead \
         of a snapshot (tree, \
         commit, pack and refs: 7 fsyncs) per group. Snapshots run in the background when the \
         journal passes 64 MiB or 20,000 changed paths; the \"saves\" column counts the packs \
         they and full packs wrote. Measured — {}. {}",
        met_word(all_met),
        parts.join("; "),
        open_files_note(runs)
    );
}

/// Requests per second without persistence (the reference of `workload`).
fn reference_rps(runs: &[Throughput], workload: Workload) -> f64 {
    runs.iter()
        .find(|o| o.workload == workload && o.mode.target.is_none())
        .map_or(1.0, Throughput::median_rps)
        .max(1e-9)
}

/// The server's open files after ON_REQUEST runs against those without persistence.
fn open_files_note(runs: &[Throughput]) -> String {
    let row = |pred: &dyn Fn(&Throughput) -> bool| {
        runs.iter()
            .find(|t| t.workload == Workload::PutObject && pred(t))
    };
    let files = |t: Option<&Throughput>| {
        t.and_then(|t| t.open_files.iter().copied().max())
            .unwrap_or_default()
    };
    let on_request = row(&|t| t.mode.label == "ON_REQUEST");
    let saves = on_request.map_or(0, |t| t.saves / ROUNDS);
    let (with, without) = (files(on_request), files(row(&|t| t.mode.target.is_none())));
    if saves > 10 && with > without + saves / 2 {
        format!(
            "Each save also leaves one more pack file open in the server: after a PutObject run \
             under ON_REQUEST (about {saves} saves) it held {with} open files, without \
             persistence {without}; with the common soft limit of 1,024 open files, writes \
             start failing (\"Too many open files\") after about a thousand saves."
        )
    } else {
        format!(
            "Open files stay flat although every save writes a pack: after a PutObject run under \
             ON_REQUEST (about {saves} saves) the server held {with} open files, without \
             persistence {without}."
        )
    }
}

/// What SCHEDULED costs.
fn findings_scheduled(s: &mut String, runs: &[Throughput]) {
    let row = |label: &str, w: Workload| {
        runs.iter()
            .find(|t| t.workload == w && t.mode.label.starts_with(label))
    };
    let ratio = |label: &str, w: Workload| {
        row(label, w).map_or(0.0, |t| t.median_rps() / reference_rps(runs, w) * 100.0)
    };
    let saves_per_run =
        |w: Workload| row("SCHEDULED, 1 s", w).map_or(0.0, |t| t.saves as f64 / ROUNDS as f64);
    let queue = reference_rps(runs, Workload::SendMessage) * (RUN_TIME + WARMUP).as_secs_f64();
    let _ = writeln!(
        s,
        "- **SCHEDULED.** With the default 15 s interval no save falls in a 3 s run, so the \
         requests pay nothing but noise (PutObject {:.0} %, SendMessage {:.0} %; compare the \
         ranges of the rounds). With a 1 s interval (PutObject {:.0} %, SendMessage {:.0} %) \
         each save encodes only what changed since the previous one: the SendMessage queue \
         grows to about {queue:.0} messages, but a save writes only the messages sent since \
         the last ({:.1} saves per run, against {:.1} with PutObject, whose 1,000 keys are \
         rewritten over and over).",
        ratio("SCHEDULED, 15", Workload::PutObject),
        ratio("SCHEDULED, 15", Workload::SendMessage),
        ratio("SCHEDULED, 1 s", Workload::PutObject),
        ratio("SCHEDULED, 1 s", Workload::SendMessage),
        saves_per_run(Workload::SendMessage),
        saves_per_run(Workload::PutObject),
    );
}

/// Why requests are slower, not blocked, during a save.
fn findings_overlap(s: &mut String, p: &Phases, o: &Overlap) {
    let p99 = |i: usize| {
        o.kinds
            .get(i)
            .map_or((Duration::ZERO, Duration::ZERO), |k| (k.1.p99, k.2.p99))
    };
    let (s3_during, s3_outside) = p99(0);
    let (sqs_during, sqs_outside) = p99(1);
    let _ = writeln!(
        s,
        "- **Latency during a save.** A save holds a service's lock only while copying the \
         resources changed since the previous save (the S3 and SQS `export_changes` rows above \
         include it: {} and {} after one change), so requests are not blocked for the save's \
         {}; their p99 moves (PutObject {} → {}, SQS {} → {}) because the save's CPU work \
         competes with them.",
        ms(save_phase(
            p,
            &format!("s3: {EXPORT} (copy the changed resources under the lock, encode)")
        )),
        ms(save_phase(
            p,
            &format!("sqs: {EXPORT} (copy the changed resources under the lock, encode)")
        )),
        ms(median(&o.saves)),
        ms(s3_outside),
        ms(s3_during),
        ms(sqs_outside),
        ms(sqs_during)
    );
}

/// Where start-up time goes.
fn findings_start(s: &mut String, p: &Phases, b: &Big) {
    let load: Duration = p.load.iter().map(|(_, d)| *d).sum();
    let ready: Vec<Duration> = b.starts.iter().map(|x| x.1).collect();
    let _ = writeln!(
        s,
        "- **Start-up: {} against ≤ 500 ms, target {}.** The load itself, timed phase by phase in \
         this process on the same store (a separate run, so it can come out longer than the \
         whole start-up), takes {} (the process without state is healthy in {}): reading and \
         parsing every document and decoding it into the services' state, S3's {} objects the most; blob contents \
         are not read (only their presence is checked), so the 1 GiB costs nothing.",
        ms(median(&ready)),
        met_word(median(&ready) <= START_TARGET),
        ms(load),
        ms(median(&b.empty_starts)),
        SMALL_OBJECTS + BIG_OBJECTS
    );
}
