//! `cargo bench -p emulator --bench gateway`: podstack's gateway against moto's server, both
//! on loopback, in one run.
//!
//! - S3 (issue 3): PutObject and GetObject of 1 KiB and 1 MiB, ListObjectsV2 over 1,000 keys,
//!   each with 1 and 8 client threads; cold start to a healthy `/_localstack/health`; idle and
//!   loaded RSS.
//! - SQS and Secrets Manager (issue 4): SendMessage, ReceiveMessage + DeleteMessage and
//!   GetSecretValue with 1 and 8 clients; SendMessage latency at queue depths 0, 10,000 and
//!   100,000.
//!
//! Every measurement reports requests per second, p50/p99 latency and the server's CPU time
//! per request (utime + stime of `/proc/<pid>/stat` before and after, divided by the requests).
//!
//! The load generator is a small HTTP/1.1 client over `std::net::TcpStream`, one connection per
//! client thread, kept alive when the server allows it (moto's Werkzeug closes every
//! connection, so its clients reconnect per request, as boto3 does against it). Requests carry
//! a SigV4-shaped `Authorization` header whose credential scope routes them (neither server
//! checks signatures). Every response is checked (status and body); any failure ends the run
//! with an error. Servers listen on free loopback ports and are killed by their own PID at the
//! end, also on failure.
//!
//! The bench first runs `cargo build --release -p podstack` (a no-op when the binary is
//! fresh). `EMULATOR_BENCH_WRITE=1` also rewrites the `## emulator gateway …` sections of
//! `docs/performance.md`; without it the results are only printed. `EMULATOR_BENCH_PARTS`
//! (e.g. `sqs,depth`) runs only some parts, for work on the bench (never written to the docs);
//! `EMULATOR_BENCH_PODSTACK=<binary>` measures another podstack build (A/B runs).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use md5::Digest as _;
use serde_json::Value;
use tempfile::TempDir;

#[path = "support/chunked.rs"]
mod chunked;
// Only the load average: its two sections are written together (`write_docs`).
#[allow(dead_code)]
#[path = "../../podstore/benches/support/report.rs"]
mod report;
use chunked::read_chunked;

/// The command that produces the published numbers.
const COMMAND: &str = "cargo bench -p emulator --bench gateway";
/// The date every request claims (matches the credential scope).
const AMZ_DATE: &str = "20260101T000000Z";
/// Client thread counts of every throughput measurement.
const CLIENTS: [usize; 2] = [1, 8];
/// Wall time of one throughput measurement against podstack.
const PODSTACK_TIME: Duration = Duration::from_secs(2);
/// Wall time of one throughput measurement against moto (slower, so longer for a fair count).
const MOTO_TIME: Duration = Duration::from_secs(3);
/// Distinct keys a PutObject run cycles through.
const PUT_KEYS: u64 = 1000;
/// Objects a GetObject run cycles through, per size.
const GET_OBJECTS: usize = 16;
/// Keys in the ListObjectsV2 bucket.
const LIST_KEYS: usize = 1000;
/// Messages waiting before each Receive + Delete run (podstack, moto).
const RECEIVE_STOCK: (u64, u64) = (60_000, 300);
/// Queue depths of the SendMessage latency measurement.
const DEPTHS: [u64; 3] = [0, 10_000, 100_000];
/// SendMessage calls timed at each depth (podstack, moto).
const DEPTH_SENDS: (u64, u64) = (2_000, 100);
/// Longest time moto may spend filling the depth queue, over all depths.
const MOTO_FILL_BUDGET: Duration = Duration::from_secs(120);
/// Starts whose time to healthy is measured.
const COLD_STARTS: usize = 5;
/// A message body of about 100 bytes.
const MESSAGE_PAD: &str = "podstack gateway benchmark message body, about one hundred bytes long";
/// The secret's value.
const SECRET_VALUE: &str = r#"{"username":"bench","password":"correct horse battery staple"}"#;

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The whole run: build, start both servers, measure, stop them, report.
fn run() -> Res<()> {
    let bin = podstack_binary()?;
    let env = Environment::capture()?;
    eprintln!("cold starts…");
    let cold = ColdStarts::measure(&bin)?;
    let measured = {
        let podstack = Server::start(&Kind::Podstack(bin))?.0;
        let moto = Server::start(&Kind::Moto)?.0;
        measure_all(&Servers {
            podstack: &podstack,
            moto: &moto,
        })?
    };
    let report = Report {
        env: env.finish(),
        cold,
        measured,
        floor: Floor::measure()?,
    };
    publish(&report.markdown())
}

/// Everything measured against the two running servers.
#[derive(Debug)]
struct Measured {
    memory: Memory,
    s3: Vec<Row>,
    floor_s3: Vec<FloorRow>,
    sqs: Vec<Row>,
    depths: Vec<DepthRow>,
}

/// Runs every wanted part against both servers, reading their RSS between parts.
fn measure_all(servers: &Servers<'_>) -> Res<Measured> {
    let rss = || Ok::<_, String>((servers.podstack.rss()?, servers.moto.rss()?));
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss()?;
    let (s3, floor_s3) = if part("s3") {
        s3_rows(servers)?
    } else {
        (Vec::new(), Vec::new())
    };
    let after_s3 = rss()?;
    let mut sqs = if part("sqs") {
        sqs_rows(servers)?
    } else {
        Vec::new()
    };
    if part("secrets") {
        sqs.extend(secrets_rows(servers)?);
    }
    let depths = if part("depth") {
        depth_rows(servers)?
    } else {
        Vec::new()
    };
    Ok(Measured {
        memory: Memory {
            idle,
            after_s3,
            end: rss()?,
        },
        s3,
        floor_s3,
        sqs,
        depths,
    })
}

/// Prints the report, and writes it into `docs/performance.md` when asked to.
fn publish(md: &str) -> Res<()> {
    println!("{md}");
    if std::env::var("EMULATOR_BENCH_WRITE").is_ok_and(|v| v == "1") {
        if std::env::var_os("EMULATOR_BENCH_PARTS").is_some()
            || std::env::var_os("EMULATOR_BENCH_PODSTACK").is_some()
        {
            return Err("EMULATOR_BENCH_WRITE=1 needs the whole run of this build \
                 (unset EMULATOR_BENCH_PARTS and EMULATOR_BENCH_PODSTACK)"
                .into());
        }
        write_docs(md)?;
        eprintln!("wrote docs/performance.md");
    }
    Ok(())
}

/// Whether a part of the run (`s3`, `sqs`, `secrets`, `depth`) is wanted: all unless
/// `EMULATOR_BENCH_PARTS` lists some (comma-separated; for working on the bench itself).
fn part(name: &str) -> bool {
    std::env::var("EMULATOR_BENCH_PARTS").map_or(true, |v| v.split(',').any(|p| p.trim() == name))
}

/// The workspace root (the parent of this crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the emulator crate sits in the workspace")
        .to_path_buf()
}

/// Builds `podstack` in release mode (a no-op when fresh) and returns its path, next to this
/// bench's own directory (`target/release`). `EMULATOR_BENCH_PODSTACK=<path>` measures that
/// binary instead (an A/B run against another build; never written to the docs).
fn podstack_binary() -> Res<PathBuf> {
    if let Some(bin) = std::env::var_os("EMULATOR_BENCH_PODSTACK") {
        return Ok(PathBuf::from(bin));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("cargo build --release -p podstack…");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "podstack"])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --release -p podstack: {status}"));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let release = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the bench binary is not in target/<profile>/deps")?;
    let bin = release.join("podstack");
    if !bin.is_file() {
        return Err(format!("{} was not built", bin.display()));
    }
    Ok(bin)
}

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

