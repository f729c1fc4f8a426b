//! Property tests of state trees, diffs and merges over random sets of leaves.

use std::collections::{BTreeMap, BTreeSet};

use podstore::Strategy as Merge;
use podstore::{Document, Entry, MemObjects, StatePath, TreeId, diff, merge, tree};
use proptest::prelude::*;
use serde_json::json;

const ACCOUNTS: [&str; 2] = ["000000000000", "111111111111"];
const REGIONS: [&str; 2] = ["us-east-1", "global"];
const SERVICES: [&str; 3] = ["sqs", "s3", "sns"];
const TYPES: [&str; 2] = ["queue", "object"];

/// A leaf set: path → document number.
type Leaves = BTreeMap<StatePath, u8>;

fn path(a: usize, r: usize, s: usize, t: usize, id: u16) -> StatePath {
    StatePath::new([
        ACCOUNTS[a],
        REGIONS[r],
        SERVICES[s],
        TYPES[t],
        &format!("id{id}"),
    ])
    .expect("valid path")
}

/// One path over the small alphabet; ids below 400 so that bulk directories overlap.
fn any_path() -> impl Strategy<Value = StatePath> {
    (0..2usize, 0..2usize, 0..3usize, 0..2usize, 0..400u16)
        .prop_map(|(a, r, s, t, id)| path(a, r, s, t, id))
}

/// A few scattered leaves, sometimes plus one directory of more than 256 ids (sharded).
fn leaves() -> impl Strategy<Value = Leaves> {
    let scattered = prop::collection::btree_map(any_path(), 0..4u8, 0..24);
    let bulk = prop_oneof![
        4 => Just(None),
        1 => (0..2usize, 0..3usize, 257..330u16, 0..4u8).prop_map(Some),
    ];
    (scattered, bulk).prop_map(|(mut map, bulk)| {
        if let Some((a, s, n, v)) = bulk {
            for id in 0..n {
                map.insert(path(a, 0, s, 1, id), v);
            }
        }
        map
    })
}

/// Edits of a leaf set: set a document number or delete.
fn edits() -> impl Strategy<Value = Vec<(StatePath, Option<u8>)>> {
    prop::collection::vec((any_path(), prop::option::of(0..4u8)), 0..16)
}

fn entry(o: &MemObjects, n: u8) -> Entry {
    let d = Document::new(json!({"schema": "t.item/1", "n": n})).expect("doc");
    Entry::store_doc(o, &d).expect("store doc")
}

fn entries(o: &MemObjects, leaves: &Leaves) -> Vec<(StatePath, Entry)> {
    leaves
        .iter()
        .map(|(p, n)| (p.clone(), entry(o, *n)))
        .collect()
}

fn build(o: &MemObjects, leaves: &Leaves) -> TreeId {
    tree::build(o, entries(o, leaves)).expect("build")
}

fn edited(base: &Leaves, edits: &[(StatePath, Option<u8>)]) -> Leaves {
    let mut out = base.clone();
    for (p, v) in edits {
        match v {
            Some(n) => out.insert(p.clone(), *n),
            None => out.remove(p),
        };
    }
    out
}

fn leaves_of(o: &MemObjects, root: TreeId) -> Vec<(StatePath, Entry)> {
    tree::leaves(o, root).expect("leaves")
}

/// Two related trees: a base set edited two ways.
fn pair() -> impl Strategy<Value = (Leaves, Leaves)> {
    (leaves(), edits(), edits()).prop_map(|(base, ea, eb)| (edited(&base, &ea), edited(&base, &eb)))
}

