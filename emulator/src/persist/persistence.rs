//! Persistence (`PERSISTENCE=1`): snapshots of the whole state in the pod store, saved by
//! strategy and loaded at start or lazily.
//!
//! - `SNAPSHOT_SAVE_STRATEGY=ON_REQUEST`: a mutating request is answered only once its change
//!   is durable in the write-ahead journal (`journal.rs`); concurrent requests share one
//!   synchronous append (group commit). Snapshots are taken in the background when the
//!   journal grows, and at shutdown.
//! - `SCHEDULED` (default): every `SNAPSHOT_FLUSH_INTERVAL` seconds (15), when something changed.
//! - `ON_SHUTDOWN`: on SIGINT/SIGTERM. `SCHEDULED` and `ON_REQUEST` also save then.
//! - `MANUAL`: only through `POST /_localstack/state/save`.
//! - `SNAPSHOT_LOAD_STRATEGY=ON_STARTUP` (default here), `ON_REQUEST` (each service on its first
//!   request), `MANUAL` (only through `POST /_localstack/state/load`).
//!
//! Saves are incremental: services mark what changes (`snapshot::Marks`), and a save encodes
//! only the marked resources (copied under the service's lock, the only time requests wait),
//! adds them to the changes pending since the last snapshot, and applies those to the last
//! snapshot's tree with `tree::update`, which rewrites only the directories on changed paths.
//! A failed save keeps its changes pending for the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use podstore::{CommitId, CommitOptions, Entry, ObjectId, ObjectKind, Objects, StatePath, TreeId};

use crate::http::gateway::Gateway;
use crate::persist::journal;
use crate::persist::state::{self, ChangeSet, StateError, StateResult};

/// When state is saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveStrategy {
    /// After every mutating request, before it is answered.
    OnRequest,
    /// On SIGINT/SIGTERM.
    OnShutdown,
    /// Periodically, when something changed.
    Scheduled,
    /// Only on request through the endpoints.
    Manual,
}

/// When saved state is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStrategy {
    /// Everything at start.
    OnStartup,
    /// Each service on its first request.
    OnRequest,
    /// Only through the endpoints.
    Manual,
}

/// Persistence settings.
#[derive(Clone, Debug)]
pub struct PersistConfig {
    /// `PERSISTENCE=1`.
    pub enabled: bool,
    /// `SNAPSHOT_SAVE_STRATEGY`.
    pub save: SaveStrategy,
    /// `SNAPSHOT_LOAD_STRATEGY`.
    pub load: LoadStrategy,
    /// `SNAPSHOT_FLUSH_INTERVAL`.
    pub interval: Duration,
}

impl Default for PersistConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            save: SaveStrategy::Scheduled,
            load: LoadStrategy::OnStartup,
            interval: Duration::from_secs(15),
        }
    }
}

impl PersistConfig {
    /// Whether changes are journaled before their requests are answered (ON_REQUEST).
    pub fn journaled(&self) -> bool {
        self.enabled && self.save == SaveStrategy::OnRequest
    }

    /// Reads the environment; unknown values are errors naming the variable.
    pub fn from_env() -> Result<Self, String> {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let enabled = matches!(
            var("PERSISTENCE").as_deref(),
            Some("1" | "true" | "TRUE" | "True")
        );
        let save = match var("SNAPSHOT_SAVE_STRATEGY")
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("SCHEDULED") => SaveStrategy::Scheduled,
            Some("ON_REQUEST") => SaveStrategy::OnRequest,
            Some("ON_SHUTDOWN") => SaveStrategy::OnShutdown,
            Some("MANUAL") => SaveStrategy::Manual,
            Some(o) => {
                return Err(format!(
                    "SNAPSHOT_SAVE_STRATEGY={o} is not one of ON_REQUEST, ON_SHUTDOWN, SCHEDULED, MANUAL"
                ));
            }
        };
        let load = match var("SNAPSHOT_LOAD_STRATEGY")
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("ON_STARTUP") => LoadStrategy::OnStartup,
            Some("ON_REQUEST") => LoadStrategy::OnRequest,
            Some("MANUAL") => LoadStrategy::Manual,
            Some(o) => {
                return Err(format!(
                    "SNAPSHOT_LOAD_STRATEGY={o} is not one of ON_STARTUP, ON_REQUEST, MANUAL"
                ));
            }
        };
        let interval = match var("SNAPSHOT_FLUSH_INTERVAL") {
            None => Duration::from_secs(15),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0 && s.is_finite())
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    format!("SNAPSHOT_FLUSH_INTERVAL={v} is not a positive number of seconds")
                })?,
        };
        Ok(Self {
            enabled,
            save,
            load,
            interval,
        })
    }
}

