//! Everything the browser shows, and the operations [`super::update`] applies to it: the tree,
//! the rows on screen, the cursor and scroll positions, the focus, the document pane, the
//! search, the help overlay and the status notice. No terminal I/O happens here; the pod's
//! objects are read as directories are expanded and documents selected.

use podstore::tree::Entry;
use podstore::{ChangeKind, ObjectKind};
use ratatui::layout::Rect;
use serde_json::Value;

use super::Title;
use super::model::{Content, NodeIx, Side, Tree, human};

/// At most this many search matches get their directories expanded at once.
pub const REVEAL_LIMIT: usize = 1000;

/// The three areas of the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Panes {
    /// The tree, with its border.
    pub tree: Rect,
    /// The selected node's details, with its border.
    pub detail: Rect,
    /// The status line.
    pub status: Rect,
}

impl Panes {
    /// The layout of a `width` × `height` screen: tree on the left (45%, at least 24
    /// columns), details on the right, one status line at the bottom.
    pub fn of(area: Rect) -> Self {
        let body_h = area.height.saturating_sub(1);
        let tree_w = (area.width * 45 / 100).max(24).min(area.width);
        Self {
            tree: Rect::new(area.x, area.y, tree_w, body_h),
            detail: Rect::new(area.x + tree_w, area.y, area.width - tree_w, body_h),
            status: Rect::new(area.x, area.y + body_h, area.width, area.height.min(1)),
        }
    }
}

/// Which pane the movement keys act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The tree.
    Tree,
    /// The document.
    Detail,
}

/// How a detail line is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// A `key  value` fact about the node.
    Fact,
    /// A line of the pretty-printed document.
    Json,
    /// What happened to the node in the diff.
    Change(ChangeKind),
    /// A problem reading the node.
    Error,
}

/// One line of the detail pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetailLine {
    /// The text.
    pub text: String,
    /// An annotation shown after it (blob sizes).
    pub note: Option<String>,
    /// Its kind.
    pub kind: LineKind,
}

impl DetailLine {
    fn new(kind: LineKind, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            note: None,
            kind,
        }
    }
}

/// The detail pane: lines of the selected node.
#[derive(Clone, Debug, Default)]
pub struct Detail {
    /// The node the lines describe.
    pub node: Option<NodeIx>,
    /// The lines.
    pub lines: Vec<DetailLine>,
    /// First line shown.
    pub scroll: usize,
}

/// The search.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// Text being typed after `/`, while the prompt is open.
    pub input: Option<String>,
    /// The last query run.
    pub query: String,
    /// Its matching leaf paths, in tree order.
    pub matches: Vec<Vec<String>>,
    /// The match the cursor was last moved to.
    pub current: Option<usize>,
}

/// The browser's whole state.
#[derive(Debug)]
pub struct State<'a> {
    /// The tree.
    pub tree: Tree<'a>,
    /// What is shown.
    pub title: Title,
    /// With a diff: what it is compared with.
    pub against: Option<Title>,
    /// The visible nodes, top to bottom.
    pub rows: Vec<NodeIx>,
    /// The selected row.
    pub cursor: usize,
    /// The first row on screen.
    pub scroll: usize,
    /// The screen.
    pub area: Rect,
    /// Where the keys go.
    pub focus: Focus,
    /// The selected node's details.
    pub detail: Detail,
    /// The search.
    pub search: Search,
    /// Whether the key help is shown.
    pub help: bool,
    /// A message for the status line, until the next key.
    pub notice: Option<String>,
}

impl<'a> State<'a> {
    /// The browser on `tree`, for a screen of `width` × `height`.
    pub fn new(tree: Tree<'a>, title: Title, against: Option<Title>, area: Rect) -> Self {
        let mut s = Self {
            rows: tree.visible(),
            tree,
            title,
            against,
            cursor: 0,
            scroll: 0,
            area,
            focus: Focus::Tree,
            detail: Detail::default(),
            search: Search::default(),
            help: false,
            notice: None,
        };
        s.sync_detail();
        s
    }

    /// The screen layout.
    pub fn panes(&self) -> Panes {
        Panes::of(self.area)
    }

    /// Rows of the tree pane (inside its border).
    pub fn page(&self) -> usize {
        (self.panes().tree.height.saturating_sub(2) as usize).max(1)
    }