/// A request: extra header lines (`Name: value\r\n` each) and a body.
#[derive(Debug, Clone, Copy)]
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a str,
    body: &'a [u8],
}

/// A response; one is reused for every request of a thread.
#[derive(Debug, Default)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    /// A header by lower-case name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body as JSON.
    fn json(&self) -> Res<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("response is not JSON ({e}): {}", self.snippet()))
    }

    /// The first bytes of the body, for error messages.
    fn snippet(&self) -> String {
        self.text().chars().take(300).collect()
    }

    /// `Ok` when the status is `want`.
    fn expect_status(&self, want: u16, what: &str) -> Res<()> {
        if self.status == want {
            return Ok(());
        }
        Err(format!(
            "{what}: status {} (want {want}): {}",
            self.status,
            self.snippet()
        ))
    }
}

/// One HTTP/1.1 connection that reconnects when the server closes it.
#[derive(Debug)]
struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    head: Vec<u8>,
    line: String,
}

impl Conn {
    /// A connection to `addr`, opened on first use.
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            head: Vec::with_capacity(1024),
            line: String::with_capacity(256),
        }
    }

    /// Sends `req` and reads the answer into `resp`. A kept-alive connection the server
    /// closed before answering is reopened once.
    fn send(&mut self, req: &Req<'_>, resp: &mut Resp) -> io::Result<()> {
        let reused = self.stream.is_some();
        match self.exchange(req, resp) {
            Err(_) if reused && resp.status == 0 => {
                self.stream = None;
                self.exchange(req, resp)
            }
            other => other,
        }
    }

    fn exchange(&mut self, req: &Req<'_>, resp: &mut Resp) -> io::Result<()> {
        resp.status = 0;
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, s));
        }
        let stream = self.stream.as_mut().expect("connected above");
        render_head(&mut self.head, self.addr, req);
        let result = write_request(stream.get_mut(), &mut self.head, req.body)
            .and_then(|()| read_response(stream, &mut self.line, resp, req.method == "HEAD"));
        match result {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.stream = None;
                Ok(())
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// Renders the request line and headers.
fn render_head(head: &mut Vec<u8>, addr: SocketAddr, req: &Req<'_>) {
    head.clear();
    let _ = write!(
        head,
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n{}\r\n",
        req.method,
        req.path,
        req.body.len(),
        req.headers
    );
}

/// Writes the head and body (in one write when the body is small).
fn write_request(s: &mut TcpStream, head: &mut Vec<u8>, body: &[u8]) -> io::Result<()> {
    if body.len() <= 64 * 1024 {
        head.extend_from_slice(body);
        return s.write_all(head);
    }
    s.write_all(head)?;
    s.write_all(body)
}

/// Reads one response; returns whether the connection may be reused.
fn read_response(
    r: &mut BufReader<TcpStream>,
    line: &mut String,
    resp: &mut Resp,
    head_request: bool,
) -> io::Result<bool> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the status line",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut keep_alive = line.starts_with("HTTP/1.1");
    resp.status = status;
    resp.headers.clear();
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if r.read_line(line)? == 0 {
            return Err(io::Error::other("connection closed inside the headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
        match name.as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
        resp.headers.push((name, value));
    }
    resp.body.clear();
    let bodiless = head_request || status < 200 || status == 204 || status == 304;
    if bodiless {
        return Ok(keep_alive);
    }
    if chunked {
        read_chunked(r, line, &mut resp.body)?;
    } else if let Some(n) = length {
        resp.body.resize(n, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        r.read_to_end(&mut resp.body)?;
        keep_alive = false;
    }
    Ok(keep_alive)
}

/// Header lines that route a request to `service` by its credential scope.
fn auth(service: &str) -> String {
    format!(
        "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000\r\nx-amz-date: {AMZ_DATE}\r\n"
    )
}

/// Header lines of an AWS JSON request (`X-Amz-Target`, content type, credential).
fn json_headers(service: &str, target: &str, version: &str) -> String {
    format!(
        "{}X-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-{version}\r\n",
        auth(service)
    )
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// Which server to start.
#[derive(Debug, Clone)]
enum Kind {
    /// `podstack start` from this binary.
    Podstack(PathBuf),
    /// `python3 -m moto.server`.
    Moto,
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Podstack(_) => "podstack",
            Kind::Moto => "moto",
        }
    }
}

/// A running server; dropping it kills the process by its PID and waits for it.
#[derive(Debug)]
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts a server on a free loopback port with a fresh data directory and waits until it
    /// is ready; returns it with the time from spawn to ready.
    fn start(kind: &Kind) -> Res<(Self, Duration)> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let log = dir.path().join("server.log");
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("log: {e}"))?;
        let mut cmd = match kind {
            Kind::Podstack(bin) => {
                let mut c = Command::new(bin);
                c.arg("start")
                    .arg("--listen")
                    .arg(addr.to_string())
                    .arg("--data-dir")
                    .arg(dir.path().join("data"));
                c
            }
            Kind::Moto => {
                let mut c = Command::new("python3");
                c.args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                    .arg(addr.port().to_string());
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", kind.name()))?;
        let mut server = Self {
            name: kind.name(),
            child,
            addr,
            log,
            _dir: dir,
        };
        let podstack = matches!(kind, Kind::Podstack(_));
        server.wait_ready(podstack)?;
        Ok((server, started.elapsed()))
    }

    /// Polls `GET /_localstack/health` every millisecond: podstack must answer 200; moto has
    /// no such endpoint, so any HTTP answer counts.
    fn wait_ready(&mut self, want_200: bool) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let req = Req {
            method: "GET",
            path: "/_localstack/health",
            headers: "",
            body: b"",
        };
        let mut resp = Resp::default();
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "{} exited ({status}) before it was ready: {}",
                    self.name,
                    self.log_tail()
                ));
            }
            let answered = Conn::new(self.addr).send(&req, &mut resp).is_ok();
            if answered && (resp.status == 200 || !want_200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(format!(
            "{} was not ready within 60 s: {}",
            self.name,
            self.log_tail()
        ))
    }

    /// The end of the server's log.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// utime + stime of the whole process (all threads), in clock ticks.
    fn process_ticks(&self) -> Res<u64> {
        stat_ticks(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Resident and peak resident memory.
    fn rss(&self) -> Res<Rss> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{path}: no {key}"))
        };
        Ok(Rss {
            now_kib: kib("VmRSS:")?,
            peak_kib: kib("VmHWM:")?,
        })
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/…/stat` file, in clock ticks.
fn stat_ticks(path: &str) -> Res<u64> {
    let stat = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: malformed"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// A free loopback port (bound and released; the server binds it right after).
fn free_port() -> Res<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// VmRSS and VmHWM.
#[derive(Debug, Clone, Copy)]
struct Rss {
    now_kib: u64,
    peak_kib: u64,
}

/// Both servers of the run.
#[derive(Debug, Clone, Copy)]
struct Servers<'a> {
    podstack: &'a Server,
    moto: &'a Server,
}

/// Time from spawn to ready, for each of `COLD_STARTS` starts of each server.
#[derive(Debug)]
struct ColdStarts {
    podstack: Vec<Duration>,
    moto: Vec<Duration>,
}

impl ColdStarts {
    fn measure(bin: &Path) -> Res<Self> {
        let times = |kind: &Kind| -> Res<Vec<Duration>> {
            let mut v = (0..COLD_STARTS)
                .map(|_| Server::start(kind).map(|(_, t)| t))
                .collect::<Res<Vec<_>>>()?;
            v.sort();
            Ok(v)
        };
        Ok(Self {
            podstack: times(&Kind::Podstack(bin.to_path_buf()))?,
            moto: times(&Kind::Moto)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/// Bounds of one load: whichever comes first.
#[derive(Debug, Clone, Copy)]
struct Limit {
    time: Duration,
    ops: u64,
}

impl Limit {
    /// A timed run for `server` (moto gets longer).
    fn timed(server: &Server) -> Self {
        let time = if server.name == "moto" {
            MOTO_TIME
        } else {
            PODSTACK_TIME
        };
        Self {
            time,
            ops: u64::MAX,
        }
    }

    /// Exactly `ops` operations (within a generous time).
    fn count(ops: u64) -> Self {
        Self {
            time: Duration::from_secs(600),
            ops,
        }
    }
}

/// What a client thread owns.
#[derive(Debug)]
struct Worker {
    conn: Conn,
    resp: Resp,
    buf: Vec<u8>,
}

impl Worker {
    fn new(addr: SocketAddr) -> Self {
        Self {
            conn: Conn::new(addr),
            resp: Resp::default(),
            buf: Vec::new(),
        }
    }

    /// Sends a request; the answer is in `self.resp`.
    fn call(&mut self, req: &Req<'_>) -> Res<()> {
        self.conn
            .send(req, &mut self.resp)
            .map_err(|e| format!("{} {}: {e}", req.method, req.path))
    }
}

/// One operation: given a worker and the operation's global index, makes its requests, checks
/// the answers and returns how many HTTP requests it made.
trait Op: Fn(&mut Worker, u64) -> Res<u64> + Sync {}
impl<F: Fn(&mut Worker, u64) -> Res<u64> + Sync> Op for F {}

/// The outcome of one load against one server.
#[derive(Debug, Clone, Default)]
struct Sample {
    ops: u64,
    requests: u64,
    secs: f64,
    /// Latency of every operation, sorted, in nanoseconds.
    lat: Vec<u64>,
    cpu_ticks: u64,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// A latency percentile in nanoseconds.
    fn pct(&self, q: f64) -> u64 {
        let i = ((self.lat.len() as f64 * q) as usize).min(self.lat.len().saturating_sub(1));
        self.lat.get(i).copied().unwrap_or(0)
    }

    /// Server CPU per operation in milliseconds, with at least one tick counted (so an idle
    /// reading gives an upper bound, never zero).
    fn cpu_ms_per_op(&self, hz: f64) -> f64 {
        self.cpu_ticks.max(1) as f64 * 1000.0 / hz / self.ops.max(1) as f64
    }
}

/// Something the load generator can measure: an address and a CPU clock.
trait Target: Sync {
    /// For messages.
    fn name(&self) -> &str;
    /// Where it listens.
    fn addr(&self) -> SocketAddr;
    /// CPU time spent serving so far, in clock ticks.
    fn cpu_ticks(&self) -> Res<u64>;
    /// What to add to an error: whether the server still runs, the end of its log.
    fn diagnose(&self) -> String {
        String::new()
    }
}

impl Target for Server {
    fn name(&self) -> &str {
        self.name
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn cpu_ticks(&self) -> Res<u64> {
        self.process_ticks()
    }

    fn diagnose(&self) -> String {
        let state = fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|s| {
                let (_, rest) = s.rsplit_once(')')?;
                rest.split_whitespace().next().map(str::to_owned)
            });
        let alive = match state.as_deref() {
            None | Some("Z" | "X") => "it has exited",
            Some(_) => "it still runs",
        };
        format!(
            " ({} {alive}; its log ends: {})",
            self.name,
            self.log_tail()
        )
    }
}

/// Runs `op` from `threads` client threads until `limit`, measuring the server's CPU.
fn load(target: &dyn Target, threads: usize, limit: Limit, op: &impl Op) -> Res<Sample> {
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let addr = target.addr();
    let cpu0 = target.cpu_ticks()?;
    let start = Instant::now();
    let results: Vec<Res<(u64, Vec<u64>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| client(addr, limit, start, &next, &stop, op)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu_ticks = target.cpu_ticks()? - cpu0;
    let mut sample = Sample {
        secs,
        cpu_ticks,
        ..Sample::default()
    };
    for r in results {
        let (requests, lat) =
            r.map_err(|e| format!("{}: {e}{}", target.name(), target.diagnose()))?;
        sample.requests += requests;
        sample.ops += lat.len() as u64;
        sample.lat.extend(lat);
    }
    sample.lat.sort_unstable();
    Ok(sample)
}

/// One client thread: takes operation indices until the limit; returns its request count and
/// latencies.
fn client(
    addr: SocketAddr,
    limit: Limit,
    start: Instant,
    next: &AtomicU64,
    stop: &AtomicBool,
    op: &impl Op,
) -> Res<(u64, Vec<u64>)> {
    let mut w = Worker::new(addr);
    let mut lat = Vec::with_capacity(4096);
    let mut requests = 0;
    while !stop.load(Ordering::Relaxed) && start.elapsed() < limit.time {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= limit.ops {
            break;
        }
        let t = Instant::now();
        match op(&mut w, i) {
            Ok(n) => requests += n,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        lat.push(t.elapsed().as_nanos() as u64);
    }
    Ok((requests, lat))
}

/// A measured operation: podstack and moto, at one client count.
#[derive(Debug)]
struct Row {
    op: String,
    clients: usize,
    podstack: Sample,
    moto: Sample,
}

/// A run ready to go: its limit and its operation.
struct Prepared<'a> {
    limit: Limit,
    op: Box<dyn Op + 'a>,
}

impl<'a> Prepared<'a> {
    /// A timed run of `op` on `server`.
    fn timed(server: &Server, op: impl Op + 'a) -> Res<Self> {
        Ok(Self {
            limit: Limit::timed(server),
            op: Box::new(op),
        })
    }
}

/// How to prepare a run on a server for a client count.
type Prepare<'p, 'a> = &'p dyn Fn(&Server, usize) -> Res<Prepared<'a>>;

/// Measures an operation on both servers with 1 and 8 clients; `prepare` readies each run.
fn compare(servers: &Servers<'_>, name: &str, prepare: Prepare<'_, '_>) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    for clients in CLIENTS {
        eprintln!("{name}, {clients} client(s)…");
        let first = clients == CLIENTS[0];
        rows.push(Row {
            op: name.to_owned(),
            clients,
            podstack: measure(servers.podstack, clients, prepare, first)?,
            moto: measure(servers.moto, clients, prepare, first)?,
        });
    }
    Ok(rows)
}

/// Prepares a run, optionally checks its operation once untimed (so moto is known to answer
/// like podstack before anything is timed), then measures it.
fn measure(server: &Server, clients: usize, prepare: Prepare<'_, '_>, check: bool) -> Res<Sample> {
    let run = prepare(server, clients)?;
    if check {
        (run.op)(&mut Worker::new(server.addr), u64::MAX / 2)
            .map_err(|e| format!("check on {}: {e}", server.name))?;
    }
    load(server, clients, run.limit, &run.op)
}

// ---------------------------------------------------------------------------------------------
// S3
// ---------------------------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift64*), incompressible like most uploads.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `v` every 4 KiB of `buf`, so every body (and every 4 KiB of it) is new content: a
/// store that deduplicates gains nothing from the repetition.
fn stamp(buf: &mut [u8], v: u64) {
    for off in (0..buf.len().saturating_sub(7)).step_by(4096) {
        buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
}

/// Headers of an S3 request.
fn s3_headers(put: bool) -> String {
    let mut h = auth("s3");
    if put {
        h.push_str(
            "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Type: application/octet-stream\r\n",
        );
    }
    h
}

/// `PUT /bucket` (moto and podstack both answer 200 for a new bucket).
fn create_bucket(w: &mut Worker, bucket: &str) -> Res<()> {
    w.call(&Req {
        method: "PUT",
        path: &format!("/{bucket}"),
        headers: &s3_headers(false),
        body: b"",
    })?;
    w.resp.expect_status(200, &format!("CreateBucket {bucket}"))
}

/// `PUT /bucket/key` with `body`; checks the status and that an ETag came back.
fn put_object(w: &mut Worker, path: &str, body: &[u8], headers: &str) -> Res<()> {
    w.call(&Req {
        method: "PUT",
        path,
        headers,
        body,
    })?;
    w.resp.expect_status(200, &format!("PutObject {path}"))?;
    if w.resp.header("etag").is_none() {
        return Err(format!("PutObject {path}: no ETag"));
    }
    Ok(())
}

/// The objects GetObject reads, per size.
#[derive(Debug)]
struct S3Data {
    small: Vec<Vec<u8>>,
    large: Vec<Vec<u8>>,
}

impl S3Data {
    fn new() -> Self {
        let objects = |size: usize, seed: u64| {
            (0..GET_OBJECTS)
                .map(|i| random_bytes(size, seed + i as u64))
                .collect()
        };
        Self {
            small: objects(1024, 11),
            large: objects(1 << 20, 1_000_011),
        }
    }
}

/// Creates the buckets and objects of the S3 measurements on `server`.
fn s3_setup(server: &Server, data: &S3Data) -> Res<()> {
    let mut w = Worker::new(server.addr);
    for b in ["bench-put", "bench-get", "bench-list"] {
        create_bucket(&mut w, b)?;
    }
    let headers = s3_headers(true);
    for (size, objects) in [("1k", &data.small), ("1m", &data.large)] {
        for (i, body) in objects.iter().enumerate() {
            put_object(&mut w, &format!("/bench-get/{size}/{i}"), body, &headers)?;
        }
    }
    let fill = |w: &mut Worker, i: u64| {
        put_object(w, &format!("/bench-list/key-{i:04}"), b"x", &headers).map(|()| 1)
    };
    let filled = load(server, 4, Limit::count(LIST_KEYS as u64), &fill)?;
    if filled.ops != LIST_KEYS as u64 {
        return Err(format!(
            "{}: list bucket got {} keys",
            server.name, filled.ops
        ));
    }
    Ok(())
}

/// PutObject of `size` bytes, cycling over `PUT_KEYS` keys, with a new body each time.
fn put_op(size: usize) -> impl Op {
    let base = random_bytes(size, size as u64);
    let headers = s3_headers(true);
    move |w: &mut Worker, i: u64| {
        if w.buf.len() != size {
            w.buf.clone_from(&base);
        }
        stamp(&mut w.buf, i);
        let path = format!("/bench-put/{size}/{}", i % PUT_KEYS);
        let body = std::mem::take(&mut w.buf);
        let r = put_object(w, &path, &body, &headers);
        w.buf = body;
        r.map(|()| 1)
    }
}

/// GetObject over `objects`, checking every byte.
fn get_op<'a>(label: &'a str, objects: &'a [Vec<u8>]) -> impl Op + 'a {
    let headers = s3_headers(false);
    move |w: &mut Worker, i: u64| {
        let j = (i % objects.len() as u64) as usize;
        let path = format!("/bench-get/{label}/{j}");
        w.call(&Req {
            method: "GET",
            path: &path,
            headers: &headers,
            body: b"",
        })?;
        w.resp.expect_status(200, &format!("GetObject {path}"))?;
        if w.resp.body != objects[j] {
            return Err(format!(
                "GetObject {path}: {} bytes that differ from the {} put",
                w.resp.body.len(),
                objects[j].len()
            ));
        }
        Ok(1)
    }
}

/// ListObjectsV2 of the whole 1,000-key bucket (one page).
fn list_op() -> impl Op {
    let headers = s3_headers(false);
    move |w: &mut Worker, _| {
        w.call(&Req {
            method: "GET",
            path: "/bench-list?list-type=2",
            headers: &headers,
            body: b"",
        })?;
        w.resp.expect_status(200, "ListObjectsV2")?;
        let text = w.resp.text();
        let keys = text.matches("<Key>").count();
        if keys != LIST_KEYS || !text.contains("<IsTruncated>false</IsTruncated>") {
            return Err(format!(
                "ListObjectsV2: {keys} keys, want {LIST_KEYS} in one page"
            ));
        }
        Ok(1)
    }
}

/// The S3 measurements, and the floor of the 1 MiB ones.
fn s3_rows(servers: &Servers<'_>) -> Res<(Vec<Row>, Vec<FloorRow>)> {
    let data = S3Data::new();
    eprintln!("S3 setup…");
    s3_setup(servers.podstack, &data)?;
    s3_setup(servers.moto, &data)?;
    let mut rows = Vec::new();
    for (name, size) in [("PutObject 1 KiB", 1024), ("PutObject 1 MiB", 1 << 20)] {
        rows.extend(compare(servers, name, &|s, _| {
            Prepared::timed(s, put_op(size))
        })?);
    }
    for (name, label, objects) in [
        ("GetObject 1 KiB", "1k", &data.small),
        ("GetObject 1 MiB", "1m", &data.large),
    ] {
        let prepare = |s: &Server, _| Prepared::timed(s, get_op(label, objects));
        rows.extend(compare(servers, name, &prepare)?);
    }
    let name = "ListObjectsV2, 1,000 keys";
    rows.extend(compare(servers, name, &|s, _| {
        Prepared::timed(s, list_op())
    })?);
    Ok((rows, floor_rows(&data)?))
}

// ---------------------------------------------------------------------------------------------
// The floor of a 1 MiB body: a server that does only what any S3 server must
// ---------------------------------------------------------------------------------------------

/// A std-only HTTP/1.1 server in this process that does the least any S3 server must for a
/// body: a PUT reads it and computes its MD5 (the ETag); a GET of `…/<i>` writes object `i`
/// from memory. One thread per connection; each adds its own CPU time (from
/// `/proc/thread-self/stat`) to `ticks` when its connection closes. It lives until the bench
/// exits.
#[derive(Debug)]
struct FloorServer {
    addr: SocketAddr,
    ticks: Arc<AtomicU64>,
    open: Arc<AtomicUsize>,
}

impl FloorServer {
    fn start(objects: Vec<Vec<u8>>) -> Res<Self> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("local_addr: {e}"))?;
        let ticks = Arc::new(AtomicU64::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (t, o, objects) = (ticks.clone(), open.clone(), Arc::new(objects));
        std::thread::spawn(move || floor_accept(&listener, &objects, &t, &o));
        Ok(Self { addr, ticks, open })
    }
}

impl Target for FloorServer {
    fn name(&self) -> &str {
        "floor server"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits (up to 5 s) for the connections of the last load to close, so their threads
    /// have added their CPU time.
    fn cpu_ticks(&self) -> Res<u64> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.open.load(Ordering::SeqCst) > 0 {
            if Instant::now() > deadline {
                return Err("floor server: connections did not close".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(self.ticks.load(Ordering::SeqCst))
    }
}

/// Accepts connections, one thread each.
fn floor_accept(
    listener: &TcpListener,
    objects: &Arc<Vec<Vec<u8>>>,
    ticks: &Arc<AtomicU64>,
    open: &Arc<AtomicUsize>,
) {
    for stream in listener.incoming().flatten() {
        open.fetch_add(1, Ordering::SeqCst);
        let (objects, ticks, open) = (objects.clone(), ticks.clone(), open.clone());
        std::thread::spawn(move || {
            let own = "/proc/thread-self/stat";
            let before = stat_ticks(own).unwrap_or(0);
            let _ = floor_serve(stream, &objects);
            let after = stat_ticks(own).unwrap_or(before);
            ticks.fetch_add(after.saturating_sub(before), Ordering::SeqCst);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Serves one connection until the client closes it.
fn floor_serve(stream: TcpStream, objects: &[Vec<u8>]) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let (mut line, mut body) = (String::new(), Vec::new());
    while let Some((method, path, len)) = read_request_head(&mut r, &mut line)? {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
        if method == "PUT" {
            let etag = hex(&md5::Md5::digest(&body));
            let head = format!("HTTP/1.1 200 OK\r\nETag: \"{etag}\"\r\nContent-Length: 0\r\n\r\n");
            out.write_all(head.as_bytes())?;
            continue;
        }
        let object = path
            .rsplit('/')
            .next()
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| objects.get(i));
        match object {
            Some(o) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", o.len());
                out.write_all(head.as_bytes())?;
                out.write_all(o)?;
            }
            None => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?,
        }
    }
    Ok(())
}

/// Reads a request line and headers: (method, path, content length); `None` at a clean end.
fn read_request_head(
    r: &mut BufReader<TcpStream>,
    line: &mut String,
) -> io::Result<Option<(String, String, usize)>> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut len = 0;
    loop {
        line.clear();
        if r.read_line(line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok(Some((method, path, len)));
        }
        if let Some((n, v)) = l.split_once(':')
            && n.trim().eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
}

/// The floor server's sample for one 1 MiB operation and client count.
#[derive(Debug)]
struct FloorRow {
    op: &'static str,
    clients: usize,
    sample: Sample,
}

/// PutObject and GetObject of 1 MiB against the floor server.
fn floor_rows(data: &S3Data) -> Res<Vec<FloorRow>> {
    eprintln!("1 MiB floor…");
    let floor = FloorServer::start(data.large.clone())?;
    let limit = Limit {
        time: PODSTACK_TIME,
        ops: u64::MAX,
    };
    let mut rows = Vec::new();
    for clients in CLIENTS {
        let put = load(&floor, clients, limit, &put_op(1 << 20))?;
        let get = load(&floor, clients, limit, &get_op("1m", &data.large))?;
        for (op, sample) in [("PutObject 1 MiB", put), ("GetObject 1 MiB", get)] {
            rows.push(FloorRow {
                op,
                clients,
                sample,
            });
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// SQS and Secrets Manager
// ---------------------------------------------------------------------------------------------

/// An AWS JSON call: target, body; checks status 200 and returns the parsed answer.
fn json_call(w: &mut Worker, headers: &str, body: &str, what: &str) -> Res<Value> {
    w.call(&Req {
        method: "POST",
        path: "/",
        headers,
        body: body.as_bytes(),
    })?;
    w.resp.expect_status(200, what)?;
    w.resp.json()
}

/// Creates a queue and returns its URL.
fn create_queue(server: &Server, name: &str) -> Res<String> {
    let mut w = Worker::new(server.addr);
    let h = json_headers("sqs", "AmazonSQS.CreateQueue", "1.0");
    let v = json_call(
        &mut w,
        &h,
        &format!(r#"{{"QueueName":"{name}"}}"#),
        "CreateQueue",
    )?;
    v["QueueUrl"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("CreateQueue on {}: no QueueUrl in {v}", server.name))
}

/// SendMessage to `url`; checks the answer names a message id and the body's MD5.
fn send_op(url: String) -> impl Op {
    let headers = json_headers("sqs", "AmazonSQS.SendMessage", "1.0");
    move |w: &mut Worker, i: u64| {
        let text = format!("{MESSAGE_PAD} {i}");
        let body = format!(r#"{{"QueueUrl":"{url}","MessageBody":"{text}"}}"#);
        let v = json_call(w, &headers, &body, "SendMessage")?;
        let md5 = hex(&md5::Md5::digest(text.as_bytes()));
        if v["MessageId"].as_str().is_none() || v["MD5OfMessageBody"].as_str() != Some(&md5) {
            return Err(format!("SendMessage: unexpected answer {v}"));
        }
        Ok(1)
    }
}

/// SendMessageBatch of ten messages; returns how many were accepted.
fn send_batch(w: &mut Worker, headers: &str, url: &str, i: u64) -> Res<u64> {
    let entries: Vec<String> = (0..10)
        .map(|k| format!(r#"{{"Id":"m{k}","MessageBody":"{MESSAGE_PAD} {i}.{k}"}}"#))
        .collect();
    let body = format!(
        r#"{{"QueueUrl":"{url}","Entries":[{}]}}"#,
        entries.join(",")
    );
    let v = json_call(w, headers, &body, "SendMessageBatch")?;
    let ok = v["Successful"].as_array().map_or(0, Vec::len);
    if ok != 10 {
        return Err(format!("SendMessageBatch: {ok} of 10 accepted: {v}"));
    }
    Ok(10)
}

/// Adds `n` messages (rounded up to tens) to `url` within `time`; returns how many were added.
fn fill(server: &Server, url: &str, n: u64, time: Duration) -> Res<u64> {
    let headers = json_headers("sqs", "AmazonSQS.SendMessageBatch", "1.0");
    let op = |w: &mut Worker, i: u64| send_batch(w, &headers, url, i).map(|_| 1);
    let limit = Limit {
        time,
        ops: n.div_ceil(10),
    };
    Ok(load(server, 4, limit, &op)?.ops * 10)
}

/// ReceiveMessage (one message) then DeleteMessage with its receipt handle.
fn receive_delete_op(url: String) -> impl Op {
    let receive = json_headers("sqs", "AmazonSQS.ReceiveMessage", "1.0");
    let delete = json_headers("sqs", "AmazonSQS.DeleteMessage", "1.0");
    move |w: &mut Worker, _| {
        let body = format!(r#"{{"QueueUrl":"{url}","MaxNumberOfMessages":1}}"#);
        let v = json_call(w, &receive, &body, "ReceiveMessage")?;
        let m = &v["Messages"][0];
        let (Some(handle), Some(text)) = (m["ReceiptHandle"].as_str(), m["Body"].as_str()) else {
            return Err(format!("ReceiveMessage: no message (queue ran dry?): {v}"));
        };
        if !text.starts_with(MESSAGE_PAD) {
            return Err(format!("ReceiveMessage: unexpected body {text:?}"));
        }
        let body = format!(r#"{{"QueueUrl":"{url}","ReceiptHandle":"{handle}"}}"#);
        json_call(w, &delete, &body, "DeleteMessage")?;
        Ok(2)
    }
}

/// The SQS measurements; every run gets a new queue, so it starts empty (moto's SendMessage
/// slows with depth) or with exactly its stock of messages.
fn sqs_rows(servers: &Servers<'_>) -> Res<Vec<Row>> {
    let send = |s: &Server, clients: usize| {
        let url = create_queue(s, &format!("bench-send-{clients}"))?;
        Prepared::timed(s, send_op(url))
    };
    let mut rows = compare(servers, "SendMessage", &send)?;
    let receive = |s: &Server, clients: usize| {
        let url = create_queue(s, &format!("bench-receive-{clients}"))?;
        let stock = if s.name == "moto" {
            RECEIVE_STOCK.1
        } else {
            RECEIVE_STOCK.0
        };
        fill(s, &url, stock + 10, Duration::from_secs(600))?;
        Ok(Prepared {
            limit: Limit {
                ops: stock,
                ..Limit::timed(s)
            },
            op: Box::new(receive_delete_op(url)),
        })
    };
    rows.extend(compare(
        servers,
        "ReceiveMessage + DeleteMessage",
        &receive,
    )?);
    Ok(rows)
}

/// The Secrets Manager measurements.
fn secrets_rows(servers: &Servers<'_>) -> Res<Vec<Row>> {
    let create = json_headers("secretsmanager", "secretsmanager.CreateSecret", "1.1");
    let body =
        serde_json::json!({"Name": "bench-secret", "SecretString": SECRET_VALUE}).to_string();
    for s in [servers.podstack, servers.moto] {
        json_call(&mut Worker::new(s.addr), &create, &body, "CreateSecret")?;
    }
    let get = json_headers("secretsmanager", "secretsmanager.GetSecretValue", "1.1");
    let op = |w: &mut Worker, _| {
        let v = json_call(w, &get, r#"{"SecretId":"bench-secret"}"#, "GetSecretValue")?;
        if v["SecretString"].as_str() != Some(SECRET_VALUE) {
            return Err(format!("GetSecretValue: unexpected answer {v}"));
        }
        Ok(1)
    };
    compare(servers, "GetSecretValue", &|s, _| Prepared::timed(s, op))
}

/// SendMessage latency at one queue depth.
#[derive(Debug)]
struct DepthRow {
    depth: u64,
    podstack: Sample,
    /// The depth moto reached (it may fall short within its fill budget) and its sample.
    moto: Option<(u64, Sample)>,
}

/// SendMessage latency at each of `DEPTHS`, one client.
fn depth_rows(servers: &Servers<'_>) -> Res<Vec<DepthRow>> {
    let urls = (
        create_queue(servers.podstack, "bench-depth")?,
        create_queue(servers.moto, "bench-depth")?,
    );
    let mut have = (0u64, 0u64);
    let moto_deadline = Instant::now() + MOTO_FILL_BUDGET;
    let mut rows = Vec::new();
    for depth in DEPTHS {
        eprintln!("SendMessage at depth {depth}…");
        have.0 += fill(
            servers.podstack,
            &urls.0,
            depth.saturating_sub(have.0),
            Duration::from_secs(600),
        )?;
        let podstack = timed_sends(servers.podstack, &urls.0, DEPTH_SENDS.0)?;
        let moto = moto_at_depth(servers.moto, &urls.1, depth, &mut have.1, moto_deadline)?;
        rows.push(DepthRow {
            depth: have.0,
            podstack,
            moto,
        });
        have.0 += DEPTH_SENDS.0;
    }
    Ok(rows)
}

/// Fills moto's queue toward `depth` within what is left of its budget and times sends there;
/// `None` when it could not get closer than the previous depth.
fn moto_at_depth(
    moto: &Server,
    url: &str,
    depth: u64,
    have: &mut u64,
    deadline: Instant,
) -> Res<Option<(u64, Sample)>> {
    let left = deadline.saturating_duration_since(Instant::now());
    if depth > *have && left.is_zero() {
        return Ok(None);
    }
    let t = Instant::now();
    *have += fill(moto, url, depth.saturating_sub(*have), left)?;
    eprintln!(
        "moto: {} messages queued ({:.1} s of filling)",
        *have,
        t.elapsed().as_secs_f64()
    );
    let reached = *have;
    let sample = timed_sends(moto, url, DEPTH_SENDS.1)?;
    *have += sample.ops;
    Ok(Some((reached, sample)))
}

/// `n` SendMessage calls from one client.
fn timed_sends(server: &Server, url: &str, n: u64) -> Res<Sample> {
    load(server, 1, Limit::count(n), &send_op(url.to_owned()))
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

// ---------------------------------------------------------------------------------------------
// The floor of a 1 MiB body
// ---------------------------------------------------------------------------------------------

/// In-process CPU cost of the parts of a 1 MiB body, on this machine, one core.
#[derive(Debug)]
struct Floor {
    /// MD5 of 1 MiB (the ETag; moto computes it too), ms.
    md5_ms: f64,
    /// SHA-256 of 1 MiB (podstack's content address), ms.
    sha256_ms: f64,
    /// Copying 1 MiB, ms.
    copy_ms: f64,
    /// `podstore::put_blob` of a new 1 MiB body into a store on disk (hashing, chunking,
    /// compression, pack writes and their fsyncs; CPU time of this thread), ms.
    store_put_ms: f64,
    /// Reading such a blob back whole (`BlobReader::read_all`, after `flush`; from the page
    /// cache, not the store's block cache), ms.
    store_get_ms: f64,
}

/// Blobs written and read back by [`Floor::measure`].
const STORE_BLOBS: u64 = 128;

impl Floor {
    fn measure() -> Res<Self> {
        eprintln!("in-process costs of 1 MiB…");
        let data = random_bytes(1 << 20, 7);
        let (store_put_ms, store_get_ms) = store_costs(&data)?;
        let sha256 = || {
            use sha2::Digest as _;
            usize::from(sha2::Sha256::digest(&data)[0])
        };
        Ok(Self {
            md5_ms: thread_cpu_ms(256, &|| usize::from(md5::Md5::digest(&data)[0]))?,
            sha256_ms: thread_cpu_ms(256, &sha256)?,
            copy_ms: thread_cpu_ms(4096, &|| std::hint::black_box(data.clone()).len())?,
            store_put_ms,
            store_get_ms,
        })
    }
}

/// CPU ms of this thread per call of `f`, over `rounds` calls.
fn thread_cpu_ms(rounds: u32, f: &dyn Fn() -> usize) -> Res<f64> {
    let own = "/proc/thread-self/stat";
    let t0 = stat_ticks(own)?;
    let mut sink = 0usize;
    for _ in 0..rounds {
        sink = sink.wrapping_add(f());
    }
    std::hint::black_box(sink);
    let ticks = stat_ticks(own)? - t0;
    Ok(ticks as f64 * 1000.0 / clock_hz() / f64::from(rounds))
}
/// CPU ms per 1 MiB blob written into, then read back from, a fresh pod store.
fn store_costs(data: &[u8]) -> Res<(f64, f64)> {
    let err = |e: podstore::Error| format!("pod store: {e}");
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let store = podstore::Store::open(dir.path()).map_err(err)?;
    let own = "/proc/thread-self/stat";
    let hz = clock_hz();
    let ms = |ticks: u64| ticks as f64 * 1000.0 / hz / STORE_BLOBS as f64;
    let mut body = data.to_vec();
    let mut ids = Vec::new();
    let t0 = stat_ticks(own)?;
    for i in 0..STORE_BLOBS {
        stamp(&mut body, i);
        ids.push(podstore::put_blob(&store, &body).map_err(err)?.blob.id);
    }
    store.flush().map_err(err)?;
    let t1 = stat_ticks(own)?;
    for id in &ids {
        let back = podstore::BlobReader::open(&store, id)
            .and_then(podstore::BlobReader::read_all)
            .map_err(err)?;
        if back.len() != data.len() {
            return Err(format!("pod store: read {} bytes back", back.len()));
        }
    }
    let t2 = stat_ticks(own)?;
    Ok((ms(t1 - t0), ms(t2 - t1)))
}

/// Clock ticks per second (`getconf CLK_TCK`, else 100).
fn clock_hz() -> f64 {
    command_output("getconf", &["CLK_TCK"])
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// Where and when the run happened.
#[derive(Debug)]
struct Environment {
    date: String,
    cpu: String,
    mem: String,
    load_start: String,
    load_end: String,
    hz: f64,
    moto: String,
    python: String,
}

impl Environment {
    fn capture() -> Res<Self> {
        let hw = report::hardware();
        let hz = clock_hz();
        Ok(Self {
            date: command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default(),
            cpu: format!("{} × {}", hw.cores, hw.model),
            mem: format!("{:.0} GiB RAM", hw.mem_gib),
            load_start: report::load_average(),
            load_end: String::new(),
            hz,
            moto: command_output("python3", &["-c", "import moto; print(moto.__version__)"])
                .ok_or("python3 cannot import moto; install moto[server]")?,
            python: command_output("python3", &["--version"]).unwrap_or_default(),
        })
    }

    fn finish(mut self) -> Self {
        self.load_end = report::load_average();
        self
    }
}

/// The first line of a command's standard output.
fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

/// RSS readings: (podstack, moto) at three moments.
#[derive(Debug)]
struct Memory {
    idle: (Rss, Rss),
    after_s3: (Rss, Rss),
    end: (Rss, Rss),
}

/// Everything measured.
#[derive(Debug)]
struct Report {
    env: Environment,
    cold: ColdStarts,
    measured: Measured,
    floor: Floor,
}

/// Throughput target: podstack ≥ 10× moto.
const THROUGHPUT_TARGET: f64 = 10.0;
/// CPU target: podstack ≤ 1/30 of moto per request.
const CPU_TARGET: f64 = 30.0;
/// Cold start target.
const COLD_START_TARGET: Duration = Duration::from_millis(100);
/// Idle RSS target, KiB.
const IDLE_RSS_TARGET_KIB: u64 = 30 * 1024;
/// "Flat": p50 at the deepest queue within this factor of p50 at depth 0.
const FLAT_FACTOR: f64 = 1.5;

impl Report {
    fn markdown(&self) -> String {
        let mut md = String::new();
        self.s3_section(&mut md);
        md.push('\n');
        self.sqs_section(&mut md);
        md
    }

    fn s3_section(&self, md: &mut String) {
        let e = &self.env;
        let _ = writeln!(md, "## emulator gateway: S3 against moto\n");
        let _ = writeln!(
            md,
            "Command: `EMULATOR_BENCH_WRITE=1 {COMMAND}` (without the variable it only prints; source `emulator/benches/gateway.rs`; it runs `cargo build --release -p podstack` first).\n"
        );
        let _ = writeln!(
            md,
            "Run {}: {}, {}; load average {} at the start and {} at the end (the VM is shared, so wall-clock rates and latencies are noisy; CPU per request much less so, but for requests of tens of microseconds it still moves up to 3× with the machine's load, through the cost of context switches). moto {} on {} (`python3 -m moto.server`, Werkzeug, threaded). Clock ticks: {} Hz (`getconf CLK_TCK`).\n",
            e.date, e.cpu, e.mem, e.load_start, e.load_end, e.moto, e.python, e.hz
        );
        md.push_str(METHOD);
        md.push('\n');
        self.startup_table(md);
        md.push('\n');
        rows_table(md, &self.measured.s3, e.hz);
        md.push('\n');
        self.floor_table(md);
        md.push('\n');
        self.misses(md, &self.measured.s3);
    }

    fn sqs_section(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "## emulator gateway: SQS and Secrets Manager against moto\n"
        );
        let _ = writeln!(
            md,
            "Same run, same servers and client as the S3 section. SendMessage bodies are about 100 bytes; ReceiveMessage asks for one message and each received message is deleted right away (one operation = the two requests, so rates count pairs and CPU is per pair: the ratios are the same per request). Before each Receive + Delete run the queue is stocked with {} messages on podstack and {} on moto (moto's receive scans the queue, so the shallower queue favours moto).\n",
            RECEIVE_STOCK.0, RECEIVE_STOCK.1
        );
        rows_table(md, &self.measured.sqs, self.env.hz);
        md.push('\n');
        self.misses(md, &self.measured.sqs);
        md.push('\n');
        self.depth_table(md);
    }

    fn startup_table(&self, md: &mut String) {
        let c = &self.cold;
        let m = &self.measured.memory;
        let median = |v: &[Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
        let span = |v: &[Duration]| {
            format!(
                "{} (min {}, max {})",
                dur(median(v)),
                dur(v.first().copied().unwrap_or_default()),
                dur(v.last().copied().unwrap_or_default())
            )
        };
        md.push_str("| measurement | podstack | moto | target | met? |\n|---|---|---|---|---|\n");
        let _ = writeln!(
            md,
            "| cold start: spawn to first answer on `/_localstack/health`, median of {COLD_STARTS} (podstack: 200, fresh data dir; moto: any answer, it has no such endpoint) | {} | {} | ≤ 100 ms | {} |",
            span(&c.podstack),
            span(&c.moto),
            report::met(median(&c.podstack) <= COLD_START_TARGET)
        );
        let _ = writeln!(
            md,
            "| RSS idle, 0.5 s after ready | {} | {} | ≤ 30 MiB | {} |",
            mib(m.idle.0.now_kib),
            mib(m.idle.1.now_kib),
            report::met(m.idle.0.now_kib <= IDLE_RSS_TARGET_KIB)
        );
        let _ = writeln!(
            md,
            "| RSS after the S3 runs (peak so far) | {} ({}) | {} ({}) | — | — |",
            mib(m.after_s3.0.now_kib),
            mib(m.after_s3.0.peak_kib),
            mib(m.after_s3.1.now_kib),
            mib(m.after_s3.1.peak_kib)
        );
        let _ = writeln!(
            md,
            "| RSS at the end, queues full (peak) | {} ({}) | {} ({}) | — | — |",
            mib(m.end.0.now_kib),
            mib(m.end.0.peak_kib),
            mib(m.end.1.now_kib),
            mib(m.end.1.peak_kib)
        );
    }

    fn floor_table(&self, md: &mut String) {
        let f = &self.floor;
        let _ = writeln!(
            md,
            "Where the CPU of a 1 MiB body goes (CPU time of one thread of the bench process, after the run): MD5 {:.2} ms (the ETag, which moto computes too), SHA-256 {:.2} ms, a copy {:.3} ms; podstore's `put_blob` of a new 1 MiB body {:.2} ms (SHA-256 of the blob and again of its chunks, chunking, zstd, pack writes and the fsync of each full pack) and reading one back whole from a fresh store (page cache, not the store's block cache) {:.2} ms. So a podstack PUT of 1 MiB costs about MD5 + `put_blob` = {:.2} ms before any HTTP, while the body's bytes alone cost moto about as much.\n",
            f.md5_ms,
            f.sha256_ms,
            f.copy_ms,
            f.store_put_ms,
            f.store_get_ms,
            f.md5_ms + f.store_put_ms
        );
        let _ = writeln!(
            md,
            "The best any server could do on the 1 MiB rows, here: a std-only server in the bench process (a thread per connection) that does only what every S3 server must — for a PUT read the body and compute its MD5, for a GET write the bytes from memory — measured with the same client.\n"
        );
        md.push_str("| operation | clients | floor ops/s | floor CPU/op | podstack CPU/op | moto CPU/op | best possible CPU ÷ (moto ÷ floor; 30 needed) | best possible throughput × (floor ÷ moto; 10 needed) |\n|---|---|---|---|---|---|---|---|\n");
        let hz = self.env.hz;
        for fr in &self.measured.floor_s3 {
            let Some(r) = self
                .measured
                .s3
                .iter()
                .find(|r| r.op == fr.op && r.clients == fr.clients)
            else {
                continue;
            };
            let floor_cpu = fr.sample.cpu_ms_per_op(hz);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {:.1}× | {:.1}× |",
                fr.op,
                fr.clients,
                rate(fr.sample.rate()),
                cpu_ms(floor_cpu),
                cpu_ms(r.podstack.cpu_ms_per_op(hz)),
                cpu_ms(r.moto.cpu_ms_per_op(hz)),
                r.moto.cpu_ms_per_op(hz) / floor_cpu,
                fr.sample.rate() / r.moto.rate()
            );
        }
    }

    /// Lists the rows that miss a target, with the best any server could do where the floor
    /// server measured it.
    fn misses(&self, md: &mut String, rows: &[Row]) {
        let hz = self.env.hz;
        let mut lines = Vec::new();
        let mut small_miss = false;
        for r in rows {
            let speed = r.podstack.rate() / r.moto.rate();
            let cpu = r.moto.cpu_ms_per_op(hz) / r.podstack.cpu_ms_per_op(hz);
            if speed >= THROUGHPUT_TARGET && cpu >= CPU_TARGET {
                continue;
            }
            let floor = self
                .measured
                .floor_s3
                .iter()
                .find(|f| f.op == r.op && f.clients == r.clients);
            small_miss |= floor.is_none();
            let best = floor.map_or_else(String::new, |f| {
                format!(
                    " (the floor server: {:.1}× and {:.1}×)",
                    f.sample.rate() / r.moto.rate(),
                    r.moto.cpu_ms_per_op(hz) / f.sample.cpu_ms_per_op(hz)
                )
            });
            let noun = if r.clients == 1 { "client" } else { "clients" };
            lines.push(format!(
                "{} with {} {noun}: throughput {speed:.1}×, CPU {cpu:.1}×{best}",
                r.op, r.clients
            ));
        }
        if lines.is_empty() {
            md.push_str("Every operation meets both targets.\n");
            return;
        }
        let _ = writeln!(
            md,
            "Missed targets: {}. Where the floor server stays below 10× or 30×, no server can meet that target with this client on this machine.{}",
            lines.join("; "),
            if small_miss { SMALL_MISS } else { "" }
        );
    }

    fn depth_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "SendMessage latency by queue depth, one client: the queue is filled with SendMessageBatch (10 per request, 4 clients) and then {} sends are timed on podstack, {} on moto (the sends add to the depth). moto may spend at most {} s filling in all.\n",
            DEPTH_SENDS.0,
            DEPTH_SENDS.1,
            MOTO_FILL_BUDGET.as_secs()
        );
        md.push_str("| queue depth | podstack p50 / p99 | podstack CPU/send | moto depth reached | moto p50 / p99 | moto CPU/send |\n|---|---|---|---|---|---|\n");
        let hz = self.env.hz;
        for r in &self.measured.depths {
            let (reached, lat, cpu) = match &r.moto {
                Some((d, s)) => (d.to_string(), p50_p99(s), cpu_ms(s.cpu_ms_per_op(hz))),
                None => ("(fill budget spent)".into(), "—".into(), "—".into()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {reached} | {lat} | {cpu} |",
                r.depth,
                p50_p99(&r.podstack),
                cpu_ms(r.podstack.cpu_ms_per_op(hz))
            );
        }
        if let (Some(first), Some(last)) =
            (self.measured.depths.first(), self.measured.depths.last())
        {
            let ratio = last.podstack.pct(0.5) as f64 / first.podstack.pct(0.5).max(1) as f64;
            let _ = writeln!(
                md,
                "\npodstack p50 at depth {} ÷ p50 at depth {}: {ratio:.2} (flat means ≤ {FLAT_FACTOR}): {}.",
                last.depth,
                first.depth,
                report::met(ratio <= FLAT_FACTOR)
            );
        }
    }
}

/// How the measurements are made (shared by both sections).
const METHOD: &str = "Both servers run at once on free loopback ports; the load generator is the bench itself (Rust, one HTTP/1.1 connection per client thread, kept alive by podstack; moto's Werkzeug closes every connection, so its clients reconnect per request, as boto3 must). Client threads share the machine's two cores with the server, so rates and latencies include the client's own cost; the server's CPU per request (utime + stime from `/proc/<pid>/stat`, all threads, before and after each run, ÷ operations) does not. Each measurement runs 2 s against podstack and 3 s against moto; every response is checked (status, ETag, bytes, key count, MD5 of message bodies, secret value) and any failure ends the run. PutObject cycles over 1,000 keys per size with a new body every time (pseudo-random bytes, re-stamped every 4 KiB, so podstack's content addressing finds nothing to deduplicate); GetObject reads 16 objects per size round-robin; ListObjectsV2 returns all 1,000 keys in one page. Ratios: throughput podstack ÷ moto (target ≥ 10×), CPU moto ÷ podstack (target ≥ 30×).\n";

/// Why a small request can miss with one client (added when one does).
const SMALL_MISS: &str = " A small request with one client costs podstack a few tens of microseconds of CPU, most of it the async runtime waking and parking threads (and, for PutObject, `block_in_place` around the store write: about 4.5 of its 6.5 context switches per request); that cost moves with the machine's state, so these ratios move between runs.";

/// A table of measured rows.
fn rows_table(md: &mut String, rows: &[Row], hz: f64) {
    md.push_str("| operation | clients | podstack ops/s | moto ops/s | throughput × (≥ 10) | podstack p50 / p99 | moto p50 / p99 | podstack CPU/op | moto CPU/op | CPU ÷ (≥ 30) | met? |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let (p, m) = (&r.podstack, &r.moto);
        let speed = p.rate() / m.rate();
        let cpu = m.cpu_ms_per_op(hz) / p.cpu_ms_per_op(hz);
        let bound = if p.cpu_ticks == 0 { "≥ " } else { "" };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {speed:.1}× | {} | {} | {}{} | {} | {bound}{cpu:.1}× | {} |",
            r.op,
            r.clients,
            rate(p.rate()),
            rate(m.rate()),
            p50_p99(p),
            p50_p99(m),
            if p.cpu_ticks == 0 { "≤ " } else { "" },
            cpu_ms(p.cpu_ms_per_op(hz)),
            cpu_ms(m.cpu_ms_per_op(hz)),
            met(speed >= THROUGHPUT_TARGET, cpu >= CPU_TARGET)
        );
    }
}

/// "yes", or which target was missed.
fn met(speed: bool, cpu: bool) -> &'static str {
    match (speed, cpu) {
        (true, true) => "yes",
        (false, true) => "**no** (throughput)",
        (true, false) => "**no** (CPU)",
        (false, false) => "**no** (both)",
    }
}

fn p50_p99(s: &Sample) -> String {
    format!("{} / {}", ns(s.pct(0.5)), ns(s.pct(0.99)))
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn cpu_ms(ms: f64) -> String {
    if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

fn ns(n: u64) -> String {
    dur(Duration::from_nanos(n))
}

fn dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Replaces the `## emulator gateway …` sections of `docs/performance.md` (every other
/// section, the podstore one included, is kept as it is).
fn write_docs(md: &str) -> Res<()> {
    let path = workspace_root().join("docs").join("performance.md");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut kept = String::new();
    let mut ours = false;
    for line in text.lines() {
        if line.starts_with("## ") {
            ours = line.starts_with("## emulator gateway");
        }
        if !ours {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let out = format!("{}\n\n{}", kept.trim_end(), md.trim_end());
    fs::write(&path, out + "\n").map_err(|e| format!("{}: {e}", path.display()))
}
