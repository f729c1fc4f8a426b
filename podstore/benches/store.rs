//! `cargo bench -p podstore --bench store`: podstore on an emulator-like state of about 1 GiB,
//! measured against the practical floor over the same files (`tar | zstd -1` plus `sha256sum`)
//! and, when `restic` is on `PATH`, against restic as a peer.
//!
//! The state is 20,000 objects of 1–16 KiB (half JSON-like DynamoDB/SQS records, half random
//! bytes) plus 200 objects of 4 MiB (half log/CSV text, half random), generated
//! deterministically and written as files under `s3/…`, `dynamodb/…` and `sqs/…`. The "1%
//! change" is the one of `shared/notes/storage.md` §1: 200 small objects rewritten, a 100-byte
//! insert at the front of one 4 MiB object and a 64 KiB overwrite in the middle of another.
//!
//! The podstack side does what the emulator will do: store a body as a blob when it is PUT,
//! keep one resource document per object in a state tree, and commit the tree as a pod version.
//!
//! Environment:
//! - `PODSTORE_BENCH_DIR`: parent of the run's directory (default
//!   `<workspace>/target/podstore-bench`).
//! - `PODSTORE_BENCH_KEEP=1`: keep the run's files (about 5 GiB at the peak) afterwards.
//! - `PODSTORE_BENCH_WRITE=1`: also write the results into the `## podstore` section of
//!   `docs/performance.md`.

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/report.rs"]
mod report;
// The generator is shared with remote-server's `transfer` bench; each uses a part of it.
#[allow(dead_code)]
#[path = "support/synthetic.rs"]
mod synthetic;

use podstore::{
    BlobInfo, BlobReader, BlobWriter, CHUNK_THRESHOLD, Commit, CommitId, CommitOptions, Entry,
    Expect, ObjectId, PodRef, StatePath, Store, TreeId, chunker, tree,
};
use synthetic::{
    ACCOUNT, CHANGED_SMALL, INSERT_LEN, INSERT_TARGET, LARGE_OBJECTS, OVERWRITE_AT,
    OVERWRITE_TARGET, Object, REGION, Rng, SMALL_OBJECTS, body, plan, vocabulary,
};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// The command that produces the published numbers.
const COMMAND: &str = "cargo bench -p podstore --bench store";
const POD: &str = "bench";
/// Read size when streaming a file into a blob.
const READ_BUFFER: usize = 1 << 20;
/// Write buffer of each restored file.
const WRITE_BUFFER: usize = 256 * 1024;
/// (block size, zstd level) pairs for the compression probe; packs use 64 KiB blocks, level 1.
const PROBE_ZSTD: [(usize, i32); 5] = [
    (64 * 1024, 1),
    (256 * 1024, 1),
    (1024 * 1024, 1),
    (64 * 1024, 3),
    (1024 * 1024, 3),
];

fn main() -> BenchResult<()> {
    let base = match std::env::var_os("PODSTORE_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target").join("podstore-bench"),
    };
    let run_dir = base.join(format!(
        "run-{}-{}",
        std::process::id(),
        podstore::now_unix()
    ));
    fs::create_dir_all(&run_dir)?;
    println!("podstore bench: working in {}", run_dir.display());
    let result = run(&run_dir);
    if env_flag("PODSTORE_BENCH_KEEP") {
        println!("kept {}", run_dir.display());
    } else {
        fs::remove_dir_all(&run_dir)?;
    }
    let report = result?;
    let section = report.markdown();
    println!("\n{section}");
    if env_flag("PODSTORE_BENCH_WRITE") {
        let doc = workspace_root().join("docs").join("performance.md");
        report::write_section(&doc, "## podstore", &section)?;
        println!("wrote the podstore section of {}", doc.display());
    }
    Ok(())
}

/// Runs every measurement in `dir` and returns the results.
fn run(dir: &Path) -> BenchResult<Report> {
    let mut bench = Bench::new(dir)?;
    bench.measure_floor()?;
    bench.measure_commits()?;
    bench.measure_read_back()?;
    bench.measure_restores()?;
    bench.measure_archive()?;
    bench.measure_components()?;
    bench.report.machine.load_end = report::load_average();
    Ok(bench.report)
}

/// One run: its directory, the generated state, the store, the optional restic peer and the
/// results so far.
#[derive(Debug)]
struct Bench {
    dir: PathBuf,
    state: PathBuf,
    vocab: Vec<String>,
    objects: Vec<Object>,
    store: Store,
    restic: Option<Restic>,
    report: Report,
}

impl Bench {
    /// Generates the state under `dir/state` and opens an empty store at `dir/store`.
    fn new(dir: &Path) -> BenchResult<Self> {
        let mut report = Report {
            machine: Machine::probe(),
            ..Report::default()
        };
        let state = dir.join("state");
        let vocab = vocabulary();
        let objects = plan();
        let t = Instant::now();
        report.state_bytes = generate(&state, &objects, &vocab)?;
        report.files = objects.len();
        println!(
            "generated {} files, {} bytes in {:.1} s",
            report.files,
            report.state_bytes,
            t.elapsed().as_secs_f64()
        );
        let restic = Restic::find(dir);
        if let Some(r) = &restic {
            report.restic.version = r.version.clone();
        }
        Ok(Self {
            dir: dir.to_owned(),
            store: Store::open(dir.join("store"))?,
            state,
            vocab,
            objects,
            restic,
            report,
        })
    }

    /// The floor (`tar | zstd -1`, `sha256sum`) and restic's first backup.
    fn measure_floor(&mut self) -> BenchResult<()> {
        settle()?;
        self.report.floor = floor_pack(&self.state, &self.dir)?;
        println!("floor: {:?}", self.report.floor);
        if let Some(r) = &self.restic {
            settle()?;
            self.report.restic.backup = Some(r.backup(&self.state)?);
            self.report.restic.repo_v1 = Some(dir_bytes(&r.repo)?);
            println!("restic backup: {:?}", self.report.restic.backup);
        }
        Ok(())
    }

