//! The REST protocols (rest-json and rest-xml), driven by the model.
//!
//! - [`route`]: a request's method and path matched against every operation's URI template
//!   (`/2015-03-31/functions/{FunctionName}/invocations`, `/{Bucket}/{Key+}?tagging`), the
//!   template with the most literal segments and query keys winning; labels are
//!   percent-decoded, `{Key+}` takes the rest of the path.
//! - [`decode`]: labels, query-string members, headers, header-prefix maps and the body (the
//!   payload member, or the body members as JSON or XML) into the operation's input in the
//!   JSON shape (timestamps as epoch seconds, blobs as base64).
//! - [`encode`]: an output in the JSON shape into a status, headers and a body.

use serde_json::{Map, Number, Value};

use super::model::{K, Loc, M, Model, O, Protocol, S, member_flags, shape_flags};
use super::shape_xml;
use super::xml::{self, XmlWriter};
use super::{AwsError, AwsResult, scalar_from_text};
use crate::checksum::{b64, b64_decode};
use crate::http::util::{Query, http_date, parse_http_date, percent_decode};

/// What the codec decodes of a routed REST request (method and path went to [`route`]).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The query string.
    pub query: &'a Query,
    /// Headers, names in any case.
    pub headers: &'a [(String, String)],
    /// The whole body.
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        header(self.headers, name)
    }
}

/// The value of header `name` (any case) in `headers`.
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// URI labels of a routed request: (label, decoded value).
pub type Labels = Vec<(&'static str, String)>;

/// The operation of `model` whose URI template matches, with its labels.
pub fn route(
    model: &'static Model,
    method: &str,
    path: &str,
    query: &Query,
) -> Option<(&'static O, Labels)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    model
        .operations
        .iter()
        .filter(|o| o.method.eq_ignore_ascii_case(method))
        .filter_map(|o| {
            let (template, literals) = o.uri.split_once('?').unwrap_or((o.uri, ""));
            let labels = match_template(template, &segments)?;
            let keys: Vec<&str> = literals.split('&').filter(|k| !k.is_empty()).collect();
            let present = keys.iter().all(|k| match k.split_once('=') {
                Some((k, v)) => query.get(k) == Some(v),
                None => query.has(k),
            });
            let literal = template
                .split('/')
                .filter(|s| !s.is_empty() && !s.starts_with('{'))
                .count();
            present.then_some(((literal, keys.len()), o, labels))
        })
        .max_by_key(|(rank, _, _)| *rank)
        .map(|(_, o, labels)| (o, labels))
}

/// Matches a path template against the request's segments. A trailing `/` is optional on
/// both sides (`/2015-03-31/functions/` and `/2015-03-31/functions` are ListFunctions).
fn match_template(template: &'static str, segments: &[&str]) -> Option<Labels> {
    let mut parts: Vec<&'static str> = template.trim_start_matches('/').split('/').collect();
    let mut segments = segments;
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if segments.len() > 1 && segments.last() == Some(&"") {
        segments = &segments[..segments.len() - 1];
    }
    let mut labels = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            let rest = segments.get(i..)?.join("/");
            if rest.is_empty() {
                return None;
            }
            labels.push((name, percent_decode(&rest)));
            return Some(labels);
        }
        let seg = segments.get(i)?;
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !seg.is_empty() => labels.push((name, percent_decode(seg))),
            Some(_) => return None,
            None if part == seg => {}
            None => return None,
        }
    }
    (segments.len() == parts.len()).then_some(labels)
}

/// Decodes a routed request into `op`'s input.
pub fn decode(
    model: &Model,
    op: &O,
    labels: &Labels,
    req: &Request<'_>,
    protocol: Protocol,
) -> AwsResult<Value> {
    let mut out = Map::new();
    let Some(input) = op.input.map(|i| model.shape(i)) else {
        return Ok(Value::Object(out));
    };
    let bound: Vec<&str> = input
        .members
        .iter()
        .filter(|m| m.loc == Loc::Query)
        .map(|m| m.wire_name())
        .collect();
    for m in input.members {
        let s = model.shape(m.shape);
        let value = match m.loc {
            Loc::Uri => labels
                .iter()
                .find(|(l, _)| *l == m.wire_name())
                .map(|(_, v)| text_value(s, m, v))
                .transpose()?,
            Loc::Query => query_value(model, s, m, req.query, &bound)?,
            Loc::Header => req
                .header(m.wire_name())
                .map(|v| header_value(model, s, m, v))
                .transpose()?,
            Loc::Headers => Some(prefixed(m.wire_name(), req.headers)),
            Loc::Status => None,
            Loc::Body => None,
        };
        if let Some(v) = value {
            out.insert(m.name.to_owned(), v);
        }
    }
    decode_body(model, input, req.body, protocol, &mut out)?;
    Ok(Value::Object(out))
}