/// Runtime state of persistence.
#[derive(Debug, Default)]
pub struct Persistence {
    /// Settings.
    pub config: PersistConfig,
    /// Where the ON_REQUEST journal lives (beside the pod store).
    journal_dir: PathBuf,
    mutations: AtomicU64,
    saved: AtomicU64,
    /// One snapshot at a time.
    save_lock: tokio::sync::Mutex<()>,
    /// The ON_REQUEST group committer.
    committer: Committer,
    /// Whether a background snapshot is running (ON_REQUEST).
    snapshotting: AtomicBool,
    engine: Mutex<Engine>,
    /// The root of the snapshot loaded lazily, and the services already loaded from it.
    lazy: Mutex<Option<(TreeId, BTreeSet<String>)>>,
    status: Mutex<Status>,
    /// The tree last loaded from a pod: the ancestor of the next three-way merge.
    last_loaded: Mutex<Option<TreeId>>,
    /// The pods loaded since start, oldest first (`podstack status`).
    pub loaded_pods: Mutex<Vec<crate::persist::pods::LoadedPod>>,
}

/// The ON_REQUEST group committer: one thread appends to the journal, back to back while
/// requests wait; each append covers every change made before it began, and advances
/// `Persistence::saved`. Requests ask by raising `requested` and wait in `waiting`.
#[derive(Debug)]
struct Committer {
    /// What requests ask for, and whether the thread sleeps on `wake`.
    requested: Mutex<Requested>,
    /// Signalled only while the thread sleeps: a notify costs a system call, and while the
    /// thread appends it looks at `requested` again before sleeping anyway.
    wake: std::sync::Condvar,
    /// The requests waiting, each answered once, when its generation is durable (or failed).
    waiting: Mutex<Waiting>,
    /// Whether the thread runs.
    started: std::sync::Once,
}

/// The committer's inbox.
#[derive(Debug, Default)]
struct Requested {
    /// The highest generation a request waits for.
    generation: u64,
    /// The thread waits on `Committer::wake`.
    sleeping: bool,
}

impl Default for Committer {
    fn default() -> Self {
        Self {
            requested: Mutex::new(Requested::default()),
            wake: std::sync::Condvar::new(),
            waiting: Mutex::new(Waiting::default()),
            started: std::sync::Once::new(),
        }
    }
}

/// Requests waiting for their changes to be durable.
#[derive(Debug, Default)]
struct Waiting {
    /// By the generation each waits for, so that an append wakes only the requests it
    /// acknowledges (a broadcast would wake every waiting request after every append).
    requests: BTreeMap<u64, Vec<tokio::sync::oneshot::Sender<Result<(), String>>>>,
    /// The last failure: generations up to this one that are not durable failed, and why.
    failed: Option<(u64, String)>,
}

impl Committer {
    /// Answers the requests whose generation is durable now (`saved`, read after the caller
    /// advanced it), then, after a new `failure`, those up to it with the failure (requests
    /// that come later find it in `Waiting::failed` themselves).
    fn answer(&self, saved: &AtomicU64, failure: Option<(u64, String)>) {
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let durable = saved.load(Ordering::SeqCst);
        for tx in w.take_upto(durable) {
            let _ = tx.send(Ok(()));
        }
        if let Some((upto, why)) = failure {
            for tx in w.take_upto(upto) {
                let _ = tx.send(Err(why.clone()));
            }
            w.failed = Some((upto, why));
        }
    }
}

impl Waiting {
    /// Removes the requests waiting for generations up to `generation`.
    fn take_upto(
        &mut self,
        generation: u64,
    ) -> impl Iterator<Item = tokio::sync::oneshot::Sender<Result<(), String>>> {
        let later = self.requests.split_off(&generation.saturating_add(1));
        std::mem::replace(&mut self.requests, later)
            .into_values()
            .flatten()
    }
}