    /// First commit, the 1% change, the second commit, and restic's second backup.
    fn measure_commits(&mut self) -> BenchResult<()> {
        settle()?;
        let first = first_commit(&self.store, &self.state, &self.objects)?;
        self.report.store_disk_v1 = dir_bytes(self.store.root())?;
        println!("first commit: {first:?}");

        let changed = apply_change(&self.state, &mut self.objects, &self.vocab)?;
        let changed: Vec<&Object> = changed.iter().map(|&i| &self.objects[i]).collect();
        self.report.changed_files = changed.len();
        self.report.changed_bytes = changed
            .iter()
            .map(|o| fs::metadata(self.state.join(o.rel_path())).map(|m| m.len()))
            .sum::<io::Result<u64>>()?;
        settle()?;
        let second = second_commit(&self.store, &self.state, &changed, &first)?;
        self.report.store_disk_v2 = dir_bytes(self.store.root())?;
        println!("commit after the 1% change: {second:?}");
        self.report.first = first;
        self.report.second = second;

        if let Some(r) = &self.restic {
            settle()?;
            self.report.restic.incremental = Some(r.backup(&self.state)?);
            self.report.restic.repo_v2 = Some(dir_bytes(&r.repo)?);
            println!("restic incremental: {:?}", self.report.restic.incremental);
        }
        Ok(())
    }

    /// Reads version 2 back to files, checks them against the sources, then times store reads
    /// alone in two orders.
    fn measure_read_back(&mut self) -> BenchResult<()> {
        let out = self.dir.join("read-back");
        settle()?;
        let rb = read_back(&self.store, &out)?;
        println!("read-back: {rb:?}");
        if rb.files != self.objects.len() {
            return Err(format!(
                "read back {} files, the state has {}",
                rb.files,
                self.objects.len()
            )
            .into());
        }
        self.report.read_back = rb;
        compare_files(&self.state, &out, &self.objects)?;
        fs::remove_dir_all(&out)?;
        println!("read-back matches the source files byte for byte");
        self.report.read_order = read_order(&self.store, &self.objects)?;
        println!("read order: {:?}", self.report.read_order);
        Ok(())
    }

    /// The floor's read-back, restic's restore and `check --read-data`.
    fn measure_restores(&mut self) -> BenchResult<()> {
        let floor_out = self.dir.join("floor-out");
        settle()?;
        self.report.floor.unpack = floor_unpack(&self.dir.join("state.tar.zst"), &floor_out)?;
        fs::remove_dir_all(&floor_out)?;
        if let Some(r) = &self.restic {
            let restic_out = self.dir.join("restic-out");
            settle()?;
            self.report.restic.restore = Some(r.restore(&restic_out)?);
            fs::remove_dir_all(&restic_out)?;
            settle()?;
            self.report.restic.check = Some(r.check()?);
            println!("restic: {:?}", self.report.restic);
        }
        Ok(())
    }

    /// Archive export and import of version 2, and verify.
    fn measure_archive(&mut self) -> BenchResult<()> {
        let second = &self.report.second;
        let latest = second
            .commit
            .ok_or("the second commit did not record its id")?;
        self.report.archive = archive_round_trip(&self.store, latest, second.version, &self.dir)?;
        println!("archive: {:?}", self.report.archive);
        Ok(())
    }

