//! The non-interactive forms: the whole tree as indented text or as one JSON object (shape in
//! [`super::run`]'s docs). Directories are read one at a time, and text is written as it is
//! read, so `| head` stops early.

use std::io::Write;

use podstore::ChangeKind;
use podstore::tree::Entry;
use serde_json::{Map, Value, json};

use super::model::{Content, Counts, NodeIx, ROOT, Tree, human};
use super::state::{count, resources};
use super::view::pod_label;
use super::{InspectError, Title};

fn kind_name(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "added",
        ChangeKind::Modified => "modified",
        ChangeKind::Deleted => "deleted",
    }
}

fn counts_text(c: Counts) -> String {
    format!(
        "+{} ~{} -{}",
        count(c.added),
        count(c.modified),
        count(c.deleted)
    )
}

/// Writes the tree as indented text.
pub fn write_tree(
    tree: &mut Tree<'_>,
    title: &Title,
    against: Option<&Title>,
    out: &mut dyn Write,
) -> Result<(), InspectError> {
    let mut head = pod_label(title);
    if let Some(a) = against {
        head.push_str(&format!(" vs {}", pod_label(a)));
    }
    for part in [&title.message, &title.date] {
        if !part.is_empty() {
            head.push_str(&format!(" · {part}"));
        }
    }
    let root = tree.node(ROOT);
    head.push_str(&format!(
        " · {}, {}",
        resources(root.docs),
        human(root.bytes)
    ));
    if tree.diff().is_some() {
        head.push_str(&format!(" · changes {}", counts_text(root.changes)));
    }
    writeln!(out, "{head}").map_err(InspectError::output)?;
    let diff = tree.diff().is_some();
    write_children(tree, ROOT, 0, diff, out)
}

fn write_children(
    tree: &mut Tree<'_>,
    ix: NodeIx,
    depth: usize,
    diff: bool,
    out: &mut dyn Write,
) -> Result<(), InspectError> {
    tree.load(ix).map_err(|e| InspectError::read(tree, ix, e))?;
    let kids = tree.node(ix).children.clone().unwrap_or_default();
    for k in kids {
        let n = tree.node(k);
        let mut line = String::new();
        if diff {
            line.push_str(match (n.mark, n.is_dir() && !n.changes.is_empty()) {
                (Some(kind), _) => match kind {
                    ChangeKind::Added => "A ",
                    ChangeKind::Modified => "M ",
                    ChangeKind::Deleted => "D ",
                },
                (None, true) => "• ",
                _ => "  ",
            });
        }
        line.push_str(&"  ".repeat(depth));
        line.push_str(&n.name);
        if n.is_dir() {
            line.push_str(&format!("/  {}, {}", resources(n.docs), human(n.bytes)));
            if diff && !n.changes.is_empty() {
                line.push_str(&format!("  ({})", counts_text(n.changes)));
            }
        } else {
            line.push_str(&format!("  {}", human(n.bytes)));
        }
        writeln!(out, "{line}").map_err(InspectError::output)?;
        if tree.node(k).is_dir() {
            write_children(tree, k, depth + 1, diff, out)?;
        }
    }
    Ok(())
}

fn title_json(t: &Title) -> Value {
    json!({"pod": t.pod, "version": t.version, "message": t.message, "date": t.date})
}

fn counts_json(c: Counts) -> Value {
    json!({"added": c.added, "modified": c.modified, "deleted": c.deleted})
}

/// Writes the tree as one JSON object.
pub fn write_json(
    tree: &mut Tree<'_>,
    title: &Title,
    against: Option<&Title>,
    out: &mut dyn Write,
) -> Result<(), InspectError> {
    let diff = tree.diff().is_some();
    let root = node_json(tree, ROOT, diff)?;
    let mut top = Map::new();
    top.insert("pod".into(), json!(title.pod));
    top.insert("version".into(), json!(title.version));
    top.insert("message".into(), json!(title.message));
    top.insert("date".into(), json!(title.date));
    if let Some(a) = against {
        top.insert("against".into(), title_json(a));
        top.insert("changes".into(), counts_json(tree.node(ROOT).changes));
    }
    top.insert("tree".into(), root);
    serde_json::to_writer_pretty(&mut *out, &Value::Object(top))
        .map_err(|e| InspectError::output(e.into()))?;
    writeln!(out).map_err(InspectError::output)
}

