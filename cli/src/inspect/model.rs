//! The lazily loaded state tree that `inspect` shows: an arena of nodes whose children are read
//! (`tree::read_dir`) only when first expanded. Counts and sizes come from the parent's entry
//! summaries, so a 100,000-resource pod opens by reading its root node alone.
//!
//! With a diff, every node also knows what changed: leaves carry their [`ChangeKind`], and
//! directories count the changed leaves below them (from the sorted change list, by binary
//! search). Deleted names are merged into their directory from the old tree and keep their old
//! entries, so a deleted resource can still be opened.

use std::cmp::Ordering;
use std::ops::Range;

use podstore::tree::{self, Entry};
use podstore::{Change, ChangeKind, ObjectId, ObjectKind, Objects, StoredObject, TreeId};

/// Index of a node in [`Tree::nodes`].
pub type NodeIx = usize;

/// The root node's index.
pub const ROOT: NodeIx = 0;

/// Which state a leaf's entry belongs to (where its objects are read from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The state inspected (the new one of a diff).
    New,
    /// The old state of a diff (deleted leaves).
    Old,
}

/// What a node is.
#[derive(Clone, Debug)]
pub enum Content {
    /// A directory, present in the new and/or the old tree.
    Dir {
        /// Its node in the new tree.
        new: Option<TreeId>,
        /// Its node in the old tree (only known where something changed below).
        old: Option<TreeId>,
        /// Names directly in it.
        names: u64,
    },
    /// A document or blob.
    Leaf {
        /// The entry.
        entry: Entry,
        /// Which tree it comes from.
        side: Side,
    },
}

/// Changed leaves at or below a node, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Added leaves.
    pub added: u64,
    /// Modified leaves.
    pub modified: u64,
    /// Deleted leaves.
    pub deleted: u64,
}

impl Counts {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added + self.modified + self.deleted == 0
    }

    fn add(&mut self, kind: ChangeKind) {
        match kind {
            ChangeKind::Added => self.added += 1,
            ChangeKind::Modified => self.modified += 1,
            ChangeKind::Deleted => self.deleted += 1,
        }
    }

    fn minus(self, o: Self) -> Self {
        Self {
            added: self.added - o.added,
            modified: self.modified - o.modified,
            deleted: self.deleted - o.deleted,
        }
    }
}

/// One node of the browsed tree.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its name in its directory (empty for the root).
    pub name: String,
    /// Its directory (`None` for the root).
    pub parent: Option<NodeIx>,
    /// Indentation level: 0 for the root's children.
    pub depth: u16,
    /// Directory or leaf.
    pub content: Content,
    /// Documents at or below it.
    pub docs: u64,
    /// Bytes of documents and blobs at or below it.
    pub bytes: u64,
    /// For a leaf of a diff: what happened to it.
    pub mark: Option<ChangeKind>,
    /// For a directory of a diff: changed leaves below it.
    pub changes: Counts,
    /// Children, sorted by name, once loaded.
    pub children: Option<Vec<NodeIx>>,
    /// Whether its children are shown.
    pub expanded: bool,
}

impl Node {
    /// Whether the node is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.content, Content::Dir { .. })
    }
}

/// The sorted changes of a diff, with prefix sums for counting any subtree's changes.
#[derive(Debug)]
pub struct DiffIndex {
    changes: Vec<Change>,
    /// `sums[i]` counts the changes before index `i`.
    sums: Vec<Counts>,
}

impl DiffIndex {
    /// Indexes `changes` (sorted by path, as `podstore::diff` returns them).
    pub fn new(mut changes: Vec<Change>) -> Self {
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        let mut sums = Vec::with_capacity(changes.len() + 1);
        let mut acc = Counts::default();
        sums.push(acc);
        for c in &changes {
            acc.add(c.kind);
            sums.push(acc);
        }
        Self { changes, sums }
    }

    /// The changes at or below `prefix`.
    pub fn range(&self, prefix: &[String]) -> Range<usize> {
        let lo = self.changes.partition_point(|c| c.path.segments() < prefix);
        let hi = lo + self.changes[lo..].partition_point(|c| c.path.segments().starts_with(prefix));
        lo..hi
    }

    /// Counts of the changes in `r`.
    pub fn counts(&self, r: Range<usize>) -> Counts {
        self.sums[r.end].minus(self.sums[r.start])
    }

    /// All changes, sorted by path.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The change of the leaf at `path`.
    pub fn change(&self, path: &[String]) -> Option<&Change> {
        self.changes
            .binary_search_by(|c| c.path.segments().cmp(path))
            .ok()
            .map(|i| &self.changes[i])
    }