    /// The building blocks alone: hashing, chunking, compression, fsync.
    fn measure_components(&mut self) -> BenchResult<()> {
        let mut p = probe(&self.state, &self.objects)?;
        p.fsync = fsync_probe(
            &self.dir.join("fsync-probe"),
            self.report.first.new_pack_bytes,
        )?;
        println!("components: {p:?}");
        self.report.probe = p;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The generated state as files (the generator itself is `support/synthetic.rs`).

/// Writes every object's file under `dir`; returns the total bytes.
fn generate(dir: &Path, objects: &[Object], vocab: &[String]) -> BenchResult<u64> {
    let mut dirs = HashSet::new();
    let mut total = 0u64;
    for obj in objects {
        let path = dir.join(obj.rel_path());
        ensure_parent(&path, &mut dirs)?;
        let data = body(obj, vocab);
        total += data.len() as u64;
        fs::write(&path, &data)?;
    }
    Ok(total)
}

/// Creates the parent directory of `path` once.
fn ensure_parent(path: &Path, created: &mut HashSet<PathBuf>) -> io::Result<()> {
    if let Some(parent) = path.parent()
        && !created.contains(parent)
    {
        fs::create_dir_all(parent)?;
        created.insert(parent.to_owned());
    }
    Ok(())
}

/// Applies the 1% change of `storage.md` §1 to the files; returns the changed objects' indices.
fn apply_change(dir: &Path, objects: &mut [Object], vocab: &[String]) -> BenchResult<Vec<usize>> {
    let change = synthetic::change(objects, vocab);
    for &i in &change.rewritten {
        let obj = &objects[i];
        fs::write(dir.join(obj.rel_path()), body(obj, vocab))?;
    }

    let path = dir.join(objects[INSERT_TARGET].rel_path());
    let mut data = change.insert.clone();
    data.extend_from_slice(&fs::read(&path)?);
    fs::write(&path, &data)?;

    let path = dir.join(objects[OVERWRITE_TARGET].rel_path());
    let mut f = File::options().write(true).open(&path)?;
    f.seek(SeekFrom::Start(OVERWRITE_AT as u64))?;
    f.write_all(&change.overwrite)?;

    Ok(change.changed())
}

// ---------------------------------------------------------------------------------------------
// podstack side.

/// Where a commit's time went, measured around the store calls.
#[derive(Clone, Debug, Default)]
struct Stages {
    /// Reading the source files.
    read: Duration,
    /// `BlobWriter::write` + `finish`: hashing, chunking, compressing and writing packs
    /// (including the fsync of every pack that fills up).
    blobs: Duration,
    /// Building, hashing and storing the resource documents.
    docs: Duration,
    /// `tree::build` / `tree::update`.
    tree: Duration,
    /// `Commit::new` + `store`.
    commit: Duration,
    /// `Store::flush`: the last pack, its index, fsyncs.
    flush: Duration,
    /// `Store::create_version`.
    version: Duration,
}

/// One timed commit.
#[derive(Clone, Debug, Default)]
struct CommitRun {
    /// Wall-clock seconds of the whole commit.
    secs: f64,
    /// Pack bytes the commit added.
    new_pack_bytes: u64,
    /// Blob bytes the store had not seen (`BlobWrite::new_bytes`, uncompressed).
    new_blob_bytes: u64,
    stages: Stages,
    commit: Option<CommitId>,
    root: Option<TreeId>,
    /// The pod version it became.
    version: u64,
}

/// Streams one file into the store as a blob, as the emulator does with a PUT body.
fn put_file(
    store: &Store,
    path: &Path,
    buf: &mut [u8],
    stages: &mut Stages,
) -> BenchResult<podstore::BlobWrite> {
    let mut file = File::open(path)?;
    let mut writer = BlobWriter::new(store);
    loop {
        let t = Instant::now();
        let n = file.read(buf)?;
        stages.read += t.elapsed();
        if n == 0 {
            break;
        }
        let t = Instant::now();
        writer.write(&buf[..n])?;
        stages.blobs += t.elapsed();
    }
    let t = Instant::now();
    let done = writer.finish()?;
    stages.blobs += t.elapsed();
    Ok(done)
}

/// Stores an object's body and document; returns its tree entry and the new blob bytes.
fn ingest(
    store: &Store,
    dir: &Path,
    obj: &Object,
    buf: &mut [u8],
    stages: &mut Stages,
) -> BenchResult<(StatePath, Entry, u64)> {
    let written = put_file(store, &dir.join(obj.rel_path()), buf, stages)?;
    let t = Instant::now();
    let doc = obj.document(&written.blob)?;
    let entry = Entry::store_doc(store, &doc)?;
    let path = obj.state_path()?;
    stages.docs += t.elapsed();
    Ok((path, entry, written.new_bytes))
}

fn commit_options(parents: Vec<CommitId>, message: &str) -> CommitOptions {
    CommitOptions {
        parents,
        message: message.into(),
        author: "podstore-bench".into(),
        ..CommitOptions::default()
    }
}

/// Commits `root`, flushes, and records it as the next version of the bench pod; returns the
/// commit and the version number.
fn finish_commit(
    store: &Store,
    root: TreeId,
    opts: CommitOptions,
    expect: Expect,
    stages: &mut Stages,
) -> BenchResult<(CommitId, u64)> {
    let t = Instant::now();
    let id = Commit::new(store, root, opts)?.store(store)?;
    stages.commit += t.elapsed();
    let t = Instant::now();
    store.flush()?;
    stages.flush += t.elapsed();
    let t = Instant::now();
    let version = store.create_version(POD, id, expect)?;
    stages.version += t.elapsed();
    Ok((id, version))
}

/// First commit: every file becomes a blob plus a document, then one tree, commit, version 1.
fn first_commit(store: &Store, dir: &Path, objects: &[Object]) -> BenchResult<CommitRun> {
    let before = store.stats()?.pack_bytes;
    let start = Instant::now();
    let mut stages = Stages::default();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut entries = Vec::with_capacity(objects.len());
    let mut new_blob_bytes = 0;
    for obj in objects {
        let (path, entry, new) = ingest(store, dir, obj, &mut buf, &mut stages)?;
        new_blob_bytes += new;
        entries.push((path, entry));
    }
    let t = Instant::now();
    let root = tree::build(store, entries)?;
    stages.tree += t.elapsed();
    let opts = commit_options(Vec::new(), "first commit");
    let (id, version) = finish_commit(store, root, opts, Expect::Latest(None), &mut stages)?;
    let secs = start.elapsed().as_secs_f64();
    Ok(CommitRun {
        secs,
        new_pack_bytes: store.stats()?.pack_bytes - before,
        new_blob_bytes,
        stages,
        commit: Some(id),
        root: Some(root),
        version,
    })
}

/// Commit after the change: only the changed objects are stored, the tree is updated in place.
fn second_commit(
    store: &Store,
    dir: &Path,
    changed: &[&Object],
    parent: &CommitRun,
) -> BenchResult<CommitRun> {
    let (Some(parent_id), Some(old_root)) = (parent.commit, parent.root) else {
        return Err("the first commit did not record its id and root".into());
    };
    let before = store.stats()?.pack_bytes;
    let start = Instant::now();
    let mut stages = Stages::default();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut changes = Vec::with_capacity(changed.len());
    let mut new_blob_bytes = 0;
    for obj in changed {
        let (path, entry, new) = ingest(store, dir, obj, &mut buf, &mut stages)?;
        new_blob_bytes += new;
        changes.push((path, Some(entry)));
    }
    let t = Instant::now();
    let root = tree::update(store, Some(old_root), changes)?;
    stages.tree += t.elapsed();
    let opts = commit_options(vec![parent_id], "1% change");
    let expect = Expect::Latest(Some(parent.version));
    let (id, version) = finish_commit(store, root, opts, expect, &mut stages)?;
    let secs = start.elapsed().as_secs_f64();
    Ok(CommitRun {
        secs,
        new_pack_bytes: store.stats()?.pack_bytes - before,
        new_blob_bytes,
        stages,
        commit: Some(id),
        root: Some(root),
        version,
    })
}

/// Read-back of the latest version.
#[derive(Clone, Debug, Default)]
struct ReadBack {
    secs: f64,
    files: usize,
    bytes: u64,
    /// Seconds and bytes of blobs stored whole (≤ `CHUNK_THRESHOLD`).
    small: (f64, u64),
    /// Seconds and bytes of chunked blobs.
    large: (f64, u64),
}

/// Writes every blob of the bench pod's latest version to files under `out`.
/// Restores version 2 into `out` the way a restore should: whole (small) blobs are read in
/// storage order with `Store::read_in_storage_order`, so each compressed block is decoded once;
/// chunked blobs are streamed one by one (their chunks are stored in a row).
fn read_back(store: &Store, out: &Path) -> BenchResult<ReadBack> {
    let start = Instant::now();
    let (_, commit) = store.resolve(&PodRef::parse(POD)?)?;
    let root = Commit::load(store, commit)?.root;
    let mut result = ReadBack::default();
    let mut dirs = HashSet::new();
    let mut small: HashMap<ObjectId, Vec<PathBuf>> = HashMap::new();
    let mut large: Vec<(BlobInfo, PathBuf)> = Vec::new();
    tree::walk(store, root, &mut |path, entry| {
        let Entry::Doc { blobs, .. } = entry else {
            return Ok(());
        };
        let dest = out.join(file_path_of(path));
        for blob in blobs {
            if is_small(blob) {
                small
                    .entry(blob.id.object())
                    .or_default()
                    .push(dest.clone());
            } else {
                large.push((*blob, dest.clone()));
            }
            result.bytes += blob.size;
        }
        result.files += 1;
        Ok(())
    })?;
    let t = Instant::now();
    let ids: Vec<ObjectId> = small.keys().copied().collect();
    store.read_in_storage_order(&ids, &mut |id, _, bytes| {
        for dest in small.get(id).into_iter().flatten() {
            write_file(dest, bytes, &mut dirs).map_err(|source| podstore::Error::Io {
                op: "restore",
                path: dest.clone(),
                source,
            })?;
            result.small.1 += bytes.len() as u64;
        }
        Ok(())
    })?;
    result.small.0 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (blob, dest) in &large {
        restore_blob(store, blob, dest, &mut dirs)?;
        result.large.1 += blob.size;
    }
    result.large.0 = t.elapsed().as_secs_f64();
    result.secs = start.elapsed().as_secs_f64();
    Ok(result)
}

/// Writes one small restored file.
fn write_file(dest: &Path, bytes: &[u8], dirs: &mut HashSet<PathBuf>) -> io::Result<()> {
    ensure_parent(dest, dirs)?;
    fs::write(dest, bytes)
}

fn restore_blob(
    store: &Store,
    blob: &BlobInfo,
    dest: &Path,
    dirs: &mut HashSet<PathBuf>,
) -> io::Result<()> {
    ensure_parent(dest, dirs)?;
    let mut reader = BlobReader::open(store, &blob.id).map_err(io::Error::other)?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, File::create(dest)?);
    io::copy(&mut reader, &mut out)?;
    out.flush()
}

/// The source file path of a state path: `<service>/<container>/<key>`.
fn file_path_of(path: &StatePath) -> PathBuf {
    let segs = path.segments();
    segs[2..3].iter().chain(&segs[4..]).collect::<PathBuf>()
}

/// Checks that every file under `out` equals its source under `src`.
fn compare_files(src: &Path, out: &Path, objects: &[Object]) -> BenchResult<()> {
    for obj in objects {
        let rel = obj.rel_path();
        if fs::read(src.join(&rel))? != fs::read(out.join(&rel))? {
            return Err(format!("{} differs after the read-back", rel.display()).into());
        }
    }
    Ok(())
}

/// Store reads alone (into `io::sink`), to separate them from file writes and to show what
/// the order of reads costs.
#[derive(Clone, Debug, Default)]
struct ReadOrder {
    /// Blobs stored whole, in tree-walk order (the order of the read-back).
    small_walk: f64,
    /// The same blobs in the order they were written (the generator's order).
    small_written: f64,
    small_bytes: u64,
    /// Chunked blobs, in tree-walk order.
    large_walk: f64,
    large_bytes: u64,
}

/// Reads every blob of the latest version into `io::sink` in walk order, then the small ones
/// again in the order they were written.
fn read_order(store: &Store, objects: &[Object]) -> BenchResult<ReadOrder> {
    let (_, commit) = store.resolve(&PodRef::parse(POD)?)?;
    let root = Commit::load(store, commit)?.root;
    let mut walk_order = Vec::new();
    tree::walk(store, root, &mut |_, entry| {
        if let Entry::Doc { blobs, .. } = entry {
            walk_order.extend(blobs.iter().copied());
        }
        Ok(())
    })?;
    let mut written = Vec::new();
    for obj in objects {
        if let Some(Entry::Doc { blobs, .. }) = tree::get(store, root, &obj.state_path()?)? {
            written.extend(blobs.into_iter().filter(is_small));
        }
    }
    let (small, large): (Vec<BlobInfo>, Vec<BlobInfo>) = walk_order.into_iter().partition(is_small);
    let mut r = ReadOrder::default();
    (r.small_walk, r.small_bytes) = sink_blobs(store, &small)?;
    (r.small_written, _) = sink_blobs(store, &written)?;
    (r.large_walk, r.large_bytes) = sink_blobs(store, &large)?;
    Ok(r)
}

fn is_small(b: &BlobInfo) -> bool {
    b.size as usize <= CHUNK_THRESHOLD
}

/// Reads `blobs` into `io::sink`; returns the seconds and bytes.
fn sink_blobs(store: &Store, blobs: &[BlobInfo]) -> BenchResult<(f64, u64)> {
    let start = Instant::now();
    let mut bytes = 0;
    for b in blobs {
        bytes += io::copy(&mut BlobReader::open(store, &b.id)?, &mut io::sink())?;
    }
    Ok((start.elapsed().as_secs_f64(), bytes))
}

// ---------------------------------------------------------------------------------------------
// Archive export and import, verify.

/// Archive export, import into a fresh store, and verify of the bench store.
#[derive(Clone, Debug, Default)]
struct ArchiveRun {
    export: f64,
    archive_bytes: u64,
    objects: u64,
    import: f64,
    verify: f64,
    verified_objects: u64,
}

/// Exports `commit` (version `version` of the bench pod) to a file, imports that file into a
/// fresh store, then verifies `store`.
fn archive_round_trip(
    store: &Store,
    commit: CommitId,
    version: u64,
    dir: &Path,
) -> BenchResult<ArchiveRun> {
    let path = dir.join("bench.podstack.tar");
    settle()?;
    let t = Instant::now();
    let out = BufWriter::new(File::create(&path)?);
    let stats = podstore::export_archive(store, commit, Some((POD, version)), out)?;
    let export = t.elapsed().as_secs_f64();

    let target = Store::open(dir.join("imported"))?;
    settle()?;
    let t = Instant::now();
    let imported = podstore::import_archive(&target, BufReader::new(File::open(&path)?))?;
    let import = t.elapsed().as_secs_f64();
    if imported.commit != commit {
        return Err(format!("imported commit {} is not {commit}", imported.commit).into());
    }

    settle()?;
    let t = Instant::now();
    let report = podstore::verify(store)?;
    let verify = t.elapsed().as_secs_f64();
    if !report.is_ok() {
        return Err(format!("verify found problems: {report:?}").into());
    }
    Ok(ArchiveRun {
        export,
        archive_bytes: stats.archive_bytes,
        objects: stats.objects,
        import,
        verify,
        verified_objects: report.objects,
    })
}

// ---------------------------------------------------------------------------------------------
// The floor and the peer.

/// The practical floor over the same files.
#[derive(Clone, Debug, Default)]
struct Floor {
    /// `tar -cf - -C state . | zstd -1 -q -o state.tar.zst`.
    tar_zstd: f64,
    /// `find state -type f -print0 | xargs -0 sha256sum > /dev/null`.
    sha256: f64,
    /// Size of `state.tar.zst`.
    tar_zst_bytes: u64,
    /// `zstd -d -c state.tar.zst | tar -xf - -C out`.
    unpack: f64,
}

impl Floor {
    /// The floor of a first commit: archive + compress, plus hashing every file.
    fn commit(&self) -> f64 {
        self.tar_zstd + self.sha256
    }
}

/// Runs `first | second`, returning the wall-clock seconds; fails unless both succeed.
fn pipe(first: &mut Command, second: &mut Command) -> BenchResult<f64> {
    let start = Instant::now();
    let mut a = first.stdout(Stdio::piped()).spawn()?;
    let out = a.stdout.take().ok_or("the first command has no stdout")?;
    let b = second.stdin(Stdio::from(out)).status()?;
    let a = a.wait()?;
    let secs = start.elapsed().as_secs_f64();
    if !a.success() || !b.success() {
        return Err(format!("pipeline failed: {first:?} ({a}) | {second:?} ({b})").into());
    }
    Ok(secs)
}

/// Times `tar | zstd -1` and `sha256sum` over `state`; leaves `dir/state.tar.zst`.
fn floor_pack(state: &Path, dir: &Path) -> BenchResult<Floor> {
    let archive = dir.join("state.tar.zst");
    let tar_zstd = pipe(
        Command::new("tar")
            .args(["-cf", "-", "-C"])
            .arg(state)
            .arg("."),
        Command::new("zstd").args(["-1", "-q", "-o"]).arg(&archive),
    )?;
    settle()?;
    let sha256 = pipe(
        Command::new("find")
            .arg(state)
            .args(["-type", "f", "-print0"]),
        Command::new("xargs")
            .args(["-0", "sha256sum"])
            .stdout(Stdio::null()),
    )?;
    Ok(Floor {
        tar_zstd,
        sha256,
        tar_zst_bytes: fs::metadata(&archive)?.len(),
        unpack: 0.0,
    })
}

/// Times `zstd -d -c archive | tar -xf - -C out`.
fn floor_unpack(archive: &Path, out: &Path) -> BenchResult<f64> {
    fs::create_dir_all(out)?;
    pipe(
        Command::new("zstd").args(["-d", "-q", "-c"]).arg(archive),
        Command::new("tar").args(["-xf", "-", "-C"]).arg(out),
    )
}

/// restic's numbers, when it is installed.
#[derive(Clone, Debug, Default)]
struct ResticRun {
    version: String,
    backup: Option<f64>,
    incremental: Option<f64>,
    restore: Option<f64>,
    /// `restic check --read-data`.
    check: Option<f64>,
    repo_v1: Option<u64>,
    repo_v2: Option<u64>,
}

/// A restic repository in the run directory (password from `RESTIC_PASSWORD`).
#[derive(Debug)]
struct Restic {
    repo: PathBuf,
    cache: PathBuf,
    version: String,
}

impl Restic {
    /// Initialises a repository under `dir` when `restic` is on `PATH`.
    fn find(dir: &Path) -> Option<Self> {
        let out = Command::new("restic").arg("version").output().ok()?;
        if !out.status.success() {
            println!("restic is installed but does not run; skipping it");
            return None;
        }
        let version = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let r = Self {
            repo: dir.join("restic-repo"),
            cache: dir.join("restic-cache"),
            version,
        };
        match r.run(&["init"]) {
            Ok(_) => Some(r),
            Err(e) => {
                println!("restic init failed ({e}); skipping restic");
                None
            }
        }
    }

