//! Resource documents: canonical JSON (sorted keys, no insignificant whitespace, UTF-8) with a
//! `schema` field such as `"sqs.queue/1"`.
//!
//! A document refers to a blob with an object `{"$blob": "<64 hex>", "size": N}` anywhere in
//! its value; [`Document::blob_refs`] finds them, and trees record them so that walks never
//! parse JSON. Canonical bytes are written here, not by serde_json's map order, so that a
//! feature switch elsewhere in the build (`preserve_order`) cannot change any id.

use std::io::Write;

use serde_json::Value;

use crate::blob::BlobInfo;
use crate::error::{Error, Result};
use crate::id::{BlobId, DocId, ObjectId};

/// A validated resource document in canonical form.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    value: Value,
    bytes: Vec<u8>,
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
        Ok(Self { value, bytes })
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
        &self.value
    }

    /// Consumes the document, returning its value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The id the document has in a store.
    pub fn id(&self) -> DocId {
        DocId(ObjectId::of(&self.bytes))
    }

    /// The `schema` field, e.g. `sqs.queue/1`.
    pub fn schema(&self) -> &str {
        self.value["schema"].as_str().unwrap_or_default()
    }

    /// The schema split into type name and version.
    pub fn schema_parts(&self) -> (&str, u32) {
        parse_schema(self.schema()).unwrap_or(("", 0))
    }

    /// Every blob referenced, sorted by id, without duplicates.
    pub fn blob_refs(&self) -> Vec<BlobInfo> {
        let mut out = Vec::new();
        collect_refs(&self.value, &mut out);
        out.sort_by_key(|b| b.id);
        out.dedup_by_key(|b| b.id);
        out
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
