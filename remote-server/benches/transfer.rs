//! `cargo bench -p remote-server --bench transfer`: push and pull of the ~1 GiB synthetic pod
//! of the podstore bench over loopback, against `podstack-remote serve` on both storage
//! backends (a directory, and S3 on podstack's own emulator).
//!
//! The pod is built straight into a local store (no files): version 1 is the synthetic state
//! of `podstore/benches/support/synthetic.rs`, version 2 the same after its "1% change". Then,
//! per backend, on fresh server storage: the first push (version 1), the first pull into an
//! empty second store, the push of version 2 and the pull of version 2 into that second store,
//! with `remote_server::client::HttpRemote` and `remote_server::sync::{push, pull}` (default
//! `Options`). The same four runs through a `Repo` used in-process (no HTTP, no server) and
//! each side's building blocks alone, one thread, show where the time goes.
//!
//! The servers are release binaries, built first:
//! `cargo build --release -p remote-server -p podstack`. Data lives under
//! `target/transfer-bench` and is removed at the end; every process started is stopped by its
//! PID, also on failure.
//!
//! Environment:
//! - `TRANSFER_BENCH_WRITE=1`: also write the `## remote: push and pull` section of
//!   `docs/performance.md`.
//! - `TRANSFER_BENCH_KEEP=1`: keep `target/transfer-bench` afterwards.

use std::collections::HashMap;
use std::error::Error;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use podstore::transfer::{self, StreamLimits, StreamWriter};
use podstore::{
    Commit, CommitId, CommitOptions, Entry, Expect, ObjectId, ObjectKind, Objects, PodRef,
    StatePath, Store, StoredObject, TreeId, put_blob, tree,
};
use remote_server::client::{HttpRemote, Remote, RemoteResult};
use remote_server::http::{self, Body, Endpoint, Timeouts};
use remote_server::protocol::{
    CreateVersion, ObjectListing, PackReceipt, PodEntry, RemoteVersion, VersionList, WhoAmI,
};
use remote_server::repo::Repo;
use remote_server::storage::DirStorage;
use remote_server::sync::{Options, Quiet, pull, push};

#[path = "../../podstore/benches/support/report.rs"]
mod report;
// Shared with podstore's `store` bench, which also writes the state as files.
#[allow(dead_code)]
#[path = "../../podstore/benches/support/synthetic.rs"]
mod synthetic;

use synthetic::{CHANGED_SMALL, LARGE_OBJECTS, Object, SMALL_OBJECTS, body, plan, vocabulary};

type Res<T> = Result<T, Box<dyn Error>>;

/// The command that produces the published numbers.
const COMMAND: &str = "cargo build --release -p remote-server -p podstack && TRANSFER_BENCH_WRITE=1 cargo bench -p remote-server --bench transfer";
/// The section of `docs/performance.md`.
const SECTION: &str = "## remote: push and pull";
const POD: &str = "bench";
const BUCKET: &str = "podstack-bench";
/// Longest wait for a server to answer.
const SERVER_WAIT: Duration = Duration::from_secs(60);
/// A first push or pull moves at least this many MB (10^6 bytes) of the pod per second.
const TARGET_MBPS: f64 = 300.0;
/// A push or pull of the 1% change takes less than this many seconds.
const TARGET_CHANGE_SECS: f64 = 1.0;
/// Logical bytes per batch of the building-block probe (as `Options::default`).
const PROBE_BATCH: u64 = 32 << 20;
/// Variables of the caller's environment that would change what the servers do.
const CLEARED_ENV: [&str; 20] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "PODSTACK_REMOTE_STORAGE",
    "PODSTACK_REMOTE_LISTEN",
    "PERSISTENCE",
    "SNAPSHOT_SAVE_STRATEGY",
    "SNAPSHOT_LOAD_STRATEGY",
    "AUTO_LOAD_POD",
    "GATEWAY_LISTEN",
    "PODSTACK_HOME",
    "PODSTACK_ENDPOINT",
    "PODSTACK_CLOCK_CONTROL",
];
/// The servers' AWS environment for the S3 backend.
const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transfer bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Checks the binaries, measures, removes the data, prints and maybe writes the section.
fn run() -> Res<()> {
    let root = workspace_root();
    let target = target_dir(&root);
    let bins = Bins {
        remote: target.join("release/podstack-remote"),
        podstack: target.join("release/podstack"),
    };
    for (bin, package) in [
        (&bins.remote, "remote-server"),
        (&bins.podstack, "podstack"),
    ] {
        if !bin.is_file() {
            return Err(format!(
                "{} is missing; build it first: cargo build --release -p {package}",
                bin.display()
            )
            .into());
        }
    }
    let base = target.join("transfer-bench");
    if base.exists() {
        fs::remove_dir_all(&base)?;
    }
    fs::create_dir_all(&base)?;
    println!("transfer bench: working in {}", base.display());
    let result = measure(&bins, &base);
    if env_flag("TRANSFER_BENCH_KEEP") {
        println!("kept {}", base.display());
    } else if let Err(e) = fs::remove_dir_all(&base) {
        eprintln!("could not remove {}: {e}", base.display());
    }
    let section = result?.markdown();
    println!("\n{section}");
    if env_flag("TRANSFER_BENCH_WRITE") {
        let doc = root.join("docs").join("performance.md");
        report::write_section(&doc, SECTION, &section)?;
        println!("wrote the section {SECTION:?} of {}", doc.display());
    }
    Ok(())
}