    /// Lines of the detail pane (inside its border).
    pub fn detail_page(&self) -> usize {
        (self.panes().detail.height.saturating_sub(2) as usize).max(1)
    }

    /// The selected node.
    pub fn selected(&self) -> Option<NodeIx> {
        self.rows.get(self.cursor).copied()
    }

    /// The terminal was resized.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.area = Rect::new(0, 0, width, height);
        self.select(self.cursor);
        self.scroll_detail(0);
    }

    /// Moves the cursor to `row` (clamped) and scrolls it into view.
    pub fn select(&mut self, row: usize) {
        self.cursor = row.min(self.rows.len().saturating_sub(1));
        let page = self.page();
        if self.cursor < self.scroll {
            self.scroll = self.cursor;
        } else if self.cursor >= self.scroll + page {
            self.scroll = self.cursor + 1 - page;
        }
        let max_scroll = self.rows.len().saturating_sub(page);
        self.scroll = self.scroll.min(max_scroll);
        self.sync_detail();
    }

    /// Moves the cursor by `delta` rows.
    pub fn move_by(&mut self, delta: isize) {
        self.select(self.cursor.saturating_add_signed(delta));
    }

    /// Moves the cursor and the view by a page.
    pub fn page_by(&mut self, pages: isize) {
        let page = self.page() as isize;
        let max_scroll = self.rows.len().saturating_sub(self.page());
        self.scroll = self
            .scroll
            .saturating_add_signed(page * pages)
            .min(max_scroll);
        self.select(self.cursor.saturating_add_signed(page * pages));
    }

    /// Scrolls the detail pane by `delta` lines.
    pub fn scroll_detail(&mut self, delta: isize) {
        let max = self.detail.lines.len().saturating_sub(self.detail_page());
        self.detail.scroll = self.detail.scroll.saturating_add_signed(delta).min(max);
    }

    /// Shows the rows again after directories were expanded or collapsed, keeping `keep`
    /// selected.
    fn refresh_rows(&mut self, keep: Option<NodeIx>) {
        self.rows = self.tree.visible();
        let row = keep
            .and_then(|k| self.rows.iter().position(|&r| r == k))
            .unwrap_or(self.cursor);
        self.select(row);
    }

    /// Expands or collapses the selected directory.
    pub fn set_expanded(&mut self, on: bool) {
        let Some(ix) = self.selected() else { return };
        match self.tree.set_expanded(ix, on) {
            Ok(true) => self.refresh_rows(Some(ix)),
            Ok(false) => {}
            Err(e) => self.notice = Some(format!("cannot read {}: {e}", self.tree.path_string(ix))),
        }
    }

    /// Toggles the selected directory.
    pub fn toggle(&mut self) {
        if let Some(ix) = self.selected() {
            let on = !self.tree.node(ix).expanded;
            self.set_expanded(on);
        }
    }

    /// ← / h: collapses an expanded directory, else goes to the parent.
    pub fn left(&mut self) {
        let Some(ix) = self.selected() else { return };
        let n = self.tree.node(ix);
        if n.is_dir() && n.expanded {
            self.set_expanded(false);
        } else if let Some(p) = n.parent
            && let Some(row) = self.rows.iter().position(|&r| r == p)
        {
            self.select(row);
        }
    }

    /// → / l: expands a collapsed directory, else goes to its first child.
    pub fn right(&mut self) {
        let Some(ix) = self.selected() else { return };
        let n = self.tree.node(ix);
        if !n.is_dir() {
            return;
        }
        if n.expanded {
            if n.children.as_ref().is_some_and(|k| !k.is_empty()) {
                self.move_by(1);
            }
        } else {
            self.set_expanded(true);
        }
    }

    /// Runs a search for `query` and moves to the first match after the cursor.
    pub fn run_search(&mut self, query: String) {
        self.search.input = None;
        if query.is_empty() {
            return;
        }
        match self.tree.search(&query) {
            Err(e) => self.notice = Some(format!("search failed: {e}")),
            Ok(matches) if matches.is_empty() => {
                self.notice = Some(format!("no resource path contains {query:?}"));
                self.search = Search {
                    query,
                    ..Search::default()
                };
            }
            Ok(matches) => {
                let keep = self.selected();
                let mut reveal_err = None;
                for m in matches.iter().take(REVEAL_LIMIT) {
                    if let Err(e) = self.tree.reveal(m) {
                        reveal_err = Some(e);
                    }
                }
                self.search = Search {
                    input: None,
                    query,
                    matches,
                    current: None,
                };
                self.refresh_rows(keep);
                self.next_match(true);
                if let Some(e) = reveal_err {
                    self.notice = Some(format!("cannot read a directory: {e}"));
                }
            }
        }
    }

    /// n / N: moves to the next (or previous) match after (before) the cursor, wrapping.
    pub fn next_match(&mut self, forward: bool) {
        let total = self.search.matches.len();
        if total == 0 {
            self.notice = Some(if self.search.query.is_empty() {
                "no search yet: type / to search".into()
            } else {
                format!("no resource path contains {:?}", self.search.query)
            });
            return;
        }
        let here = self
            .selected()
            .map(|ix| self.tree.path(ix))
            .unwrap_or_default();
        let after = self.search.matches.partition_point(|m| *m <= here);
        let i = if forward {
            after % total
        } else {
            let before = self.search.matches.partition_point(|m| *m < here);
            (before + total - 1) % total
        };
        let path = self.search.matches[i].clone();
        let scroll_before = self.scroll;
        match self.tree.reveal(&path) {
            Ok(Some(ix)) => {
                self.refresh_rows(Some(ix));
                if self.scroll != scroll_before {
                    // The match was off screen: show it in the middle, with its neighbours.
                    let page = self.page();
                    let max_scroll = self.rows.len().saturating_sub(page);
                    self.scroll = self.cursor.saturating_sub(page / 2).min(max_scroll);
                }
                self.search.current = Some(i);
                self.notice = Some(format!(
                    "match {}/{} for {:?}",
                    i + 1,
                    total,
                    self.search.query
                ));
            }
            Ok(None) => self.notice = Some(format!("{} is gone", path.join("/"))),
            Err(e) => self.notice = Some(format!("cannot read {}: {e}", path.join("/"))),
        }
    }

    /// Loads the details of the selected node unless already shown.
    pub fn sync_detail(&mut self) {
        let sel = self.selected();
        if self.detail.node == sel && sel.is_some() {
            return;
        }
        self.detail = Detail {
            node: sel,
            lines: sel
                .map(|ix| detail_lines(&self.tree, ix))
                .unwrap_or_default(),
            scroll: 0,
        };
    }
}

