//! Resource documents: canonical JSON (sorted keys, no insignificant whitespace, UTF-8) with a
//! `schema` field such as `"sqs.queue/1"`.
//!
//! A document refers to a blob with an object `{"$blob": "<64 hex>", "size": N}` anywhere in
//! its value; [`Document::blob_refs`] finds them, and trees record them so that walks never
//! parse JSON. Canonical bytes are written here, not by serde_json's map order, so that a
//! feature switch elsewhere in the build (`preserve_order`) cannot change any id.
//!
//! Hot paths (a service exporting thousands of documents per save) write canonical bytes
//! directly with [`Document::build`] and a [`FieldWriter`]; such a document parses its value
//! only when asked for it.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::Value;

use crate::blob::BlobInfo;
use crate::error::{Error, Result};
use crate::id::{BlobId, DocId, ObjectId};

/// A validated resource document in canonical form.
#[derive(Clone, Debug)]
pub struct Document {
    bytes: Vec<u8>,
    /// The value, parsed from `bytes` on first use when the document was built from bytes.
    value: OnceLock<Value>,
    /// Blob references, found on first use unless the builder recorded them.
    blobs: OnceLock<Vec<BlobInfo>>,
}

/// Equal canonical bytes are equal documents.
impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Document {
    /// Validates and canonicalizes a JSON value: an object with a string `schema` of the form
    /// `name/version`.
    pub fn new(value: Value) -> Result<Self> {
        let schema = value
            .as_object()
            .ok_or_else(|| Error::InvalidDocument("a document must be a JSON object".into()))?
            .get("schema")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::InvalidDocument("a document needs a string \"schema\" field".into())
            })?;
        parse_schema(schema)?;
        let mut bytes = Vec::new();
        write_canonical(&mut bytes, &value);
        Ok(Self {
            bytes,
            value: OnceLock::from(value),
            blobs: OnceLock::new(),
        })
    }

    /// Writes a document's canonical bytes directly: `fields` writes every field but `schema`
    /// in canonical order (keys sorted by their UTF-8 bytes), and `schema` (`name/version`
    /// from `(name, version)`) is put in its place. A key out of order, repeated, or named
    /// `schema` is an error.
    pub fn build(
        (name, version): (&str, u32),
        fields: impl FnOnce(&mut FieldWriter<'_>),
    ) -> Result<Self> {
        let schema = &format!("{name}/{version}");
        parse_schema(schema)?;
        let mut bytes = Vec::with_capacity(256);
        let mut blobs = Vec::new();
        let mut error = None;
        bytes.push(b'{');
        let mut w = FieldWriter {
            out: &mut bytes,
            blobs: &mut blobs,
            error: &mut error,
            prev: Vec::new(),
            any: false,
            schema: Some(schema),
        };
        fields(&mut w);
        w.finish();
        bytes.push(b'}');
        if let Some(e) = error {
            return Err(Error::InvalidDocument(format!("{schema} document: {e}")));
        }
        blobs.sort_by_key(|b| b.id);
        blobs.dedup_by_key(|b| b.id);
        Ok(Self {
            bytes,
            value: OnceLock::new(),
            blobs: OnceLock::from(blobs),
        })
    }

    /// Parses stored bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::InvalidDocument(format!("not JSON: {e}")))?;
        Self::new(value)
    }

    /// The canonical bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The JSON value.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| parse_own(&self.bytes))
    }

    /// Consumes the document, returning its value.
    pub fn into_value(self) -> Value {
        match self.value.into_inner() {
            Some(v) => v,
            None => parse_own(&self.bytes),
        }
    }

    /// The id the document has in a store.
    pub fn id(&self) -> DocId {
        DocId(ObjectId::of(&self.bytes))
    }

    /// The `schema` field, e.g. `sqs.queue/1`.
    pub fn schema(&self) -> &str {
        self.value()["schema"].as_str().unwrap_or_default()
    }

    /// The schema split into type name and version.
    pub fn schema_parts(&self) -> (&str, u32) {
        parse_schema(self.schema()).unwrap_or(("", 0))
    }

    /// Every blob referenced, sorted by id, without duplicates.
    pub fn blob_refs(&self) -> Vec<BlobInfo> {
        self.blobs
            .get_or_init(|| {
                let mut out = Vec::new();
                collect_refs(self.value(), &mut out);
                out.sort_by_key(|b| b.id);
                out.dedup_by_key(|b| b.id);
                out
            })
            .clone()
    }
}

/// Parses bytes this module wrote (valid JSON by construction).
fn parse_own(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_default()
}