/// The release binaries.
#[derive(Debug)]
struct Bins {
    remote: PathBuf,
    podstack: PathBuf,
}

/// Every measurement, in order.
fn measure(bins: &Bins, base: &Path) -> Res<Report> {
    let mut report = Report {
        machine: Machine::probe(),
        ..Report::default()
    };
    let t = Instant::now();
    let local = build_local(&base.join("local"))?;
    println!(
        "built the pod in {:.1} s: version 1 {} objects, {} bytes; version 2 changes {} objects",
        t.elapsed().as_secs_f64(),
        local.objects_v1,
        local.bytes_v1,
        local.changed_objects
    );

    let dir_storage = base.join("dir-storage");
    fs::create_dir_all(&dir_storage)?;
    let storage_arg = path_str(&dir_storage)?.to_owned();
    let rounds = [
        directory_round(bins, base, &local, &storage_arg)?,
        s3_round(bins, base, &local)?,
        in_process_round(base, &local)?,
    ];
    report.ops = rounds.into_iter().flatten().collect();

    report.probe = probe(&local, &base.join("probe"))?;
    println!("building blocks: {:?}", report.probe);
    report.local = local.summary();
    report.machine.load_end = report::load_average();
    Ok(report)
}

/// The four runs against `podstack-remote serve` on a directory.
fn directory_round(bins: &Bins, base: &Path, local: &Local, storage: &str) -> Res<Vec<Op>> {
    let storage_args = ["--storage", storage];
    let token = create_token(bins, &storage_args, &[])?;
    let mut server = Proc::serve(bins, base, "remote-dir", &storage_args, &[])?;
    let remote = HttpRemote::new(&server.url(), Some(token))?;
    let ops = four_runs(
        "directory",
        local,
        &remote,
        &[&server],
        &base.join("pulled-dir"),
    );
    server.stop()?;
    fs::remove_dir_all(storage)?;
    ops
}

/// The four runs against `podstack-remote serve` on S3 (podstack's emulator).
fn s3_round(bins: &Bins, base: &Path, local: &Local) -> Res<Vec<Op>> {
    let mut s3 = Proc::emulator(bins, base)?;
    let endpoint = s3.url();
    create_bucket(&endpoint)?;
    let storage = format!("s3://{BUCKET}/remote");
    let storage_args = ["--storage", storage.as_str(), "--s3-endpoint", &endpoint];
    let token = create_token(bins, &storage_args, &AWS_ENV)?;
    let mut server = Proc::serve(bins, base, "remote-s3", &storage_args, &AWS_ENV)?;
    let remote = HttpRemote::new(&server.url(), Some(token))?;
    let ops = four_runs(
        "S3",
        local,
        &remote,
        &[&server, &s3],
        &base.join("pulled-s3"),
    );
    server.stop()?;
    s3.stop()?;
    ops
}

/// The four runs through a `Repo` on a directory, in this process: no HTTP, no server.
fn in_process_round(base: &Path, local: &Local) -> Res<Vec<Op>> {
    let dir = base.join("in-process-storage");
    let repo = Repo::open(Box::new(DirStorage::open(&dir)?))?;
    let ops = four_runs(
        "in-process `Repo`, directory",
        local,
        &repo,
        &[],
        &base.join("pulled-in-process"),
    );
    drop(repo);
    fs::remove_dir_all(&dir)?;
    ops
}

/// First push, first pull into an empty store, push and pull of the 1% change.
fn four_runs(
    backend: &'static str,
    local: &Local,
    remote: &dyn Remote,
    procs: &[&Proc],
    pulled: &Path,
) -> Res<Vec<Op>> {
    let opts = Options::default();
    let other = Store::open(pulled)?;
    let v1 = PodRef::parse(&format!("{POD}:1"))?;
    let v2 = PodRef::parse(&format!("{POD}:2"))?;

    let run = Run {
        backend,
        remote,
        procs,
    };
    let first_push = run.timed("first push (version 1)", local.bytes_v1, &|m| {
        let s = push(&local.store, m, &v1, opts, &Quiet)?;
        if s.versions != [1] {
            return Err(format!("the first push created versions {:?}", s.versions).into());
        }
        Ok(Moved {
            objects: s.objects_sent,
            raw: Some(s.bytes_sent),
            wire: s.wire_bytes,
        })
    })?;
    let first_pull = run.timed("first pull (version 1)", local.bytes_v1, &|m| {
        let s = pull(&other, m, &v1, None, opts, &Quiet)?;
        expect_version(&other, &v1, local.v1)?;
        Ok(Moved {
            objects: s.objects_received,
            raw: None,
            wire: s.bytes_received,
        })
    })?;
    let change_push = run.timed("push of the 1% change (version 2)", local.bytes_v2, &|m| {
        let s = push(&local.store, m, &v2, opts, &Quiet)?;
        if s.versions != [2] {
            return Err(format!("the second push created versions {:?}", s.versions).into());
        }
        Ok(Moved {
            objects: s.objects_sent,
            raw: Some(s.bytes_sent),
            wire: s.wire_bytes,
        })
    })?;
    let change_pull = run.timed("pull of the 1% change (version 2)", local.bytes_v2, &|m| {
        let s = pull(&other, m, &v2, None, opts, &Quiet)?;
        expect_version(&other, &v2, local.v2)?;
        Ok(Moved {
            objects: s.objects_received,
            raw: None,
            wire: s.bytes_received,
        })
    })?;
    let mut ops = vec![first_push, first_pull, change_push, change_pull];
    // A pull receives exactly what the push before it sent (fresh storage, empty store):
    // the same logical bytes.
    for (push_at, pull_at) in [(0, 1), (2, 3)] {
        if ops[pull_at].moved.objects == ops[push_at].moved.objects {
            ops[pull_at].moved.raw = ops[push_at].moved.raw;
        }
    }
    drop(other);
    fs::remove_dir_all(pulled)?;
    Ok(ops)
}