fn bad(what: &str, v: &str) -> AwsError {
    AwsError::client(
        "SerializationException",
        format!("{v:?} is not a valid value for {what}"),
    )
}

/// A scalar from text (a label, a query parameter or a header).
fn text_value(s: &S, m: &M, v: &str) -> AwsResult<Value> {
    if s.kind == K::Timestamp {
        return match v.trim().parse::<f64>() {
            Ok(secs) => Ok(Number::from_f64(secs).map_or(Value::Null, Value::Number)),
            Err(_) => Ok(Value::from(
                parse_http_date(v).ok_or_else(|| bad(m.name, v))?,
            )),
        };
    }
    scalar_from_text(s.kind, v).ok_or_else(|| bad(m.name, v))
}

fn header_value(model: &Model, s: &S, m: &M, v: &str) -> AwsResult<Value> {
    if m.flags & member_flags::JSON_VALUE != 0 {
        let raw = b64_decode(v).ok_or_else(|| bad(m.name, v))?;
        return serde_json::from_slice(&raw).map_err(|_| bad(m.name, v));
    }
    if s.kind == K::List {
        let item = model.shape(s.members[0].shape);
        return v
            .split(',')
            .map(|x| text_value(item, &s.members[0], x.trim()))
            .collect::<AwsResult<Vec<_>>>()
            .map(Value::Array);
    }
    text_value(s, m, v)
}

