//! Leaf-level diffs of state trees, and per-scope summaries of them.
//!
//! A diff lists the documents and blobs that were added, modified or deleted between two trees,
//! sorted by path; directories are recursed, never reported. Equal subtrees are skipped by id
//! without being read, and two sharded directories are compared slot by slot, so the cost of a
//! diff grows with the size of the change, not with the size of the trees.
//!
//! A name that is a directory on one side and a leaf on the other shows as the deletion of the
//! old leaves and the addition of the new ones. [`apply`] turns a diff back into a tree update.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::commit::Commit;
use crate::error::Result;
use crate::id::{CommitId, TreeId};
use crate::object::Objects;
use crate::path::StatePath;
use crate::tree::{self, Entry, Node};

/// What happened to a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Present only in the new tree.
    Added,
    /// Present in both with different entries.
    Modified,
    /// Present only in the old tree.
    Deleted,
}

/// One changed leaf (document or blob).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Where.
    pub path: StatePath,
    /// What happened.
    pub kind: ChangeKind,
    /// The entry in the old tree (`None` when added).
    pub old: Option<Entry>,
    /// The entry in the new tree (`None` when deleted).
    pub new: Option<Entry>,
}

impl Change {
    fn new(path: StatePath, old: Option<Entry>, new: Option<Entry>) -> Self {
        let kind = match (&old, &new) {
            (None, _) => ChangeKind::Added,
            (_, None) => ChangeKind::Deleted,
            _ => ChangeKind::Modified,
        };
        Self {
            path,
            kind,
            old,
            new,
        }
    }

    /// The change as an update for [`tree::update`]: set the new entry, or delete.
    pub fn into_update(self) -> (StatePath, Option<Entry>) {
        (self.path, self.new)
    }
}

/// The leaves that differ between `old` and `new`, sorted by path.
pub fn diff<O: Objects + ?Sized>(objects: &O, old: TreeId, new: TreeId) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    diff_nodes(objects, old, new, &StatePath::default(), &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The leaves that differ between the root trees of commits `a` and `b`, sorted by path.
pub fn diff_commits<O: Objects + ?Sized>(
    objects: &O,
    a: CommitId,
    b: CommitId,
) -> Result<Vec<Change>> {
    let old = Commit::load(objects, a)?.root;
    let new = Commit::load(objects, b)?.root;
    diff(objects, old, new)
}

/// Applies `changes` (e.g. a diff from `root` to some other tree) to `root`. A leaf that
/// replaces a directory is accepted: the deletions below it are implied by setting it.
pub fn apply<O: Objects + ?Sized>(objects: &O, root: TreeId, changes: &[Change]) -> Result<TreeId> {
    let updates = changes.iter().cloned().map(Change::into_update).collect();
    apply_updates(objects, root, updates)
}

/// [`tree::update`] of `root`; returns `root` itself when there is nothing to change.
pub(crate) fn apply_updates<O: Objects + ?Sized>(
    objects: &O,
    root: TreeId,
    updates: Vec<(StatePath, Option<Entry>)>,
) -> Result<TreeId> {
    if updates.is_empty() {
        return Ok(root);
    }
    tree::update(objects, Some(root), updates)
}

/// Whether `path` lies strictly below `dir`.
pub(crate) fn is_below(path: &StatePath, dir: &StatePath) -> bool {
    path.len() > dir.len() && path.starts_with(dir.segments())
}

/// Diffs two nodes of the same directory (`at`), skipping equal ids.
fn diff_nodes<O: Objects + ?Sized>(
    objects: &O,
    old: TreeId,
    new: TreeId,
    at: &StatePath,
    out: &mut Vec<Change>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let (a, _) = tree::read_node(objects, old)?;
    let (b, _) = tree::read_node(objects, new)?;
    match (a, b) {
        (
            Node::Sharded {
                depth: da,
                slots: sa,
            },
            Node::Sharded {
                depth: db,
                slots: sb,
            },
        ) if da == db => {
            for (x, y) in sa.iter().zip(sb.iter()) {
                diff_slot(objects, x.map(|s| s.0), y.map(|s| s.0), at, out)?;
            }
            Ok(())
        }
        (a, b) => {
            let old = node_entries(objects, a)?;
            let new = node_entries(objects, b)?;
            diff_entries(objects, old, new, at, out)
        }
    }
}

/// Diffs one slot of two sharded nodes at the same depth.
fn diff_slot<O: Objects + ?Sized>(
    objects: &O,
    old: Option<TreeId>,
    new: Option<TreeId>,
    at: &StatePath,
    out: &mut Vec<Change>,
) -> Result<()> {
    match (old, new) {
        (Some(a), Some(b)) => diff_nodes(objects, a, b, at, out),
        (Some(a), None) => emit_dir(objects, a, at, true, out),
        (None, Some(b)) => emit_dir(objects, b, at, false, out),
        (None, None) => Ok(()),
    }
}

/// The entries of an already read node, sorted by name.
fn node_entries<O: Objects + ?Sized>(objects: &O, node: Node) -> Result<Vec<(String, Entry)>> {
    match node {
        Node::Flat(entries) => Ok(entries),
        Node::Sharded { slots, .. } => {
            let mut all = Vec::new();
            for (child, _) in slots.into_iter().flatten() {
                all.extend(tree::read_dir(objects, child)?);
            }
            all.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(all)
        }
    }
}

/// Merge-joins two sorted listings of the directory `at` by name.
fn diff_entries<O: Objects + ?Sized>(
    objects: &O,
    old: Vec<(String, Entry)>,
    new: Vec<(String, Entry)>,
    at: &StatePath,
    out: &mut Vec<Change>,
) -> Result<()> {
    let mut old = old.into_iter().peekable();
    let mut new = new.into_iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => a.0.cmp(&b.0),
        };
        let (a, b) = match order {
            Ordering::Less => (old.next(), None),
            Ordering::Greater => (None, new.next()),
            Ordering::Equal => (old.next(), new.next()),
        };
        let Some(name) = a.as_ref().or(b.as_ref()).map(|(n, _)| at.join(n)) else {
            return Ok(());
        };
        diff_pair(objects, name, a.map(|x| x.1), b.map(|x| x.1), out)?;
    }
}