fn scopes(leaves: &Leaves) -> BTreeSet<(String, String, String)> {
    leaves
        .keys()
        .filter_map(|p| p.scope())
        .map(|(a, r, s)| (a.to_owned(), r.to_owned(), s.to_owned()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn build_then_leaves_gives_the_input(input in leaves()) {
        let o = MemObjects::new();
        let root = build(&o, &input);
        prop_assert_eq!(leaves_of(&o, root), entries(&o, &input));
    }

    #[test]
    fn the_root_id_does_not_depend_on_batches_or_order(
        input in leaves(),
        split in any::<prop::sample::Index>(),
    ) {
        let o = MemObjects::new();
        let all = entries(&o, &input);
        let whole = tree::build(&o, all.clone()).expect("build");
        let at = split.index(all.len() + 1);
        let mut reversed: Vec<_> = all.into_iter().map(|(p, e)| (p, Some(e))).rev().collect();
        let second = reversed.split_off(at);
        let first = tree::update(&o, None, reversed).expect("first batch");
        let both = tree::update(&o, Some(first), second).expect("second batch");
        prop_assert_eq!(both, whole);
    }

    #[test]
    fn a_diff_applied_to_its_old_tree_gives_the_new_one((a, b) in pair()) {
        let o = MemObjects::new();
        let (ta, tb) = (build(&o, &a), build(&o, &b));
        let changes = diff(&o, ta, tb).expect("diff");
        prop_assert!(changes.windows(2).all(|w| w[0].path < w[1].path));
        let updates = changes.into_iter().map(|c| c.into_update()).collect();
        prop_assert_eq!(tree::update(&o, Some(ta), updates).expect("update"), tb);
    }

    #[test]
    fn overwrite_yields_incoming_and_self_merges_are_identities((a, b) in pair()) {
        let o = MemObjects::new();
        let (ta, tb) = (build(&o, &a), build(&o, &b));
        let out = merge(&o, ta, tb, Merge::Overwrite, None).expect("overwrite");
        prop_assert_eq!(out.root, tb);
        for strategy in Merge::ALL {
            for ancestor in [None, Some(tb)] {
                let out = merge(&o, ta, ta, strategy, ancestor).expect("self merge");
                prop_assert_eq!(out.root, ta);
                prop_assert!(out.changes.is_empty() && out.conflicts.is_empty());
            }
        }
    }

    #[test]
    fn account_region_merge_leaves_other_scopes_alone((current, incoming) in pair()) {
        let o = MemObjects::new();
        let (tc, ti) = (build(&o, &current), build(&o, &incoming));
        let out = merge(&o, tc, ti, Merge::AccountRegionMerge, None).expect("merge");
        let touched = scopes(&incoming);
        let outside = |leaves: Vec<(StatePath, Entry)>| -> Vec<(StatePath, Entry)> {
            leaves
                .into_iter()
                .filter(|(p, _)| p.scope().is_some_and(|(a, r, s)| {
                    !touched.contains(&(a.to_owned(), r.to_owned(), s.to_owned()))
                }))
                .collect()
        };
        prop_assert_eq!(outside(leaves_of(&o, out.root)), outside(leaves_of(&o, tc)));
        let inside = |leaves: Vec<(StatePath, Entry)>| -> Vec<(StatePath, Entry)> {
            leaves
                .into_iter()
                .filter(|(p, _)| p.scope().is_some_and(|(a, r, s)| {
                    touched.contains(&(a.to_owned(), r.to_owned(), s.to_owned()))
                }))
                .collect()
        };
        prop_assert_eq!(inside(leaves_of(&o, out.root)), leaves_of(&o, ti));
    }

    #[test]
    fn service_merge_contains_every_incoming_and_every_other_current_leaf(
        (current, incoming) in pair(),
    ) {
        let o = MemObjects::new();
        let (tc, ti) = (build(&o, &current), build(&o, &incoming));
        let out = merge(&o, tc, ti, Merge::ServiceMerge, None).expect("merge");
        let mut union = current.clone();
        union.extend(incoming);
        prop_assert_eq!(leaves_of(&o, out.root), entries(&o, &union));
    }

    #[test]
    fn three_way_from_an_unchanged_side_takes_the_other((current, incoming) in pair()) {
        let o = MemObjects::new();
        let (tc, ti) = (build(&o, &current), build(&o, &incoming));
        let take = merge(&o, tc, ti, Merge::ThreeWay, Some(tc)).expect("merge");
        prop_assert_eq!(take.root, ti);
        prop_assert!(take.conflicts.is_empty());
        let keep = merge(&o, tc, ti, Merge::ThreeWay, Some(ti)).expect("merge");
        prop_assert_eq!(keep.root, tc);
        prop_assert!(keep.changes.is_empty() && keep.conflicts.is_empty());
    }

    #[test]
    fn three_way_merges_disjoint_edits_without_conflicts(
        base in leaves(),
        here in edits(),
        there in edits(),
    ) {
        // Edits of different accounts never touch the same leaf.
        let on = |edits: &[(StatePath, Option<u8>)], account: &str| -> Vec<_> {
            edits.iter().filter(|(p, _)| p.segments()[0] == account).cloned().collect()
        };
        let (here, there) = (on(&here, ACCOUNTS[0]), on(&there, ACCOUNTS[1]));
        let o = MemObjects::new();
        let ta = build(&o, &base);
        let tc = build(&o, &edited(&base, &here));
        let ti = build(&o, &edited(&base, &there));
        let out = merge(&o, tc, ti, Merge::ThreeWay, Some(ta)).expect("merge");
        let both = edited(&edited(&base, &here), &there);
        prop_assert_eq!(out.root, build(&o, &both));
        prop_assert!(out.conflicts.is_empty());
    }

    #[test]
    fn three_way_follows_the_per_leaf_rules(
        base in leaves(),
        here in edits(),
        there in edits(),
    ) {
        let o = MemObjects::new();
        let (current, incoming) = (edited(&base, &here), edited(&base, &there));
        let (ta, tc, ti) = (build(&o, &base), build(&o, &current), build(&o, &incoming));
        let out = merge(&o, tc, ti, Merge::ThreeWay, Some(ta)).expect("merge");
        let mut expected = Leaves::new();
        let mut conflicts = Vec::new();
        let all: BTreeSet<&StatePath> = base.keys().chain(current.keys()).chain(incoming.keys()).collect();
        for p in all {
            let (a, c, i) = (base.get(p), current.get(p), incoming.get(p));
            let result = if c == i || a == i {
                c
            } else if a == c {
                i
            } else {
                conflicts.push(p.clone());
                if a.is_some() && i.is_none() { None } else { c }
            };
            if let Some(v) = result {
                expected.insert(p.clone(), *v);
            }
        }
        prop_assert_eq!(out.root, build(&o, &expected));
        let found: Vec<StatePath> = out.conflicts.into_iter().map(|c| c.path).collect();
        prop_assert_eq!(found, conflicts);
    }
}