/// Thousands separators: `12,345`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 resource`, `2 resources`.
pub fn resources(n: u64) -> String {
    format!("{} resource{}", count(n), if n == 1 { "" } else { "s" })
}

fn change_line(kind: ChangeKind, side_note: &str) -> DetailLine {
    let what = match kind {
        ChangeKind::Added => "added",
        ChangeKind::Modified => "modified",
        ChangeKind::Deleted => "deleted",
    };
    DetailLine::new(LineKind::Change(kind), format!("{what}{side_note}"))
}

/// The detail lines of a node.
pub fn detail_lines(tree: &Tree<'_>, ix: NodeIx) -> Vec<DetailLine> {
    let n = tree.node(ix);
    let fact = |k: &str, v: String| DetailLine::new(LineKind::Fact, format!("{k:<10}{v}"));
    let mut out = Vec::new();
    match &n.content {
        Content::Dir { new, names, .. } => {
            out.push(fact("directory", tree.path_string(ix)));
            out.push(fact("names", count(*names)));
            out.push(fact("resources", count(n.docs)));
            out.push(fact(
                "bytes",
                format!("{} ({})", human(n.bytes), count(n.bytes)),
            ));
            if tree.diff().is_some() {
                let c = n.changes;
                out.push(fact(
                    "changes",
                    format!(
                        "{} added, {} modified, {} deleted below",
                        count(c.added),
                        count(c.modified),
                        count(c.deleted)
                    ),
                ));
                if new.is_none() {
                    out.push(change_line(ChangeKind::Deleted, ": only in the old state"));
                }
            }
        }
        Content::Leaf { entry, side } => {
            out.push(fact("resource", tree.path_string(ix)));
            if let Some(kind) = n.mark {
                let note = match kind {
                    ChangeKind::Added => " in the new state",
                    ChangeKind::Modified => ": lines of the old document -, of the new +",
                    ChangeKind::Deleted => ": the old document is shown",
                };
                out.push(change_line(kind, note));
            }
            let old = match (n.mark, tree.diff()) {
                (Some(ChangeKind::Modified), Some(d)) => {
                    d.change(&tree.path(ix)).and_then(|c| c.old.as_ref())
                }
                _ => None,
            };
            leaf_lines(tree, entry, *side, old, &mut out);
        }
    }
    out
}