/// What saves build on.
#[derive(Debug, Default)]
struct Engine {
    /// The root of the latest durable snapshot (or of the state loaded at start).
    base: Option<TreeId>,
    /// Changes collected from the services since `base`.
    pending: ChangeSet,
    /// The open journal file (ON_REQUEST).
    journal: Option<journal::Writer>,
    /// The sequence number of the next journal file; a snapshot taken now covers every
    /// journal before it.
    next_journal: u64,
}

/// What a snapshot took under the engine lock.
struct SnapshotTaken {
    /// The tree the changes apply to.
    base: Option<TreeId>,
    /// Every change since `base`.
    changes: ChangeSet,
    /// The snapshot covers the journals before this one.
    covers: u64,
}

/// A journal grown past this many bytes, or changes pending for this many paths, start a
/// background snapshot (ON_REQUEST).
const SNAPSHOT_JOURNAL_BYTES: u64 = 64 << 20;
const SNAPSHOT_PENDING_PATHS: usize = 20_000;

/// What health reports about persistence.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Status {
    /// The latest durable snapshot.
    pub last_snapshot: Option<String>,
    /// Problems found at start (damaged snapshots, unreadable files) or by the last save.
    pub problems: Vec<String>,
    /// The state recovered at start: the root of the last good snapshot with the journal
    /// replayed on it, and how many journal records were replayed.
    pub recovered: Option<Recovered>,
}

/// What start-up recovered.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Recovered {
    /// The state tree's root.
    pub root: Option<String>,
    /// Journal records replayed on the snapshot.
    pub journal_records: u64,
}

impl Persistence {
    /// Persistence with `config`; the journal goes to `journal_dir`.
    pub fn new(config: PersistConfig, journal_dir: PathBuf) -> Self {
        Self {
            config,
            journal_dir,
            ..Self::default()
        }
    }