fn expect_version(store: &Store, r: &PodRef, commit: CommitId) -> Res<()> {
    let (_, got) = store.resolve(r)?;
    if got != commit {
        return Err(format!("{r} resolves to {got}, expected {commit}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The local pod.

/// The local store holding the pod's two versions.
#[derive(Debug)]
struct Local {
    store: Store,
    v1: CommitId,
    v2: CommitId,
    /// Logical bytes of the objects' bodies in each version.
    bytes_v1: u64,
    bytes_v2: u64,
    objects_v1: usize,
    changed_objects: usize,
    changed_bytes: u64,
    build_secs: f64,
}

impl Local {
    fn summary(&self) -> LocalSummary {
        LocalSummary {
            objects_v1: self.objects_v1,
            bytes_v1: self.bytes_v1,
            bytes_v2: self.bytes_v2,
            changed_objects: self.changed_objects,
            changed_bytes: self.changed_bytes,
            build_secs: self.build_secs,
        }
    }
}

/// Stores an object's body and document; returns its tree entry.
fn ingest(store: &Store, obj: &Object, data: &[u8]) -> Res<(StatePath, Entry)> {
    let written = put_blob(store, data)?;
    let doc = obj.document(&written.blob)?;
    Ok((obj.state_path()?, Entry::store_doc(store, &doc)?))
}

fn commit_version(
    store: &Store,
    root: TreeId,
    parents: Vec<CommitId>,
    message: &str,
    expect: Expect,
) -> Res<CommitId> {
    let opts = CommitOptions {
        parents,
        message: message.into(),
        author: "transfer-bench".into(),
        ..CommitOptions::default()
    };
    let id = Commit::new(store, root, opts)?.store(store)?;
    store.flush()?;
    store.create_version(POD, id, expect)?;
    Ok(id)
}

/// Builds version 1 (the synthetic state) and version 2 (after the 1% change) in a new store
/// at `dir`, the way the emulator stores bodies and documents.
fn build_local(dir: &Path) -> Res<Local> {
    let start = Instant::now();
    let store = Store::open(dir)?;
    let vocab = vocabulary();
    let mut objects = plan();
    let mut sizes = Vec::with_capacity(objects.len());
    let mut entries = Vec::with_capacity(objects.len());
    for obj in &objects {
        let data = body(obj, &vocab);
        sizes.push(data.len() as u64);
        entries.push(ingest(&store, obj, &data)?);
    }
    let root1 = tree::build(&store, entries)?;
    let v1 = commit_version(
        &store,
        root1,
        Vec::new(),
        "synthetic state",
        Expect::Latest(None),
    )?;
    let bytes_v1 = sizes.iter().sum();

    let change = synthetic::change(&mut objects, &vocab);
    let mut changes = Vec::new();
    let mut changed_bytes = 0;
    for i in change.changed() {
        let data = change.body(&objects, &vocab, i);
        sizes[i] = data.len() as u64;
        changed_bytes += data.len() as u64;
        let (path, entry) = ingest(&store, &objects[i], &data)?;
        changes.push((path, Some(entry)));
    }
    let changed_objects = changes.len();
    let root2 = tree::update(&store, Some(root1), changes)?;
    let v2 = commit_version(
        &store,
        root2,
        vec![v1],
        "1% change",
        Expect::Latest(Some(1)),
    )?;
    Ok(Local {
        store,
        v1,
        v2,
        bytes_v1,
        bytes_v2: sizes.iter().sum(),
        objects_v1: objects.len(),
        changed_objects,
        changed_bytes,
        build_secs: start.elapsed().as_secs_f64(),
    })
}

// ---------------------------------------------------------------------------------------------
// Timed runs.

/// What a push or pull moved.
#[derive(Clone, Copy, Debug, Default)]
struct Moved {
    objects: u64,
    /// Logical bytes of the objects (pulls: those of the push before).
    raw: Option<u64>,
    /// Bytes of object streams on the wire.
    wire: u64,
}

/// One timed push or pull.
#[derive(Clone, Debug)]
struct Op {
    name: &'static str,
    backend: &'static str,
    secs: f64,
    /// Logical bytes of the pod version moved.
    pod_bytes: u64,
    moved: Moved,
    /// CPU seconds of this process, then of each server process (`podstack-remote`, the S3
    /// emulator) during the run.
    cpu: Vec<f64>,
    timeline: Timeline,
}

/// Where the wall-clock time of a run went, from the remote calls it made.
#[derive(Clone, Debug, Default)]
struct Timeline {
    /// From the start to the first upload or download call: local walks, version and
    /// `missing`/`listing` calls.
    before: f64,
    /// From the first upload or download call's start to the last one's end.
    packs: f64,
    /// The rest: creating the version (push), the completeness check and the version record
    /// (pull).
    after: f64,
    /// Uploads and downloads: calls, and seconds spent in them summed over the threads.
    pack_calls: usize,
    pack_call_secs: f64,
    /// The other remote calls.
    other_calls: usize,
    other_call_secs: f64,
}

/// The runs of one backend.
struct Run<'a> {
    backend: &'static str,
    remote: &'a dyn Remote,
    procs: &'a [&'a Proc],
}

impl Run<'_> {
    /// Runs `f` once (after `sync`), timing it and its remote calls.
    fn timed(
        &self,
        name: &'static str,
        pod_bytes: u64,
        f: &dyn Fn(&Metered<'_>) -> Res<Moved>,
    ) -> Res<Op> {
        settle()?;
        let cpu_before = self.cpu()?;
        let metered = Metered::new(self.remote);
        let start = Instant::now();
        let moved = f(&metered)?;
        let secs = start.elapsed().as_secs_f64();
        let cpu_after = self.cpu()?;
        let op = Op {
            name,
            backend: self.backend,
            secs,
            pod_bytes,
            moved,
            cpu: cpu_after
                .iter()
                .zip(&cpu_before)
                .map(|(a, b)| a - b)
                .collect(),
            timeline: metered.timeline(secs)?,
        };
        println!(
            "{name}, {}: {secs:.2} s, {:.0} MB/s of the pod, {} objects, {} on the wire; CPU s {:?}; {:?}",
            self.backend,
            op.pod_mbps(),
            moved.objects,
            mib(moved.wire),
            op.cpu,
            op.timeline
        );
        Ok(op)
    }

    fn cpu(&self) -> Res<Vec<f64>> {
        let mut out = vec![cpu_secs("self")?];
        for p in self.procs {
            out.push(p.cpu()?);
        }
        Ok(out)
    }
}

impl Op {
    fn pod_mbps(&self) -> f64 {
        self.pod_bytes as f64 / 1e6 / self.secs.max(1e-9)
    }

    fn is_first(&self) -> bool {
        self.name.starts_with("first")
    }

    /// The target, and whether it was met (`None`: no target for this backend).
    fn target(&self) -> Option<(String, bool)> {
        if self.backend.starts_with("in-process") {
            return None;
        }
        Some(if self.is_first() {
            (
                format!("≥ {TARGET_MBPS:.0} MB/s"),
                self.pod_mbps() >= TARGET_MBPS,
            )
        } else {
            (
                format!("< {TARGET_CHANGE_SECS:.0} s"),
                self.secs < TARGET_CHANGE_SECS,
            )
        })
    }
}

/// Which remote call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallKind {
    Pack,
    Other,
}

/// One remote call, in seconds since the run started.
#[derive(Clone, Copy, Debug)]
struct Call {
    kind: CallKind,
    start: f64,
    end: f64,
}

/// A remote that records when each call started and ended.
struct Metered<'a> {
    inner: &'a dyn Remote,
    epoch: Instant,
    calls: Mutex<Vec<Call>>,
}