    /// What happened to the leaf `dir/name`, looking only in `within` (the range of `dir`).
    fn kind_of(&self, within: &Range<usize>, dir: &[String], name: &str) -> Option<ChangeKind> {
        let slice = &self.changes[within.clone()];
        slice
            .binary_search_by(|c| {
                let segs = c.path.segments();
                if segs.len() <= dir.len() {
                    // `dir` itself as a leaf (a name that changed kind) sorts first.
                    return Ordering::Less;
                }
                match segs.len().cmp(&(dir.len() + 1)) {
                    // Deeper paths sort after the leaf with the same first segments.
                    Ordering::Greater => segs[dir.len()].as_str().cmp(name).then(Ordering::Greater),
                    _ => segs[dir.len()].as_str().cmp(name),
                }
            })
            .ok()
            .map(|i| slice[i].kind)
    }
}

/// Reads objects from the new state first, then the old one: what `podstore::diff` needs when
/// the two states come from different stores (a pod and an archive file).
pub struct Both<'a> {
    /// Looked at first.
    pub first: &'a dyn Objects,
    /// Looked at when `first` lacks the object.
    pub second: &'a dyn Objects,
}

impl std::fmt::Debug for Both<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Both")
    }
}

impl Objects for Both<'_> {
    fn get_raw(&self, id: &ObjectId) -> podstore::Result<Option<StoredObject>> {
        match self.first.get_raw(id)? {
            Some(o) => Ok(Some(o)),
            None => self.second.get_raw(id),
        }
    }

    fn put_raw(&self, kind: ObjectKind, id: ObjectId, bytes: &[u8]) -> podstore::Result<bool> {
        self.first.put_raw(kind, id, bytes)
    }

    fn contains(&self, id: &ObjectId) -> podstore::Result<bool> {
        Ok(self.first.contains(id)? || self.second.contains(id)?)
    }
}

/// The browsed tree.
pub struct Tree<'a> {
    new: &'a dyn Objects,
    old: Option<&'a dyn Objects>,
    diff: Option<DiffIndex>,
    /// Every node loaded so far; [`ROOT`] first.
    pub nodes: Vec<Node>,
}

impl std::fmt::Debug for Tree<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("nodes", &self.nodes.len())
            .field("diff", &self.diff.as_ref().map(|d| d.changes.len()))
            .finish()
    }
}

impl<'a> Tree<'a> {
    /// The tree of `root`; with `old = Some((objects, root))`, annotated with the diff from that
    /// old state. Reads the root node (and, with a diff, the changed paths) only.
    pub fn open(
        objects: &'a dyn Objects,
        root: TreeId,
        old: Option<(&'a dyn Objects, TreeId)>,
    ) -> podstore::Result<Self> {
        let summary = tree::summary(objects, root)?;
        let (diff, old_objects, old_root) = match old {
            Some((o, old_root)) => {
                let both = Both {
                    first: objects,
                    second: o,
                };
                let changes = podstore::diff(&both, old_root, root)?;
                (Some(DiffIndex::new(changes)), Some(o), Some(old_root))
            }
            None => (None, None, None),
        };
        let changes = diff
            .as_ref()
            .map(|d| d.counts(0..d.changes.len()))
            .unwrap_or_default();
        let root_node = Node {
            name: String::new(),
            parent: None,
            depth: 0,
            content: Content::Dir {
                new: Some(root),
                old: old_root,
                names: summary.names,
            },
            docs: summary.docs,
            bytes: summary.bytes,
            mark: None,
            changes,
            children: None,
            expanded: true,
        };
        let mut t = Self {
            new: objects,
            old: old_objects,
            diff,
            nodes: vec![root_node],
        };
        t.load(ROOT)?;
        Ok(t)
    }

    /// The diff, if any.
    pub fn diff(&self) -> Option<&DiffIndex> {
        self.diff.as_ref()
    }

    /// Where the objects of `side` are read from.
    pub fn objects(&self, side: Side) -> &'a dyn Objects {
        match side {
            Side::New => self.new,
            Side::Old => self.old.unwrap_or(self.new),
        }
    }

    /// The node.
    pub fn node(&self, ix: NodeIx) -> &Node {
        &self.nodes[ix]
    }

    /// The path segments of a node.
    pub fn path(&self, ix: NodeIx) -> Vec<String> {
        let mut segs = Vec::new();
        let mut at = Some(ix);
        while let Some(i) = at {
            let n = &self.nodes[i];
            if n.parent.is_some() {
                segs.push(n.name.clone());
            }
            at = n.parent;
        }
        segs.reverse();
        segs
    }