    /// Runs `restic <args>` against the repository; returns the wall-clock seconds.
    fn run(&self, args: &[&str]) -> BenchResult<f64> {
        let start = Instant::now();
        let status = Command::new("restic")
            .arg("--repo")
            .arg(&self.repo)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--quiet")
            .args(args)
            .env("RESTIC_PASSWORD", "podstore-bench")
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("restic {} failed: {status}", args.join(" ")).into());
        }
        Ok(start.elapsed().as_secs_f64())
    }

    fn backup(&self, state: &Path) -> BenchResult<f64> {
        self.run(&["backup", path_str(state)?])
    }

    fn restore(&self, out: &Path) -> BenchResult<f64> {
        self.run(&["restore", "latest", "--target", path_str(out)?])
    }

    fn check(&self) -> BenchResult<f64> {
        self.run(&["check", "--read-data"])
    }
}

fn path_str(p: &Path) -> BenchResult<&str> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()).into())
}

// ---------------------------------------------------------------------------------------------
// Component probe: what the store's building blocks cost on this machine.

/// Single-core seconds of the store's building blocks over the same bytes.
#[derive(Clone, Debug, Default)]
struct Probe {
    bytes: u64,
    /// `ObjectId::of` (SHA-256) over every file.
    sha256: f64,
    /// `chunker::cut` over the files above `CHUNK_THRESHOLD`.
    chunking: f64,
    chunked_bytes: u64,
    /// zstd on blocks of each size and level in `PROBE_ZSTD`, files concatenated as in a pack.
    zstd: Vec<ZstdProbe>,
    /// Writing as many bytes as the first commit's packs in 32 MiB files, each fsynced.
    fsync: f64,
}

