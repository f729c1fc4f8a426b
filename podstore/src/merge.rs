//! Merging an incoming state tree (a pod) into the current one (an instance), with the
//! LocalStack strategy names plus `three-way`.
//!
//! Every strategy works from leaf-level [`diff`]s and applies only the changed paths with
//! [`tree::update`], so merging a small pod into a large instance is cheap. Everything is
//! written through the given [`Objects`]: a dry run passes an [`crate::Overlay`] and drops it.
//!
//! Leaf/directory clashes (a leaf on one side where the other has a directory) are resolved as
//! follows: `account-region-merge` and `service-merge` let incoming win (a current leaf in the
//! way of an incoming directory is deleted, an incoming leaf replaces a current directory);
//! `three-way` keeps the local side and reports [`ConflictKind::BothAdded`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::diff::{Change, apply_updates, diff, is_below};
use crate::error::{Error, Result};
use crate::id::TreeId;
use crate::object::Objects;
use crate::path::StatePath;
use crate::tree::{self, Entry};

/// How an incoming tree is merged into the current one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The result is exactly the incoming tree.
    Overwrite,
    /// Every `(account, region, service)` present in incoming replaces current's; the rest of
    /// current stays. The default, as in LocalStack.
    #[default]
    AccountRegionMerge,
    /// Union at resource level; on the same path incoming wins; nothing of current is deleted.
    ServiceMerge,
    /// Merge against a common ancestor, keeping local edits and reporting conflicts.
    ThreeWay,
}

impl Strategy {
    /// Every strategy, in documentation order.
    pub const ALL: [Self; 4] = [
        Self::Overwrite,
        Self::AccountRegionMerge,
        Self::ServiceMerge,
        Self::ThreeWay,
    ];

    /// The name used on the command line, in configuration and over HTTP.
    pub fn name(self) -> &'static str {
        match self {
            Self::Overwrite => "overwrite",
            Self::AccountRegionMerge => "account-region-merge",
            Self::ServiceMerge => "service-merge",
            Self::ThreeWay => "three-way",
        }
    }
}

impl FromStr for Strategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| Error::UnknownStrategy(s.to_owned()))
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of a three-way conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// Changed differently on both sides.
    BothModified,
    /// Absent from the ancestor, added differently on both sides (also: a leaf added on one side
    /// where the other side added a directory, or the reverse).
    BothAdded,
    /// Changed locally, deleted in incoming.
    ModifiedHereDeletedIncoming,
    /// Deleted locally, changed in incoming.
    DeletedHereModifiedIncoming,
}

/// A path both sides changed incompatibly, and what the merge did about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The leaf.
    #[serde(serialize_with = "path_string")]
    pub path: StatePath,
    /// How the sides disagree.
    pub kind: ConflictKind,
    /// What was done: `"kept local"` or `"deleted"`.
    pub resolution: &'static str,
}

fn path_string<S: Serializer>(path: &StatePath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(path)
}

/// The result of a merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeOutcome {
    /// The merged tree.
    pub root: TreeId,
    /// What the merge changes in the current tree: `diff(current, root)`.
    pub changes: Vec<Change>,
    /// Conflicts found (three-way only), sorted by path.
    pub conflicts: Vec<Conflict>,
}

const KEPT_LOCAL: &str = "kept local";
const DELETED: &str = "deleted";

/// Merges `incoming` into `current` with `strategy`.
///
/// `ancestor` is used by [`Strategy::ThreeWay`] only: the tree both sides descend from (for an
/// instance, the commit it last loaded). Without an ancestor, three-way behaves like
/// [`Strategy::ServiceMerge`] and reports no conflicts. New tree nodes are written through
/// `objects` only.
pub fn merge<O: Objects + ?Sized>(
    objects: &O,
    current: TreeId,
    incoming: TreeId,
    strategy: Strategy,
    ancestor: Option<TreeId>,
) -> Result<MergeOutcome> {
    let mut conflicts = Vec::new();
    let root = match (strategy, ancestor) {
        (Strategy::Overwrite, _) => incoming,
        (Strategy::AccountRegionMerge, _) => account_region_merge(objects, current, incoming)?,
        (Strategy::ServiceMerge, _) | (Strategy::ThreeWay, None) => {
            service_merge(objects, current, incoming)?
        }
        (Strategy::ThreeWay, Some(base)) => {
            three_way(objects, base, current, incoming, &mut conflicts)?
        }
    };
    let changes = diff(objects, current, root)?;
    Ok(MergeOutcome {
        root,
        changes,
        conflicts,
    })
}

