//! State trees: Merkle directories of documents, blobs and subdirectories.
//!
//! A directory with up to [`MAX_FLAT`] names is one *flat* node listing its entries sorted by
//! name. A larger one is a *sharded* node at depth `d`: 16 slots chosen by nibble `d` of the
//! SHA-256 of each name, each slot a node of the same kind at depth `d + 1`. The layout depends
//! only on the set of names (never on history), so equal directories have equal ids, and
//! changing one entry of a million-entry collection rewrites one path of small nodes: O(log n).
//!
//! Every tree entry carries a [`Summary`] (names, documents and bytes below), so counts and
//! sizes of any subtree are known from its parent without walking it.
//!
//! ```text
//! flat    = "PSTF" varint(names) varint(docs) varint(bytes) entry*          (sorted by name)
//! entry   = varint(len) name tag:u8 payload
//!           tag 1 tree: id varint(names) varint(docs) varint(bytes)
//!           tag 2 doc:  id varint(size) varint(nblobs) (id varint(size))*
//!           tag 3 blob: id varint(size)
//! sharded = "PSTS" depth:u8 varint(names) varint(docs) varint(bytes)
//!           16 × (0 | 1 id varint(names) varint(docs) varint(bytes))
//! ```

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::blob::BlobInfo;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::id::{BlobId, DocId, ObjectId, TreeId};
use crate::object::{ObjectKind, Objects, Reader, put_varint};
use crate::path::{MAX_SEGMENT, StatePath};

/// A directory with more names than this is sharded.
pub const MAX_FLAT: usize = 256;
const FANOUT: usize = 16;
const FLAT_MAGIC: &[u8; 4] = b"PSTF";
const SHARD_MAGIC: &[u8; 4] = b"PSTS";

/// Counts of a directory: its own names, the documents and the bytes below it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Summary {
    /// Names directly in the directory.
    pub names: u64,
    /// Documents (resources) anywhere below.
    pub docs: u64,
    /// Bytes of documents plus referenced blobs below (a blob counted once per reference).
    pub bytes: u64,
}

/// One name in a directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// A subdirectory.
    Tree {
        /// Its node.
        id: TreeId,
        /// Its counts.
        summary: Summary,
    },
    /// A resource document and the blobs it references.
    Doc {
        /// The document.
        id: DocId,
        /// Its canonical size.
        size: u64,
        /// Blobs it references, sorted by id.
        blobs: Vec<BlobInfo>,
    },
    /// A blob stored directly under a path.
    Blob(BlobInfo),
}

impl Entry {
    /// Stores `doc` in `objects` and returns its entry.
    pub fn store_doc<O: Objects + ?Sized>(objects: &O, doc: &Document) -> Result<Self> {
        let id = objects.put(ObjectKind::Document, doc.bytes())?;
        Ok(Self::Doc {
            id: DocId(id),
            size: doc.bytes().len() as u64,
            blobs: doc.blob_refs(),
        })
    }

    /// The entry of an existing tree node (reads its header for the counts).
    pub fn tree<O: Objects + ?Sized>(objects: &O, id: TreeId) -> Result<Self> {
        Ok(Self::Tree {
            id,
            summary: summary(objects, id)?,
        })
    }

    /// The object the entry points to.
    pub fn object_id(&self) -> ObjectId {
        match self {
            Self::Tree { id, .. } => id.0,
            Self::Doc { id, .. } => id.0,
            Self::Blob(b) => b.id.0,
        }
    }

    /// Whether the entry is a subdirectory.
    pub fn is_tree(&self) -> bool {
        matches!(self, Self::Tree { .. })
    }

    /// Documents at or below the entry.
    pub fn docs(&self) -> u64 {
        match self {
            Self::Tree { summary, .. } => summary.docs,
            Self::Doc { .. } => 1,
            Self::Blob(_) => 0,
        }
    }