fn node_json(tree: &mut Tree<'_>, ix: NodeIx, diff: bool) -> Result<Value, InspectError> {
    let n = tree.node(ix);
    let mut m = Map::new();
    match &n.content {
        Content::Dir { names, .. } => {
            m.insert("kind".into(), json!("dir"));
            m.insert("names".into(), json!(names));
            m.insert("resources".into(), json!(n.docs));
            m.insert("bytes".into(), json!(n.bytes));
            if diff {
                m.insert("changes".into(), counts_json(n.changes));
            }
            tree.load(ix).map_err(|e| InspectError::read(tree, ix, e))?;
            let kids = tree.node(ix).children.clone().unwrap_or_default();
            let mut children = Map::new();
            for k in kids {
                let v = node_json(tree, k, diff)?;
                children.insert(tree.node(k).name.clone(), v);
            }
            m.insert("children".into(), Value::Object(children));
        }
        Content::Leaf { entry, .. } => {
            match entry {
                Entry::Doc { id, size, blobs } => {
                    m.insert("kind".into(), json!("document"));
                    m.insert("id".into(), json!(id.to_string()));
                    m.insert("doc_bytes".into(), json!(size));
                    m.insert("bytes".into(), json!(n.bytes));
                    let b: Vec<Value> = blobs
                        .iter()
                        .map(|b| json!({"id": b.id.to_string(), "size": b.size}))
                        .collect();
                    m.insert("blobs".into(), Value::Array(b));
                }
                Entry::Blob(b) => {
                    m.insert("kind".into(), json!("blob"));
                    m.insert("id".into(), json!(b.id.to_string()));
                    m.insert("bytes".into(), json!(b.size));
                }
                Entry::Tree { .. } => {}
            }
            if let Some(k) = n.mark {
                m.insert("change".into(), json!(kind_name(k)));
            }
        }
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::{SMALL, build, title};
    use super::*;
    use podstore::MemObjects;

    #[test]
    fn tree_text_lists_everything() {
        let o = MemObjects::new();
        let root = build(&o, SMALL);
        let mut t = Tree::open(&o, root, None).expect("open");
        let mut out = Vec::new();
        write_tree(&mut t, &title(3, "2026-01-02"), None, &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        let expected = "\
demo:3 · seeded · 2026-01-02 · 5 resources, 2.2 KiB
111111111111/  4 resources, 2.2 KiB
  us-east-1/  4 resources, 2.2 KiB
    s3/  2 resources, 2.1 KiB
      bucket/  1 resource, 27 B
        logs  27 B
      object/  1 resource, 2.1 KiB
        logs/  1 resource, 2.1 KiB
          a.txt  2.1 KiB
    sqs/  2 resources, 54 B
      queue/  2 resources, 54 B
        jobs  27 B
        mail  27 B
222222222222/  1 resource, 27 B
  eu-west-1/  1 resource, 27 B
    secretsmanager/  1 resource, 27 B
      secret/  1 resource, 27 B
        db  27 B
";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_with_diff_marks() {
        let o = MemObjects::new();
        let old = build(&o, SMALL);
        let new = build(&o, &SMALL[..4]);
        let mut t = Tree::open(&o, new, Some((&o, old))).expect("open");
        let mut out = Vec::new();
        write_json(
            &mut t,
            &title(4, "2026-01-02"),
            Some(&title(3, "2026-01-02")),
            &mut out,
        )
        .expect("write");
        let v: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["version"], 4);
        assert_eq!(v["against"]["version"], 3);
        assert_eq!(
            v["changes"],
            json!({"added": 0, "modified": 0, "deleted": 1})
        );
        let gone = &v["tree"]["children"]["222222222222"];
        assert_eq!(gone["changes"]["deleted"], 1);
        let db = &gone["children"]["eu-west-1"]["children"]["secretsmanager"]["children"]["secret"]
            ["children"]["db"];
        assert_eq!(db["change"], "deleted");
        assert_eq!(db["kind"], "document");
        let obj = &v["tree"]["children"]["111111111111"]["children"]["us-east-1"]["children"]["s3"]
            ["children"]["object"]["children"]["logs"]["children"]["a.txt"];
        assert_eq!(obj["blobs"].as_array().map(Vec::len), Some(1));
        assert!(obj.get("change").is_none());
    }

    #[test]
    fn a_closed_pipe_is_not_an_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let o = MemObjects::new();
        let root = build(&o, SMALL);
        let mut t = Tree::open(&o, root, None).expect("open");
        let err =
            write_tree(&mut t, &title(1, "2026-01-02"), None, &mut Closed).expect_err("closed");
        assert!(err.is_broken_pipe());
    }
}