    /// The path of a node as text (`a/b/c`).
    pub fn path_string(&self, ix: NodeIx) -> String {
        self.path(ix).join("/")
    }

    /// The child named `name` of a loaded directory.
    pub fn child(&self, ix: NodeIx, name: &str) -> Option<NodeIx> {
        let kids = self.nodes[ix].children.as_ref()?;
        kids.binary_search_by(|&k| self.nodes[k].name.as_str().cmp(name))
            .ok()
            .map(|i| kids[i])
    }

    /// Reads a directory's children unless already read. Leaves have none.
    pub fn load(&mut self, ix: NodeIx) -> podstore::Result<()> {
        let node = &self.nodes[ix];
        if node.children.is_some() {
            return Ok(());
        }
        let Content::Dir { new, old, .. } = node.content else {
            self.nodes[ix].children = Some(Vec::new());
            return Ok(());
        };
        let depth = if node.parent.is_none() {
            0
        } else {
            node.depth + 1
        };
        let path = self.path(ix);
        let changed = self
            .diff
            .as_ref()
            .map(|d| d.range(&path))
            .filter(|r| !r.is_empty());
        let new_entries = match new {
            Some(id) => tree::read_dir(self.new, id)?,
            None => Vec::new(),
        };
        let old_entries = match (old, &changed, self.old) {
            (Some(id), Some(_), Some(o)) => tree::read_dir(o, id)?,
            _ => Vec::new(),
        };
        let mut kids = Vec::with_capacity(new_entries.len());
        let mut new_it = new_entries.into_iter().peekable();
        let mut old_it = old_entries.into_iter().peekable();
        loop {
            let order = match (new_it.peek(), old_it.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.0.cmp(&b.0),
            };
            let (name, new_e, old_e) = match order {
                Ordering::Less => new_it.next().map(|(n, e)| (n, Some(e), None)),
                Ordering::Greater => old_it.next().map(|(n, e)| (n, None, Some(e))),
                Ordering::Equal => match (new_it.next(), old_it.next()) {
                    (Some((n, a)), Some((_, b))) => Some((n, Some(a), Some(b))),
                    _ => None,
                },
            }
            .unwrap_or_default();
            let (content, summary_docs, summary_bytes) = match (new_e, old_e) {
                (Some(Entry::Tree { id, summary }), old_e) => {
                    let old_id = match old_e {
                        Some(Entry::Tree { id, .. }) => Some(id),
                        _ => None,
                    };
                    let c = Content::Dir {
                        new: Some(id),
                        old: old_id,
                        names: summary.names,
                    };
                    (c, summary.docs, summary.bytes)
                }
                (Some(leaf), _) => {
                    let (d, b) = (leaf.docs(), leaf.bytes());
                    let c = Content::Leaf {
                        entry: leaf,
                        side: Side::New,
                    };
                    (c, d, b)
                }
                (None, Some(Entry::Tree { id, summary })) => {
                    let c = Content::Dir {
                        new: None,
                        old: Some(id),
                        names: summary.names,
                    };
                    (c, summary.docs, summary.bytes)
                }
                (None, Some(leaf)) => {
                    let (d, b) = (leaf.docs(), leaf.bytes());
                    let c = Content::Leaf {
                        entry: leaf,
                        side: Side::Old,
                    };
                    (c, d, b)
                }
                (None, None) => continue,
            };
            let (mark, changes) = match (&self.diff, &changed) {
                (Some(d), Some(r)) => match &content {
                    Content::Leaf { .. } => (d.kind_of(r, &path, &name), Counts::default()),
                    Content::Dir { .. } => {
                        let mut p = path.clone();
                        p.push(name.clone());
                        (None, d.counts(d.range(&p)))
                    }
                },
                _ => (None, Counts::default()),
            };
            kids.push(self.nodes.len());
            self.nodes.push(Node {
                name,
                parent: Some(ix),
                depth,
                content,
                docs: summary_docs,
                bytes: summary_bytes,
                mark,
                changes,
                children: None,
                expanded: false,
            });
        }
        self.nodes[ix].children = Some(kids);
        Ok(())
    }

    /// Loads and expands (or collapses) a directory. Returns whether anything changed.
    pub fn set_expanded(&mut self, ix: NodeIx, on: bool) -> podstore::Result<bool> {
        if !self.nodes[ix].is_dir() || self.nodes[ix].expanded == on {
            return Ok(false);
        }
        if on {
            self.load(ix)?;
        }
        self.nodes[ix].expanded = on;
        Ok(true)
    }