impl<'a> Metered<'a> {
    fn new(inner: &'a dyn Remote) -> Self {
        Self {
            inner,
            epoch: Instant::now(),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn call<T>(&self, kind: CallKind, f: impl FnOnce() -> RemoteResult<T>) -> RemoteResult<T> {
        let start = self.epoch.elapsed().as_secs_f64();
        let out = f();
        let end = self.epoch.elapsed().as_secs_f64();
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call { kind, start, end });
        }
        out
    }

    /// The run's timeline, `secs` long.
    fn timeline(self, secs: f64) -> Res<Timeline> {
        let calls = self
            .calls
            .into_inner()
            .map_err(|_| "a remote call panicked")?;
        let mut t = Timeline::default();
        let packs: Vec<&Call> = calls.iter().filter(|c| c.kind == CallKind::Pack).collect();
        let first = packs.iter().map(|c| c.start).fold(f64::INFINITY, f64::min);
        let last = packs.iter().map(|c| c.end).fold(0.0, f64::max);
        if packs.is_empty() {
            t.before = secs;
        } else {
            t.before = first;
            t.packs = last - first;
            t.after = (secs - last).max(0.0);
        }
        for c in &calls {
            match c.kind {
                CallKind::Pack => {
                    t.pack_calls += 1;
                    t.pack_call_secs += c.end - c.start;
                }
                CallKind::Other => {
                    t.other_calls += 1;
                    t.other_call_secs += c.end - c.start;
                }
            }
        }
        Ok(t)
    }
}

