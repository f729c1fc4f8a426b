//! Helpers the services' snapshot code shares: reading fields of resource documents with
//! errors that name the document's path and the field, schema checks, path shapes, and the
//! small encoders every document uses (string pairs, blob references, base64).
//!
//! Conventions: a missing optional field and `null` mean the same; a field of the wrong type
//! is an error; fields this build does not know are ignored (forward compatibility).

use std::collections::BTreeMap;

use podstore::{BlobId, BlobInfo, Document, ObjectId, StatePath};
use serde_json::{Map, Value, json};

use crate::checksum::{b64, b64_decode};

/// The latest time a document may hold, in Unix milliseconds (9999-12-31T23:59:59.999Z).
/// Times are checked against `0..=MAX_TIME_MS` so that no later arithmetic on them can overflow.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// The largest counter (sequence numbers, receive counts) a document may hold: 2^53, the
/// largest integer every JSON reader keeps exactly.
pub const MAX_COUNT: u64 = 1 << 53;

/// Why a resource document could not be decoded: the document's path, and what is wrong
/// with it (naming the field). Shown as `<path>: <problem>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct DecodeError {
    /// The document's path in the state tree (or the path that is malformed).
    pub path: String,
    /// What is wrong, naming the field.
    pub problem: String,
}

impl DecodeError {
    /// An error about the document at `path`.
    pub fn new(path: impl std::fmt::Display, problem: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            problem: problem.into(),
        }
    }
}

/// Encoders return plain messages; a decode error met while encoding becomes one.
impl From<DecodeError> for String {
    fn from(e: DecodeError) -> Self {
        e.to_string()
    }
}

/// The result of decoding.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// Where a leaf lives: `<account>/<region>/<service>/<type>/<ids…>`.
#[derive(Clone, Copy, Debug)]
pub struct Leaf<'a> {
    /// Account id (12 digits).
    pub account: &'a str,
    /// Region, or `global`.
    pub region: &'a str,
    /// Resource type (`bucket`, `queue`, …).
    pub kind: &'a str,
    /// The segments after the type (the resource's id, possibly in several segments).
    pub rest: &'a [String],
}

/// Splits a leaf's path, checking the account and the service segment.
pub fn split<'a>(path: &'a StatePath, service: &str) -> DecodeResult<Leaf<'a>> {
    let Some((account, region, svc)) = path.scope() else {
        return Err(DecodeError::new(
            path,
            format!("too short for a resource of {service}"),
        ));
    };
    if svc != service {
        return Err(DecodeError::new(path, format!("not a {service} resource")));
    }
    if !crate::config::is_account_id(account) {
        return Err(DecodeError::new(
            path,
            format!("{account:?} is not a 12-digit account id"),
        ));
    }
    let segs = path.segments();
    let Some(kind) = segs.get(3) else {
        return Err(DecodeError::new(
            path,
            "the resource type is missing".to_string(),
        ));
    };
    Ok(Leaf {
        account,
        region,
        kind,
        rest: &segs[4..],
    })
}

impl<'a> Leaf<'a> {
    /// Checks that a regional service's leaf is not under `global`.
    pub fn regional(&self, path: &StatePath) -> DecodeResult<()> {
        if self.region == "global" {
            Err(DecodeError::new(
                path,
                "a regional resource cannot be under \"global\"".to_string(),
            ))
        } else {
            Ok(())
        }
    }

    /// The `N` ids after the type, or an error naming the expected shape.
    pub fn ids<const N: usize>(&self, path: &StatePath, shape: &str) -> DecodeResult<[&'a str; N]> {
        let ids: Vec<&'a str> = self.rest.iter().map(String::as_str).collect();
        ids.try_into()
            .map_err(|_| DecodeError::new(path, format!("expected a path of the form {shape}")))
    }
}

/// Checks a document's schema against the one this build reads (`name/version`).
pub fn check_schema(
    path: &StatePath,
    doc: &Document,
    name: &str,
    version: u32,
) -> DecodeResult<()> {
    let (found, v) = doc.schema_parts();
    if found != name {
        return Err(DecodeError::new(
            path,
            format!(
                "schema {:?} where {name}/{version} was expected",
                doc.schema()
            ),
        ));
    }
    if v > version {
        return Err(DecodeError::new(
            path,
            format!(
                "{name}/{v} is newer than this podstack understands (it reads up to {name}/{version})"
            ),
        ));
    }
    if v == 0 {
        return Err(DecodeError::new(
            path,
            format!("{name}/0 is not a known schema version"),
        ));
    }
    Ok(())
}