/// Whether the deletion `changes[i]` must apply because incoming adds leaves below it (the
/// current leaf is in the way of an incoming directory). Changes are sorted by path, so such
/// additions follow it directly.
fn in_the_way(changes: &[Change], i: usize) -> bool {
    changes
        .get(i + 1)
        .is_some_and(|next| is_below(&next.path, &changes[i].path))
}

fn service_merge<O: Objects + ?Sized>(
    objects: &O,
    current: TreeId,
    incoming: TreeId,
) -> Result<TreeId> {
    let changes = diff(objects, current, incoming)?;
    let take: Vec<bool> = (0..changes.len())
        .map(|i| changes[i].new.is_some() || in_the_way(&changes, i))
        .collect();
    apply_selected(objects, current, changes, &take)
}

fn account_region_merge<O: Objects + ?Sized>(
    objects: &O,
    current: TreeId,
    incoming: TreeId,
) -> Result<TreeId> {
    let changes = diff(objects, current, incoming)?;
    let mut scopes = HashMap::new();
    let mut take = Vec::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        let t = match (&c.new, c.path.scope()) {
            (Some(_), _) => true,
            (None, Some(scope)) => scope_in(objects, incoming, scope, &mut scopes)?,
            (None, None) => in_the_way(&changes, i),
        };
        take.push(t);
    }
    apply_selected(objects, current, changes, &take)
}

/// Whether `tree` has anything at `account/region/service` (memoized in `cache`).
fn scope_in<O: Objects + ?Sized>(
    objects: &O,
    tree: TreeId,
    (account, region, service): (&str, &str, &str),
    cache: &mut HashMap<(String, String, String), bool>,
) -> Result<bool> {
    let key = (account.to_owned(), region.to_owned(), service.to_owned());
    if let Some(&found) = cache.get(&key) {
        return Ok(found);
    }
    let path = StatePath::default()
        .join(account)
        .join(region)
        .join(service);
    let found = tree::get(objects, tree, &path)?.is_some();
    cache.insert(key, found);
    Ok(found)
}

/// Applies the changes whose `take` flag is set to `current`.
fn apply_selected<O: Objects + ?Sized>(
    objects: &O,
    current: TreeId,
    changes: Vec<Change>,
    take: &[bool],
) -> Result<TreeId> {
    let updates = changes
        .into_iter()
        .zip(take)
        .filter(|(_, t)| **t)
        .map(|(c, _)| c.into_update())
        .collect();
    apply_updates(objects, current, updates)
}

/// What three-way does with one leaf.
enum Decision {
    Keep,
    TakeIncoming,
    Conflict(ConflictKind),
}

/// The three-way rule for one leaf: ancestor `a`, current `c`, incoming `i`.
fn decide(a: Option<&Entry>, c: Option<&Entry>, i: Option<&Entry>) -> Decision {
    if c == i || a == i {
        return Decision::Keep;
    }
    if a == c {
        return Decision::TakeIncoming;
    }
    Decision::Conflict(match (a.is_some(), c.is_some(), i.is_some()) {
        (false, _, _) => ConflictKind::BothAdded,
        (true, true, true) => ConflictKind::BothModified,
        (true, true, false) => ConflictKind::ModifiedHereDeletedIncoming,
        (true, false, _) => ConflictKind::DeletedHereModifiedIncoming,
    })
}

/// The updates and conflicts of a three-way merge being planned.
#[derive(Default)]
struct Plan {
    updates: Vec<(StatePath, Option<Entry>)>,
    /// Leaves of current that changed since the ancestor and are kept.
    kept: Vec<StatePath>,
    conflicts: Vec<Conflict>,
}