    /// Loads and expands every directory on the way to `path`; returns the node at `path`
    /// (`None` when a segment does not exist).
    pub fn reveal(&mut self, path: &[String]) -> podstore::Result<Option<NodeIx>> {
        let mut at = ROOT;
        for seg in path {
            self.load(at)?;
            self.nodes[at].expanded = true;
            match self.child(at, seg) {
                Some(c) => at = c,
                None => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    /// The rows shown: every node whose ancestors are all expanded, in tree order (the root
    /// itself is not shown).
    pub fn visible(&self) -> Vec<NodeIx> {
        let mut out = Vec::new();
        let mut stack: Vec<NodeIx> = Vec::new();
        if let Some(kids) = &self.nodes[ROOT].children {
            stack.extend(kids.iter().rev());
        }
        while let Some(ix) = stack.pop() {
            out.push(ix);
            let n = &self.nodes[ix];
            if n.expanded
                && let Some(kids) = &n.children
            {
                stack.extend(kids.iter().rev());
            }
        }
        out
    }

    /// The leaf paths below the root whose text (`a/b/c`) contains `needle` (compared in lower
    /// case), in tree order; with a diff, deleted leaves included.
    pub fn search(&self, needle: &str) -> podstore::Result<Vec<Vec<String>>> {
        let needle = needle.to_lowercase();
        let mut out: Vec<Vec<String>> = Vec::new();
        let Content::Dir {
            new: Some(root), ..
        } = self.nodes[ROOT].content
        else {
            return Ok(out);
        };
        let mut prefix = String::new();
        search_dir(
            self.new,
            root,
            &mut Vec::new(),
            &mut prefix,
            &needle,
            &mut out,
        )?;
        if let Some(d) = &self.diff {
            let before = out.len();
            for c in d.changes.iter().filter(|c| c.kind == ChangeKind::Deleted) {
                let segs = c.path.segments();
                if segs.join("/").to_lowercase().contains(&needle) {
                    out.push(segs.to_vec());
                }
            }
            if out.len() > before {
                out.sort();
                out.dedup();
            }
        }
        Ok(out)
    }
}

/// Depth-first search of one directory; `segs` and `text` hold the path so far.
fn search_dir(
    objects: &dyn Objects,
    dir: TreeId,
    segs: &mut Vec<String>,
    text: &mut String,
    needle: &str,
    out: &mut Vec<Vec<String>>,
) -> podstore::Result<()> {
    for (name, e) in tree::read_dir(objects, dir)? {
        let len = text.len();
        if !text.is_empty() {
            text.push('/');
        }
        text.push_str(&name.to_lowercase());
        segs.push(name);
        match e {
            Entry::Tree { id, .. } => search_dir(objects, id, segs, text, needle, out)?,
            _ => {
                if text.contains(needle) {
                    out.push(segs.clone());
                }
            }
        }
        segs.pop();
        text.truncate(len);
    }
    Ok(())
}

/// A byte count for people: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use podstore::{Document, MemObjects, StatePath, put_blob};
    use serde_json::json;

    /// The title of the test pod `demo`, version `version`, dated `date`.
    pub(crate) fn title(version: u64, date: &str) -> super::super::Title {
        super::super::Title {
            pod: "demo".into(),
            version: Some(version),
            message: "seeded".into(),
            date: date.into(),
        }
    }

    /// Stores a document at each path (value `n`), with one blob on `s3/object` paths.
    pub(crate) fn build(o: &MemObjects, paths: &[(&str, u64)]) -> TreeId {
        let entries = paths
            .iter()
            .map(|&(p, n)| {
                let mut v = json!({"schema": "t.item/1", "n": n});
                if p.contains("/s3/object/") {
                    let b = put_blob(o, &vec![b'x'; 2000 + n as usize]).expect("blob");
                    v["body"] = podstore::blob_ref(&b.blob);
                }
                let d = Document::new(v).expect("doc");
                let e = Entry::store_doc(o, &d).expect("store");
                (StatePath::parse(p).expect("path"), e)
            })
            .collect();
        tree::build(o, entries).expect("build")
    }

    pub(crate) const SMALL: &[(&str, u64)] = &[
        ("111111111111/us-east-1/s3/bucket/logs", 1),
        ("111111111111/us-east-1/s3/object/logs/a.txt", 2),
        ("111111111111/us-east-1/sqs/queue/jobs", 3),
        ("111111111111/us-east-1/sqs/queue/mail", 4),
        ("222222222222/eu-west-1/secretsmanager/secret/db", 5),
    ];

    fn names(t: &Tree<'_>) -> Vec<String> {
        t.visible()
            .into_iter()
            .map(|i| {
                format!(
                    "{}{}",
                    "  ".repeat(t.node(i).depth as usize),
                    t.node(i).name
                )
            })
            .collect()
    }

    #[test]
    fn opens_lazily_and_expands_on_demand() {
        let o = MemObjects::new();
        let root = build(&o, SMALL);
        let mut t = Tree::open(&o, root, None).expect("open");
        assert_eq!(t.nodes.len(), 3, "root and its two children only");
        assert_eq!(names(&t), ["111111111111", "222222222222"]);
        assert_eq!(t.node(1).docs, 4);
        let leaf = t
            .reveal(
                StatePath::parse("111111111111/us-east-1/sqs/queue/mail")
                    .expect("p")
                    .segments(),
            )
            .expect("reveal")
            .expect("found");
        assert_eq!(t.path_string(leaf), "111111111111/us-east-1/sqs/queue/mail");
        assert_eq!(
            names(&t),
            [
                "111111111111",
                "  us-east-1",
                "    s3",
                "    sqs",
                "      queue",
                "        jobs",
                "        mail",
                "222222222222"
            ]
        );
        let sqs = t
            .child(
                t.child(t.child(ROOT, "111111111111").expect("a"), "us-east-1")
                    .expect("r"),
                "sqs",
            )
            .expect("s");
        assert!(t.set_expanded(sqs, false).expect("collapse"));
        assert_eq!(names(&t).len(), 5);
        assert!(!t.set_expanded(leaf, true).expect("leaf"));
    }

    #[test]
    fn search_finds_leaf_paths_in_order() {
        let o = MemObjects::new();
        let root = build(&o, SMALL);
        let t = Tree::open(&o, root, None).expect("open");
        let found = t.search("QUEUE").expect("search");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].join("/"), "111111111111/us-east-1/sqs/queue/jobs");
        assert!(t.search("nothing-like-this").expect("search").is_empty());
    }

