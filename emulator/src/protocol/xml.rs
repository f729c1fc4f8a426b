//! XML for S3: a small writer with escaping, and a bounded DOM parser over quick-xml for the
//! request bodies S3 takes (bucket configuration, DeleteObjects, CompleteMultipartUpload, …).

use quick_xml::events::Event;

/// The S3 namespace.
pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Writes XML into a string.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// Starts a document with the XML declaration.
    pub fn new() -> Self {
        Self {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    /// Opens an element, optionally with an `xmlns`.
    pub fn open(&mut self, name: &str, ns: Option<&str>) {
        self.out.push('<');
        self.out.push_str(name);
        if let Some(ns) = ns {
            self.out.push_str(" xmlns=\"");
            self.out.push_str(ns);
            self.out.push('"');
        }
        self.out.push('>');
    }

    /// Closes an element.
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>escaped text</name>`.
    pub fn elem(&mut self, name: &str, text: &str) {
        self.open(name, None);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// `elem` when `text` is `Some`.
    pub fn opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.elem(name, t);
        }
    }

    /// Appends an already-serialized fragment (a stored configuration document).
    pub fn raw(&mut self, xml: &str) {
        self.out.push_str(xml);
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes text for element content and attribute values.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// An element of a parsed request body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Local name (namespace prefix stripped).
    pub name: String,
    /// Concatenated text content.
    pub text: String,
    /// Child elements in order.
    pub children: Vec<Node>,
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Most elements a body may have.
const MAX_NODES: usize = 100_000;
/// Deepest nesting accepted.
const MAX_DEPTH: usize = 32;

/// Parses a document into its root element; any malformation is an error.
pub fn parse(bytes: &[u8]) -> Result<Node, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "body is not UTF-8".to_owned())?;
    // Text is kept exactly (no trimming): a key or tag value may begin or end with spaces,
    // and trimming each text event would also eat the spaces around `&amp;`-style references.
    // Whitespace between child elements is dropped when the element closes.
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                count += 1;
                if count > MAX_NODES || stack.len() >= MAX_DEPTH || root.is_some() {
                    return Err("document too large, too deep, or with two roots".into());
                }
                stack.push(Node {
                    name: local_name(e.name().as_ref().as_bytes()),
                    ..Node::default()
                });
            }
            Event::Empty(e) => {
                let n = Node {
                    name: local_name(e.name().as_ref().as_bytes()),
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None if root.is_none() => root = Some(n),
                    None => return Err("two root elements".into()),
                }
            }
            Event::End(_) => {
                let mut n = stack.pop().ok_or("unbalanced end tag")?;
                if !n.children.is_empty() && n.text.trim().is_empty() {
                    n.text.clear();
                }
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::Text(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = resolve_ref(&r)?;
                if let Some(n) = stack.last_mut() {
                    n.text.push(c);
                }
            }
            Event::CData(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t);
                }
            }
            Event::Eof => break,
            Event::DocType(_) => return Err("DTDs are not accepted".into()),
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    root.ok_or_else(|| "empty document".to_owned())
}

/// Resolves `&amp;`-style and `&#…;` references; any other entity is an error.
fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> Result<char, String> {
    if r.is_char_ref() {
        return r
            .resolve_char_ref()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "bad character reference".to_owned());
    }
    match &**r {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(format!("unknown entity &{other};")),
    }
}

fn local_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.rsplit(':').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_escapes() {
        let mut w = XmlWriter::new();
        w.open("A", Some(S3_NS));
        w.elem("Key", "a<b>&\"c'");
        w.close("A");
        assert_eq!(
            w.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Key>a&lt;b&gt;&amp;&quot;c&apos;</Key></A>"
        );
    }

    #[test]
    fn parser_reads_and_rejects() {
        let n = parse(
            b"<Delete xmlns=\"x\"><Object><Key>a&amp;b</Key></Object><Quiet>true</Quiet></Delete>",
        )
        .expect("parse");
        assert_eq!(
            n.child("Object").and_then(|o| o.text_of("Key")),
            Some("a&b")
        );
        assert_eq!(n.text_of("Quiet"), Some("true"));
        // Text is exact: spaces at the ends and around references survive; indentation
        // between elements does not become text.
        let n = parse(
            b"<Tagging>\n  <TagSet>\n    <Tag><Key> k </Key><Value>v &amp; <![CDATA[<w>]]> &#x41;</Value></Tag>\n  </TagSet>\n</Tagging>\n",
        )
        .expect("parse");
        let tag = n.child("TagSet").and_then(|s| s.child("Tag")).expect("tag");
        assert_eq!(tag.text_of("Key"), Some(" k "));
        assert_eq!(tag.text_of("Value"), Some("v & <w> A"));
        assert_eq!((n.text.as_str(), tag.text.as_str()), ("", ""));
        for bad in [
            &b"<a>"[..],
            b"<a></b>",
            b"",
            b"not xml",
            b"<a/><b/>",
            b"<!DOCTYPE x><a/>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