impl Plan {
    fn visit(&mut self, path: &StatePath, a: Option<&Entry>, c: Option<&Entry>, i: Option<&Entry>) {
        match decide(a, c, i) {
            Decision::Keep if c.is_some() && c != a => self.kept.push(path.clone()),
            Decision::Keep => {}
            Decision::TakeIncoming => self.updates.push((path.clone(), i.cloned())),
            Decision::Conflict(kind) => {
                let deleted = kind == ConflictKind::ModifiedHereDeletedIncoming;
                if deleted {
                    self.updates.push((path.clone(), None));
                } else if c.is_some() {
                    self.kept.push(path.clone());
                }
                self.conflicts.push(Conflict {
                    path: path.clone(),
                    kind,
                    resolution: if deleted { DELETED } else { KEPT_LOCAL },
                });
            }
        }
    }

    /// Drops incoming leaves that clash with kept local leaves (one below the other) and
    /// reports them as [`ConflictKind::BothAdded`].
    fn drop_clashes(&mut self) {
        let clashing = self.clashing_sets();
        if clashing.is_empty() {
            return;
        }
        self.updates
            .retain(|(p, e)| e.is_none() || !clashing.contains(p));
        for path in clashing {
            self.conflicts.push(Conflict {
                path,
                kind: ConflictKind::BothAdded,
                resolution: KEPT_LOCAL,
            });
        }
    }

    /// Paths set from incoming that have a kept local leaf above or below them.
    fn clashing_sets(&self) -> HashSet<StatePath> {
        let kept: HashSet<&[String]> = self.kept.iter().map(|p| p.segments()).collect();
        let sets: HashSet<&[String]> = self
            .updates
            .iter()
            .filter(|(_, e)| e.is_some())
            .map(|(p, _)| p.segments())
            .collect();
        let mut out = HashSet::new();
        if kept.is_empty() || sets.is_empty() {
            return out;
        }
        for set in &sets {
            if (1..set.len()).any(|n| kept.contains(&set[..n])) {
                out.insert(to_path(set));
            }
        }
        for k in &kept {
            for n in 1..k.len() {
                if sets.contains(&k[..n]) {
                    out.insert(to_path(&k[..n]));
                }
            }
        }
        out
    }
}

fn to_path(segments: &[String]) -> StatePath {
    segments.iter().fold(StatePath::default(), |p, s| p.join(s))
}

fn three_way<O: Objects + ?Sized>(
    objects: &O,
    ancestor: TreeId,
    current: TreeId,
    incoming: TreeId,
    conflicts: &mut Vec<Conflict>,
) -> Result<TreeId> {
    let here = diff(objects, ancestor, current)?;
    let there = diff(objects, ancestor, incoming)?;
    let mut plan = Plan::default();
    join(&here, &there, |path, a, c, i| plan.visit(path, a, c, i));
    plan.drop_clashes();
    plan.conflicts.sort_by(|x, y| x.path.cmp(&y.path));
    conflicts.append(&mut plan.conflicts);
    apply_updates(objects, current, plan.updates)
}