    #[test]
    fn diff_marks_leaves_and_counts_directories_and_keeps_deleted_ones() {
        let o = MemObjects::new();
        let old = build(&o, SMALL);
        let new = build(
            &o,
            &[
                ("111111111111/us-east-1/s3/bucket/logs", 1),
                ("111111111111/us-east-1/s3/object/logs/a.txt", 20),
                ("111111111111/us-east-1/sqs/queue/jobs", 3),
                ("111111111111/us-east-1/sqs/queue/new", 6),
            ],
        );
        let other = MemObjects::new();
        Tree::open(&other, new, Some((&o, old))).expect_err("objects missing");
        let mut t = Tree::open(&o, new, Some((&o, old))).expect("open");
        let c = t.node(ROOT).changes;
        assert_eq!((c.added, c.modified, c.deleted), (1, 1, 2));
        assert_eq!(names(&t), ["111111111111", "222222222222"]);
        let gone = t.child(ROOT, "222222222222").expect("deleted account");
        assert_eq!(t.node(gone).changes.deleted, 1);
        let leaf = t
            .reveal(
                &[
                    "222222222222",
                    "eu-west-1",
                    "secretsmanager",
                    "secret",
                    "db",
                ]
                .map(String::from),
            )
            .expect("reveal")
            .expect("found");
        assert_eq!(t.node(leaf).mark, Some(ChangeKind::Deleted));
        assert!(matches!(
            t.node(leaf).content,
            Content::Leaf {
                side: Side::Old,
                ..
            }
        ));
        let q = ["111111111111", "us-east-1", "sqs", "queue"].map(String::from);
        let queue = t.reveal(&q).expect("reveal").expect("queue");
        t.load(queue).expect("load");
        let marks: Vec<_> = t
            .node(queue)
            .children
            .clone()
            .expect("kids")
            .iter()
            .map(|&k| (t.node(k).name.clone(), t.node(k).mark))
            .collect();
        assert_eq!(
            marks,
            [
                ("jobs".into(), None),
                ("mail".into(), Some(ChangeKind::Deleted)),
                ("new".into(), Some(ChangeKind::Added))
            ]
        );
        let found = t.search("mail").expect("search");
        assert_eq!(found.len(), 1, "deleted leaves are found too");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 << 20), "5.0 MiB");
    }
}