    /// Notes that a request changed state; returns its generation.
    pub fn mutated(&self) -> u64 {
        self.mutations.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Whether something changed since the last save.
    pub fn dirty(&self) -> bool {
        self.mutations.load(Ordering::SeqCst) > self.saved.load(Ordering::SeqCst)
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn note(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where the journal of a pod store at `store_dir` goes: `journal/` beside it.
pub fn journal_dir(store_dir: &std::path::Path) -> PathBuf {
    match store_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join("journal"),
        _ => store_dir.join("journal"),
    }
}

/// The commit message of a snapshot that covers every journal before `next_journal`.
fn snapshot_message(next_journal: u64) -> String {
    format!("persistence snapshot; journal from {next_journal}")
}

/// The journal a snapshot's commit message says it needs from (0: every journal).
fn journal_from(message: &str) -> u64 {
    message
        .rsplit_once("journal from ")
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or(0)
}

fn task_error(e: impl std::fmt::Display) -> StateError {
    StateError {
        service: None,
        message: format!("save task failed: {e}"),
    }
}

impl Gateway {
    /// Whether `service` holds live state (not waiting for a lazy load).
    fn is_loaded(&self, service: &str) -> bool {
        match self.persistence().lazy.lock() {
            Ok(l) => l
                .as_ref()
                .is_none_or(|(_, loaded)| loaded.contains(service)),
            Err(_) => true,
        }
    }

    /// Takes the selected services' changes into `engine.pending`. Under ON_REQUEST they are
    /// appended to the journal first, whoever collects: requests whose changes they are may
    /// be waiting for the committer, whose next append then finds nothing left to collect
    /// and answers them, so they must be durable now (a snapshot taking them is not durable
    /// until it is built, and may fail). If that append fails every service is marked to be
    /// exported whole, so that the next append carries the changes.
    ///
    /// `durable` runs once everything collected is durable (journaled, or not journaled at
    /// all), before the changes go into `engine.pending`: the committer answers its requests
    /// there, so that they do not wait for bookkeeping. The caller holds the engine, so no
    /// snapshot can take `pending` in between.
    fn collect(
        &self,
        engine: &mut Engine,
        only: Option<&[String]>,
        durable: impl FnOnce(),
    ) -> StateResult<()> {
        let (changes, taken) = self.take_changes(engine, only);
        if self.persistence().config.journaled()
            && let Err(err) = self.journal_changes(engine, &changes)
        {
            for svc in self.services() {
                svc.mark_all();
            }
            return Err(err);
        }
        if taken.is_ok() {
            durable();
        }
        for (path, entry) in changes {
            engine.pending.apply(path, entry);
        }
        taken
    }

    /// Takes the selected services' changes and returns them in order, with the first error.
    /// A service whose changes could not be encoded is marked to be saved whole next time;
    /// the changes of the services before it are returned all the same (their marks are
    /// gone).
    fn take_changes(
        &self,
        engine: &Engine,
        only: Option<&[String]>,
    ) -> (Vec<(StatePath, Option<Entry>)>, StateResult<()>) {
        let store = self.store();
        let now = self.clock().now_ms();
        let mut out = Vec::new();
        for svc in self.services() {
            if only.is_some_and(|o| !o.iter().any(|s| s == svc.name()))
                || !self.is_loaded(svc.name())
            {
                continue;
            }
            let changes = svc
                .export_changes(now)
                .map_err(|e| StateError {
                    service: Some(svc.name().to_owned()),
                    message: e,
                })
                .and_then(|delta| {
                    state::delta_changes(store, svc.name(), delta, engine.base, &engine.pending)
                });
            match changes {
                Ok(c) => out.extend(c),
                Err(e) => {
                    svc.mark_all();
                    return (out, Err(e));
                }
            }
        }
        (out, Ok(()))
    }

    /// Saves a snapshot (collecting the selected services' changes; all when `only` is None)
    /// and makes it the latest. Saves run one at a time, off the async threads.
    pub async fn save_snapshot(&self, only: Option<Vec<String>>) -> StateResult<CommitId> {
        let p = self.persistence();
        let _guard = p.save_lock.lock().await;
        let target = p.mutations.load(Ordering::SeqCst);
        let whole = only.is_none();
        let gw = self.clone();
        let result = tokio::task::spawn_blocking(move || gw.snapshot_blocking(only.as_deref()))
            .await
            .map_err(task_error)?;
        match &result {
            Ok(c) => {
                if whole {
                    p.saved.fetch_max(target, Ordering::SeqCst);
                    p.committer.answer(&p.saved, None);
                }
                p.note(|s| s.last_snapshot = Some(c.to_string()));
            }
            Err(e) => p.note(|s| s.problems.push(format!("save failed: {e}"))),
        }
        result
    }

    fn snapshot_blocking(&self, only: Option<&[String]>) -> StateResult<CommitId> {
        let taken = self.snapshot_take(only)?;
        self.snapshot_finish(taken)
    }

    /// A snapshot's first step, under the engine lock: collects (journaled under
    /// ON_REQUEST, see `collect`), and starts a new journal file (changes acknowledged from
    /// now on go there); the snapshot covers every journal before it.
    fn snapshot_take(&self, only: Option<&[String]>) -> StateResult<SnapshotTaken> {
        let p = self.persistence();
        let mut e = p.engine();
        self.collect(&mut e, only, || {})?;
        // Appends from now on go to a new file (`next_journal` is already past this one).
        e.journal = None;
        Ok(SnapshotTaken {
            base: e.base,
            changes: std::mem::take(&mut e.pending),
            covers: e.next_journal,
        })
    }

    /// A snapshot's second step, off the engine lock: builds and commits the tree, then
    /// deletes the journals it covers.
    fn snapshot_finish(&self, taken: SnapshotTaken) -> StateResult<CommitId> {
        let store = self.store();
        let p = self.persistence();
        let SnapshotTaken {
            base,
            changes,
            covers,
        } = taken;
        let built = (|| {
            let root = changes.apply_to(store, base)?;
            let services = self.services();
            let opts = CommitOptions {
                message: snapshot_message(covers),
                author: "podstack".into(),
                time: Some(self.clock().now_secs()),
                ..CommitOptions::default()
            };
            let commit = state::commit_tree(store, root, &services, opts)?;
            state::advance_snapshot_refs(store, commit)?;
            Ok((root, commit))
        })();
        let mut e = p.engine();
        match built {
            Ok((root, commit)) => {
                e.base = Some(root);
                drop(e);
                if let Err(err) = journal::remove_before(&p.journal_dir, covers) {
                    p.note(|s| {
                        s.problems
                            .push(format!("removing journals before {covers} failed: {err}"))
                    });
                }
                Ok(commit)
            }
            Err(err) => {
                // Keep the changes for the next save, before those collected meanwhile.
                let later = std::mem::take(&mut e.pending);
                e.pending = changes;
                e.pending.merge(later);
                Err(err)
            }
        }
    }

    /// ON_REQUEST saving: returns once the changes of generation `generation` are durable
    /// (in the journal, fsynced, or in a snapshot).
    pub async fn durable(&self, generation: u64) -> StateResult<()> {
        let p = self.persistence();
        if p.saved.load(Ordering::SeqCst) >= generation {
            return Ok(());
        }
        let c = &p.committer;
        c.started.call_once(|| {
            let gw = self.clone();
            let runtime = tokio::runtime::Handle::current();
            let spawned = std::thread::Builder::new()
                .name("podstack-journal".into())
                .spawn(move || gw.run_committer(&runtime));
            if let Err(e) = spawned {
                let why = format!("cannot start the journal thread: {e}");
                c.answer(&p.saved, Some((u64::MAX, why)));
            }
        });
        let answered = {
            let mut w = c.waiting.lock().unwrap_or_else(|e| e.into_inner());
            // Under the lock that `answer` takes after `saved` advances: either this sees
            // the new value, or `answer` sees this request.
            if p.saved.load(Ordering::SeqCst) >= generation {
                return Ok(());
            }
            if let Some((upto, why)) = &w.failed
                && *upto >= generation
            {
                return Err(StateError::store(why.clone()));
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            w.requests.entry(generation).or_default().push(tx);
            rx
        };
        {
            let mut requested = c.requested.lock().unwrap_or_else(|e| e.into_inner());
            requested.generation = requested.generation.max(generation);
            if requested.sleeping {
                c.wake.notify_one();
            }
        }
        answered
            .await
            .map_err(task_error)?
            .map_err(StateError::store)
    }

    /// The committer thread: appends while requests wait, one append after another; starts
    /// a background snapshot when the journal has grown.
    fn run_committer(&self, runtime: &tokio::runtime::Handle) {
        let p = self.persistence();
        let c = &p.committer;
        loop {
            {
                let mut requested = c.requested.lock().unwrap_or_else(|e| e.into_inner());
                while requested.generation <= p.saved.load(Ordering::SeqCst) {
                    requested.sleeping = true;
                    requested = c.wake.wait(requested).unwrap_or_else(|e| e.into_inner());
                    requested.sleeping = false;
                }
            }
            let target = p.mutations.load(Ordering::SeqCst);
            let answer = || {
                p.saved.fetch_max(target, Ordering::SeqCst);
                c.answer(&p.saved, None);
            };
            match self.journal_blocking(answer) {
                Ok(big) => {
                    if big && !p.snapshotting.swap(true, Ordering::SeqCst) {
                        let gw = self.clone();
                        runtime.spawn(async move {
                            let _ = gw.save_snapshot(None).await;
                            gw.persistence().snapshotting.store(false, Ordering::SeqCst);
                        });
                    }
                }
                Err(e) => {
                    p.note(|s| s.problems.push(format!("journal append failed: {e}")));
                    c.answer(&p.saved, Some((target, e.to_string())));
                    // Whoever waits now has been answered; wait for new requests.
                    let mut requested = c.requested.lock().unwrap_or_else(|e| e.into_inner());
                    if requested.generation <= target {
                        requested.generation = p.saved.load(Ordering::SeqCst);
                    }
                }
            }
        }
    }

    /// One journal append: collects every change, writes it with the objects it needs that
    /// are not durable yet, fsyncs, then calls `durable`. Returns whether a snapshot is due.
    fn journal_blocking(&self, durable: impl FnOnce()) -> StateResult<bool> {
        let p = self.persistence();
        let mut e = p.engine();
        self.collect(&mut e, None, durable)?;
        let journal_bytes = e.journal.as_ref().map_or(0, |j| j.len);
        Ok(journal_bytes > SNAPSHOT_JOURNAL_BYTES || e.pending.len() > SNAPSHOT_PENDING_PATHS)
    }

    /// Appends `changes`, just collected, to the journal with the objects they need that
    /// are not durable yet; returns once they are durable.
    fn journal_changes(
        &self,
        e: &mut Engine,
        changes: &[(StatePath, Option<Entry>)],
    ) -> StateResult<()> {
        let p = self.persistence();
        let store = self.store();
        if !changes.is_empty() {
            let mut ids = Vec::new();
            for (_, entry) in changes {
                if let Some(Entry::Doc { id, blobs, .. }) = entry {
                    ids.push(id.0);
                    ids.extend(blobs.iter().map(|b| b.id.0));
                }
            }
            let objects = store.unflushed(&ids).map_err(StateError::store)?;
            let payload = journal::encode(&objects, changes).map_err(StateError::store)?;
            if e.journal.is_none() {
                let seq = e.next_journal;
                let w = journal::Writer::create(&p.journal_dir, seq).map_err(|err| {
                    StateError::store(format!(
                        "cannot create the journal in {}: {err}",
                        p.journal_dir.display()
                    ))
                })?;
                e.next_journal = seq + 1;
                e.journal = Some(w);
            }
            if let Some(j) = e.journal.as_mut() {
                j.append(&payload).map_err(|err| {
                    StateError::store(format!("cannot append to {}: {err}", j.path().display()))
                })?;
            }
        }
        Ok(())
    }

    /// The persisted state's root: the last good snapshot with the journals after it
    /// replayed. Problems (damaged snapshots or journals) go to health and the log.
    fn recover(&self) -> StateResult<Option<TreeId>> {
        let p = self.persistence();
        let store = self.store();
        let (found, problems) = state::last_good_snapshot(store);
        p.note(|s| s.problems.extend(problems));
        let (base, from) = match found {
            Some((commit, root)) => {
                p.note(|s| s.last_snapshot = Some(commit.to_string()));
                let message = podstore::Commit::load(store, commit)
                    .map(|c| c.message)
                    .unwrap_or_default();
                (Some(root), journal_from(&message))
            }
            None => (None, 0),
        };
        let files = journal::list(&p.journal_dir).map_err(|e| {
            StateError::store(format!("cannot list {}: {e}", p.journal_dir.display()))
        })?;
        let mut pending = ChangeSet::default();
        let mut records = 0u64;
        let mut next = from;
        for (seq, path) in files {
            next = next.max(seq + 1);
            if seq < from {
                continue;
            }
            let replay = journal::read(&path)
                .map_err(|e| StateError::store(format!("cannot read {}: {e}", path.display())))?;
            for record in replay.records {
                records += 1;
                for (id, kind, bytes) in &record.objects {
                    let sound = *kind == ObjectKind::Chunks || ObjectId::of(bytes) == *id;
                    if !sound {
                        return Err(StateError::store(format!(
                            "{}: an object does not match its id {}",
                            path.display(),
                            id.short()
                        )));
                    }
                    store
                        .put_raw(*kind, *id, bytes)
                        .map_err(StateError::store)?;
                }
                for (path, entry) in record.changes {
                    pending.apply(path, entry);
                }
            }
            if let Some(d) = replay.damage {
                p.note(|s| {
                    s.problems
                        .push(format!("journal damaged, later records lost: {d}"))
                });
            }
        }
        let mut e = p.engine();
        e.base = base;
        e.pending = pending;
        e.next_journal = next;
        e.journal = None;
        let root = if e.pending.is_empty() {
            base
        } else {
            Some(e.pending.apply_to(store, base)?)
        };
        drop(e);
        p.note(|s| {
            s.recovered = Some(Recovered {
                root: root.map(|r| r.to_string()),
                journal_records: records,
            })
        });
        Ok(root)
    }

    /// Loads the persisted state (latest good snapshot and journal) into the selected
    /// services, atomically.
    pub fn load_snapshot(&self, only: Option<&[String]>) -> StateResult<Vec<String>> {
        let root = {
            let e = self.persistence().engine();
            match e.base {
                Some(_) => Some(e.pending.apply_to(self.store(), e.base)?),
                None if !e.pending.is_empty() => Some(e.pending.apply_to(self.store(), None)?),
                None => None,
            }
        };
        let root = match root {
            Some(r) => Some(r),
            None => self.recover()?,
        };
        let Some(root) = root else {
            return Ok(Vec::new());
        };
        self.load_clean(root, only)
    }

    /// Loads `root` into the selected services and forgets their marks: what they hold now
    /// is what the persisted state holds.
    fn load_clean(&self, root: TreeId, only: Option<&[String]>) -> StateResult<Vec<String>> {
        let services = self.services();
        let loaded = state::load_tree(&services, self.store(), root, self.clock().now_ms(), only)?;
        for svc in services
            .iter()
            .filter(|s| loaded.iter().any(|l| l == s.name()))
        {
            svc.mark_clean();
        }
        Ok(loaded)
    }

    /// Loads commit `commit` of the pod store with `strategy` (or reports what it would change,
    /// with `dry_run`). Every object it reaches must be present and sound first. A load is
    /// listed among the loaded pods as `pod` (`name:N`, a file), or by its commit.
    pub fn import_commit(
        &self,
        commit: CommitId,
        strategy: podstore::Strategy,
        dry_run: bool,
        pod: Option<String>,
    ) -> StateResult<state::ImportReport> {
        let root = state::check_complete(self.store(), commit)?;
        let p = self.persistence();
        let ancestor = p.last_loaded.lock().ok().and_then(|l| *l);
        let report = state::import_tree(
            &self.services(),
            self.store(),
            root,
            strategy,
            ancestor,
            dry_run,
            self.clock().now_ms(),
        )?;
        if !dry_run {
            if let Ok(mut l) = p.last_loaded.lock() {
                *l = Some(root);
            }
            let pod = pod.unwrap_or_else(|| format!("commit {}", commit.0.short()));
            crate::persist::pods::note_loaded(self, pod, strategy, commit);
        }
        Ok(report)
    }

    /// At start: recovers the persisted state and loads it per the load strategy. Never
    /// fails: problems are logged and reported in health, and the emulator starts with
    /// whatever could be loaded.
    pub fn restore_at_start(&self) -> Vec<String> {
        let p = self.persistence();
        if !p.config.enabled {
            return Vec::new();
        }
        let root = match self.recover() {
            Ok(r) => r,
            Err(e) => {
                p.note(|s| {
                    s.problems
                        .push(format!("recovering the saved state failed: {e}"))
                });
                None
            }
        };
        let Some(root) = root else {
            return Vec::new();
        };
        match p.config.load {
            LoadStrategy::Manual => Vec::new(),
            LoadStrategy::OnStartup => match self.load_clean(root, None) {
                Ok(loaded) => loaded,
                Err(e) => {
                    p.note(|s| s.problems.push(format!("loading the snapshot failed: {e}")));
                    Vec::new()
                }
            },
            LoadStrategy::OnRequest => {
                if let Ok(mut lazy) = p.lazy.lock() {
                    *lazy = Some((root, BTreeSet::new()));
                }
                Vec::new()
            }
        }
    }

    /// ON_REQUEST loading: loads `service` from the snapshot the first time it is used.
    pub fn ensure_loaded(&self, service: &str) {
        let p = self.persistence();
        let Ok(mut lazy) = p.lazy.lock() else { return };
        let Some((root, loaded)) = lazy.as_mut() else {
            return;
        };
        if loaded.contains(service) {
            return;
        }
        let root = *root;
        let only = [service.to_owned()];
        // Holding `lazy`: requests to this service wait here, so nothing changes it between
        // the load and forgetting its marks.
        if let Err(e) = self.load_clean(root, Some(&only)) {
            p.note(|s| s.problems.push(format!("loading {service} failed: {e}")));
        }
        loaded.insert(service.to_owned());
    }

    /// The SCHEDULED saver: saves every interval when something changed.
    pub async fn run_scheduled_saves(self) {
        let p = self.persistence();
        if !(p.config.enabled && p.config.save == SaveStrategy::Scheduled) {
            return;
        }
        let mut tick = tokio::time::interval(p.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.persistence().dirty() {
                let _ = self.save_snapshot(None).await;
            }
        }
    }

    /// Checks that an incremental snapshot equals the live state: saves, exports every loaded
    /// service whole and compares the trees. Returns the paths that differ (none when they
    /// are equal). Meant for an idle emulator (tests, diagnostics): a request running
    /// meanwhile can make a difference appear, so a difference is confirmed by two more
    /// rounds before it is reported.
    pub async fn verify_snapshot(&self) -> StateResult<Vec<String>> {
        let mut differences = Vec::new();
        for round in 0..3 {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let commit = self.save_snapshot(None).await?;
            let gw = self.clone();
            differences = tokio::task::spawn_blocking(move || gw.compare_with_live(commit))
                .await
                .map_err(task_error)??;
            if differences.is_empty() {
                break;
            }
        }
        Ok(differences)
    }

    fn compare_with_live(&self, commit: CommitId) -> StateResult<Vec<String>> {
        let store = self.store();
        let snapshot = podstore::Commit::load(store, commit)
            .map_err(StateError::store)?
            .root;
        let services = self.services();
        let loaded: Vec<String> = services
            .iter()
            .map(|s| s.name().to_owned())
            .filter(|s| self.is_loaded(s))
            .collect();
        let live = state::export_tree(
            &services,
            store,
            self.clock().now_ms(),
            Some(&loaded),
            Some(snapshot),
        )?;
        let changes = podstore::diff(store, snapshot, live).map_err(StateError::store)?;
        Ok(changes
            .iter()
            .map(|c| format!("{:?} {}", c.kind, c.path))
            .collect())
    }

    /// At shutdown: saves unless the strategy is MANUAL (under ON_REQUEST, a snapshot that
    /// lets the next start skip replaying the journal).
    pub async fn save_at_shutdown(&self) -> Option<StateResult<CommitId>> {
        let p = self.persistence();
        let journaled = !p.engine().pending.is_empty();
        (p.config.enabled && p.config.save != SaveStrategy::Manual && (p.dirty() || journaled))
            .then_some(())?;
        Some(self.save_snapshot(None).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::service::Context;
    use serde_json::{Value, json};

    /// A gateway saving ON_REQUEST under `dir`, with the state found there restored: a
    /// fresh process.
    fn on_request(dir: &std::path::Path) -> Gateway {
        let mut config = Config::for_tests(dir.join("store"));
        config.persist = PersistConfig {
            enabled: true,
            save: SaveStrategy::OnRequest,
            load: LoadStrategy::OnStartup,
            interval: Duration::from_secs(15),
        };
        let gw = Gateway::new(config).expect("gateway");
        gw.restore_at_start();
        gw
    }

    async fn sqs(gw: &Gateway, op: &str, input: Value) -> Value {
        let caller = Context::test("000000000000", "us-east-1");
        crate::services::sqs::ops::dispatch(gw.sqs(), &caller, op, input)
            .await
            .unwrap_or_else(|e| panic!("{op}: {e:?}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_answered_while_a_snapshot_is_built_survives_a_crash() {
        let dir = tempfile::tempdir().expect("dir");
        let gw = on_request(dir.path());
        sqs(&gw, "CreateQueue", json!({"QueueName": "first"})).await;
        gw.durable(gw.persistence().mutated()).await.expect("first");
        sqs(&gw, "CreateQueue", json!({"QueueName": "second"})).await;
        let generation = gw.persistence().mutated();
        // A background snapshot collects the change before the request's turn with the
        // committer; the request is answered; the process dies before the snapshot is built.
        let _taken = gw.snapshot_take(None).expect("take");
        gw.durable(generation).await.expect("second");
        let after_crash = on_request(dir.path());
        let listed = sqs(&after_crash, "ListQueues", json!({})).await;
        let urls: Vec<&str> = listed["QueueUrls"]
            .as_array()
            .expect("urls")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(urls.len(), 2, "{urls:?}");
        assert!(urls.iter().any(|u| u.ends_with("/second")), "{urls:?}");
    }

    #[test]
    fn an_append_answers_only_the_requests_it_made_durable() {
        let c = Committer::default();
        let saved = AtomicU64::new(0);
        let mut waiting: Vec<_> = (1..=4u64)
            .map(|generation| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                c.waiting
                    .lock()
                    .expect("lock")
                    .requests
                    .entry(generation)
                    .or_default()
                    .push(tx);
                rx
            })
            .collect();
        saved.store(2, Ordering::SeqCst);
        c.answer(&saved, None);
        assert_eq!(waiting[0].try_recv(), Ok(Ok(())));
        assert_eq!(waiting[1].try_recv(), Ok(Ok(())));
        assert!(
            waiting[2].try_recv().is_err(),
            "generation 3 is not durable yet"
        );
        // A failed append up to generation 3: its request fails, the later one waits on.
        c.answer(&saved, Some((3, "disk full".into())));
        assert_eq!(waiting[2].try_recv(), Ok(Err("disk full".into())));
        assert!(waiting[3].try_recv().is_err());
        saved.store(4, Ordering::SeqCst);
        c.answer(&saved, None);
        assert_eq!(waiting[3].try_recv(), Ok(Ok(())));
        assert!(c.waiting.lock().expect("lock").requests.is_empty());
    }

    #[test]
    fn defaults_match_localstack_names() {
        let c = PersistConfig::default();
        assert!(!c.enabled);
        assert_eq!(
            (c.save, c.load, c.interval),
            (
                SaveStrategy::Scheduled,
                LoadStrategy::OnStartup,
                Duration::from_secs(15)
            )
        );
    }
}