/// zstd over all bytes cut into independent blocks of one size.
#[derive(Clone, Debug, Default)]
struct ZstdProbe {
    block: usize,
    level: i32,
    secs: f64,
    out: u64,
    buf: Vec<u8>,
}

impl ZstdProbe {
    fn add(&mut self, mut data: &[u8]) -> BenchResult<()> {
        while !data.is_empty() {
            let n = data.len().min(self.block - self.buf.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == self.block {
                self.compress()?;
            }
        }
        Ok(())
    }

    fn compress(&mut self) -> BenchResult<()> {
        let t = Instant::now();
        self.out += zstd::bulk::compress(&self.buf, self.level)?.len() as u64;
        self.secs += t.elapsed().as_secs_f64();
        self.buf.clear();
        Ok(())
    }
}

/// Times hashing, chunking and compressing the current state, one stage at a time.
fn probe(state: &Path, objects: &[Object]) -> BenchResult<Probe> {
    let mut p = Probe {
        zstd: PROBE_ZSTD
            .iter()
            .map(|&(block, level)| ZstdProbe {
                block,
                level,
                ..ZstdProbe::default()
            })
            .collect(),
        ..Probe::default()
    };
    for obj in objects {
        let data = fs::read(state.join(obj.rel_path()))?;
        p.bytes += data.len() as u64;
        let t = Instant::now();
        std::hint::black_box(ObjectId::of(&data));
        p.sha256 += t.elapsed().as_secs_f64();
        if data.len() > CHUNK_THRESHOLD {
            let t = Instant::now();
            let mut off = 0;
            while off < data.len() {
                off += chunker::cut(&data[off..]);
            }
            p.chunking += t.elapsed().as_secs_f64();
            p.chunked_bytes += data.len() as u64;
        }
        for z in &mut p.zstd {
            z.add(&data)?;
        }
    }
    for z in &mut p.zstd {
        if !z.buf.is_empty() {
            z.compress()?;
        }
    }
    Ok(p)
}

/// Writes `total` bytes as 32 MiB files in `dir`, fsyncing each as the store does with full
/// packs; returns the seconds and removes the files.
fn fsync_probe(dir: &Path, total: u64) -> BenchResult<f64> {
    const FILE: u64 = 32 << 20;
    fs::create_dir_all(dir)?;
    let mut block = vec![0u8; 1 << 20];
    Rng(0x6673_796e_6300_0001).fill(&mut block);
    settle()?;
    let start = Instant::now();
    let mut written = 0;
    while written < total {
        let mut f = File::create(dir.join(format!("f{written}")))?;
        let mut n = 0;
        while n < FILE && written < total {
            f.write_all(&block)?;
            n += block.len() as u64;
            written += block.len() as u64;
        }
        f.sync_all()?;
    }
    let secs = start.elapsed().as_secs_f64();
    fs::remove_dir_all(dir)?;
    Ok(secs)
}

// ---------------------------------------------------------------------------------------------
// Machine, report and docs.

/// What the numbers were measured on.
#[derive(Clone, Debug, Default)]
struct Machine {
    date: String,
    cpu: String,
    cores: usize,
    mem_gib: f64,
    load_start: String,
    load_end: String,
    zstd: String,
}

impl Machine {
    fn probe() -> Self {
        let hw = report::hardware();
        let zstd = Command::new("zstd")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Self {
            date: podstore::format_rfc3339(podstore::now_unix()),
            cpu: hw.model,
            cores: hw.cores,
            mem_gib: hw.mem_gib,
            load_start: report::load_average(),
            load_end: String::new(),
            zstd,
        }
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, Default)]
struct Report {
    machine: Machine,
    files: usize,
    state_bytes: u64,
    changed_files: usize,
    changed_bytes: u64,
    first: CommitRun,
    second: CommitRun,
    store_disk_v1: u64,
    store_disk_v2: u64,
    read_back: ReadBack,
    read_order: ReadOrder,
    archive: ArchiveRun,
    floor: Floor,
    restic: ResticRun,
    probe: Probe,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn mbps(bytes: u64, secs: f64) -> String {
    format!("{:.0} MB/s", bytes as f64 / 1e6 / secs.max(1e-9))
}

fn opt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "not installed".into(), |s| format!("{s:.2} s"))
}

