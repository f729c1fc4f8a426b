//! Persistence (`PERSISTENCE=1`): snapshots of the whole state in the pod store, saved by
//! strategy and loaded at start or lazily.
//!
//! - `SNAPSHOT_SAVE_STRATEGY=ON_REQUEST`: a mutating request is answered only once a snapshot
//!   containing it is durable; concurrent requests share one save (group commit).
//! - `SCHEDULED` (default): every `SNAPSHOT_FLUSH_INTERVAL` seconds (15), when something changed.
//! - `ON_SHUTDOWN`: on SIGINT/SIGTERM. `SCHEDULED` and `ON_REQUEST` also save then.
//! - `MANUAL`: only through `POST /_localstack/state/save`.
//! - `SNAPSHOT_LOAD_STRATEGY=ON_STARTUP` (default here), `ON_REQUEST` (each service on its first
//!   request), `MANUAL` (only through `POST /_localstack/state/load`).
//!
//! A save copies each service's state under its lock (the only time requests wait), then
//! encodes, stores and fsyncs outside every lock; saves run one at a time.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use podstore::{CommitId, CommitOptions, TreeId};

use crate::gateway::Gateway;
use crate::state::{self, StateError, StateResult};

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
    mutations: AtomicU64,
    saved: AtomicU64,
    save_lock: tokio::sync::Mutex<()>,
    /// The root of the snapshot loaded lazily, and the services already loaded from it.
    lazy: Mutex<Option<(TreeId, BTreeSet<String>)>>,
    status: Mutex<Status>,
    /// The tree last loaded from a pod: the ancestor of the next three-way merge.
    last_loaded: Mutex<Option<TreeId>>,
}

/// What health reports about persistence.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Status {
    /// The latest durable snapshot.
    pub last_snapshot: Option<String>,
    /// Problems found at start (damaged snapshots, unreadable files) or by the last save.
    pub problems: Vec<String>,
}

impl Persistence {
    /// Persistence with `config`.
    pub fn new(config: PersistConfig) -> Self {
        Self {
            config,
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
}

impl Gateway {
    /// Saves a snapshot of the selected services (all when `only` is None) and makes it the
    /// latest. Saves run one at a time; the work runs off the async threads.
    pub async fn save_snapshot(&self, only: Option<Vec<String>>) -> StateResult<CommitId> {
        let _guard = self.persistence().save_lock.lock().await;
        self.save_holding_lock(only).await
    }

    /// The body of [`Self::save_snapshot`]; the caller holds `save_lock`.
    async fn save_holding_lock(&self, only: Option<Vec<String>>) -> StateResult<CommitId> {
        let p = self.persistence();
        let target = p.mutations.load(Ordering::SeqCst);
        let gw = self.clone();
        let whole = only.is_none();
        let result = tokio::task::spawn_blocking(move || gw.save_blocking(only.as_deref()))
            .await
            .map_err(|e| StateError {
                service: None,
                message: format!("save task failed: {e}"),
            })?;
        match &result {
            Ok(c) => {
                if whole {
                    p.saved.fetch_max(target, Ordering::SeqCst);
                }
                p.note(|s| s.last_snapshot = Some(c.to_string()));
            }
            Err(e) => p.note(|s| s.problems.push(format!("save failed: {e}"))),
        }
        result
    }

    fn save_blocking(&self, only: Option<&[String]>) -> StateResult<CommitId> {
        let store = self.store();
        let services = self.services();
        let base = match only {
            Some(_) => state::last_good_snapshot(store).0.map(|(_, root)| root),
            None => None,
        };
        let root = state::export_tree(&services, store, self.clock().now_ms(), only, base)?;
        let opts = CommitOptions {
            message: "persistence snapshot".into(),
            author: "podstack".into(),
            time: Some(self.clock().now_secs()),
            ..CommitOptions::default()
        };
        let commit = state::commit_tree(store, root, &services, opts)?;
        state::advance_snapshot_refs(store, commit)?;
        Ok(commit)
    }

    /// ON_REQUEST saving: returns once a snapshot containing generation `gen` is durable.
    /// The check is repeated once the save lock is held: a save that began while this request
    /// waited for the lock already holds its change, so concurrent requests share that save.
    pub async fn durable(&self, generation: u64) -> StateResult<()> {
        let p = self.persistence();
        while p.saved.load(Ordering::SeqCst) < generation {
            let _guard = p.save_lock.lock().await;
            if p.saved.load(Ordering::SeqCst) >= generation {
                break;
            }
            self.save_holding_lock(None).await?;
        }
        Ok(())
    }

    /// Loads the latest good snapshot into the selected services (atomically).
    pub fn load_snapshot(&self, only: Option<&[String]>) -> StateResult<Vec<String>> {
        let (found, problems) = state::last_good_snapshot(self.store());
        let p = self.persistence();
        p.note(|s| s.problems.extend(problems));
        let Some((commit, root)) = found else {
            return Ok(Vec::new());
        };
        let loaded = state::load_tree(
            &self.services(),
            self.store(),
            root,
            self.clock().now_ms(),
            only,
        )?;
        p.note(|s| s.last_snapshot = Some(commit.to_string()));
        Ok(loaded)
    }

    /// Loads commit `commit` of the pod store with `strategy` (or reports what it would change,
    /// with `dry_run`). Every object it reaches must be present and sound first.
    pub fn import_commit(
        &self,
        commit: CommitId,
        strategy: podstore::Strategy,
        dry_run: bool,
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
        if !dry_run && let Ok(mut l) = p.last_loaded.lock() {
            *l = Some(root);
        }
        Ok(report)
    }

    /// At start: loads per the load strategy. Never fails: problems are logged and reported
    /// in health, and the emulator starts with whatever could be loaded.
    pub fn restore_at_start(&self) -> Vec<String> {
        let p = self.persistence();
        if !p.config.enabled {
            return Vec::new();
        }
        match p.config.load {
            LoadStrategy::Manual => Vec::new(),
            LoadStrategy::OnStartup => match self.load_snapshot(None) {
                Ok(loaded) => loaded,
                Err(e) => {
                    p.note(|s| s.problems.push(format!("loading the snapshot failed: {e}")));
                    Vec::new()
                }
            },
            LoadStrategy::OnRequest => {
                let (found, problems) = state::last_good_snapshot(self.store());
                p.note(|s| s.problems.extend(problems));
                if let Some((commit, root)) = found {
                    p.note(|s| s.last_snapshot = Some(commit.to_string()));
                    if let Ok(mut lazy) = p.lazy.lock() {
                        *lazy = Some((root, BTreeSet::new()));
                    }
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
        if !loaded.insert(service.to_owned()) {
            return;
        }
        let only = [service.to_owned()];
        if let Err(e) = state::load_tree(
            &self.services(),
            self.store(),
            *root,
            self.clock().now_ms(),
            Some(&only),
        ) {
            p.note(|s| s.problems.push(format!("loading {service} failed: {e}")));
        }
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

    /// At shutdown: saves unless the strategy is MANUAL.
    pub async fn save_at_shutdown(&self) -> Option<StateResult<CommitId>> {
        let p = self.persistence();
        (p.config.enabled && p.config.save != SaveStrategy::Manual && p.dirty()).then_some(())?;
        Some(self.save_snapshot(None).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