/// A leaf: the path from `segments` and a document of `value` (errors name the path).
pub fn leaf<const N: usize>(
    segments: [&str; N],
    value: Value,
) -> Result<(StatePath, Document), String> {
    leaf_with(segments, || Document::new(value))
}

/// A leaf whose document is written field by field ([`Document::build`]; errors name the
/// path).
pub fn built_leaf<const N: usize>(
    segments: [&str; N],
    schema: (&str, u32),
    fields: impl FnOnce(&mut podstore::FieldWriter<'_>),
) -> Result<(StatePath, Document), String> {
    leaf_with(segments, || Document::build(schema, fields))
}

/// The path from `segments` and the document `make` returns; an error names the path (which
/// is formatted only then).
fn leaf_with<const N: usize>(
    segments: [&str; N],
    make: impl FnOnce() -> podstore::Result<Document>,
) -> Result<(StatePath, Document), String> {
    let p = path(segments)?;
    let d = make().map_err(|e| format!("{p}: {e}"))?;
    Ok((p, d))
}

/// A document from a JSON value, with errors naming what it describes.
pub fn document(what: &str, value: Value) -> Result<Document, String> {
    Document::new(value).map_err(|e| format!("{what}: {e}"))
}

/// A state path from segments, with errors naming what it describes.
pub fn path<I, S>(segments: I) -> Result<StatePath, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    StatePath::new(segments).map_err(|e| e.to_string())
}

/// `[[k, v], …]` in the given order.
pub fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!([k, v])).collect())
}