/// Walks two diffs from the same ancestor (to current and to incoming) by path, calling `f` with
/// the path and its ancestor, current and incoming entries.
fn join(
    here: &[Change],
    there: &[Change],
    mut f: impl FnMut(&StatePath, Option<&Entry>, Option<&Entry>, Option<&Entry>),
) {
    let (mut x, mut y) = (0, 0);
    while x < here.len() || y < there.len() {
        let order = match (here.get(x), there.get(y)) {
            (Some(h), Some(t)) => h.path.cmp(&t.path),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let h = &here[x];
                f(&h.path, h.old.as_ref(), h.new.as_ref(), h.old.as_ref());
                x += 1;
            }
            std::cmp::Ordering::Greater => {
                let t = &there[y];
                f(&t.path, t.old.as_ref(), t.old.as_ref(), t.new.as_ref());
                y += 1;
            }
            std::cmp::Ordering::Equal => {
                let (h, t) = (&here[x], &there[y]);
                f(&h.path, h.old.as_ref(), h.new.as_ref(), t.new.as_ref());
                x += 1;
                y += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::ChangeKind;
    use crate::document::Document;
    use crate::object::{MemObjects, Overlay};
    use serde_json::json;

    const ACC: &str = "0123456789";

    fn doc(o: &MemObjects, n: u64) -> Entry {
        let d = Document::new(json!({"schema": "t.item/1", "n": n})).expect("doc");
        Entry::store_doc(o, &d).expect("store")
    }

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).expect("path")
    }

    fn build(o: &MemObjects, leaves: &[(&str, u64)]) -> TreeId {
        let entries = leaves.iter().map(|(s, n)| (p(s), doc(o, *n))).collect();
        tree::build(o, entries).expect("build")
    }

    /// The leaves of a tree as `(path, n)` where the entry is `doc(n)` (n < 100).
    fn contents(o: &MemObjects, root: TreeId) -> Vec<(String, u64)> {
        let docs: Vec<Entry> = (0..100).map(|n| doc(o, n)).collect();
        tree::leaves(o, root)
            .expect("leaves")
            .into_iter()
            .map(|(path, e)| {
                let n = docs.iter().position(|d| *d == e).expect("known doc");
                (path.to_string(), n as u64)
            })
            .collect()
    }

    fn owned(leaves: &[(&str, u64)]) -> Vec<(String, u64)> {
        leaves.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
    }

    #[test]
    fn strategy_names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(s.to_string().parse::<Strategy>().expect("parse"), s);
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{s}\""));
        }
        assert_eq!(Strategy::default(), Strategy::AccountRegionMerge);
        assert_eq!(
            "three-way".parse::<Strategy>().expect("parse"),
            Strategy::ThreeWay
        );
        let err = "merge".parse::<Strategy>().expect_err("unknown");
        assert!(
            matches!(&err, Error::UnknownStrategy(n) if n == "merge"),
            "{err}"
        );
    }

    #[test]
    fn localstack_documentation_example() {
        let o = MemObjects::new();
        let q = |r: &str, name: &str| format!("{ACC}/{r}/sqs/queue/{name}");
        let (pod_q, shared_q, runtime_q, east2_q) = (
            q("us-east-1", "pod-only"),
            q("us-east-1", "shared"),
            q("us-east-1", "runtime-only"),
            q("us-east-2", "other"),
        );
        let runtime = build(&o, &[(&shared_q, 1), (&runtime_q, 2), (&east2_q, 3)]);
        let pod = build(&o, &[(&shared_q, 10), (&pod_q, 11)]);
        let cases: [(Strategy, Vec<(&str, u64)>); 4] = [
            (Strategy::Overwrite, vec![(&pod_q, 11), (&shared_q, 10)]),
            (
                Strategy::AccountRegionMerge,
                vec![(&pod_q, 11), (&shared_q, 10), (&east2_q, 3)],
            ),
            (
                Strategy::ServiceMerge,
                vec![
                    (&pod_q, 11),
                    (&runtime_q, 2),
                    (&shared_q, 10),
                    (&east2_q, 3),
                ],
            ),
            (
                Strategy::ThreeWay,
                vec![
                    (&pod_q, 11),
                    (&runtime_q, 2),
                    (&shared_q, 10),
                    (&east2_q, 3),
                ],
            ),
        ];
        for (strategy, expected) in cases {
            let out = merge(&o, runtime, pod, strategy, None).expect("merge");
            assert_eq!(contents(&o, out.root), owned(&expected), "{strategy}");
            assert_eq!(out.changes, diff(&o, runtime, out.root).expect("diff"));
            assert!(out.conflicts.is_empty());
        }
    }

    #[test]
    fn account_region_merge_replaces_whole_services_only() {
        let o = MemObjects::new();
        let current = build(
            &o,
            &[
                ("a/r1/sqs/queue/q1", 1),
                ("a/r1/sqs/queue/q2", 2),
                ("a/r1/sns/topic/t", 3),
                ("a/r2/sqs/queue/q1", 4),
                ("b/global/iam/user/u", 5),
            ],
        );
        let incoming = build(&o, &[("a/r1/sqs/queue/q3", 6), ("c/r1/sqs/queue/q1", 7)]);
        let out = merge(&o, current, incoming, Strategy::AccountRegionMerge, None).expect("merge");
        let expected = [
            ("a/r1/sns/topic/t", 3),
            ("a/r1/sqs/queue/q3", 6),
            ("a/r2/sqs/queue/q1", 4),
            ("b/global/iam/user/u", 5),
            ("c/r1/sqs/queue/q1", 7),
        ];
        assert_eq!(contents(&o, out.root), owned(&expected));
        let kinds: Vec<_> = out.changes.iter().map(|c| c.kind).collect();
        use ChangeKind::{Added, Deleted};
        assert_eq!(kinds, [Deleted, Deleted, Added, Added]);
    }

    #[test]
    fn shallow_leaves_and_type_clashes_let_incoming_win() {
        let o = MemObjects::new();
        let current = build(&o, &[("a/r", 1), ("b/r/s/t/dir/x", 2), ("c", 3)]);
        let incoming = build(&o, &[("a/r/s/t/i", 4), ("b/r/s/t/dir", 5), ("d/r", 6)]);
        let expected = [("a/r/s/t/i", 4), ("b/r/s/t/dir", 5), ("c", 3), ("d/r", 6)];
        for strategy in [Strategy::AccountRegionMerge, Strategy::ServiceMerge] {
            let out = merge(&o, current, incoming, strategy, None).expect("merge");
            assert_eq!(contents(&o, out.root), owned(&expected), "{strategy}");
        }
    }

    #[test]
    fn service_merge_is_a_union_where_incoming_wins() {
        let o = MemObjects::new();
        let current = build(&o, &[("a/r/s3/bucket/x", 1), ("a/r/s3/bucket/y", 2)]);
        let incoming = build(&o, &[("a/r/s3/bucket/y", 3), ("a/r/s3/bucket/z", 4)]);
        let out = merge(&o, current, incoming, Strategy::ServiceMerge, None).expect("merge");
        let expected = [
            ("a/r/s3/bucket/x", 1),
            ("a/r/s3/bucket/y", 3),
            ("a/r/s3/bucket/z", 4),
        ];
        assert_eq!(contents(&o, out.root), owned(&expected));
    }

    /// One three-way row: ancestor, current and incoming value of `a/r/s/t/x` (None = absent),
    /// the expected result and conflict.
    type Row = (
        Option<u64>,
        Option<u64>,
        Option<u64>,
        Option<u64>,
        Option<ConflictKind>,
    );

    #[test]
    fn three_way_rules() {
        use ConflictKind::*;
        let rows: [Row; 12] = [
            (Some(1), Some(1), Some(1), Some(1), None),
            (Some(1), Some(2), Some(2), Some(2), None),
            (Some(1), Some(1), Some(2), Some(2), None),
            (Some(1), Some(1), None, None, None),
            (None, None, Some(2), Some(2), None),
            (Some(1), Some(2), Some(1), Some(2), None),
            (None, Some(2), None, Some(2), None),
            (Some(1), None, Some(1), None, None),
            (Some(1), Some(2), Some(3), Some(2), Some(BothModified)),
            (None, Some(2), Some(3), Some(2), Some(BothAdded)),
            (
                Some(1),
                Some(2),
                None,
                None,
                Some(ModifiedHereDeletedIncoming),
            ),
            (
                Some(1),
                None,
                Some(3),
                None,
                Some(DeletedHereModifiedIncoming),
            ),
        ];
        for (i, (a, c, inc, want, conflict)) in rows.into_iter().enumerate() {
            let o = MemObjects::new();
            let tree_of = |v: Option<u64>| {
                let mut leaves = vec![("a/r/s/t/other", 50)];
                leaves.extend(v.map(|n| ("a/r/s/t/x", n)));
                build(&o, &leaves)
            };
            let (ta, tc, ti) = (tree_of(a), tree_of(c), tree_of(inc));
            let out = merge(&o, tc, ti, Strategy::ThreeWay, Some(ta)).expect("merge");
            assert_eq!(out.root, tree_of(want), "row {i}");
            let found: Vec<_> = out
                .conflicts
                .iter()
                .map(|c| (c.path.to_string(), c.kind))
                .collect();
            let expected: Vec<_> = conflict
                .map(|k| ("a/r/s/t/x".to_owned(), k))
                .into_iter()
                .collect();
            assert_eq!(found, expected, "row {i}");
        }
    }

    #[test]
    fn three_way_conflict_resolutions_are_reported() {
        let o = MemObjects::new();
        let a = build(&o, &[("a/r/s/t/m", 1), ("a/r/s/t/d", 1), ("a/r/s/t/e", 1)]);
        let c = build(&o, &[("a/r/s/t/m", 2), ("a/r/s/t/d", 2), ("a/r/s/t/n", 2)]);
        let i = build(&o, &[("a/r/s/t/m", 3), ("a/r/s/t/e", 3), ("a/r/s/t/n", 3)]);
        let out = merge(&o, c, i, Strategy::ThreeWay, Some(a)).expect("merge");
        let got: Vec<_> = out
            .conflicts
            .iter()
            .map(|c| (c.path.to_string(), c.kind, c.resolution))
            .collect();
        use ConflictKind::*;
        assert_eq!(
            got,
            [
                (
                    "a/r/s/t/d".to_owned(),
                    ModifiedHereDeletedIncoming,
                    "deleted"
                ),
                (
                    "a/r/s/t/e".to_owned(),
                    DeletedHereModifiedIncoming,
                    "kept local"
                ),
                ("a/r/s/t/m".to_owned(), BothModified, "kept local"),
                ("a/r/s/t/n".to_owned(), BothAdded, "kept local"),
            ]
        );
        assert_eq!(
            contents(&o, out.root),
            owned(&[("a/r/s/t/m", 2), ("a/r/s/t/n", 2)])
        );
        let json = serde_json::to_value(&out.conflicts[0]).expect("json");
        assert_eq!(
            json,
            json!({"path": "a/r/s/t/d", "kind": "modified-here-deleted-incoming", "resolution": "deleted"})
        );
    }

    #[test]
    fn three_way_keeps_local_leaves_that_clash_with_incoming_ones() {
        let o = MemObjects::new();
        let a = build(&o, &[("a/r/s/t/keep", 1)]);
        // Local adds a leaf where incoming adds a directory, and the reverse.
        let c = build(
            &o,
            &[("a/r/s/t/keep", 1), ("a/r/s/t/x", 2), ("a/r/s/t/y/z", 2)],
        );
        let i = build(
            &o,
            &[("a/r/s/t/keep", 1), ("a/r/s/t/x/z", 3), ("a/r/s/t/y", 3)],
        );
        let out = merge(&o, c, i, Strategy::ThreeWay, Some(a)).expect("merge");
        assert_eq!(out.root, c);
        let got: Vec<_> = out
            .conflicts
            .iter()
            .map(|c| (c.path.to_string(), c.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("a/r/s/t/x/z".to_owned(), ConflictKind::BothAdded),
                ("a/r/s/t/y".to_owned(), ConflictKind::BothAdded),
            ]
        );
    }

    #[test]
    fn three_way_applies_incoming_type_changes_when_local_did_not_touch_them() {
        let o = MemObjects::new();
        let a = build(&o, &[("a/r/s/t/x", 1), ("a/r/s/t/y/z", 1)]);
        let i = build(&o, &[("a/r/s/t/x/z", 2), ("a/r/s/t/y", 2)]);
        let out = merge(&o, a, i, Strategy::ThreeWay, Some(a)).expect("merge");
        assert_eq!(out.root, i);
        assert!(out.conflicts.is_empty());
    }

    #[test]
    fn three_way_without_ancestor_is_service_merge() {
        let o = MemObjects::new();
        let c = build(&o, &[("a/r/s/t/x", 1), ("a/r/s/t/y", 1)]);
        let i = build(&o, &[("a/r/s/t/y", 2), ("a/r/s/t/z", 2)]);
        let three = merge(&o, c, i, Strategy::ThreeWay, None).expect("merge");
        let service = merge(&o, c, i, Strategy::ServiceMerge, None).expect("merge");
        assert_eq!(three, service);
    }

    #[test]
    fn a_dry_run_through_an_overlay_writes_nothing_to_the_base() {
        let o = MemObjects::new();
        let c = build(&o, &[("a/r/s/t/x", 1), ("a/r/s/t/y", 1)]);
        let i = build(&o, &[("a/r/s/t/y", 2), ("a/r/s/t/z", 2)]);
        for strategy in Strategy::ALL {
            let before = o.len();
            let overlay = Overlay::new(&o);
            let dry = merge(&overlay, c, i, strategy, Some(c)).expect("dry run");
            assert_eq!(o.len(), before, "{strategy}");
            let real = merge(&o, c, i, strategy, Some(c)).expect("merge");
            assert_eq!(dry, real, "{strategy}");
        }
    }
}