    /// Bytes at or below the entry.
    pub fn bytes(&self) -> u64 {
        match self {
            Self::Tree { summary, .. } => summary.bytes,
            Self::Doc { size, blobs, .. } => size + blobs.iter().map(|b| b.size).sum::<u64>(),
            Self::Blob(b) => b.size,
        }
    }
}

/// A decoded tree node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Flat(Vec<(String, Entry)>),
    Sharded { depth: u8, slots: Box<Slots> },
}

/// The 16 children of a sharded node.
pub(crate) type Slots = [Option<(TreeId, Summary)>; FANOUT];

fn nibble(name: &str, depth: u8) -> usize {
    let h = Sha256::digest(name.as_bytes());
    let b = h[(depth / 2) as usize];
    (if depth.is_multiple_of(2) {
        b >> 4
    } else {
        b & 15
    }) as usize
}

fn encode_summary(out: &mut Vec<u8>, s: &Summary) {
    put_varint(out, s.names);
    put_varint(out, s.docs);
    put_varint(out, s.bytes);
}

fn encode_flat(entries: &[(String, Entry)]) -> (Vec<u8>, Summary) {
    let summary = Summary {
        names: entries.len() as u64,
        docs: entries.iter().map(|(_, e)| e.docs()).sum(),
        bytes: entries.iter().map(|(_, e)| e.bytes()).sum(),
    };
    let mut out = Vec::with_capacity(16 + entries.len() * 48);
    out.extend_from_slice(FLAT_MAGIC);
    encode_summary(&mut out, &summary);
    for (name, e) in entries {
        put_varint(&mut out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        match e {
            Entry::Tree { id, summary } => {
                out.push(1);
                out.extend_from_slice(&id.0.0);
                encode_summary(&mut out, summary);
            }
            Entry::Doc { id, size, blobs } => {
                out.push(2);
                out.extend_from_slice(&id.0.0);
                put_varint(&mut out, *size);
                put_varint(&mut out, blobs.len() as u64);
                for b in blobs {
                    out.extend_from_slice(&b.id.0.0);
                    put_varint(&mut out, b.size);
                }
            }
            Entry::Blob(b) => {
                out.push(3);
                out.extend_from_slice(&b.id.0.0);
                put_varint(&mut out, b.size);
            }
        }
    }
    (out, summary)
}

fn encode_sharded(depth: u8, slots: &Slots) -> (Vec<u8>, Summary) {
    let mut summary = Summary::default();
    for (_, s) in slots.iter().flatten() {
        summary.names += s.names;
        summary.docs += s.docs;
        summary.bytes += s.bytes;
    }
    let mut out = Vec::with_capacity(32 + FANOUT * 40);
    out.extend_from_slice(SHARD_MAGIC);
    out.push(depth);
    encode_summary(&mut out, &summary);
    for slot in slots {
        match slot {
            None => out.push(0),
            Some((id, s)) => {
                out.push(1);
                out.extend_from_slice(&id.0.0);
                encode_summary(&mut out, s);
            }
        }
    }
    (out, summary)
}

fn decode_summary(r: &mut Reader<'_>) -> Result<Summary, String> {
    Ok(Summary {
        names: r.varint()?,
        docs: r.varint()?,
        bytes: r.varint()?,
    })
}

/// Decodes a node, checking its structure (sorted unique names, kinds, counts).
pub(crate) fn decode_node(id: &ObjectId, bytes: &[u8]) -> Result<(Node, Summary)> {
    let corrupt = |reason: String| Error::CorruptObject { id: *id, reason };
    if bytes.len() < 4 {
        return Err(corrupt("tree node too short".into()));
    }
    let mut r = Reader::new(&bytes[4..]);
    let parsed = match &bytes[..4] {
        m if m == FLAT_MAGIC => decode_flat(&mut r),
        m if m == SHARD_MAGIC => decode_sharded(&mut r),
        _ => Err("not a tree node".into()),
    };
    parsed.map_err(corrupt)
}

fn decode_flat(r: &mut Reader<'_>) -> Result<(Node, Summary), String> {
    let summary = decode_summary(r)?;
    let mut entries: Vec<(String, Entry)> = Vec::new();
    while !r.is_empty() {
        let len = r.varint()? as usize;
        let name = std::str::from_utf8(r.bytes(len)?)
            .map_err(|_| "entry name is not UTF-8")?
            .to_owned();
        if name.is_empty() || name.len() > MAX_SEGMENT || name.contains('\0') {
            return Err(format!("entry name {name:?} is not a valid path segment"));
        }
        if entries.last().is_some_and(|(prev, _)| *prev >= name) {
            return Err(format!("entry {name:?} out of order"));
        }
        let entry = match r.u8()? {
            1 => Entry::Tree {
                id: TreeId(r.id()?),
                summary: decode_summary(r)?,
            },
            2 => {
                let id = DocId(r.id()?);
                let size = r.varint()?;
                let n = r.varint()?;
                let mut blobs = Vec::new();
                for _ in 0..n {
                    blobs.push(BlobInfo {
                        id: BlobId(r.id()?),
                        size: r.varint()?,
                    });
                }
                Entry::Doc { id, size, blobs }
            }
            3 => Entry::Blob(BlobInfo {
                id: BlobId(r.id()?),
                size: r.varint()?,
            }),
            t => return Err(format!("unknown entry tag {t}")),
        };
        entries.push((name, entry));
    }
    if entries.len() as u64 != summary.names {
        return Err("entry count does not match the header".into());
    }
    Ok((Node::Flat(entries), summary))
}

fn decode_sharded(r: &mut Reader<'_>) -> Result<(Node, Summary), String> {
    let depth = r.u8()?;
    if depth >= 64 {
        return Err("shard depth out of range".into());
    }
    let summary = decode_summary(r)?;
    let mut slots: Box<Slots> = Box::default();
    for slot in slots.iter_mut() {
        *slot = match r.u8()? {
            0 => None,
            1 => Some((TreeId(r.id()?), decode_summary(r)?)),
            t => return Err(format!("bad slot tag {t}")),
        };
    }
    if !r.is_empty() {
        return Err("trailing bytes in a sharded node".into());
    }
    let (_, sum) = encode_sharded(depth, &slots);
    if sum != summary || (summary.names as usize) <= MAX_FLAT {
        return Err("sharded node counts do not match its slots".into());
    }
    Ok((Node::Sharded { depth, slots }, summary))
}

/// Reads and decodes a node.
pub(crate) fn read_node<O: Objects + ?Sized>(objects: &O, id: TreeId) -> Result<(Node, Summary)> {
    let bytes = objects.get_kind(&id.0, ObjectKind::Tree)?;
    decode_node(&id.0, &bytes)
}

/// The counts of a tree.
pub fn summary<O: Objects + ?Sized>(objects: &O, id: TreeId) -> Result<Summary> {
    Ok(read_node(objects, id)?.1)
}

/// Writes a directory of sorted, unique entries at shard depth `depth`.
fn write_dir<O: Objects + ?Sized>(
    objects: &O,
    entries: Vec<(String, Entry)>,
    depth: u8,
) -> Result<(TreeId, Summary)> {
    if entries.len() <= MAX_FLAT {
        let (bytes, s) = encode_flat(&entries);
        return Ok((TreeId(objects.put(ObjectKind::Tree, &bytes)?), s));
    }
    let mut parts: [Vec<(String, Entry)>; FANOUT] = Default::default();
    for (name, e) in entries {
        parts[nibble(&name, depth)].push((name, e));
    }
    let mut slots: Box<Slots> = Box::default();
    for (slot, part) in slots.iter_mut().zip(parts) {
        if !part.is_empty() {
            *slot = Some(write_dir(objects, part, depth + 1)?);
        }
    }
    let (bytes, s) = encode_sharded(depth, &slots);
    Ok((TreeId(objects.put(ObjectKind::Tree, &bytes)?), s))
}

/// The empty directory.
pub fn empty<O: Objects + ?Sized>(objects: &O) -> Result<TreeId> {
    Ok(write_dir(objects, Vec::new(), 0)?.0)
}

/// Every entry of a directory, sorted by name.
pub fn read_dir<O: Objects + ?Sized>(objects: &O, id: TreeId) -> Result<Vec<(String, Entry)>> {
    let mut out = Vec::new();
    collect_dir(objects, id, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn collect_dir<O: Objects + ?Sized>(
    objects: &O,
    id: TreeId,
    out: &mut Vec<(String, Entry)>,
) -> Result<()> {
    match read_node(objects, id)?.0 {
        Node::Flat(entries) => out.extend(entries),
        Node::Sharded { slots, .. } => {
            for (child, _) in slots.into_iter().flatten() {
                collect_dir(objects, child, out)?;
            }
        }
    }
    Ok(())
}

/// Looks `name` up in a directory without reading all of it.
pub fn lookup<O: Objects + ?Sized>(objects: &O, id: TreeId, name: &str) -> Result<Option<Entry>> {
    match read_node(objects, id)?.0 {
        Node::Flat(entries) => Ok(entries
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| entries[i].1.clone())),
        Node::Sharded { depth, slots } => match &slots[nibble(name, depth)] {
            Some((child, _)) => lookup(objects, *child, name),
            None => Ok(None),
        },
    }
}

/// The entry at `path` under `root`.
pub fn get<O: Objects + ?Sized>(
    objects: &O,
    root: TreeId,
    path: &StatePath,
) -> Result<Option<Entry>> {
    let mut dir = root;
    let segs = path.segments();
    for (i, seg) in segs.iter().enumerate() {
        match lookup(objects, dir, seg)? {
            None => return Ok(None),
            Some(e) if i + 1 == segs.len() => return Ok(Some(e)),
            Some(Entry::Tree { id, .. }) => dir = id,
            Some(_) => return Ok(None),
        }
    }
    Ok(Some(Entry::tree(objects, root)?))
}

/// Applies name-level changes to one directory level (sorted by name, unique).
fn update_dir<O: Objects + ?Sized>(
    objects: &O,
    dir: Option<TreeId>,
    depth: u8,
    changes: Vec<(String, Option<Entry>)>,
) -> Result<Option<(TreeId, Summary)>> {
    let node = match dir {
        None => Node::Flat(Vec::new()),
        Some(id) => read_node(objects, id)?.0,
    };
    match node {
        Node::Flat(entries) => {
            let mut map: BTreeMap<String, Entry> = entries.into_iter().collect();
            for (name, change) in changes {
                match change {
                    Some(e) => map.insert(name, e),
                    None => map.remove(&name),
                };
            }
            if map.is_empty() {
                return Ok(None);
            }
            write_dir(objects, map.into_iter().collect(), depth).map(Some)
        }
        Node::Sharded {
            depth: d,
            mut slots,
        } => {
            let mut groups: [Vec<(String, Option<Entry>)>; FANOUT] = Default::default();
            for c in changes {
                groups[nibble(&c.0, d)].push(c);
            }
            for (i, group) in groups.into_iter().enumerate() {
                if !group.is_empty() {
                    let child = slots[i].map(|s| s.0);
                    slots[i] = update_dir(objects, child, d + 1, group)?;
                }
            }
            let names: u64 = slots.iter().flatten().map(|s| s.1.names).sum();
            if names == 0 {
                return Ok(None);
            }
            if names as usize <= MAX_FLAT {
                let mut all = Vec::new();
                for (child, _) in slots.iter().flatten() {
                    collect_dir(objects, *child, &mut all)?;
                }
                all.sort_by(|a, b| a.0.cmp(&b.0));
                return write_dir(objects, all, d).map(Some);
            }
            let (bytes, s) = encode_sharded(d, &slots);
            Ok(Some((TreeId(objects.put(ObjectKind::Tree, &bytes)?), s)))
        }
    }
}

/// Applies path-level changes (`Some(entry)` sets, `None` deletes) to `root` (None = empty) and
/// returns the new root. Only the directories on changed paths are rewritten. Directories left
/// empty disappear; the root always exists.
pub fn update<O: Objects + ?Sized>(
    objects: &O,
    root: Option<TreeId>,
    mut changes: Vec<(StatePath, Option<Entry>)>,
) -> Result<TreeId> {
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    let refs: Vec<(&StatePath, &Option<Entry>)> = changes.iter().map(|(p, e)| (p, e)).collect();
    update_refs(objects, root, &refs)
}

/// [`update`] with borrowed changes already sorted by path (a change set kept in a sorted
/// map); changes out of order are refused. A path given twice: the last change wins.
pub fn update_sorted<'a, O: Objects + ?Sized>(
    objects: &O,
    root: Option<TreeId>,
    changes: impl IntoIterator<Item = (&'a StatePath, &'a Option<Entry>)>,
) -> Result<TreeId> {
    let changes: Vec<(&StatePath, &Option<Entry>)> = changes.into_iter().collect();
    if let Some(w) = changes.windows(2).find(|w| w[0].0 > w[1].0) {
        return Err(Error::InvalidPath {
            path: w[1].0.to_string(),
            reason: format!("changes out of order: after {}", w[0].0),
        });
    }
    update_refs(objects, root, &changes)
}

/// [`update`] of changes sorted by path.
fn update_refs<O: Objects + ?Sized>(
    objects: &O,
    root: Option<TreeId>,
    changes: &[(&StatePath, &Option<Entry>)],
) -> Result<TreeId> {
    if let Some((p, _)) = changes.iter().find(|(p, _)| p.is_empty()) {
        return Err(Error::InvalidPath {
            path: p.to_string(),
            reason: "cannot set or delete the root".into(),
        });
    }
    let refs: Vec<(&[String], &Option<Entry>)> =
        changes.iter().map(|(p, e)| (p.segments(), *e)).collect();
    match update_level(objects, root, &StatePath::default(), &refs)? {
        Some((id, _)) => Ok(id),
        None => empty(objects),
    }
}

fn update_level<O: Objects + ?Sized>(
    objects: &O,
    dir: Option<TreeId>,
    at: &StatePath,
    changes: &[(&[String], &Option<Entry>)],
) -> Result<Option<(TreeId, Summary)>> {
    let mut level: Vec<(String, Option<Entry>)> = Vec::new();
    let mut i = 0;
    while i < changes.len() {
        let name = &changes[i].0[0];
        let end = i + changes[i..].iter().take_while(|c| &c.0[0] == name).count();
        let group = &changes[i..end];
        i = end;
        let direct = group
            .iter()
            .rev()
            .find(|c| c.0.len() == 1)
            .map(|c| c.1.clone());
        let deeper: Vec<(&[String], &Option<Entry>)> = group
            .iter()
            .filter(|c| c.0.len() > 1)
            .map(|c| (&c.0[1..], c.1))
            .collect();
        let leaf_replaces_dir =
            matches!(direct, Some(Some(_))) && deeper.iter().all(|c| c.1.is_none());
        if deeper.is_empty() || leaf_replaces_dir {
            // A leaf set here replaces any directory below; deletions under it are moot.
            let change = direct.expect("works because the group is non-empty");
            level.push((name.clone(), change));
            continue;
        }
        let here = at.join(name);
        let existing = match dir {
            Some(d) => lookup(objects, d, name)?,
            None => None,
        };
        let sub = match (&direct, existing) {
            (Some(Some(_)), _) => {
                return Err(Error::InvalidPath {
                    path: here.to_string(),
                    reason: "set as a leaf and as a directory in one update".into(),
                });
            }
            (Some(None), _) | (None, None) => None,
            (None, Some(Entry::Tree { id, .. })) => Some(id),
            (None, Some(_)) => {
                return Err(Error::InvalidPath {
                    path: here.to_string(),
                    reason: "is a document or blob, not a directory".into(),
                });
            }
        };
        let new = update_level(objects, sub, &here, &deeper)?;
        level.push((
            name.clone(),
            new.map(|(id, summary)| Entry::Tree { id, summary }),
        ));
    }
    update_dir(objects, dir, 0, level)
}

/// Builds a tree from leaf entries.
pub fn build<O: Objects + ?Sized>(objects: &O, entries: Vec<(StatePath, Entry)>) -> Result<TreeId> {
    update(
        objects,
        None,
        entries.into_iter().map(|(p, e)| (p, Some(e))).collect(),
    )
}

/// Calls `f` for every leaf (document or blob) below `root`, depth first in name order.
pub fn walk<O: Objects + ?Sized>(
    objects: &O,
    root: TreeId,
    f: &mut dyn FnMut(&StatePath, &Entry) -> Result<()>,
) -> Result<()> {
    walk_at(objects, root, &StatePath::default(), f)
}

fn walk_at<O: Objects + ?Sized>(
    objects: &O,
    dir: TreeId,
    at: &StatePath,
    f: &mut dyn FnMut(&StatePath, &Entry) -> Result<()>,
) -> Result<()> {
    for (name, e) in read_dir(objects, dir)? {
        let p = at.join(&name);
        match e {
            Entry::Tree { id, .. } => walk_at(objects, id, &p, f)?,
            leaf => f(&p, &leaf)?,
        }
    }
    Ok(())
}

/// Every leaf below `root` as a list.
pub fn leaves<O: Objects + ?Sized>(objects: &O, root: TreeId) -> Result<Vec<(StatePath, Entry)>> {
    let mut out = Vec::new();
    walk(objects, root, &mut |p, e| {
        out.push((p.clone(), e.clone()));
        Ok(())
    })?;
    Ok(out)
}

/// The objects a node refers to directly: child nodes, documents, blobs.
pub(crate) fn node_refs(node: &Node) -> Vec<(ObjectId, ObjectKind)> {
    let mut out = Vec::new();
    match node {
        Node::Flat(entries) => {
            for (_, e) in entries {
                match e {
                    Entry::Tree { id, .. } => out.push((id.0, ObjectKind::Tree)),
                    Entry::Doc { id, blobs, .. } => {
                        out.push((id.0, ObjectKind::Document));
                        out.extend(blobs.iter().map(|b| (b.id.0, ObjectKind::Blob)));
                    }
                    Entry::Blob(b) => out.push((b.id.0, ObjectKind::Blob)),
                }
            }
        }
        Node::Sharded { slots, .. } => {
            out.extend(
                slots
                    .iter()
                    .flatten()
                    .map(|(id, _)| (id.0, ObjectKind::Tree)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::MemObjects;
    use serde_json::json;

    fn doc(objects: &MemObjects, n: u64) -> Entry {
        let d = Document::new(json!({"schema": "t.item/1", "n": n})).expect("doc");
        Entry::store_doc(objects, &d).expect("store")
    }

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).expect("path")
    }

    #[test]
    fn sorted_updates_equal_updates_and_refuse_disorder() {
        let o = MemObjects::new();
        let changes = vec![
            (p("a/r/s3/bucket/b1"), Some(doc(&o, 1))),
            (p("a/r/s3/bucket/b2"), Some(doc(&o, 2))),
            (p("a/r/sqs/queue/q1"), Some(doc(&o, 3))),
        ];
        let sorted = update_sorted(&o, None, changes.iter().map(|(p, e)| (p, e))).expect("sorted");
        let mut shuffled = changes.clone();
        shuffled.reverse();
        assert_eq!(update(&o, None, shuffled.clone()).expect("update"), sorted);
        let err = update_sorted(&o, None, shuffled.iter().map(|(p, e)| (p, e)))
            .expect_err("out of order");
        assert!(err.to_string().contains("out of order"), "{err}");
    }

    #[test]
    fn build_get_walk() {
        let o = MemObjects::new();
        let root = build(
            &o,
            vec![
                (p("a/r/s3/bucket/b1"), doc(&o, 1)),
                (p("a/r/sqs/queue/q1"), doc(&o, 2)),
                (p("a/global/iam/user/u"), doc(&o, 3)),
            ],
        )
        .expect("build");
        assert_eq!(
            get(&o, root, &p("a/r/sqs/queue/q1")).expect("get"),
            Some(doc(&o, 2))
        );
        assert_eq!(get(&o, root, &p("a/r/sqs/queue/nope")).expect("get"), None);
        let paths: Vec<String> = leaves(&o, root)
            .expect("leaves")
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "a/global/iam/user/u",
                "a/r/s3/bucket/b1",
                "a/r/sqs/queue/q1"
            ]
        );
        assert_eq!(summary(&o, root).expect("summary").docs, 3);
    }

    #[test]
    fn layout_is_history_independent_and_updates_are_local() {
        let o = MemObjects::new();
        let all: Vec<_> = (0..3000)
            .map(|i| (p(&format!("a/r/s3/object/b/k{i:05}")), doc(&o, i)))
            .collect();
        let full = build(&o, all.clone()).expect("build");
        // Same set built in two halves: same id.
        let half = build(&o, all[..1500].to_vec()).expect("half");
        let rest = all[1500..]
            .iter()
            .map(|(p, e)| (p.clone(), Some(e.clone())))
            .collect();
        assert_eq!(update(&o, Some(half), rest).expect("update"), full);
        // One change writes only a few small nodes.
        let before = o.len();
        let changed = update(
            &o,
            Some(full),
            vec![(p("a/r/s3/object/b/k00042"), Some(doc(&o, 99_999)))],
        )
        .expect("update");
        assert!(o.len() - before <= 10, "{} new objects", o.len() - before);
        // Undoing it returns to the same id; deleting down to few entries collapses to flat.
        let undone = update(
            &o,
            Some(changed),
            vec![(p("a/r/s3/object/b/k00042"), Some(doc(&o, 42)))],
        )
        .expect("undo");
        assert_eq!(undone, full);
        let dels = (10..3000)
            .map(|i| (p(&format!("a/r/s3/object/b/k{i:05}")), None))
            .collect();
        let small = update(&o, Some(full), dels).expect("delete");
        let direct = build(&o, all[..10].to_vec()).expect("direct");
        assert_eq!(small, direct);
    }

    #[test]
    fn deleting_everything_leaves_an_empty_root_and_kind_clashes_fail() {
        let o = MemObjects::new();
        let root = build(&o, vec![(p("a/b/c"), doc(&o, 1))]).expect("build");
        let gone = update(&o, Some(root), vec![(p("a/b/c"), None)]).expect("delete");
        assert_eq!(gone, empty(&o).expect("empty"));
        let err =
            update(&o, Some(root), vec![(p("a/b/c/d"), Some(doc(&o, 2)))]).expect_err("clash");
        assert!(err.to_string().contains("not a directory"), "{err}");
        let replaced = update(
            &o,
            Some(root),
            vec![(p("a/b/c"), None), (p("a/b/c/d"), Some(doc(&o, 2)))],
        )
        .expect("replace leaf by dir");
        assert!(get(&o, replaced, &p("a/b/c/d")).expect("get").is_some());
    }

    #[test]
    fn corrupt_nodes_are_reported_not_panicked_on() {
        let id = ObjectId::of(b"x");
        for bad in [
            &b""[..],
            b"PSTF",
            b"PSTF\x01\x00\x00",
            b"PSTS\x00",
            b"XXXXYYYY",
            b"PSTF\x00\x00\x00\x05ab",
        ] {
            assert!(decode_node(&id, bad).is_err(), "{bad:?}");
        }
    }
}