/// `{k: v, …}` of a string map.
pub fn map_json(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Base64 of bytes, or `null`.
pub fn opt_b64(data: Option<&[u8]>) -> Value {
    data.map_or(Value::Null, |d| Value::String(b64(d)))
}

/// The object fields of one document (or of an object nested in it), read with errors of the
/// form `<path>: <field> <problem>`.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    at: &'a str,
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// The top-level fields of the document at `at` (the path, as text).
    pub fn new(at: &'a str, value: &'a Value) -> DecodeResult<Self> {
        let map = value
            .as_object()
            .ok_or_else(|| DecodeError::new(at, "the document is not a JSON object"))?;
        Ok(Self {
            at,
            prefix: String::new(),
            map,
        })
    }

    /// An error about field `k`.
    pub fn err(&self, k: &str, problem: &str) -> DecodeError {
        DecodeError::new(self.at, format!("{}{k} {problem}", self.prefix))
    }

    /// An error about the object these fields belong to.
    pub fn fail(&self, problem: &str) -> DecodeError {
        let name = self.prefix.trim_end_matches('.');
        if name.is_empty() {
            DecodeError::new(self.at, problem)
        } else {
            DecodeError::new(self.at, format!("{name}: {problem}"))
        }
    }

    /// A field's value; `None` when missing or `null`.
    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn required(&self, k: &str) -> DecodeResult<&'a Value> {
        self.get(k).ok_or_else(|| self.err(k, "is missing"))
    }

    /// A required string.
    pub fn str(&self, k: &str) -> DecodeResult<&'a str> {
        self.required(k)?
            .as_str()
            .ok_or_else(|| self.err(k, "must be a string"))
    }

    /// An optional string.
    pub fn opt_str(&self, k: &str) -> DecodeResult<Option<&'a str>> {
        self.get(k)
            .map(|v| v.as_str().ok_or_else(|| self.err(k, "must be a string")))
            .transpose()
    }

    /// An optional string, owned.
    pub fn opt_string(&self, k: &str) -> DecodeResult<Option<String>> {
        Ok(self.opt_str(k)?.map(str::to_owned))
    }

    /// A required integer.
    pub fn i64(&self, k: &str) -> DecodeResult<i64> {
        self.required(k)?
            .as_i64()
            .ok_or_else(|| self.err(k, "must be an integer"))
    }

    /// An optional integer.
    pub fn opt_i64(&self, k: &str) -> DecodeResult<Option<i64>> {
        self.get(k)
            .map(|v| v.as_i64().ok_or_else(|| self.err(k, "must be an integer")))
            .transpose()
    }

    /// A required non-negative integer.
    pub fn u64(&self, k: &str) -> DecodeResult<u64> {
        self.required(k)?
            .as_u64()
            .ok_or_else(|| self.err(k, "must be a non-negative integer"))
    }

    /// A required time in Unix milliseconds, within `0..=MAX_TIME_MS`.
    pub fn time(&self, k: &str) -> DecodeResult<i64> {
        let t = self.i64(k)?;
        self.check_time(k, t, MAX_TIME_MS)
    }

    /// An optional time in Unix milliseconds.
    pub fn opt_time(&self, k: &str) -> DecodeResult<Option<i64>> {
        self.opt_i64(k)?
            .map(|t| self.check_time(k, t, MAX_TIME_MS))
            .transpose()
    }

    /// A required time in Unix seconds.
    pub fn time_s(&self, k: &str) -> DecodeResult<i64> {
        let t = self.i64(k)?;
        self.check_time(k, t, MAX_TIME_MS / 1000)
    }

    fn check_time(&self, k: &str, t: i64, max: i64) -> DecodeResult<i64> {
        if (0..=max).contains(&t) {
            Ok(t)
        } else {
            Err(self.err(
                k,
                &format!("is {t}, outside the times this podstack accepts (0..={max})"),
            ))
        }
    }

    /// A required counter within `0..=max`.
    pub fn count(&self, k: &str, max: u64) -> DecodeResult<u64> {
        let n = self.u64(k)?;
        if n <= max {
            Ok(n)
        } else {
            Err(self.err(k, &format!("is {n}, more than {max}")))
        }
    }

    /// A required non-negative 32-bit integer.
    pub fn u32(&self, k: &str) -> DecodeResult<u32> {
        u32::try_from(self.u64(k)?).map_err(|_| self.err(k, "is too large"))
    }

    /// A required boolean.
    pub fn bool(&self, k: &str) -> DecodeResult<bool> {
        self.required(k)?
            .as_bool()
            .ok_or_else(|| self.err(k, "must be true or false"))
    }

    /// A required array.
    pub fn array(&self, k: &str) -> DecodeResult<&'a [Value]> {
        self.required(k)?
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.err(k, "must be an array"))
    }

    /// An optional array (missing or `null` is empty).
    pub fn opt_array(&self, k: &str) -> DecodeResult<&'a [Value]> {
        match self.get(k) {
            None => Ok(&[]),
            Some(v) => v
                .as_array()
                .map(Vec::as_slice)
                .ok_or_else(|| self.err(k, "must be an array")),
        }
    }

    /// The fields of a required nested object.
    #[cfg(test)]
    pub fn object(&self, k: &str) -> DecodeResult<Fields<'a>> {
        let v = self.required(k)?;
        self.nested(k, v)
    }

    /// The fields of an optional nested object.
    pub fn opt_object(&self, k: &str) -> DecodeResult<Option<Fields<'a>>> {
        self.get(k).map(|v| self.nested(k, v)).transpose()
    }

    /// The fields of `v`, an object found under the name `name` (a key or `key[i]`).
    pub fn nested(&self, name: &str, v: &'a Value) -> DecodeResult<Fields<'a>> {
        let map = v
            .as_object()
            .ok_or_else(|| self.err(name, "must be an object"))?;
        Ok(Fields {
            at: self.at,
            prefix: format!("{}{name}.", self.prefix),
            map,
        })
    }

    /// The entries of a nested object, each with its name for errors.
    pub fn entries(&self, k: &str) -> DecodeResult<Vec<(&'a String, &'a Value)>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(v) => Ok(v
                .as_object()
                .ok_or_else(|| self.err(k, "must be an object"))?
                .iter()
                .collect()),
        }
    }

    /// A `{name: string}` map (missing or `null` is empty).
    pub fn string_map(&self, k: &str) -> DecodeResult<BTreeMap<String, String>> {
        self.entries(k)?
            .into_iter()
            .map(|(name, v)| {
                v.as_str()
                    .map(|s| (name.clone(), s.to_owned()))
                    .ok_or_else(|| self.err(&format!("{k}.{name}"), "must be a string"))
            })
            .collect()
    }

    /// A required `[[k, v], …]` list.
    pub fn pairs(&self, k: &str) -> DecodeResult<Vec<(String, String)>> {
        self.array(k)?
            .iter()
            .enumerate()
            .map(|(i, p)| self.pair(&format!("{k}[{i}]"), p))
            .collect()
    }

    /// An optional `[[k, v], …]` list.
    pub fn opt_pairs(&self, k: &str) -> DecodeResult<Option<Vec<(String, String)>>> {
        match self.get(k) {
            None => Ok(None),
            Some(_) => self.pairs(k).map(Some),
        }
    }

    fn pair(&self, name: &str, v: &Value) -> DecodeResult<(String, String)> {
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(a), Value::String(b)]) => Ok((a.clone(), b.clone())),
            _ => Err(self.err(name, "must be a pair of strings")),
        }
    }

    /// A required blob reference `{"$blob": hex, "size": n}`.
    pub fn blob(&self, k: &str) -> DecodeResult<BlobInfo> {
        let v = self.required(k)?;
        self.blob_of(k, v)
    }

    /// The blob reference `v`, found under the name `name`.
    pub fn blob_of(&self, name: &str, v: &Value) -> DecodeResult<BlobInfo> {
        let bad = || {
            self.err(
                name,
                "must be a blob reference {\"$blob\": <64 hex>, \"size\": n}",
            )
        };
        let id = v
            .get("$blob")
            .and_then(Value::as_str)
            .and_then(ObjectId::from_hex)
            .ok_or_else(bad)?;
        let size = v.get("size").and_then(Value::as_u64).ok_or_else(bad)?;
        Ok(BlobInfo {
            id: BlobId(id),
            size,
        })
    }

    /// Optional base64 bytes.
    pub fn opt_base64(&self, k: &str) -> DecodeResult<Option<Vec<u8>>> {
        self.opt_str(k)?
            .map(|s| b64_decode(s).ok_or_else(|| self.err(k, "is not valid base64")))
            .transpose()
    }

    /// Checks that string field `k` equals `expected` (the path's segment).
    pub fn matches(&self, k: &str, expected: &str) -> DecodeResult<()> {
        let found = self.str(k)?;
        if found == expected {
            Ok(())
        } else {
            Err(self.err(k, &format!("is {found:?} but the path says {expected:?}")))
        }
    }
}