/// A query-string member: a scalar, every value of a list, or (a map) every parameter no
/// other member takes.
fn query_value(model: &Model, s: &S, m: &M, q: &Query, bound: &[&str]) -> AwsResult<Option<Value>> {
    match s.kind {
        K::List => {
            let item = model.shape(s.members[0].shape);
            let values: Vec<Value> =
                q.0.iter()
                    .filter(|(k, _)| k == m.wire_name())
                    .map(|(_, v)| text_value(item, &s.members[0], v))
                    .collect::<AwsResult<_>>()?;
            Ok((!values.is_empty()).then_some(Value::Array(values)))
        }
        K::Map => {
            let rest: Map<String, Value> =
                q.0.iter()
                    .filter(|(k, _)| !bound.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
            Ok((!rest.is_empty()).then_some(Value::Object(rest)))
        }
        _ => q
            .get(m.wire_name())
            .map(|v| text_value(s, m, v))
            .transpose(),
    }
}

/// Headers starting with `prefix` (`x-amz-meta-`), as a map of the rest of their names.
fn prefixed(prefix: &str, headers: &[(String, String)]) -> Value {
    let p = prefix.to_ascii_lowercase();
    Value::Object(
        headers
            .iter()
            .filter_map(|(k, v)| {
                let k = k.to_ascii_lowercase();
                k.strip_prefix(&p)
                    .map(|rest| (rest.to_owned(), Value::String(v.clone())))
            })
            .collect(),
    )
}

fn decode_body(
    model: &Model,
    input: &S,
    body: &[u8],
    protocol: Protocol,
    out: &mut Map<String, Value>,
) -> AwsResult<()> {
    if let Some(i) = input.payload {
        let m = &input.members[usize::from(i)];
        let s = model.shape(m.shape);
        let v = match s.kind {
            K::Blob => Some(Value::String(b64(body))),
            K::String => Some(Value::String(String::from_utf8_lossy(body).into_owned())),
            _ if body.iter().all(u8::is_ascii_whitespace) => None,
            _ => Some(parse_structure(model, s, body, protocol)?),
        };
        if let Some(v) = v {
            out.insert(m.name.to_owned(), v);
        }
        return Ok(());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    if let Value::Object(fields) = parse_structure(model, input, body, protocol)? {
        out.extend(fields);
    }
    Ok(())
}

/// A structure from a JSON or XML body, keyed by member names.
fn parse_structure(model: &Model, s: &S, body: &[u8], protocol: Protocol) -> AwsResult<Value> {
    if protocol == Protocol::RestXml {
        let root = xml::parse(body).map_err(|e| AwsError::client("MalformedXML", e))?;
        return Ok(from_xml(model, s, &root));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        AwsError::client(
            "SerializationException",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(rename_json(model, s, v, false))
}

/// JSON members from their wire names to member names (`to_wire` for the other way).
fn rename_json(model: &Model, s: &S, v: Value, to_wire: bool) -> Value {
    match (s.kind, v) {
        (K::Structure, Value::Object(mut fields)) if !s.has(shape_flags::DOCUMENT) => {
            let mut out = Map::new();
            for m in s.members.iter().filter(|m| m.loc == Loc::Body) {
                let (from, to) = if to_wire {
                    (m.name, m.wire_name())
                } else {
                    (m.wire_name(), m.name)
                };
                if let Some(x) = fields.remove(from) {
                    out.insert(
                        to.to_owned(),
                        rename_json(model, model.shape(m.shape), x, to_wire),
                    );
                }
            }
            Value::Object(out)
        }
        (K::List, Value::Array(items)) => {
            let item = model.shape(s.members[0].shape);
            Value::Array(
                items
                    .into_iter()
                    .map(|x| rename_json(model, item, x, to_wire))
                    .collect(),
            )
        }
        (K::Map, Value::Object(entries)) => {
            let value = model.shape(s.members[1].shape);
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, x)| (k, rename_json(model, value, x, to_wire)))
                    .collect(),
            )
        }
        (_, other) => other,
    }
}

/// A value of shape `s` from an XML element.
fn from_xml(model: &Model, s: &S, node: &xml::Node) -> Value {
    match s.kind {
        K::Structure => {
            let mut out = Map::new();
            for m in s.members.iter().filter(|m| m.loc == Loc::Body) {
                let ms = model.shape(m.shape);
                let flat = m.flags & member_flags::FLATTENED != 0 || ms.has(shape_flags::FLATTENED);
                let v = match ms.kind {
                    K::List | K::Map if flat => {
                        let items: Vec<&xml::Node> = node.all(m.wire_name()).collect();
                        (!items.is_empty()).then(|| collection(model, ms, &items))
                    }
                    _ => node.child(m.wire_name()).map(|c| from_xml(model, ms, c)),
                };
                if let Some(v) = v {
                    out.insert(m.name.to_owned(), v);
                }
            }
            Value::Object(out)
        }
        K::List | K::Map => {
            let name = if s.kind == K::List {
                s.members[0].wire.unwrap_or("member")
            } else {
                "entry"
            };
            let items: Vec<&xml::Node> = node.all(name).collect();
            collection(model, s, &items)
        }
        K::Integer | K::Long => node
            .text
            .trim()
            .parse::<i64>()
            .map_or(Value::Null, Value::from),
        K::Float | K::Double | K::BigDecimal => node
            .text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number),
        K::Boolean => Value::Bool(node.text.trim() == "true"),
        K::Timestamp => parse_http_date(&node.text).map_or(Value::Null, Value::from),
        _ => Value::String(node.text.clone()),
    }
}

/// A list's items or a map's entries (`key`/`value` children) from their elements.
fn collection(model: &Model, s: &S, items: &[&xml::Node]) -> Value {
    if s.kind == K::List {
        let item = model.shape(s.members[0].shape);
        return Value::Array(items.iter().map(|n| from_xml(model, item, n)).collect());
    }
    let (k, v) = (&s.members[0], &s.members[1]);
    let value = model.shape(v.shape);
    Value::Object(
        items
            .iter()
            .filter_map(|e| {
                let key = e.text_of(k.wire.unwrap_or("key"))?.to_owned();
                let val = e
                    .child(v.wire.unwrap_or("value"))
                    .map_or(Value::Null, |n| from_xml(model, value, n));
                Some((key, val))
            })
            .collect(),
    )
}