/// Writes the fields of one JSON object as canonical bytes, in the order given, which must be
/// canonical (see [`Document::build`]). The first mistake is kept and reported by the build.
#[derive(Debug)]
pub struct FieldWriter<'w> {
    out: &'w mut Vec<u8>,
    blobs: &'w mut Vec<BlobInfo>,
    error: &'w mut Option<String>,
    /// The previous key, to check the order.
    prev: Vec<u8>,
    any: bool,
    /// The document's schema, until written in its place.
    schema: Option<&'w str>,
}

impl FieldWriter<'_> {
    /// Starts field `key`: checks the order and writes the separator and the key.
    fn key(&mut self, key: &str) {
        if let Some(schema) = self.schema {
            if key == "schema" {
                self.fail("the field \"schema\" is the builder's to write".to_owned());
                return;
            }
            if key.as_bytes() > b"schema".as_slice() {
                self.schema = None;
                self.str("schema", schema);
            }
        }
        if self.any && key.as_bytes() <= self.prev.as_slice() {
            let prev = String::from_utf8_lossy(&self.prev).into_owned();
            self.fail(format!(
                "field {key:?} comes after {prev:?}: not canonical order"
            ));
        }
        self.prev.clear();
        self.prev.extend_from_slice(key.as_bytes());
        if self.any {
            self.out.push(b',');
        }
        self.any = true;
        write_string(self.out, key);
        self.out.push(b':');
    }

    fn fail(&mut self, e: String) {
        if self.error.is_none() {
            *self.error = Some(e);
        }
    }

    fn finish(&mut self) {
        if let Some(schema) = self.schema.take() {
            self.str("schema", schema);
        }
    }

    /// A string.
    pub fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        write_string(self.out, v);
    }

    /// A string, or null.
    pub fn opt_str(&mut self, key: &str, v: Option<&str>) {
        match v {
            Some(s) => self.str(key, s),
            None => self.null(key),
        }
    }

    /// A signed integer.
    pub fn i64(&mut self, key: &str, v: i64) {
        self.key(key);
        let _ = write!(self.out, "{v}");
    }

    /// An unsigned integer.
    pub fn u64(&mut self, key: &str, v: u64) {
        self.key(key);
        let _ = write!(self.out, "{v}");
    }

    /// A signed integer, or null.
    pub fn opt_i64(&mut self, key: &str, v: Option<i64>) {
        match v {
            Some(n) => self.i64(key, n),
            None => self.null(key),
        }
    }

    /// null.
    pub fn null(&mut self, key: &str) {
        self.key(key);
        self.out.extend_from_slice(b"null");
    }

    /// Any JSON value, written canonically (blob references in it are found).
    pub fn value(&mut self, key: &str, v: &Value) {
        self.key(key);
        write_canonical(self.out, v);
        collect_refs(v, self.blobs);
    }

    /// A nested object whose fields `fields` writes, in canonical order.
    pub fn object(&mut self, key: &str, fields: impl FnOnce(&mut FieldWriter<'_>)) {
        self.key(key);
        self.out.push(b'{');
        let mut inner = FieldWriter {
            out: &mut *self.out,
            blobs: &mut *self.blobs,
            error: &mut *self.error,
            prev: Vec::new(),
            any: false,
            schema: None,
        };
        fields(&mut inner);
        self.out.push(b'}');
    }
}

/// The JSON value that refers to a blob from a document.
pub fn blob_ref(blob: &BlobInfo) -> Value {
    serde_json::json!({ "$blob": blob.id.to_string(), "size": blob.size })
}

fn parse_schema(s: &str) -> Result<(&str, u32)> {
    let bad =
        || Error::InvalidDocument(format!("schema {s:?} is not of the form \"type/version\""));
    let (name, ver) = s.rsplit_once('/').ok_or_else(bad)?;
    let ver: u32 = ver.parse().map_err(|_| bad())?;
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name, ver))
}