impl Remote for Metered<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn whoami(&self) -> RemoteResult<WhoAmI> {
        self.call(CallKind::Other, || self.inner.whoami())
    }

    fn pods(&self) -> RemoteResult<Vec<PodEntry>> {
        self.call(CallKind::Other, || self.inner.pods())
    }

    fn versions(&self, name: &str) -> RemoteResult<VersionList> {
        self.call(CallKind::Other, || self.inner.versions(name))
    }

    fn missing(&self, ids: &[ObjectId]) -> RemoteResult<Vec<ObjectId>> {
        self.call(CallKind::Other, || self.inner.missing(ids))
    }

    fn upload(&self, pack: &[u8]) -> RemoteResult<PackReceipt> {
        self.call(CallKind::Pack, || self.inner.upload(pack))
    }

    fn listing(&self, name: &str, version: u64) -> RemoteResult<ObjectListing> {
        self.call(CallKind::Other, || self.inner.listing(name, version))
    }

    fn download(&self, ids: &[ObjectId]) -> RemoteResult<Vec<u8>> {
        self.call(CallKind::Pack, || self.inner.download(ids))
    }

    fn create_version(&self, name: &str, req: &CreateVersion) -> RemoteResult<RemoteVersion> {
        self.call(CallKind::Other, || self.inner.create_version(name, req))
    }

    fn delete(&self, name: &str, version: Option<u64>) -> RemoteResult<()> {
        self.call(CallKind::Other, || self.inner.delete(name, version))
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks.

/// Each side's work for the first push and pull alone, one thread, in batches of
/// [`PROBE_BATCH`] logical bytes in the order a push sends them.
#[derive(Clone, Debug, Default)]
struct Probe {
    objects: usize,
    raw_bytes: u64,
    stream_bytes: u64,
    /// `transfer::reachable` over version 1 in the local store.
    walk: f64,
    /// The same walk with `Objects::kind_of` answered from a map of every object's kind.
    walk_indexed: f64,
    /// Objects sent one by one rather than in a whole block.
    rest_objects: usize,
    /// `Store::whole_blocks` over version 1 (push, client).
    plan: f64,
    /// Reading each batch's stored blocks, and the other objects out of their blocks (push,
    /// client).
    read: f64,
    /// `StreamWriter` over each batch: block frames, and zstd -1 of the other objects (push,
    /// client).
    compress: f64,
    /// `Repo::receive_pack` on a directory: decompress, verify, write pack and index (push,
    /// server).
    receive: f64,
    /// `Repo::write_objects` of each batch from the directory (pull, server).
    serve: f64,
    /// `transfer::read_stream` into a staging area at zstd 1, and its commit (pull, client).
    store: f64,
}

/// The local store with `kind_of` answered from a map of every object's kind, as a
/// `Store::kind_of` reading its index would (`Store` has none: the trait's default reads the
/// whole object to learn its kind).
struct Kinds<'a> {
    store: &'a Store,
    kinds: HashMap<ObjectId, ObjectKind>,
}

impl Objects for Kinds<'_> {
    fn get_raw(&self, id: &ObjectId) -> podstore::Result<Option<StoredObject>> {
        self.store.get_raw(id)
    }

    fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> podstore::Result<bool> {
        self.store.put_raw(kind, id, bytes)
    }

    fn contains(&self, id: &ObjectId) -> podstore::Result<bool> {
        self.store.contains(id)
    }

    fn kind_of(&self, id: &ObjectId) -> podstore::Result<Option<ObjectKind>> {
        Ok(self.kinds.get(id).copied())
    }
}