/// An encoded REST answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Encodes `output` (the JSON shape of `op`'s output).
pub fn encode(model: &Model, op: &O, output: &Value, protocol: Protocol) -> Answer {
    let mut answer = Answer {
        status: op.code,
        headers: Vec::new(),
        body: Vec::new(),
    };
    let Some(shape) = op.output.map(|o| model.shape(o)) else {
        return answer;
    };
    for m in shape.members {
        let Some(v) = output.get(m.name).filter(|v| !v.is_null()) else {
            continue;
        };
        match m.loc {
            Loc::Status => {
                answer.status = v
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or(op.code)
            }
            Loc::Header => answer.headers.push((
                m.wire_name().to_owned(),
                header_text(model.shape(m.shape), m, v),
            )),
            Loc::Headers => {
                for (k, x) in v.as_object().into_iter().flatten() {
                    answer
                        .headers
                        .push((format!("{}{k}", m.wire_name()), scalar_text(x)));
                }
            }
            Loc::Uri | Loc::Query | Loc::Body => {}
        }
    }
    answer.body = match shape.payload {
        Some(i) => payload(model, &shape.members[usize::from(i)], output, protocol),
        None => body_members(model, op, shape, output, protocol),
    };
    answer
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn header_text(s: &S, m: &M, v: &Value) -> String {
    if m.flags & member_flags::JSON_VALUE != 0 {
        return b64(v.to_string().as_bytes());
    }
    match (s.kind, v) {
        (K::Timestamp, Value::Number(n)) => http_date(n.as_f64().unwrap_or_default() as i64),
        (K::List, Value::Array(items)) => {
            items.iter().map(scalar_text).collect::<Vec<_>>().join(",")
        }
        _ => scalar_text(v),
    }
}

fn payload(model: &Model, m: &M, output: &Value, protocol: Protocol) -> Vec<u8> {
    let Some(v) = output.get(m.name).filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let s = model.shape(m.shape);
    match (s.kind, v) {
        (K::Blob, Value::String(text)) => {
            b64_decode(text).unwrap_or_else(|| text.as_bytes().to_vec())
        }
        (K::String, Value::String(text)) => text.clone().into_bytes(),
        _ if protocol == Protocol::RestXml => {
            let mut w = XmlWriter::new();
            to_xml(&mut w, model, s, m.wire.or(s.wire).unwrap_or(s.name), v);
            w.finish().into_bytes()
        }
        _ => rename_json(model, s, v.clone(), true)
            .to_string()
            .into_bytes(),
    }
}

fn body_members(model: &Model, op: &O, s: &S, output: &Value, protocol: Protocol) -> Vec<u8> {
    let members: Map<String, Value> = s
        .members
        .iter()
        .filter(|m| m.loc == Loc::Body)
        .filter_map(|m| {
            Some((
                m.name.to_owned(),
                output.get(m.name).filter(|v| !v.is_null())?.clone(),
            ))
        })
        .collect();
    if protocol == Protocol::RestXml {
        if members.is_empty() {
            return Vec::new();
        }
        let mut w = XmlWriter::new();
        let root = op.output_wire.or(s.wire).unwrap_or(s.name);
        to_xml(&mut w, model, s, root, &Value::Object(members));
        return w.finish().into_bytes();
    }
    rename_json(model, s, Value::Object(members), true)
        .to_string()
        .into_bytes()
}

/// A structure as the root element `name` (with its namespace), or any other value as one
/// element.
fn to_xml(w: &mut XmlWriter, model: &Model, s: &S, name: &str, v: &Value) {
    w.open(name, s.xml_ns);
    shape_xml::members(w, model, s, v);
    w.close(name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::models::{lambda, s3};
    use serde_json::json;

    fn routed(model: &'static Model, method: &str, target: &str) -> Option<(&'static str, Labels)> {
        let (path, q) = target.split_once('?').unwrap_or((target, ""));
        route(model, method, path, &Query::parse(Some(q))).map(|(o, l)| (o.name, l))
    }

    #[test]
    fn templates_route_with_their_labels() {
        let m = &lambda::MODEL;
        let table = [
            (
                routed(m, "GET", "/2015-03-31/functions/"),
                Some(("ListFunctions", vec![])),
            ),
            (
                routed(m, "GET", "/2015-03-31/functions"),
                Some(("ListFunctions", vec![])),
            ),
            (
                routed(m, "GET", "/2015-03-31/functions/my%20fn"),
                Some(("GetFunction", vec![("FunctionName", "my fn".to_owned())])),
            ),
            (
                routed(m, "GET", "/2015-03-31/functions/f/configuration"),
                Some((
                    "GetFunctionConfiguration",
                    vec![("FunctionName", "f".to_owned())],
                )),
            ),
            (
                routed(m, "POST", "/2015-03-31/functions/f/invocations?Qualifier=3"),
                Some(("Invoke", vec![("FunctionName", "f".to_owned())])),
            ),
            (
                routed(&s3::MODEL, "GET", "/b/a/b%2Fc?tagging"),
                Some((
                    "GetObjectTagging",
                    vec![("Bucket", "b".to_owned()), ("Key", "a/b/c".to_owned())],
                )),
            ),
            (
                routed(&s3::MODEL, "GET", "/b?acl"),
                Some(("GetBucketAcl", vec![("Bucket", "b".to_owned())])),
            ),
        ];
        for (i, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {i}");
        }
        assert_eq!(routed(m, "DELETE", "/2015-03-31/nothing"), None);
    }

    #[test]
    fn rest_json_requests_and_answers_follow_the_model() {
        let m = &lambda::MODEL;
        let q = Query::parse(Some("Qualifier=3"));
        let headers = vec![("X-Amz-Invocation-Type".to_owned(), "Event".to_owned())];
        let req = Request {
            query: &q,
            headers: &headers,
            body: br#"{"a":1}"#,
        };
        let (op, labels) =
            route(m, "POST", "/2015-03-31/functions/f/invocations", req.query).expect("routed");
        let input = decode(m, op, &labels, &req, Protocol::RestJson).expect("decoded");
        assert_eq!(
            input,
            json!({"FunctionName": "f", "Qualifier": "3", "InvocationType": "Event",
                   "Payload": b64(br#"{"a":1}"#)})
        );
        let out = json!({"StatusCode": 202, "FunctionError": "Unhandled", "Payload": b64(b"{}")});
        let answer = encode(m, op, &out, Protocol::RestJson);
        assert_eq!(answer.status, 202);
        assert_eq!(
            answer.headers,
            vec![("X-Amz-Function-Error".to_owned(), "Unhandled".to_owned())]
        );
        assert_eq!(answer.body, b"{}");
        let create = m.operation("CreateFunction").expect("op");
        let body = br#"{"FunctionName":"f","Runtime":"python3.12","Timeout":3,"Environment":{"Variables":{"A":"1"}}}"#;
        let req = Request {
            query: &Query::default(),
            headers: &[],
            body,
        };
        let input = decode(m, create, &Vec::new(), &req, Protocol::RestJson).expect("decoded");
        assert_eq!(input["Environment"]["Variables"]["A"], "1");
        assert_eq!(input["Timeout"], 3);
        let bad = Request {
            body: b"{nope",
            ..req
        };
        assert_eq!(
            decode(m, create, &Vec::new(), &bad, Protocol::RestJson)
                .expect_err("bad")
                .code,
            "SerializationException"
        );
    }

    #[test]
    fn rest_xml_headers_maps_and_bodies_follow_the_model() {
        let m = &s3::MODEL;
        let put = m.operation("PutObjectTagging").expect("op");
        let headers = vec![("Content-MD5".to_owned(), "x".to_owned())];
        let q = Query::parse(Some("tagging&versionId=v1"));
        let body = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag></TagSet></Tagging>";
        let req = Request {
            query: &q,
            headers: &headers,
            body,
        };
        let labels = vec![("Bucket", "b".to_owned()), ("Key", "k".to_owned())];
        let input = decode(m, put, &labels, &req, Protocol::RestXml).expect("decoded");
        assert_eq!(
            input,
            json!({"Bucket": "b", "Key": "k", "VersionId": "v1", "ContentMD5": "x",
                   "Tagging": {"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}})
        );
        let put_object = m.operation("PutObject").expect("op");
        let headers = vec![
            ("x-amz-meta-Color".to_owned(), "blue".to_owned()),
            ("Content-Length".to_owned(), "3".to_owned()),
        ];
        let req = Request {
            query: &Query::default(),
            headers: &headers,
            body: b"abc",
        };
        let input = decode(m, put_object, &labels, &req, Protocol::RestXml).expect("decoded");
        assert_eq!(input["Metadata"], json!({"color": "blue"}));
        assert_eq!(input["ContentLength"], 3);
        assert_eq!(input["Body"], b64(b"abc"));
        let get_tags = m.operation("GetObjectTagging").expect("op");
        let answer = encode(
            m,
            get_tags,
            &json!({"VersionId": "v1", "TagSet": [{"Key": "a", "Value": "1"}]}),
            Protocol::RestXml,
        );
        assert_eq!(
            answer.headers,
            vec![("x-amz-version-id".to_owned(), "v1".to_owned())]
        );
        assert_eq!(
            String::from_utf8(answer.body).expect("utf-8"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>"
        );
    }
}