/// Test helpers shared by the services' snapshot tests.
#[cfg(test)]
pub mod testing {
    use podstore::Document;
    use serde_json::{Value, json};

    use crate::persist::snapshot::{Leaves, ServiceSnapshot};

    /// Stages `leaves` into `svc`, expecting a failure; returns its message.
    pub fn stage_err(svc: &dyn ServiceSnapshot, leaves: Leaves, now_ms: i64) -> String {
        match svc.stage(leaves, now_ms) {
            Ok(_) => panic!("staging should have failed"),
            Err(e) => e.to_string(),
        }
    }

    /// The leaves with document number `i` changed by `f`.
    pub fn edited(leaves: &Leaves, i: usize, f: impl FnOnce(&mut Value)) -> Leaves {
        let mut out = leaves.clone();
        let mut v = out[i].1.value().clone();
        f(&mut v);
        out[i].1 = Document::new(v).expect("still a document");
        out
    }

    /// The leaves with the document at path `at` changed by `f`.
    pub fn edited_at(leaves: &Leaves, at: &str, f: impl FnOnce(&mut Value)) -> Leaves {
        let i = leaves
            .iter()
            .position(|(p, _)| p.to_string() == at)
            .expect("a leaf at that path");
        edited(leaves, i, f)
    }

    /// Variants of `leaves` in which one value somewhere in one document (the schema aside) is
    /// removed or replaced by a value of another type or range. Staging each must not panic.
    pub fn mutations(leaves: &Leaves) -> Vec<Leaves> {
        let alternatives = [
            Value::Null,
            json!(-1),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(1.5),
            json!("x"),
            json!("!!not base64!!"),
            json!([]),
            json!([["a"]]),
            json!({}),
            json!(true),
        ];
        let mut out = Vec::new();
        for (i, (_, doc)) in leaves.iter().enumerate() {
            let mut pointers = Vec::new();
            collect_pointers(doc.value(), String::new(), &mut pointers);
            for p in pointers.iter().filter(|p| p.as_str() != "/schema") {
                for alt in alternatives.iter().cloned().map(Some).chain([None]) {
                    let mut v = doc.value().clone();
                    if edit(&mut v, p, alt)
                        && let Ok(d) = podstore::Document::new(v)
                    {
                        let mut variant = leaves.clone();
                        variant[i].1 = d;
                        out.push(variant);
                    }
                }
            }
        }
        out
    }

    fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    collect_pointers(x, p.clone(), out);
                    out.push(p);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    collect_pointers(x, p.clone(), out);
                    out.push(p);
                }
            }
            _ => {}
        }
    }

    /// Replaces the value at `pointer`, or removes it when `with` is `None`.
    fn edit(v: &mut Value, pointer: &str, with: Option<Value>) -> bool {
        let Some(with) = with else {
            let Some((parent, last)) = pointer.rsplit_once('/') else {
                return false;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            return match v.pointer_mut(parent) {
                Some(Value::Object(m)) => m.remove(&last).is_some(),
                Some(Value::Array(a)) => match last.parse::<usize>() {
                    Ok(i) if i < a.len() => {
                        a.remove(i);
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
        };
        match v.pointer_mut(pointer) {
            Some(slot) => {
                *slot = with;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(s: &str) -> StatePath {
        StatePath::parse(s).expect("path")
    }

    #[test]
    fn errors_name_the_path_and_the_field() {
        let v = json!({"a": 1, "n": {"b": "x"}, "p": [["k", "v"], ["k"]], "blob": {"$blob": "zz"}});
        let f = Fields::new("acct/r/s/t/id", &v).expect("object");
        let e = f.str("a").expect_err("wrong type");
        assert_eq!(
            (e.path.as_str(), e.problem.as_str()),
            ("acct/r/s/t/id", "a must be a string")
        );
        assert_eq!(
            f.str("a").expect_err("wrong type").to_string(),
            "acct/r/s/t/id: a must be a string"
        );
        assert_eq!(
            f.str("missing").expect_err("missing").to_string(),
            "acct/r/s/t/id: missing is missing"
        );
        let n = f.object("n").expect("nested");
        assert_eq!(
            n.i64("b").expect_err("nested").to_string(),
            "acct/r/s/t/id: n.b must be an integer"
        );
        assert!(
            f.pairs("p")
                .expect_err("bad pair")
                .to_string()
                .contains("p[1] must be a pair")
        );
        assert!(f.blob("blob").is_err());
        assert_eq!(f.opt_str("nothing").expect("absent"), None);
        assert!(Fields::new("x", &json!([1])).is_err());
    }

    #[test]
    fn schemas_and_paths_are_checked() {
        let p = path_of("000000000000/us-east-1/sqs/queue/q");
        let doc = Document::new(json!({"schema": "sqs.queue/2"})).expect("doc");
        assert_eq!(
            check_schema(&p, &doc, "sqs.queue", 1)
                .expect_err("newer")
                .to_string(),
            "000000000000/us-east-1/sqs/queue/q: sqs.queue/2 is newer than this podstack understands (it reads up to sqs.queue/1)"
        );
        let doc = Document::new(json!({"schema": "sqs.message/1"})).expect("doc");
        assert!(check_schema(&p, &doc, "sqs.queue", 1).is_err());
        let leaf = split(&p, "sqs").expect("split");
        assert_eq!(
            (leaf.account, leaf.region, leaf.kind),
            ("000000000000", "us-east-1", "queue")
        );
        assert_eq!(leaf.ids::<1>(&p, "q").expect("one id"), ["q"]);
        assert!(leaf.ids::<2>(&p, "q/m").is_err());
        assert!(split(&p, "s3").is_err());
        assert!(split(&path_of("acct/us-east-1/sqs/queue/q"), "sqs").is_err());
        assert!(split(&path_of("000000000000/us-east-1/sqs"), "sqs").is_err());
    }
}