impl Report {
    /// The `## podstore` section of `docs/performance.md`.
    fn markdown(&self) -> String {
        let mut s = String::new();
        self.write_header(&mut s);
        self.write_table(&mut s);
        self.write_commit_breakdown(&mut s);
        self.write_size_breakdown(&mut s);
        self.write_read_breakdown(&mut s);
        s
    }

    fn write_header(&self, s: &mut String) {
        let m = &self.machine;
        let restic = if self.restic.version.is_empty() {
            "restic not installed"
        } else {
            &self.restic.version
        };
        let _ = writeln!(s, "## podstore\n");
        let _ = writeln!(
            s,
            "Command: `PODSTORE_BENCH_WRITE=1 {COMMAND}` (without the variable it only prints; \
             source `podstore/benches/store.rs`).\n"
        );
        let _ = writeln!(
            s,
            "Run {}: {} × {}, {:.0} GiB RAM; load average {} at the start and {} at the end \
             (the VM is shared, so wall-clock times are noisy). {}; {restic}.\n",
            m.date, m.cores, m.cpu, m.mem_gib, m.load_start, m.load_end, m.zstd,
        );
        let _ = writeln!(
            s,
            "State: {} files, {} bytes ({}), generated deterministically by the bench: \
             {SMALL_OBJECTS} objects of 1–16 KiB (half DynamoDB/SQS-like JSON, half random bytes) \
             and {LARGE_OBJECTS} of 4 MiB (half log/CSV text, half random), under `s3/`, \
             `dynamodb/` and `sqs/`. The 1% change is the one of `shared/notes/storage.md` §1: \
             {CHANGED_SMALL} small objects rewritten, {INSERT_LEN} bytes inserted at the front of \
             one 4 MiB object, 64 KiB overwritten in the middle of another ({} files, {} \
             touched).\n",
            self.files,
            self.state_bytes,
            mib(self.state_bytes),
            self.changed_files,
            mib(self.changed_bytes),
        );
        let _ = writeln!(
            s,
            "podstack does what the emulator will do: each body is streamed into a blob \
             (`BlobWriter`) in the order the files were generated (services interleaved), each \
             object gets a resource document at \
             `{ACCOUNT}/{REGION}/<service>/<type>/<container>/<key>`, the tree is built \
             (`tree::build`; after the change `tree::update` with only the changed objects), \
             committed, flushed (fsync) and recorded as a pod version. The floor runs on the same \
             files and does not fsync. Everything is in the page cache; `sync` runs before each \
             timed step.\n"
        );
    }