/// Diffs what one name holds on each side.
fn diff_pair<O: Objects + ?Sized>(
    objects: &O,
    path: StatePath,
    old: Option<Entry>,
    new: Option<Entry>,
    out: &mut Vec<Change>,
) -> Result<()> {
    match (old, new) {
        (Some(a), Some(b)) if a == b => Ok(()),
        (Some(Entry::Tree { id: a, .. }), Some(Entry::Tree { id: b, .. })) => {
            diff_nodes(objects, a, b, &path, out)
        }
        (Some(a), Some(b)) if !a.is_tree() && !b.is_tree() => {
            out.push(Change::new(path, Some(a), Some(b)));
            Ok(())
        }
        (old, new) => {
            if let Some(a) = old {
                emit(objects, path.clone(), a, true, out)?;
            }
            if let Some(b) = new {
                emit(objects, path, b, false, out)?;
            }
            Ok(())
        }
    }
}

/// Reports every leaf at or below `entry` as deleted (`deleted`) or added.
fn emit<O: Objects + ?Sized>(
    objects: &O,
    path: StatePath,
    entry: Entry,
    deleted: bool,
    out: &mut Vec<Change>,
) -> Result<()> {
    match entry {
        Entry::Tree { id, .. } => emit_dir(objects, id, &path, deleted, out),
        leaf if deleted => {
            out.push(Change::new(path, Some(leaf), None));
            Ok(())
        }
        leaf => {
            out.push(Change::new(path, None, Some(leaf)));
            Ok(())
        }
    }
}

/// Reports every leaf below the node `dir` of directory `at` as deleted or added.
fn emit_dir<O: Objects + ?Sized>(
    objects: &O,
    dir: TreeId,
    at: &StatePath,
    deleted: bool,
    out: &mut Vec<Change>,
) -> Result<()> {
    for (name, entry) in tree::read_dir(objects, dir)? {
        emit(objects, at.join(&name), entry, deleted, out)?;
    }
    Ok(())
}

/// Numbers of added, modified and deleted leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ScopeCounts {
    /// Leaves added.
    pub added: u64,
    /// Leaves modified.
    pub modified: u64,
    /// Leaves deleted.
    pub deleted: u64,
}

impl ScopeCounts {
    fn record(&mut self, kind: ChangeKind) {
        match kind {
            ChangeKind::Added => self.added += 1,
            ChangeKind::Modified => self.modified += 1,
            ChangeKind::Deleted => self.deleted += 1,
        }
    }

    fn add(&mut self, other: &Self) {
        self.added += other.added;
        self.modified += other.modified;
        self.deleted += other.deleted;
    }
}

/// Change counts per `(account, region, service)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffSummary {
    /// Counts by `(account, region, service)`; leaves shallower than three segments are counted
    /// under the segments they have and `""` for the missing ones.
    pub scopes: BTreeMap<(String, String, String), ScopeCounts>,
}