fn collect_refs(v: &Value, out: &mut Vec<BlobInfo>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(h)), Some(size)) =
                (m.get("$blob"), m.get("size").and_then(Value::as_u64))
                && let Some(id) = ObjectId::from_hex(h)
            {
                out.push(BlobInfo {
                    id: BlobId(id),
                    size,
                });
                return;
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Writes `v` as canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace.
pub fn write_canonical(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_canonical(out, &m[k]);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, x);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(out, s),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's string escaping is deterministic (RFC 8259 minimal escapes).
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `value` as canonical JSON bytes.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_strips_whitespace() {
        let a = Document::parse(
            br#"{ "schema": "s3.bucket/1", "b": [1, {"z":1,"a":2}], "a": "\u00e9" }"#,
        )
        .expect("parse");
        assert_eq!(
            std::str::from_utf8(a.bytes()).expect("utf8"),
            r#"{"a":"é","b":[1,{"a":2,"z":1}],"schema":"s3.bucket/1"}"#
        );
        let b = Document::parse(a.bytes()).expect("reparse");
        assert_eq!(a.id(), b.id());
        assert_eq!(a.schema_parts(), ("s3.bucket", 1));
    }

    /// Builds the same document field by field and as a value; they must be equal bytes.
    fn both_ways(
        schema: (&str, u32),
        value: Value,
        fields: impl FnOnce(&mut FieldWriter<'_>),
    ) -> Document {
        let built = Document::build(schema, fields).expect("build");
        let reference = Document::new(value).expect("new");
        assert_eq!(
            String::from_utf8_lossy(built.bytes()),
            String::from_utf8_lossy(reference.bytes())
        );
        assert_eq!(built.value(), reference.value(), "the lazily parsed value");
        assert_eq!(built.blob_refs(), reference.blob_refs());
        assert_eq!(built.schema_parts(), schema);
        built
    }

    #[test]
    fn built_documents_equal_canonicalized_values() {
        let blob = BlobInfo {
            id: BlobId(ObjectId::of(b"body")),
            size: 4,
        };
        // The schema lands between fields, after all of them, and before all of them.
        let doc = both_ways(
            ("x.kind", 2),
            json!({
                "schema": "x.kind/2",
                "a": "quote \" backslash \\ newline \n tab \t nul \u{0} é 🦀",
                "b": {"": 1, "A": null, "a": {"z": true, "é": false}},
                "body": {"$blob": blob.id.to_string(), "size": 4},
                "m": 5,
                "n": -9_007_199_254_740_993_i64,
                "none": null,
                "raw": [{"y": 1, "x": [2, "3"]}],
                "sa": u64::MAX,
                "t": true,
            }),
            |w| {
                w.str(
                    "a",
                    "quote \" backslash \\ newline \n tab \t nul \u{0} é 🦀",
                );
                w.object("b", |o| {
                    o.i64("", 1);
                    o.null("A");
                    o.object("a", |i| {
                        i.value("z", &json!(true));
                        i.value("é", &json!(false));
                    });
                });
                w.value("body", &blob_ref(&blob));
                w.opt_i64("m", Some(5));
                w.i64("n", -9_007_199_254_740_993);
                w.opt_str("none", None);
                w.value("raw", &json!([{"y": 1, "x": [2, "3"]}]));
                w.u64("sa", u64::MAX);
                w.value("t", &json!(true));
            },
        );
        assert_eq!(doc.blob_refs(), vec![blob]);
        both_ways(("x.kind", 1), json!({"schema": "x.kind/1", "a": 1}), |w| {
            w.i64("a", 1)
        });
        both_ways(
            ("x.kind", 1),
            json!({"schema": "x.kind/1", "z": "1"}),
            |w| w.str("z", "1"),
        );
        both_ways(("x.kind", 1), json!({"schema": "x.kind/1"}), |_| {});
    }

    #[test]
    fn builds_refuse_fields_out_of_order() {
        let err = |f: &dyn Fn(&mut FieldWriter<'_>)| {
            Document::build(("x.kind", 1), f)
                .expect_err("refused")
                .to_string()
        };
        assert!(
            err(&|w| {
                w.i64("b", 1);
                w.i64("a", 1);
            })
            .contains("\"a\" comes after \"b\"")
        );
        assert!(
            err(&|w| {
                w.i64("a", 1);
                w.i64("a", 2);
            })
            .contains("not canonical order")
        );
        assert!(err(&|w| w.str("schema", "y.kind/1")).contains("builder's to write"));
        assert!(
            err(&|w| {
                w.object("o", |o| {
                    o.i64("é", 1);
                    o.i64("z", 1);
                })
            })
            .contains("\"z\" comes after \"é\"")
        );
        assert!(Document::build(("", 1), |_| {}).is_err());
    }

    #[test]
    fn rejects_documents_without_a_schema() {
        assert!(Document::new(json!([1])).is_err());
        assert!(Document::new(json!({"a": 1})).is_err());
        assert!(Document::new(json!({"schema": "nover"})).is_err());
        assert!(Document::new(json!({"schema": "x/one"})).is_err());
    }

    #[test]
    fn finds_blob_references() {
        let id = ObjectId::of(b"x");
        let d = Document::new(json!({
            "schema": "s3.object/1",
            "versions": [{"body": {"$blob": id.to_hex(), "size": 1}}, {"body": {"$blob": id.to_hex(), "size": 1}}]
        }))
        .expect("doc");
        assert_eq!(
            d.blob_refs(),
            vec![BlobInfo {
                id: BlobId(id),
                size: 1
            }]
        );
    }
}