/// Reads and parses a document.
fn load_doc(tree: &Tree<'_>, side: Side, id: &podstore::DocId) -> Result<Value, String> {
    tree.objects(side)
        .get_kind(&id.0, ObjectKind::Document)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
}

/// The lines of a leaf; with `old` (a modified document), its lines compared with the old
/// document's.
fn leaf_lines(
    tree: &Tree<'_>,
    entry: &Entry,
    side: Side,
    old: Option<&Entry>,
    out: &mut Vec<DetailLine>,
) {
    let fact = |k: &str, v: String| DetailLine::new(LineKind::Fact, format!("{k:<10}{v}"));
    match entry {
        Entry::Blob(b) => {
            out.push(fact(
                "blob",
                format!("{} ({})", human(b.size), count(b.size)),
            ));
            out.push(fact("id", b.id.to_string()));
        }
        Entry::Tree { .. } => {}
        Entry::Doc { id, size, blobs } => {
            let blob_bytes: u64 = blobs.iter().map(|b| b.size).sum();
            out.push(fact(
                "document",
                format!("{} ({})", human(*size), count(*size)),
            ));
            if !blobs.is_empty() {
                out.push(fact(
                    "blobs",
                    format!("{} referenced, {}", blobs.len(), human(blob_bytes)),
                ));
            }
            out.push(fact("id", id.to_string()));
            let value = match load_doc(tree, side, id) {
                Err(e) => {
                    let msg = format!("cannot read the document: {e}");
                    out.push(DetailLine::new(LineKind::Error, msg));
                    return;
                }
                Ok(v) => v,
            };
            out.push(DetailLine::new(LineKind::Fact, ""));
            let mut new_lines = Vec::new();
            json_lines(&value, entry, &mut new_lines);
            let old_lines = match old {
                Some(old @ Entry::Doc { id, .. }) => match load_doc(tree, Side::Old, id) {
                    Ok(v) => {
                        let mut lines = Vec::new();
                        json_lines(&v, old, &mut lines);
                        Some(lines)
                    }
                    Err(e) => {
                        let msg = format!("cannot read the old document: {e}");
                        out.push(DetailLine::new(LineKind::Error, msg));
                        None
                    }
                },
                _ => None,
            };
            match old_lines {
                Some(old_lines) => line_diff(old_lines, new_lines, out),
                None => out.extend(new_lines),
            }
        }
    }
}

/// Documents with more lines than this (old × new) are not compared line by line.
const DIFF_CELLS: usize = 4_000_000;

/// `old` and `new` merged by their longest common subsequence: common lines prefixed `  `,
/// removed ones `- `, added ones `+ `.
fn line_diff(old: Vec<DetailLine>, new: Vec<DetailLine>, out: &mut Vec<DetailLine>) {
    let (n, m) = (old.len(), new.len());
    let prefixed = |prefix: &str, l: &DetailLine, kind: LineKind| DetailLine {
        text: format!("{prefix}{}", l.text),
        note: l.note.clone(),
        kind,
    };
    if (n + 1).saturating_mul(m + 1) > DIFF_CELLS {
        out.push(DetailLine::new(
            LineKind::Fact,
            "(too long to compare line by line: the new document)",
        ));
        out.extend(new);
        return;
    }
    // lcs[i * (m + 1) + j]: length of the longest common subsequence of old[i..] and new[j..].
    let at = |i: usize, j: usize| i * (m + 1) + j;
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if old[i] == new[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push(prefixed("  ", &new[j], LineKind::Json));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[at(i, j + 1)] > lcs[at(i + 1, j)]) {
            out.push(prefixed("+ ", &new[j], LineKind::Change(ChangeKind::Added)));
            j += 1;
        } else {
            out.push(prefixed(
                "- ",
                &old[i],
                LineKind::Change(ChangeKind::Deleted),
            ));
            i += 1;
        }
    }
}