    fn write_table(&self, s: &mut String) {
        let f = &self.floor;
        let r = &self.restic;
        let a = &self.archive;
        let first_ratio = self.first.secs / f.commit();
        let read_ratio = self.read_back.secs / f.unpack;
        let size_ratio = self.store_disk_v1 as f64 / f.tar_zst_bytes as f64;
        let restic_growth = match (r.repo_v1, r.repo_v2) {
            (Some(v1), Some(v2)) => mib(v2.saturating_sub(v1)),
            _ => "not installed".into(),
        };
        let rows = [
            [
                "first commit".into(),
                format!("{:.2} s", self.first.secs),
                format!(
                    "{:.2} s (`tar \\| zstd -1` {:.2} s + `sha256sum` {:.2} s)",
                    f.commit(),
                    f.tar_zstd,
                    f.sha256
                ),
                format!("{first_ratio:.2}×"),
                format!("{} `backup`", opt_secs(r.backup)),
                "≤ 2× floor".into(),
                report::met(first_ratio <= 2.0).into(),
            ],
            [
                "commit after the 1% change".into(),
                format!("{:.3} s", self.second.secs),
                format!("— (a new `tar.zst` is a full copy, {:.2} s)", f.commit()),
                "—".into(),
                format!("{} `backup` (files cache)", opt_secs(r.incremental)),
                "< 0.3 s".into(),
                report::met(self.second.secs < 0.3).into(),
            ],
            [
                "read back everything (version 2)".into(),
                format!("{:.2} s", self.read_back.secs),
                format!("{:.2} s (`zstd -d \\| tar -x`)", f.unpack),
                format!("{read_ratio:.2}×"),
                format!("{} `restore`", opt_secs(r.restore)),
                "≤ 2× floor".into(),
                report::met(read_ratio <= 2.0).into(),
            ],
            [
                "store size after the first commit".into(),
                format!("{} (whole store directory)", mib(self.store_disk_v1)),
                format!("{} (`tar.zst`)", mib(f.tar_zst_bytes)),
                format!("{size_ratio:.3}×"),
                r.repo_v1.map_or_else(|| "not installed".into(), mib),
                "≤ `zstd -1` of the tar".into(),
                report::met(size_ratio <= 1.0).into(),
            ],
            [
                "store growth for the 1% change".into(),
                mib(self.store_disk_v2.saturating_sub(self.store_disk_v1)),
                format!("{} (a second `tar.zst`)", mib(f.tar_zst_bytes)),
                "—".into(),
                restic_growth,
                "—".into(),
                "—".into(),
            ],
            [
                "archive export (version 2)".into(),
                format!(
                    "{:.2} s ({} objects, {})",
                    a.export,
                    a.objects,
                    mib(a.archive_bytes)
                ),
                format!("{:.2} s (`tar \\| zstd -1`)", f.tar_zstd),
                format!("{:.2}×", a.export / f.tar_zstd),
                "—".into(),
                "—".into(),
                "—".into(),
            ],
            [
                "archive import into an empty store".into(),
                format!("{:.2} s", a.import),
                format!("{:.2} s (`zstd -d \\| tar -x`)", f.unpack),
                format!("{:.2}×", a.import / f.unpack),
                "—".into(),
                "—".into(),
                "—".into(),
            ],
            [
                format!("verify (both versions, {} objects)", a.verified_objects),
                format!("{:.2} s", a.verify),
                format!("{:.2} s (`sha256sum`)", f.sha256),
                format!("{:.2}×", a.verify / f.sha256),
                format!("{} `check --read-data`", opt_secs(r.check)),
                "—".into(),
                "—".into(),
            ],
        ];
        let _ = writeln!(
            s,
            "| measurement | podstack | floor | podstack / floor | restic (peer) | target | met? |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for row in rows {
            let _ = writeln!(s, "| {} |", row.join(" | "));
        }
        let _ = writeln!(s);
    }