/// Times the building blocks over version 1; uses and removes `dir`.
fn probe(local: &Local, dir: &Path) -> Res<Probe> {
    settle()?;
    let store = &local.store;
    let mut p = Probe::default();
    let t = Instant::now();
    let reach = transfer::reachable(store, &[local.v1], &Default::default(), false)?;
    p.walk = t.elapsed().as_secs_f64();
    p.objects = reach.objects.len();
    let kinds = Kinds {
        store,
        kinds: store.list_objects()?.into_iter().collect(),
    };
    let t = Instant::now();
    let again = transfer::reachable(&kinds, &[local.v1], &Default::default(), false)?;
    p.walk_indexed = t.elapsed().as_secs_f64();
    if again.objects != reach.objects {
        return Err("the walk with kinds from the index found other objects".into());
    }

    // As a push plans them: the store's whole blocks in batches of 32 MiB stored, then the
    // other objects (chunk lists, objects of shared blocks) in one more batch.
    let ids: Vec<ObjectId> = reach.objects.iter().map(|(id, _)| *id).collect();
    let t = Instant::now();
    let blocks = store.whole_blocks(&ids)?;
    p.plan = t.elapsed().as_secs_f64();
    let mut batches: Vec<(Vec<podstore::WholeBlock>, Vec<ObjectId>)> = Vec::new();
    let mut size = PROBE_BATCH;
    for b in blocks {
        if size >= PROBE_BATCH {
            batches.push((Vec::new(), Vec::new()));
            size = 0;
        }
        size += u64::from(b.stored_len());
        if let Some(last) = batches.last_mut() {
            last.0.push(b);
        }
    }
    let in_blocks: std::collections::HashSet<ObjectId> = batches
        .iter()
        .flat_map(|(bs, _)| bs.iter().flat_map(|b| b.members.iter().map(|m| m.id)))
        .collect();
    let rest: Vec<ObjectId> = ids
        .iter()
        .filter(|id| !in_blocks.contains(id))
        .copied()
        .collect();
    p.rest_objects = rest.len();
    batches.push((Vec::new(), rest));

    let repo = Repo::open(Box::new(DirStorage::open(dir.join("repo"))?))?;
    let pulled = Store::open(dir.join("pulled"))?;
    for (blocks, rest) in &batches {
        let t = Instant::now();
        let mut stored = Vec::with_capacity(blocks.len());
        for b in blocks {
            stored.push(store.read_stored_block(b)?);
        }
        let mut read: HashMap<ObjectId, (ObjectKind, Vec<u8>)> = HashMap::new();
        store.read_in_storage_order(rest, &mut |id, kind, bytes| {
            read.insert(*id, (kind, bytes.to_vec()));
            Ok(())
        })?;
        p.read += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut w = StreamWriter::new(Vec::new())?;
        for (b, bytes) in blocks.iter().zip(&stored) {
            w.block(&b.members, b.codec(), b.raw_len(), bytes)?;
        }
        for id in rest {
            let (kind, bytes) = read.get(id).ok_or(podstore::Error::MissingObject(*id))?;
            w.object(*kind, id, bytes)?;
        }
        let (stats, pack) = w.finish()?;
        p.compress += t.elapsed().as_secs_f64();
        p.raw_bytes += stats.raw_bytes;
        p.stream_bytes += pack.len() as u64;
        drop(read);
        drop(stored);
        let ids: Vec<ObjectId> = blocks
            .iter()
            .flat_map(|b| b.members.iter().map(|m| m.id))
            .chain(rest.iter().copied())
            .collect();

        let t = Instant::now();
        repo.receive_pack(&pack)?;
        p.receive += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut served = Vec::new();
        repo.write_objects(&ids, &mut served)?;
        p.serve += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let staging =
            pulled.stage_with_levels(podstore::Levels::uniform(Options::default().pull_level));
        let limits = StreamLimits {
            max_objects: ids.len() as u64,
            max_raw_bytes: 4 << 30,
        };
        transfer::read_stream(&served[..], &staging, limits)?;
        staging.commit()?;
        p.store += t.elapsed().as_secs_f64();
    }
    drop(repo);
    drop(pulled);
    fs::remove_dir_all(dir)?;
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Server processes.

/// A server process started by the bench; stopped by its PID (killed), also when dropped.
#[derive(Debug)]
struct Proc {
    what: &'static str,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` (which must listen on `addr`) with its output in `log`.
    fn spawn(
        what: &'static str,
        mut cmd: Command,
        env: &[(&str, &str)],
        addr: SocketAddr,
        log: PathBuf,
    ) -> Res<Self> {
        let out = File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for k in CLEARED_ENV {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().map_err(|e| format!("start {what}: {e}"))?;
        Ok(Self {
            what,
            child,
            addr,
            log,
        })
    }

    /// `podstack-remote serve` on a free port.
    fn serve(
        bins: &Bins,
        base: &Path,
        name: &str,
        storage_args: &[&str],
        env: &[(&str, &str)],
    ) -> Res<Self> {
        let addr = free_addr()?;
        let mut cmd = Command::new(&bins.remote);
        cmd.args(["serve", "--listen", &addr.to_string()])
            .args(storage_args);
        let log = base.join(format!("{name}.log"));
        let mut p = Self::spawn("podstack-remote", cmd, env, addr, log)?;
        p.wait_ready("/healthz")?;
        Ok(p)
    }

    /// podstack's emulator (the S3 backend's endpoint) on a free port.
    fn emulator(bins: &Bins, base: &Path) -> Res<Self> {
        let addr = free_addr()?;
        let data = base.join("s3-emulator");
        fs::create_dir_all(&data)?;
        let mut cmd = Command::new(&bins.podstack);
        cmd.args(["start", "--listen", &addr.to_string(), "--data-dir"])
            .arg(&data);
        let log = base.join("s3-emulator.log");
        let mut p = Self::spawn("podstack (S3 emulator)", cmd, &[], addr, log)?;
        p.wait_ready("/_localstack/health")?;
        Ok(p)
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Polls `GET path` until it answers 200; the process exiting first is an error.
    fn wait_ready(&mut self, path: &str) -> Res<()> {
        let ep = Endpoint::parse(&self.url())?;
        let start = Instant::now();
        let timeouts = Timeouts {
            connect: Duration::from_millis(500),
            read: Duration::from_secs(5),
        };
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "{} exited ({status}) before answering; see {}",
                    self.what,
                    self.log.display()
                )
                .into());
            }
            if http::send(&ep, "GET", path, &[], Body::Empty, timeouts)
                .is_ok_and(|r| r.status == 200)
            {
                return Ok(());
            }
            if start.elapsed() > SERVER_WAIT {
                return Err(format!(
                    "{} did not answer within {SERVER_WAIT:?}; see {}",
                    self.what,
                    self.log.display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU seconds the process has used so far.
    fn cpu(&self) -> Res<f64> {
        cpu_secs(&self.child.id().to_string())
    }

    /// Kills the process (by its PID) and waits for it.
    fn stop(&mut self) -> Res<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
        }
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback address whose port was free a moment ago.
fn free_addr() -> Res<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// `podstack-remote token create bench --role write` on the storage; returns the token.
fn create_token(bins: &Bins, storage_args: &[&str], env: &[(&str, &str)]) -> Res<String> {
    let mut cmd = Command::new(&bins.remote);
    cmd.args(["token", "create", "bench", "--role", "write"])
        .args(storage_args);
    for k in CLEARED_ENV {
        cmd.env_remove(k);
    }
    let out = cmd.envs(env.iter().copied()).output()?;
    if !out.status.success() {
        return Err(format!(
            "podstack-remote token create failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .ok_or_else(|| "podstack-remote token create printed no token".into())
}

/// Creates the bucket with a plain `PUT /BUCKET`.
fn create_bucket(endpoint: &str) -> Res<()> {
    let ep = Endpoint::parse(endpoint)?;
    let resp = http::send(
        &ep,
        "PUT",
        &format!("/{BUCKET}"),
        &[],
        Body::Empty,
        Timeouts::default(),
    )?;
    let status = resp.status;
    let body = resp.bytes(1 << 20)?;
    if status != 200 {
        return Err(format!(
            "PUT /{BUCKET} answered {status}: {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    Ok(())
}

/// CPU seconds (user + system) of the process `pid` (`self`: this one), from `/proc`.
fn cpu_secs(pid: &str) -> Res<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks = |i: usize| -> Res<f64> {
        Ok(fields
            .get(i)
            .ok_or("short /proc/PID/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 almost everywhere).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

// ---------------------------------------------------------------------------------------------
// Report.

/// What the numbers were measured on.
#[derive(Clone, Debug, Default)]
struct Machine {
    date: String,
    cpu: String,
    cores: usize,
    mem_gib: f64,
    load_start: String,
    load_end: String,
}

impl Machine {
    fn probe() -> Self {
        let hw = report::hardware();
        Self {
            date: podstore::format_rfc3339(podstore::now_unix()),
            cpu: hw.model,
            cores: hw.cores,
            mem_gib: hw.mem_gib,
            load_start: report::load_average(),
            load_end: String::new(),
        }
    }
}

/// The pod, for the report.
#[derive(Clone, Debug, Default)]
struct LocalSummary {
    objects_v1: usize,
    bytes_v1: u64,
    bytes_v2: u64,
    changed_objects: usize,
    changed_bytes: u64,
    build_secs: f64,
}

/// Everything one run measured.
#[derive(Clone, Debug, Default)]
struct Report {
    machine: Machine,
    local: LocalSummary,
    ops: Vec<Op>,
    probe: Probe,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn mbps(bytes: u64, secs: f64) -> String {
    format!("{:.0} MB/s", bytes as f64 / 1e6 / secs.max(1e-9))
}

impl Report {
    /// The section of `docs/performance.md`.
    fn markdown(&self) -> String {
        let mut s = String::new();
        self.write_header(&mut s);
        self.write_table(&mut s);
        self.write_timeline(&mut s);
        self.write_probe(&mut s);
        self.write_reading(&mut s);
        s
    }

    fn write_header(&self, s: &mut String) {
        let m = &self.machine;
        let l = &self.local;
        let _ = writeln!(s, "{SECTION}\n");
        let _ = writeln!(
            s,
            "Command: `{COMMAND}` (without the variable it only prints; source \
             `remote-server/benches/transfer.rs`).\n"
        );
        let _ = writeln!(
            s,
            "Run {}: {} × {}, {:.0} GiB RAM; load average {} at the start and {} at the end \
             (the VM is shared, so wall-clock times are noisy).\n",
            m.date, m.cores, m.cpu, m.mem_gib, m.load_start, m.load_end,
        );
        let _ = writeln!(
            s,
            "The pod is the synthetic state of the podstore bench ({SMALL_OBJECTS} objects of \
             1–16 KiB and {LARGE_OBJECTS} of 4 MiB: {} resources, {} bytes = {}, generated by \
             `podstore/benches/support/synthetic.rs`), stored straight into a local store as \
             version 1 ({:.1} s to build both versions); version 2 is the same after the 1% \
             change ({CHANGED_SMALL} small objects rewritten, 100 bytes inserted at the front of \
             one 4 MiB object, 64 KiB overwritten in another: {} objects, {} of bodies; {} bytes \
             in all). MB/s is the pod version's logical bytes (10^6) over the wall-clock seconds \
             of the whole `push` or `pull` call.\n",
            l.objects_v1,
            l.bytes_v1,
            mib(l.bytes_v1),
            l.build_secs,
            l.changed_objects,
            mib(l.changed_bytes),
            l.bytes_v2,
        );
        let o = Options::default();
        let _ = writeln!(
            s,
            "Servers: `target/release/podstack-remote serve` on 127.0.0.1 (a free port) over \
             fresh storage per backend: a directory under `target/transfer-bench`, or \
             `s3://{BUCKET}/remote` on podstack's own emulator (`target/release/podstack start`, \
             also on loopback, bucket made with a plain `PUT`). The client is `HttpRemote` with \
             `sync::push`/`sync::pull` and the default `Options` ({} batches of {} MiB in flight; \
             a push sends the local packs' whole blocks as stored, and a pull keeps blocks as \
             received, storing single objects at zstd {}) and a write token, in the bench \
             process. Each backend gets \
             the first push, the first pull into an empty second store, then the push and the \
             pull of version 2 (into that store). All processes share the same cores; the page \
             cache is warm; `sync` runs before each timed step. The in-process rows run the same \
             calls on a `Repo` over a directory in the bench process (no HTTP, no server), as \
             `s3://` remotes do.\n",
            o.parallel,
            o.batch_bytes >> 20,
            o.pull_level,
        );
    }

    fn write_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "| operation | backend | seconds | MB/s | objects sent | bytes sent (logical; on the wire) | target | met? |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for op in &self.ops {
            let (target, met) = op
                .target()
                .map_or(("—".to_owned(), "—"), |(t, ok)| (t, report::met(ok)));
            let raw = op.moved.raw.map_or_else(|| "—".to_owned(), mib);
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.0} | {} | {raw}; {} | {target} | {met} |",
                op.name,
                op.backend,
                op.secs,
                op.pod_mbps(),
                op.moved.objects,
                mib(op.moved.wire),
            );
        }
        let _ = writeln!(s);
    }

    fn write_timeline(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "### Where the time goes\n\n\
             Timers around each remote call (a wrapper of the `Remote` the runs use; `sync.rs` \
             is untouched) and the CPU time of each process from `/proc` (bench = the client; \
             server = `podstack-remote`; S3 = the emulator). \"Before\" runs from the call to \
             the first upload/download: the local walk (`transfer::reachable`, for the second \
             push also `have_set` of version 1), `versions`, `missing` or `listing`, and the \
             reading and compressing of the first batches. \"Packs\" runs until the last \
             upload/download ends; \"after\" is the rest: creating the version (push); \
             verifying and storing the last batches received, the completeness walk and the \
             version record (pull). Call time is summed over the 4 worker threads.\n"
        );
        let _ = writeln!(
            s,
            "| operation | backend | seconds | before | packs | after | in uploads/downloads (calls) | in other calls (calls) | CPU s: bench / server / S3 |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for op in &self.ops {
            let t = &op.timeline;
            let cpu: Vec<String> = op.cpu.iter().map(|c| format!("{c:.2}")).collect();
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} ({}) | {:.2} ({}) | {} |",
                op.name,
                op.backend,
                op.secs,
                t.before,
                t.packs,
                t.after,
                t.pack_call_secs,
                t.pack_calls,
                t.other_call_secs,
                t.other_calls,
                cpu.join(" / "),
            );
        }
        let _ = writeln!(s);
    }

    fn write_probe(&self, s: &mut String) {
        let p = &self.probe;
        let _ = writeln!(
            s,
            "The building blocks of the first push and pull alone, one thread, in the bench \
             process, over version 1 ({} objects, {} logical, {} as object streams) in batches \
             like a push's (the store's whole blocks, 32 MiB of them per batch, then the {} \
             other objects in one batch; unlike a push, which keeps chunk lists with their \
             chunks, this puts every chunk list there, so the server reads their chunks back): \
             the walk (`transfer::reachable`) {:.2} s, and {:.3} s when \
             `Objects::kind_of` answers from a map of the store's kinds (a control: \
             `Store::kind_of` reads the index); push, client: `Store::whole_blocks` {:.2} s, \
             reading the stored blocks and the other objects {:.2} s ({}), framing them (zstd \
             -1 for the other objects) {:.2} s ({}); push, server: `Repo::receive_pack` on a \
             directory (decode, hash, write pack and index) {:.2} s ({}); pull, server: \
             `Repo::write_objects` {:.2} s ({}); pull, client: `read_stream` into a staging \
             area and its commit (decode, hash, write the blocks as received, fsync) {:.2} s \
             ({}).\n",
            p.objects,
            mib(p.raw_bytes),
            mib(p.stream_bytes),
            p.rest_objects,
            p.walk,
            p.walk_indexed,
            p.plan,
            p.read,
            mbps(p.raw_bytes, p.read),
            p.compress,
            mbps(p.raw_bytes, p.compress),
            p.receive,
            mbps(p.raw_bytes, p.receive),
            p.serve,
            mbps(p.raw_bytes, p.serve),
            p.store,
            mbps(p.raw_bytes, p.store),
        );
    }

    /// What limits the numbers, from the probe (the causes named are those of the code as
    /// measured; the sentences are only written when the numbers show them).
    fn write_reading(&self, s: &mut String) {
        let p = &self.probe;
        let best_push = (p.read + p.compress + p.receive) / 2.0;
        let best_pull = (p.serve + p.store) / 2.0;
        let mut out = String::new();
        if p.walk > 1.0 && p.walk > 10.0 * p.walk_indexed {
            let _ = write!(
                out,
                "The local walk is {:.1} s of each push of version 1 and nearly all of the push \
                 of the 1% change (which also walks version 1 for `have_set`); the pull's \
                 completeness check walks the same way over the pulled store (in \"after\"; \
                 cheaper there, its packs being in walk order). `podstore::Store` does not \
                 implement `Objects::kind_of`, so the default reads every blob (a 64 KiB block \
                 decompressed, in tree order, mostly missing the block cache) to learn that it is \
                 a blob; answered from the store's index, which holds every object's kind, the \
                 same walk takes {:.3} s. ",
                p.walk, p.walk_indexed
            );
        }
        let _ = write!(
            out,
            "Beyond the walk the transfers are bound by CPU on these cores: the first push needs \
             one core for {:.1} s (client reading {:.1} s and framing {:.1} s, server \
             verifying and writing {:.1} s), at best {:.1} s with both cores busy ({}); the first \
             pull {:.1} s, at best {:.1} s ({}). With S3 the emulator (MD5 ETags, SHA-256, its \
             own store) runs on the same cores; packs go to it with an unsigned payload, so \
             podstack-remote does not hash them a second time. ",
            best_push * 2.0,
            p.read,
            p.compress,
            p.receive,
            best_push,
            mbps(self.local.bytes_v1, best_push),
            best_pull * 2.0,
            best_pull,
            mbps(self.local.bytes_v1, best_pull),
        );
        if let Some(op) = self
            .ops
            .iter()
            .find(|o| o.backend == "S3" && o.name.starts_with("first push"))
        {
            let total: f64 = op.cpu.iter().sum();
            let _ = write!(
                out,
                "The first push to S3 took {:.1} CPU s in all (bench, podstack-remote and \
                 emulator: {}), so at least {:.1} s on two cores ({}) even with both always \
                 busy: the emulator computes the MD5 of every byte (the ETag), the SHA-256 of \
                 every chunk and of every whole object (its ids) and cuts the chunks, while \
                 podstack-remote decompresses and hashes everything it receives.",
                total,
                op.cpu
                    .iter()
                    .map(|c| format!("{c:.2}"))
                    .collect::<Vec<_>>()
                    .join(" / "),
                total / 2.0,
                mbps(op.pod_bytes, total / 2.0),
            );
        }
        let _ = writeln!(s, "{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// The workspace root (the bench runs with the package directory as its working directory).
fn workspace_root() -> PathBuf {
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR"));
    pkg.parent().unwrap_or(pkg).to_owned()
}

/// Cargo's target directory.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn path_str(p: &Path) -> Res<&str> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()).into())
}

/// Writes dirty pages out so that one step's writeback does not slow the next.
fn settle() -> Res<()> {
    let status = Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync failed: {status}").into());
    }
    Ok(())
}
