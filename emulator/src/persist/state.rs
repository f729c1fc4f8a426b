//! The emulator's whole state as a value: exported as a state tree into the pod store,
//! imported (with a merge strategy, or as a dry run), loaded atomically, saved as snapshots.
//!
//! A load stages every service first (decoding and validating all its documents) and installs
//! only when all staged; on any error nothing changes and the error names the service.
//! Snapshots are commits in the pod store; the named ref `persistence` points at the latest
//! and `persistence-previous` at the one before, so a damaged snapshot falls back to the
//! previous one. Snapshots have no parents, so older ones become garbage for `store gc`.

use std::collections::{BTreeMap, HashSet};

use podstore::{
    Commit, CommitId, CommitOptions, DiffSummary, Entry, MergeOutcome, Objects, Overlay, StatePath,
    Store, Strategy, TreeId, merge, summarize, transfer, tree,
};

use crate::persist::snapshot::{Leaves, ServiceSnapshot, Staged};

/// The ref that points at the latest persistence snapshot.
pub const PERSISTENCE_REF: &str = "persistence";
/// The ref that points at the snapshot before it.
pub const PREVIOUS_REF: &str = "persistence-previous";

/// An error of a state operation, naming the service when one is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    /// The service at fault, if any.
    pub service: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl StateError {
    fn of(service: &str, message: impl Into<String>) -> Self {
        Self {
            service: Some(service.to_owned()),
            message: message.into(),
        }
    }

    /// An error of the pod store (no service at fault).
    pub fn store(e: impl std::fmt::Display) -> Self {
        Self {
            service: None,
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.service {
            Some(s) => write!(f, "{s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Result of a state operation.
pub type StateResult<T> = Result<T, StateError>;

/// Changes to a state tree accumulated in order, kept as a map from path to its last change:
/// deleting a path also drops the pending changes below it, so that applying the map with
/// `tree::update_sorted` (deletions of directories first, then what is set below them) gives
/// the same tree as applying every change in turn.
///
/// The map is keyed by [`SortKey`], which sorts like the paths but compares with one
/// `memcmp`: thousands of changed messages share their first five segments, and comparing
/// paths segment by segment was most of the cost of filing a change. The path is kept beside
/// its key, so that applying the set never splits keys back into segments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    map: BTreeMap<SortKey, (StatePath, Option<Entry>)>,
}

/// A path's segments, each followed by a NUL byte (segments never hold NUL): byte order on
/// these keys is the order of the paths, a path's subtree is the keys it prefixes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey(Box<[u8]>);

impl SortKey {
    fn of(path: &StatePath) -> Self {
        let segs = path.segments();
        let mut k = Vec::with_capacity(segs.iter().map(|s| s.len() + 1).sum());
        for s in segs {
            k.extend_from_slice(s.as_bytes());
            k.push(0);
        }
        Self(k.into_boxed_slice())
    }
}

impl ChangeSet {
    /// Deletes a leaf or a whole subtree.
    pub fn delete(&mut self, path: StatePath) {
        let key = SortKey::of(&path);
        let below: Vec<SortKey> = self
            .map
            .range((std::ops::Bound::Excluded(&key), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.0.starts_with(&key.0))
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            self.map.remove(&k);
        }
        self.map.insert(key, (path, None));
    }

    /// Applies one change (`None` deletes).
    pub fn apply(&mut self, path: StatePath, entry: Option<Entry>) {
        match entry {
            None => self.delete(path),
            Some(e) => {
                self.map.insert(SortKey::of(&path), (path, Some(e)));
            }
        }
    }

    /// Applies `later`, a change set that follows this one.
    pub fn merge(&mut self, later: ChangeSet) {
        let (deletes, sets): (Vec<_>, Vec<_>) =
            later.map.into_iter().partition(|(_, (_, e))| e.is_none());
        for (_, (p, _)) in deletes {
            self.delete(p);
        }
        for (k, v) in sets {
            self.map.insert(k, v);
        }
    }

    /// Whether there is no change.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The number of paths changed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The `(account, region, service)` scopes of `service` that the changes touch.
    pub fn scopes_of(&self, service: &str) -> Vec<StatePath> {
        let mut out: Vec<StatePath> = Vec::new();
        for (p, _) in self.map.values() {
            if let Some((a, r, s)) = p.scope()
                && s == service
                && let Ok(scope) = StatePath::new([a, r, s])
                && out.last() != Some(&scope)
                && !out.contains(&scope)
            {
                out.push(scope);
            }
        }
        out
    }

    /// `base` with the changes applied.
    pub fn apply_to(&self, objects: &dyn Objects, base: Option<TreeId>) -> StateResult<TreeId> {
        if self.is_empty()
            && let Some(b) = base
        {
            return Ok(b);
        }
        tree::update_sorted(objects, base, self.map.values().map(|(p, e)| (p, e)))
            .map_err(StateError::store)
    }
}

/// Turns a service's delta into ordered changes (deletions first), storing its documents.
/// For a full delta, every scope of the service in `base` or in `pending` is deleted first.
pub fn delta_changes(
    objects: &dyn Objects,
    service: &str,
    delta: crate::persist::snapshot::Delta,
    base: Option<TreeId>,
    pending: &ChangeSet,
) -> StateResult<Vec<(StatePath, Option<Entry>)>> {
    let (deleted, set) = match delta {
        crate::persist::snapshot::Delta::Full(leaves) => {
            let mut scopes = match base {
                Some(b) => service_scopes(objects, b, service)?,
                None => Vec::new(),
            };
            for s in pending.scopes_of(service) {
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            (scopes, leaves)
        }
        crate::persist::snapshot::Delta::Changes { deleted, set } => (deleted, set),
    };
    let mut out: Vec<(StatePath, Option<Entry>)> = deleted.into_iter().map(|p| (p, None)).collect();
    for (path, doc) in set {
        let entry =
            Entry::store_doc(objects, &doc).map_err(|e| StateError::of(service, e.to_string()))?;
        out.push((path, Some(entry)));
    }
    Ok(out)
}

/// Whether `svc` is selected by `only` (None = all).
fn selected(svc: &str, only: Option<&[String]>) -> bool {
    only.is_none_or(|o| o.iter().any(|s| s == svc))
}

/// Exports the selected services into `objects` and returns the state tree. With `base`, the
/// services not selected keep their subtrees from `base`.
pub fn export_tree(
    services: &[&dyn ServiceSnapshot],
    objects: &dyn Objects,
    now_ms: i64,
    only: Option<&[String]>,
    base: Option<TreeId>,
) -> StateResult<TreeId> {
    let mut changes: Vec<(StatePath, Option<Entry>)> = Vec::new();
    for svc in services.iter().filter(|s| selected(s.name(), only)) {
        if let Some(b) = base {
            for scope in service_scopes(objects, b, svc.name())? {
                changes.push((scope, None));
            }
        }
        let leaves = svc
            .export(now_ms)
            .map_err(|e| StateError::of(svc.name(), e))?;
        for (path, doc) in leaves {
            let entry = Entry::store_doc(objects, &doc)
                .map_err(|e| StateError::of(svc.name(), e.to_string()))?;
            changes.push((path, Some(entry)));
        }
    }
    let start = if only.is_some() { base } else { None };
    tree::update(objects, start, changes).map_err(StateError::store)
}

/// The `(account, region, service)` directories of `service` in a tree.
pub fn service_scopes(
    objects: &dyn Objects,
    root: TreeId,
    service: &str,
) -> StateResult<Vec<StatePath>> {
    let mut out = Vec::new();
    for (account, a) in tree::read_dir(objects, root).map_err(StateError::store)? {
        let Entry::Tree { id: acc, .. } = a else {
            continue;
        };
        for (region, r) in tree::read_dir(objects, acc).map_err(StateError::store)? {
            let Entry::Tree { id: reg, .. } = r else {
                continue;
            };
            if tree::lookup(objects, reg, service)
                .map_err(StateError::store)?
                .is_some()
            {
                out.push(
                    StatePath::new([account.as_str(), region.as_str(), service])
                        .map_err(StateError::store)?,
                );
            }
        }
    }
    Ok(out)
}

/// Every leaf of `service` in a tree, with its document read and parsed.
pub fn service_leaves(objects: &dyn Objects, root: TreeId, service: &str) -> StateResult<Leaves> {
    let mut out = Vec::new();
    for scope in service_scopes(objects, root, service)? {
        let Some(Entry::Tree { id, .. }) =
            tree::get(objects, root, &scope).map_err(StateError::store)?
        else {
            continue;
        };
        let mut err = None;
        tree::walk(objects, id, &mut |rel, entry| {
            let mut path = scope.clone();
            for seg in rel.segments() {
                path = path.join(seg);
            }
            match entry {
                Entry::Doc { id, .. } => {
                    let bytes = objects.get_kind(&id.0, podstore::ObjectKind::Document)?;
                    let doc = podstore::Document::parse(&bytes)?;
                    out.push((path, doc));
                }
                _ => err = Some(format!("{path} is a blob, not a resource document")),
            }
            Ok(())
        })
        .map_err(|e| StateError::of(service, e.to_string()))?;
        if let Some(e) = err {
            return Err(StateError::of(service, e));
        }
    }
    Ok(out)
}

/// Loads `root` into the selected services atomically: all stage, then all install.
/// Services absent from the tree load empty.
pub fn load_tree(
    services: &[&dyn ServiceSnapshot],
    objects: &dyn Objects,
    root: TreeId,
    now_ms: i64,
    only: Option<&[String]>,
) -> StateResult<Vec<String>> {
    let mut names = Vec::new();
    let mut staged: Vec<Staged<'_>> = Vec::new();
    for svc in services.iter().filter(|s| selected(s.name(), only)) {
        let leaves = service_leaves(objects, root, svc.name())?;
        let s = svc
            .stage(leaves, now_ms)
            .map_err(|e| StateError::of(svc.name(), e))?;
        names.push(svc.name().to_owned());
        staged.push(s);
    }
    staged.into_iter().for_each(|s| s.install());
    Ok(names)
}

/// Checks that every object a commit reaches is present and sound before anything is loaded.
pub fn check_complete(store: &Store, commit: CommitId) -> StateResult<TreeId> {
    let reach =
        transfer::reachable(store, &[commit], &HashSet::new(), true).map_err(StateError::store)?;
    if let Some(p) = reach.problems.first() {
        return Err(StateError::store(format!(
            "commit {} is incomplete: {p}",
            commit.0.short()
        )));
    }
    Ok(Commit::load(store, commit).map_err(StateError::store)?.root)
}

/// Stores a commit of `root` and flushes the store (everything durable).
pub fn commit_tree(
    store: &Store,
    root: TreeId,
    services: &[&dyn ServiceSnapshot],
    opts: CommitOptions,
) -> StateResult<CommitId> {
    let mut opts = opts;
    for svc in services {
        let schemas = svc
            .schemas()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        opts.schemas.insert(svc.name().to_owned(), schemas);
    }
    opts.emulator_version = format!("podstack {}", env!("CARGO_PKG_VERSION"));
    let commit = Commit::new(store, root, opts).map_err(StateError::store)?;
    let id = commit.store(store).map_err(StateError::store)?;
    store.flush().map_err(StateError::store)?;
    Ok(id)
}

/// What an import did (or would do, for a dry run).
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Changes per (account, region, service).
    pub summary: DiffSummary,
    /// Conflicts of a three-way merge.
    pub conflicts: Vec<podstore::Conflict>,
    /// Services loaded.
    pub services: Vec<String>,
}

/// Merges `incoming` into the current state with `strategy` (against `ancestor` for
/// three-way) and loads the result atomically; with `dry_run`, only reports.
pub fn import_tree(
    services: &[&dyn ServiceSnapshot],
    store: &Store,
    incoming: TreeId,
    strategy: Strategy,
    ancestor: Option<TreeId>,
    dry_run: bool,
    now_ms: i64,
) -> StateResult<ImportReport> {
    let overlay = Overlay::new(store);
    let objects: &dyn Objects = if dry_run { &overlay } else { store };
    let current = export_tree(services, objects, now_ms, None, None)?;
    let MergeOutcome {
        root,
        changes,
        conflicts,
    } = merge(objects, current, incoming, strategy, ancestor).map_err(StateError::store)?;
    let summary = summarize(&changes);
    let touched: Vec<String> = changes
        .iter()
        .filter_map(|c| c.path.scope().map(|(_, _, s)| s.to_owned()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let services_loaded = if dry_run {
        touched
    } else {
        load_tree(services, objects, root, now_ms, Some(&touched))?
    };
    Ok(ImportReport {
        summary,
        conflicts,
        services: services_loaded,
    })
}

/// Per-service counts of a summary: `service → (added, modified, deleted)`.
pub fn per_service(summary: &DiffSummary) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for ((_, _, svc), c) in &summary.scopes {
        let e = out.entry(svc.clone()).or_default();
        e.0 += c.added;
        e.1 += c.modified;
        e.2 += c.deleted;
    }
    out
}

/// Finds the newest snapshot that loads: the latest, else the previous one. Returns it and
/// the problems met on the way (reported in health and the log).
pub fn last_good_snapshot(store: &Store) -> (Option<(CommitId, TreeId)>, Vec<String>) {
    let mut problems = store.problems();
    for name in [PERSISTENCE_REF, PREVIOUS_REF] {
        match store.get_ref(name) {
            Ok(None) => {}
            Ok(Some(c)) => match check_complete(store, c) {
                Ok(root) => return (Some((c, root)), problems),
                Err(e) => problems.push(format!("snapshot {} ({name}) unusable: {e}", c.0.short())),
            },
            Err(e) => problems.push(format!("snapshot ref {name} unreadable: {e}")),
        }
    }
    (None, problems)
}

/// Records `commit` as the latest snapshot, keeping the former latest as the previous one.
pub fn advance_snapshot_refs(store: &Store, commit: CommitId) -> StateResult<()> {
    if let Some(prev) = store.get_ref(PERSISTENCE_REF).map_err(StateError::store)?
        && prev != commit
    {
        store
            .set_ref(PREVIOUS_REF, prev)
            .map_err(StateError::store)?;
    }
    store
        .set_ref(PERSISTENCE_REF, commit)
        .map_err(StateError::store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::snapshot::decode::DecodeError;
    use podstore::Document;
    use serde_json::json;
    use std::sync::Mutex;

    /// A service whose state is a map of (account, region, id) → value.
    #[derive(Default)]
    struct Fake {
        name: &'static str,
        state: Mutex<BTreeMap<(String, String, String), i64>>,
        fail_on: Option<i64>,
    }

    impl Fake {
        fn named(name: &'static str) -> Self {
            Self {
                name,
                ..Self::default()
            }
        }
    }

    impl ServiceSnapshot for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn schemas(&self) -> Vec<(&'static str, u32)> {
            vec![("fake.item", 1)]
        }
        fn export(&self, _: i64) -> Result<Leaves, String> {
            let st = self.state.lock().map_err(|e| e.to_string())?;
            st.iter()
                .map(|((a, r, id), v)| {
                    let p =
                        StatePath::new([a.as_str(), r.as_str(), self.name, "item", id.as_str()])
                            .map_err(|e| e.to_string())?;
                    let d = Document::new(json!({"schema": "fake.item/1", "v": v}))
                        .map_err(|e| e.to_string())?;
                    Ok((p, d))
                })
                .collect()
        }
        fn stage(&self, leaves: Leaves, _: i64) -> Result<Staged<'_>, DecodeError> {
            let mut m = BTreeMap::new();
            for (p, d) in leaves {
                let s = p.segments();
                let v = d.value()["v"]
                    .as_i64()
                    .ok_or_else(|| DecodeError::new(&p, "no v"))?;
                if Some(v) == self.fail_on {
                    return Err(DecodeError::new(&p, format!("refusing {v}")));
                }
                m.insert((s[0].clone(), s[1].clone(), s[4].clone()), v);
            }
            Ok(crate::persist::snapshot::staged(self, m, |f, m| {
                if let Ok(mut st) = f.state.lock() {
                    *st = m;
                }
            }))
        }
        fn reset(&self) {
            if let Ok(mut st) = self.state.lock() {
                st.clear();
            }
        }
        fn export_changes(&self, now: i64) -> Result<crate::persist::snapshot::Delta, String> {
            Ok(crate::persist::snapshot::Delta::Full(self.export(now)?))
        }
        fn mark_all(&self) {}
        fn mark_clean(&self) {}
    }

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).expect("path")
    }

    fn doc_entry(store: &Store, v: i64) -> Entry {
        let d = Document::new(json!({"schema": "fake.item/1", "v": v})).expect("doc");
        Entry::store_doc(store, &d).expect("store")
    }

    /// Sort keys order paths as paths order, and a path's key prefixes exactly its subtree's.
    #[test]
    fn sort_keys_sort_like_paths() {
        let paths: Vec<StatePath> = [
            vec!["a"],
            vec!["a", "b"],
            vec!["a", "b", "c"],
            vec!["a", "b2"],
            vec!["a", "b2", "x"],
            vec!["a", "z"],
            vec!["a", "é"],
            vec!["ab"],
            vec!["a\u{1}"],
            vec!["b", "a/b", "%"],
        ]
        .into_iter()
        .map(|s| StatePath::new(s).expect("path"))
        .collect();
        for x in &paths {
            for y in &paths {
                assert_eq!(SortKey::of(x).cmp(&SortKey::of(y)), x.cmp(y), "{x} vs {y}");
                assert_eq!(
                    SortKey::of(x).0.starts_with(&SortKey::of(y).0),
                    x.starts_with(y.segments()),
                    "{x} below {y}"
                );
            }
        }
        let mut set = ChangeSet::default();
        for x in &paths {
            set.apply(x.clone(), None);
        }
        set.apply(StatePath::new(["a", "b"]).expect("path"), None);
        let left: Vec<String> = set.map.values().map(|(p, _)| p.to_string()).collect();
        assert_eq!(
            left,
            [
                "a",
                "a/b",
                "a/b2",
                "a/b2/x",
                "a/z",
                "a/é",
                "a\u{1}",
                "ab",
                "b/a%2Fb/%25"
            ]
        );
    }

    /// Applying a change set equals applying its changes one by one, whatever the order of
    /// deletions of directories and sets below them.
    #[test]
    fn change_sets_equal_changes_applied_in_turn() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("store");
        let a = "000000000000/us-east-1/s3/object/b";
        let base = tree::update(
            &store,
            None,
            vec![
                (p(&format!("{a}/old")), Some(doc_entry(&store, 1))),
                (
                    p("000000000000/us-east-1/s3/bucket/b"),
                    Some(doc_entry(&store, 2)),
                ),
            ],
        )
        .expect("base");
        let steps: Vec<(StatePath, Option<Entry>)> = vec![
            (p(&format!("{a}/x")), Some(doc_entry(&store, 3))),
            (p(a), None),
            (p(&format!("{a}/y")), Some(doc_entry(&store, 4))),
            (p(&format!("{a}/z")), Some(doc_entry(&store, 5))),
            (p(&format!("{a}/z")), None),
            (p("000000000000/us-east-1/s3/bucket/b"), None),
            (
                p("000000000000/us-east-1/s3/bucket/b"),
                Some(doc_entry(&store, 6)),
            ),
        ];
        let mut one_by_one = base;
        for s in &steps {
            one_by_one = tree::update(&store, Some(one_by_one), vec![s.clone()]).expect("step");
        }
        // Split in two sets and merged, as a failed save does.
        let mut first = ChangeSet::default();
        let mut second = ChangeSet::default();
        for (i, (path, e)) in steps.into_iter().enumerate() {
            if i < 3 {
                first.apply(path, e);
            } else {
                second.apply(path, e);
            }
        }
        first.merge(second);
        let at_once = first.apply_to(&store, Some(base)).expect("apply");
        assert_eq!(at_once, one_by_one);
        let names: Vec<String> = tree::leaves(&store, at_once)
            .expect("leaves")
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "000000000000/us-east-1/s3/bucket/b",
                "000000000000/us-east-1/s3/object/b/y"
            ]
        );
    }

    fn set(f: &Fake, a: &str, r: &str, id: &str, v: i64) {
        f.state
            .lock()
            .expect("lock")
            .insert((a.into(), r.into(), id.into()), v);
    }

    fn get(f: &Fake) -> BTreeMap<(String, String, String), i64> {
        f.state.lock().expect("lock").clone()
    }

    #[test]
    fn export_load_round_trip_and_atomic_failure() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("store");
        let a = Fake::named("aaa");
        let b = Fake {
            name: "bbb",
            fail_on: Some(99),
            ..Fake::default()
        };
        set(&a, "000000000000", "us-east-1", "x", 1);
        set(&b, "000000000000", "us-east-1", "y", 2);
        let services: [&dyn ServiceSnapshot; 2] = [&a, &b];
        let root = export_tree(&services, &store, 0, None, None).expect("export");
        set(&a, "000000000000", "us-east-1", "x", 5);
        load_tree(&services, &store, root, 0, None).expect("load");
        assert_eq!(get(&a).values().copied().collect::<Vec<_>>(), [1]);
        // A tree that b refuses: nothing changes, the error names b.
        set(&b, "000000000000", "us-east-1", "y", 99);
        let bad = export_tree(&services, &store, 0, None, None).expect("export");
        set(&a, "000000000000", "us-east-1", "x", 7);
        set(&b, "000000000000", "us-east-1", "y", 3);
        let err = load_tree(&services, &store, bad, 0, None).expect_err("b refuses");
        assert_eq!(err.service.as_deref(), Some("bbb"));
        assert_eq!(
            get(&a).values().copied().collect::<Vec<_>>(),
            [7],
            "a unchanged"
        );
        assert_eq!(
            get(&b).values().copied().collect::<Vec<_>>(),
            [3],
            "b unchanged"
        );
    }

    #[test]
    fn per_service_export_keeps_other_services_and_imports_merge() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("store");
        let a = Fake::named("aaa");
        let b = Fake::named("bbb");
        set(&a, "000000000000", "us-east-1", "x", 1);
        set(&b, "000000000000", "us-east-1", "y", 2);
        let services: [&dyn ServiceSnapshot; 2] = [&a, &b];
        let full = export_tree(&services, &store, 0, None, None).expect("export");
        set(&a, "000000000000", "us-east-1", "x", 10);
        set(&b, "000000000000", "us-east-1", "y", 20);
        let only_a =
            export_tree(&services, &store, 0, Some(&["aaa".into()]), Some(full)).expect("export a");
        let b_leaves = service_leaves(&store, only_a, "bbb").expect("b");
        assert_eq!(b_leaves[0].1.value()["v"], 2, "b kept from the base");
        // Pod from another account/region merged into the runtime: both present.
        let pod_a = Fake::named("aaa");
        set(&pod_a, "0123456789", "us-east-1", "p", 3);
        let pod =
            export_tree(&[&pod_a as &dyn ServiceSnapshot], &store, 0, None, None).expect("pod");
        let dry = import_tree(
            &services,
            &store,
            pod,
            Strategy::AccountRegionMerge,
            None,
            true,
            0,
        )
        .expect("dry");
        assert_eq!(per_service(&dry.summary)["aaa"], (1, 0, 0));
        assert_eq!(get(&a).len(), 1, "a dry run changes nothing");
        import_tree(
            &services,
            &store,
            pod,
            Strategy::AccountRegionMerge,
            None,
            false,
            0,
        )
        .expect("import");
        assert_eq!(get(&a).len(), 2);
        import_tree(&services, &store, pod, Strategy::Overwrite, None, false, 0)
            .expect("overwrite");
        assert_eq!(get(&a).len(), 1);
        assert!(
            get(&b).is_empty(),
            "overwrite empties services absent from the pod"
        );
    }

    #[test]
    fn corrupt_snapshots_fall_back_to_the_previous_one() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("store");
        let a = Fake::named("aaa");
        set(&a, "000000000000", "us-east-1", "x", 1);
        let services: [&dyn ServiceSnapshot; 1] = [&a];
        let root = export_tree(&services, &store, 0, None, None).expect("export");
        let good = commit_tree(&store, root, &services, CommitOptions::default()).expect("commit");
        advance_snapshot_refs(&store, good).expect("ref");
        let bogus_root = TreeId(podstore::ObjectId::of(b"missing tree"));
        let bad = Commit::new(
            &store,
            tree::empty(&store).expect("empty"),
            CommitOptions::default(),
        )
        .expect("c");
        let bad = Commit {
            root: bogus_root,
            ..bad
        }
        .store(&store)
        .expect("store bad");
        store.flush().expect("flush");
        advance_snapshot_refs(&store, bad).expect("ref");
        let (found, problems) = last_good_snapshot(&store);
        assert_eq!(found.map(|f| f.0), Some(good));
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