/// The document pretty-printed; `"$blob"` lines show a shortened id and the blob's size.
fn json_lines(v: &Value, entry: &Entry, out: &mut Vec<DetailLine>) {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    let blobs: &[podstore::BlobInfo] = match entry {
        Entry::Doc { blobs, .. } => blobs,
        _ => &[],
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        let blob = trimmed
            .strip_prefix("\"$blob\": \"")
            .and_then(|rest| rest.split('"').next())
            .filter(|hex| hex.len() > 12);
        match blob {
            Some(hex) => {
                let size = blobs
                    .iter()
                    .find(|b| b.id.to_string() == hex)
                    .map(|b| format!("blob {}", human(b.size)))
                    .unwrap_or_else(|| "blob".into());
                let indent = &line[..line.len() - trimmed.len()];
                let comma = if trimmed.ends_with(',') { "," } else { "" };
                out.push(DetailLine {
                    text: format!("{indent}\"$blob\": \"{}…\"{comma}", &hex[..12]),
                    note: Some(size),
                    kind: LineKind::Json,
                });
            }
            None => out.push(DetailLine::new(LineKind::Json, line)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::{SMALL, build, title};
    use super::*;
    use podstore::MemObjects;

    #[test]
    fn cursor_scrolls_into_view_and_pages() {
        let o = MemObjects::new();
        let many: Vec<(String, u64)> = (0..100)
            .map(|i| (format!("111111111111/us-east-1/sqs/queue/q{i:03}"), i))
            .collect();
        let refs: Vec<(&str, u64)> = many.iter().map(|(p, n)| (p.as_str(), *n)).collect();
        let root = build(&o, &refs);
        let t = Tree::open(&o, root, None).expect("open");
        let mut s = State::new(
            t,
            title(3, "2026-01-02 03:04"),
            None,
            Rect::new(0, 0, 80, 13),
        );
        assert_eq!(s.page(), 10);
        let q = ["111111111111", "us-east-1", "sqs", "queue"].map(String::from);
        let queue = s.tree.reveal(&q).expect("reveal").expect("queue");
        s.tree.set_expanded(queue, true).expect("expand");
        s.refresh_rows(None);
        assert_eq!(s.rows.len(), 104);
        s.page_by(1);
        assert_eq!((s.cursor, s.scroll), (10, 10));
        s.select(103);
        assert_eq!((s.cursor, s.scroll), (103, 94));
        s.page_by(-1);
        assert_eq!((s.cursor, s.scroll), (93, 84));
        s.select(0);
        assert_eq!((s.cursor, s.scroll), (0, 0));
    }

    #[test]
    fn documents_show_blob_sizes() {
        let o = MemObjects::new();
        let root = build(&o, SMALL);
        let mut t = Tree::open(&o, root, None).expect("open");
        let p = ["111111111111", "us-east-1", "s3", "object", "logs", "a.txt"].map(String::from);
        let ix = t.reveal(&p).expect("reveal").expect("leaf");
        let lines = detail_lines(&t, ix);
        let blob = lines
            .iter()
            .find(|l| l.text.contains("$blob"))
            .expect("blob line");
        assert_eq!(blob.note.as_deref(), Some("blob 2.0 KiB"));
        assert!(blob.text.ends_with("…\","), "{}", blob.text);
        assert!(lines.iter().any(|l| l.text == "  \"n\": 2,"), "{lines:?}");
    }

    #[test]
    fn modified_documents_show_their_changed_lines() {
        let o = MemObjects::new();
        let old = build(&o, SMALL);
        let mut changed = SMALL.to_vec();
        changed[2].1 = 30;
        let new = build(&o, &changed);
        let mut t = Tree::open(&o, new, Some((&o, old))).expect("open");
        let p = ["111111111111", "us-east-1", "sqs", "queue", "jobs"].map(String::from);
        let ix = t.reveal(&p).expect("reveal").expect("leaf");
        let lines: Vec<String> = detail_lines(&t, ix).into_iter().map(|l| l.text).collect();
        let json_start = lines.iter().position(|l| l == "  {").expect("json");
        assert_eq!(
            lines[json_start..],
            [
                "  {",
                "-   \"n\": 3,",
                "+   \"n\": 30,",
                "    \"schema\": \"t.item/1\"",
                "  }"
            ]
        );
        assert!(lines[1].starts_with("modified"), "{lines:?}");
    }

    #[test]
    fn counts_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(resources(1), "1 resource");
    }
}