    fn write_commit_breakdown(&self, s: &mut String) {
        let st = &self.first.stages;
        let nd = &self.second.stages;
        let p = &self.probe;
        let _ = writeln!(
            s,
            "Where the first commit's {:.2} s go (timers around the store calls in the bench): \
             reading the files {:.2} s; blob writes {:.2} s (SHA-256 of each whole blob, \
             chunking, SHA-256 of each chunk, zstd, pack writes and the fsync of each full \
             32 MiB pack); documents {:.2} s; `tree::build` {:.2} s; commit {:.3} s; `flush` \
             {:.3} s; `create_version` {:.3} s. After the change: blobs {:.3} s, documents \
             {:.3} s, `tree::update` {:.3} s, commit {:.3} s, `flush` {:.3} s, `create_version` \
             {:.3} s; {} of new blob content.\n",
            self.first.secs,
            st.read.as_secs_f64(),
            st.blobs.as_secs_f64(),
            st.docs.as_secs_f64(),
            st.tree.as_secs_f64(),
            st.commit.as_secs_f64(),
            st.flush.as_secs_f64(),
            st.version.as_secs_f64(),
            nd.blobs.as_secs_f64(),
            nd.docs.as_secs_f64(),
            nd.tree.as_secs_f64(),
            nd.commit.as_secs_f64(),
            nd.flush.as_secs_f64(),
            nd.version.as_secs_f64(),
            mib(self.second.new_blob_bytes),
        );
        let _ = writeln!(
            s,
            "The same {} through each building block alone, one core: SHA-256 {:.2} s ({}); \
             chunking the {} of 4 MiB objects {:.2} s ({}); zstd -1 on 64 KiB blocks {:.2} s \
             ({}); writing the first commit's pack bytes as 32 MiB files with an fsync each \
             {:.2} s.\n",
            mib(p.bytes),
            p.sha256,
            mbps(p.bytes, p.sha256),
            mib(p.chunked_bytes),
            p.chunking,
            mbps(p.chunked_bytes, p.chunking),
            p.zstd.first().map_or(0.0, |z| z.secs),
            mbps(p.bytes, p.zstd.first().map_or(0.0, |z| z.secs)),
            p.fsync,
        );
    }

    fn write_size_breakdown(&self, s: &mut String) {
        let f = &self.floor;
        let _ = write!(
            s,
            "Size: the packs hold {} after the first commit (the rest of the store directory is \
             pack indexes and pod files); `zstd -1` of the tar stream is {}. zstd of the same \
             bytes cut into independent blocks (one core):",
            mib(self.first.new_pack_bytes),
            mib(f.tar_zst_bytes),
        );
        for z in &self.probe.zstd {
            let _ = write!(
                s,
                " level {} with {} KiB blocks {} ({:.3}× the `tar.zst`, {});",
                z.level,
                z.block / 1024,
                mib(z.out),
                z.out as f64 / f.tar_zst_bytes as f64,
                mbps(self.probe.bytes, z.secs),
            );
        }
        s.pop();
        let _ = writeln!(s, ".\n");
    }

    fn write_read_breakdown(&self, s: &mut String) {
        let rb = &self.read_back;
        let ro = &self.read_order;
        let _ = writeln!(
            s,
            "Read-back: {} files, {}, walked in tree order: blobs stored whole {:.2} s for {} \
             ({}), chunked blobs {:.2} s for {} ({}), files included. Store reads alone (into \
             `io::sink`): whole blobs {:.2} s in tree order and {:.2} s in the order they were \
             written; chunked blobs {:.2} s ({}).\n",
            rb.files,
            mib(rb.bytes),
            rb.small.0,
            mib(rb.small.1),
            mbps(rb.small.1, rb.small.0),
            rb.large.0,
            mib(rb.large.1),
            mbps(rb.large.1, rb.large.0),
            ro.small_walk,
            ro.small_written,
            ro.large_walk,
            mbps(ro.large_bytes, ro.large_walk),
        );
        let _ = writeln!(
            s,
            "The floor's `sha256sum` is Debian coreutils without SHA-NI (150–300 MB/s here, \
             `shared/notes/storage.md` §3), which makes the first-commit floor slower than a \
             SHA-NI hash would."
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// The workspace root (the bench runs with the package directory as its working directory).
fn workspace_root() -> PathBuf {
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR"));
    pkg.parent().unwrap_or(pkg).to_owned()
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// Writes dirty pages out so that one step's writeback does not slow the next.
fn settle() -> BenchResult<()> {
    let status = Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync failed: {status}").into());
    }
    Ok(())
}

/// Bytes of all files under `dir`.
fn dir_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let ty = e.file_type()?;
        if ty.is_dir() {
            total += dir_bytes(&e.path())?;
        } else if ty.is_file() {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}