impl DiffSummary {
    /// The counts over all scopes.
    pub fn total(&self) -> ScopeCounts {
        let mut t = ScopeCounts::default();
        for c in self.scopes.values() {
            t.add(c);
        }
        t
    }
}

/// Groups `changes` by `(account, region, service)`.
pub fn summarize(changes: &[Change]) -> DiffSummary {
    let mut scopes: BTreeMap<(String, String, String), ScopeCounts> = BTreeMap::new();
    for c in changes {
        let seg = |i: usize| c.path.segments().get(i).cloned().unwrap_or_default();
        scopes
            .entry((seg(0), seg(1), seg(2)))
            .or_default()
            .record(c.kind);
    }
    DiffSummary { scopes }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    use super::*;
    use crate::commit::CommitOptions;
    use crate::document::Document;
    use crate::id::ObjectId;
    use crate::object::{MemObjects, ObjectKind};
    use serde_json::json;

    fn doc(objects: &MemObjects, n: u64) -> Entry {
        let d = Document::new(json!({"schema": "t.item/1", "n": n})).expect("doc");
        Entry::store_doc(objects, &d).expect("store")
    }

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).expect("path")
    }

    fn build(o: &MemObjects, leaves: &[(&str, u64)]) -> TreeId {
        let entries = leaves.iter().map(|(s, n)| (p(s), doc(o, *n))).collect();
        tree::build(o, entries).expect("build")
    }

    fn summary_of(changes: &[Change]) -> Vec<(String, ChangeKind)> {
        changes
            .iter()
            .map(|c| (c.path.to_string(), c.kind))
            .collect()
    }

    /// Counts reads, to check that diffs skip what did not change.
    struct Counting<'a> {
        inner: &'a MemObjects,
        reads: AtomicUsize,
    }

    impl Objects for Counting<'_> {
        fn get_raw(&self, id: &ObjectId) -> Result<Option<(ObjectKind, Arc<Vec<u8>>)>> {
            self.reads.fetch_add(1, AtomicOrdering::Relaxed);
            self.inner.get_raw(id)
        }
        fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> Result<bool> {
            self.inner.put_raw(kind, id, bytes)
        }
        fn contains(&self, id: &ObjectId) -> Result<bool> {
            self.inner.contains(id)
        }
    }

    #[test]
    fn reports_added_modified_and_deleted_leaves_in_path_order() {
        let o = MemObjects::new();
        let a = build(
            &o,
            &[
                ("a/r/sqs/queue/q1", 1),
                ("a/r/sqs/queue/q2", 2),
                ("a/r/s3/bucket/b", 3),
            ],
        );
        let b = build(
            &o,
            &[
                ("a/r/sqs/queue/q1", 1),
                ("a/r/sqs/queue/q2", 5),
                ("b/r/sns/topic/t", 4),
            ],
        );
        let changes = diff(&o, a, b).expect("diff");
        assert_eq!(
            summary_of(&changes),
            [
                ("a/r/s3/bucket/b".to_owned(), ChangeKind::Deleted),
                ("a/r/sqs/queue/q2".to_owned(), ChangeKind::Modified),
                ("b/r/sns/topic/t".to_owned(), ChangeKind::Added),
            ]
        );
        assert_eq!(changes[1].old, Some(doc(&o, 2)));
        assert_eq!(changes[1].new, Some(doc(&o, 5)));
        assert!(diff(&o, a, a).expect("same").is_empty());
        assert_eq!(apply(&o, a, &changes).expect("apply"), b);
    }

    #[test]
    fn a_directory_replaced_by_a_leaf_and_back() {
        let o = MemObjects::new();
        let dir = build(&o, &[("a/r/s/x/1", 1), ("a/r/s/x/2", 2), ("a/r/t/y", 3)]);
        let leaf = build(&o, &[("a/r/s/x", 9), ("a/r/t/y", 3)]);
        let forward = diff(&o, dir, leaf).expect("diff");
        assert_eq!(
            summary_of(&forward),
            [
                ("a/r/s/x".to_owned(), ChangeKind::Added),
                ("a/r/s/x/1".to_owned(), ChangeKind::Deleted),
                ("a/r/s/x/2".to_owned(), ChangeKind::Deleted),
            ]
        );
        let back = diff(&o, leaf, dir).expect("diff");
        assert_eq!(
            summary_of(&back),
            [
                ("a/r/s/x".to_owned(), ChangeKind::Deleted),
                ("a/r/s/x/1".to_owned(), ChangeKind::Added),
                ("a/r/s/x/2".to_owned(), ChangeKind::Added),
            ]
        );
        assert_eq!(apply(&o, dir, &forward).expect("apply"), leaf);
        assert_eq!(apply(&o, leaf, &back).expect("apply"), dir);
    }

    #[test]
    fn one_change_in_a_sharded_collection_is_found_by_reading_few_nodes() {
        let o = MemObjects::new();
        let entries: Vec<_> = (0..3000)
            .map(|i| (p(&format!("a/r/s3/object/b/k{i:05}")), doc(&o, i)))
            .collect();
        let full = tree::build(&o, entries).expect("build");
        let key = p("a/r/s3/object/b/k01234");
        let changed =
            tree::update(&o, Some(full), vec![(key.clone(), Some(doc(&o, 7)))]).expect("update");
        let counting = Counting {
            inner: &o,
            reads: AtomicUsize::new(0),
        };
        let changes = diff(&counting, full, changed).expect("diff");
        assert_eq!(
            summary_of(&changes),
            [(key.to_string(), ChangeKind::Modified)]
        );
        // 5 directory levels + the sharded node + its changed slot, on both sides.
        let reads = counting.reads.load(AtomicOrdering::Relaxed);
        assert!(reads <= 14, "{reads} reads");
        let deleted = tree::update(&o, Some(full), vec![(key.clone(), None)]).expect("delete");
        let changes = diff(&o, full, deleted).expect("diff");
        assert_eq!(
            summary_of(&changes),
            [(key.to_string(), ChangeKind::Deleted)]
        );
    }

    #[test]
    fn a_collection_growing_past_the_shard_limit_diffs_exactly() {
        let o = MemObjects::new();
        let leaves: Vec<(String, u64)> = (0..300)
            .map(|i| (format!("a/r/s3/object/b/k{i:03}"), i))
            .collect();
        let refs: Vec<(&str, u64)> = leaves.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        let small = build(&o, &refs[..200]);
        let big = build(&o, &refs);
        let changes = diff(&o, small, big).expect("diff");
        assert_eq!(changes.len(), 100);
        assert!(changes.iter().all(|c| c.kind == ChangeKind::Added));
        assert!(changes.windows(2).all(|w| w[0].path < w[1].path));
        assert_eq!(diff(&o, big, small).expect("diff").len(), 100);
    }

    #[test]
    fn diffs_commits() {
        let o = MemObjects::new();
        let a = build(&o, &[("a/r/sqs/queue/q", 1)]);
        let b = build(&o, &[("a/r/sqs/queue/q", 2)]);
        let commit = |root| {
            let opts = CommitOptions {
                time: Some(1),
                ..Default::default()
            };
            Commit::new(&o, root, opts)
                .expect("commit")
                .store(&o)
                .expect("store")
        };
        let changes = diff_commits(&o, commit(a), commit(b)).expect("diff");
        assert_eq!(
            summary_of(&changes),
            [("a/r/sqs/queue/q".to_owned(), ChangeKind::Modified)]
        );
    }

    #[test]
    fn summarize_groups_by_account_region_and_service() {
        let o = MemObjects::new();
        let a = build(
            &o,
            &[
                ("1/r/sqs/queue/a", 1),
                ("1/r/sqs/queue/b", 2),
                ("top", 3),
                ("1/r/s3/bucket/x", 4),
            ],
        );
        let b = build(
            &o,
            &[
                ("1/r/sqs/queue/a", 9),
                ("1/r/sqs/queue/c", 2),
                ("1/r/s3/bucket/x", 4),
                ("2/g", 5),
            ],
        );
        let s = summarize(&diff(&o, a, b).expect("diff"));
        let key = |a: &str, r: &str, s: &str| (a.to_owned(), r.to_owned(), s.to_owned());
        let counts = |added, modified, deleted| ScopeCounts {
            added,
            modified,
            deleted,
        };
        assert_eq!(s.scopes.len(), 3);
        assert_eq!(s.scopes[&key("1", "r", "sqs")], counts(1, 1, 1));
        assert_eq!(s.scopes[&key("top", "", "")], counts(0, 0, 1));
        assert_eq!(s.scopes[&key("2", "g", "")], counts(1, 0, 0));
        assert_eq!(s.total(), counts(2, 1, 2));
        let json = serde_json::to_string(&s.total()).expect("json");
        assert_eq!(json, r#"{"added":2,"modified":1,"deleted":2}"#);
        assert_eq!(
            serde_json::to_string(&ChangeKind::Modified).expect("json"),
            r#""modified""#
        );
    }
}
