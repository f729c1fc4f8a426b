//! `podstack pod inspect`: the state browser — a pod version's state tree (the metamodel of
//! DESIGN.md), read straight from the store without a running emulator.
//!
//! # Structure
//! - `model`: the lazily loaded tree (a directory is read when first expanded; counts and
//!   sizes come from the tree entries' summaries) and its diff annotations.
//! - `state`: everything on screen (rows, cursor, scroll, focus, document, search, help);
//!   `update`: one terminal event → state changes, pure of terminal I/O; `view`: draws a state.
//! - `terminal`: the full-screen loop and the terminal restore on every exit path.
//! - `text`: the non-interactive tree and JSON output.

use std::io::{IsTerminal, Write};

use ratatui::layout::Rect;

pub mod model;
pub mod state;
mod terminal;
mod text;
pub mod update;
pub mod view;

/// One state to show: where its objects are, its root tree, and what to call it.
pub struct Source<'a> {
    /// The objects of the state (a store, or an archive's objects).
    pub objects: &'a dyn podstore::Objects,
    /// The state tree.
    pub root: podstore::TreeId,
    /// What the status line and the output headers say about it.
    pub title: Title,
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("root", &self.root)
            .field("title", &self.title)
            .finish()
    }
}

/// The description of a state shown to the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Title {
    /// Pod name (or the archive's file name).
    pub pod: String,
    /// Its version, if it has one.
    pub version: Option<u64>,
    /// The commit message.
    pub message: String,
    /// The commit date, already formatted.
    pub date: String,
}

/// How to show the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The full-screen browser (the tree as text when stdout is not a terminal).
    Interactive,
    /// The whole tree as indented text.
    Tree,
    /// The whole tree as one JSON object.
    Json,
}

/// Why `inspect` failed.
#[derive(Debug)]
pub struct InspectError {
    message: String,
    broken_pipe: bool,
}

impl InspectError {
    fn new(message: String) -> Self {
        Self {
            message,
            broken_pipe: false,
        }
    }

    /// Reading `ix` (a directory of the tree) failed.
    fn read(tree: &model::Tree<'_>, ix: model::NodeIx, e: podstore::Error) -> Self {
        let path = tree.path_string(ix);
        let at = if path.is_empty() { "/".into() } else { path };
        Self::new(format!("cannot read the state tree at {at}: {e}"))
    }

    /// Writing the output failed.
    fn output(e: std::io::Error) -> Self {
        Self {
            broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
            message: format!("cannot write the output: {e}"),
        }
    }

    /// The terminal could not be set up, read or drawn on.
    fn terminal(e: std::io::Error) -> Self {
        Self::new(format!("terminal error: {e}"))
    }

    /// Whether the reader of the output went away (`| head`): not worth reporting.
    fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }
}

impl std::fmt::Display for InspectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InspectError {}

/// Shows `src`: the full-screen browser on the terminal (`Interactive`, which ignores `out`
/// unless stdout is not a terminal), or the whole tree printed to `out` (`Tree`, `Json`).
///
/// With `diff = Some(other)`, `src` is the NEW state and `other` the OLD one: every node is
/// marked added / modified / deleted (directories count the changed leaves below them), and
/// deleted resources appear in the tree, marked, with their old documents.
///
/// # The JSON shape
/// ```text
/// { "pod": str, "version": int|null, "message": str, "date": str,
///   "against": {"pod", "version", "message", "date"},          (with a diff only)
///   "changes": {"added": n, "modified": n, "deleted": n},       (with a diff only)
///   "tree": DIR }
/// DIR  = { "kind": "dir", "names": n, "resources": n, "bytes": n,
///          "changes": {"added", "modified", "deleted"},         (with a diff only)
///          "children": { name: DIR | LEAF, … } }                (sorted by name)
/// LEAF = { "kind": "document", "id": hex, "doc_bytes": n, "bytes": n (document + blobs),
///          "blobs": [{"id": hex, "size": n}, …], "change": "added"|"modified"|"deleted" }
///      | { "kind": "blob", "id": hex, "bytes": n, "change": … }
/// ```
/// `change` is present only on changed leaves of a diff. A closed pipe is not an error.
pub fn run(
    src: Source<'_>,
    diff: Option<Source<'_>>,
    output: Output,
    out: &mut dyn Write,
) -> Result<(), InspectError> {
    let old = diff.as_ref().map(|d| (d.objects, d.root));
    let mut tree = model::Tree::open(src.objects, src.root, old).map_err(|e| {
        InspectError::new(format!(
            "cannot read the state of {}: {e}",
            view::pod_label(&src.title)
        ))
    })?;
    let against = diff.map(|d| d.title);
    let output = match output {
        Output::Interactive if !std::io::stdout().is_terminal() => Output::Tree,
        o => o,
    };
    let result = match output {
        Output::Tree => text::write_tree(&mut tree, &src.title, against.as_ref(), out)
            .and_then(|()| out.flush().map_err(InspectError::output)),
        Output::Json => text::write_json(&mut tree, &src.title, against.as_ref(), out)
            .and_then(|()| out.flush().map_err(InspectError::output)),
        Output::Interactive => {
            let mut s = state::State::new(tree, src.title, against, Rect::new(0, 0, 80, 24));
            terminal::interactive(&mut s)
        }
    };
    match result {
        Err(e) if e.is_broken_pipe() => Ok(()),
        r => r,
    }
}
