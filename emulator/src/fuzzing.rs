//! Entry points for the fuzz targets in `fuzz/` (`cargo fuzz`): each takes arbitrary bytes
//! and drives one request parser the way the gateway does, without a server. None may panic,
//! hang or allocate without bound, whatever the bytes; errors are the expected outcome.

use crate::http::aws_chunked::Decoder;
use crate::http::util::Query;
use crate::protocol::model::Protocol;
use crate::protocol::validate::validate;
use crate::protocol::{parse_json, query, rest, xml};
use crate::registry::{self, Head, SERVICES};
use crate::service::ServiceDef;
use crate::services::{s3, sqs};

/// The services that speak `protocol`, in registry order.
fn speaking(protocol: Protocol) -> Vec<&'static ServiceDef> {
    SERVICES
        .iter()
        .copied()
        .filter(|d| d.speaks(protocol))
        .collect()
}

/// Picks a service speaking `protocol` and one of its model's operations from two bytes.
fn pick(
    protocol: Protocol,
    data: &[u8],
) -> Option<(&'static ServiceDef, &'static crate::protocol::model::O)> {
    let defs = speaking(protocol);
    let def = defs.get(usize::from(*data.first()?) % defs.len().max(1))?;
    let ops = def.model.operations;
    let op = ops.get(usize::from(*data.get(1)?) % ops.len().max(1))?;
    Some((def, op))
}

/// JSON protocol: the body of an operation of a JSON service, parsed and validated against
/// its input shape (bytes 0 and 1 pick the service and the operation).
pub fn json_request(data: &[u8]) {
    let Some((def, op)) = pick(Protocol::Json, data) else {
        return;
    };
    if let (Ok(input), Some(shape)) = (parse_json(&data[2..]), op.input) {
        let _ = validate(def.model, shape, &input, Protocol::Json);
    }
}

/// Query protocol: a form body decoded into an operation's input (the model's codec, or
/// SQS's own), then validated (bytes 0 and 1 pick the service and the operation).
pub fn query_request(data: &[u8]) {
    let Some((def, op)) = pick(Protocol::Query, data) else {
        return;
    };
    let form = String::from_utf8_lossy(&data[2..]);
    let params = Query::parse(Some(&form)).0;
    if let Some((_, action)) = params.iter().find(|(k, _)| k == "Action") {
        let _ = registry::by_action(action);
    }
    let input = if *def == sqs::SERVICE {
        Ok(sqs::query::to_json(&params))
    } else {
        query::decode(def.model, op, &params)
    };
    if let (Ok(input), Some(shape)) = (input, op.input) {
        let _ = validate(def.model, shape, &input, Protocol::Query);
        let _ = query::encode(def.model, op, &input);
    }
}

/// A raw REST request: `METHOD TARGET`, header lines `Name: value`, a blank line, a body.
struct Raw {
    method: String,
    path: String,
    query: Query,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn parse(data: &[u8]) -> Self {
        let split = data.windows(2).position(|w| w == b"\n\n");
        let (head, body) = split.map_or((data, &[][..]), |i| (&data[..i], &data[i + 2..]));
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let (method, target) = lines
            .next()
            .and_then(|l| l.split_once(' '))
            .unwrap_or(("GET", "/"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: Query::parse(Some(query)),
            headers,
            body: body.to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        rest::header(&self.headers, name)
    }

    /// Routes and decodes with the REST codec of `model`.
    fn rest(&self, model: &'static crate::protocol::model::Model, protocol: Protocol) {
        let Some((op, labels)) = rest::route(model, &self.method, &self.path, &self.query) else {
            return;
        };
        let req = rest::Request {
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        };
        if let (Ok(input), Some(shape)) =
            (rest::decode(model, op, &labels, &req, protocol), op.input)
        {
            let _ = validate(model, shape, &input, protocol);
            let _ = rest::encode(model, op, &input, protocol);
        }
    }
}

/// REST-XML (S3): a raw request routed as the gateway does (registry, path-style or
/// virtual-host split, the S3 router), its body parsed as XML, and the model's REST codec
/// run on it.
pub fn rest_xml_request(data: &[u8]) {
    let raw = Raw::parse(data);
    let host = raw.header("host").unwrap_or("localhost");
    let _ = registry::route(&Head {
        target: raw.header("x-amz-target"),
        scope: raw.header("x-scope"),
        host,
        form: raw.query.has("Action"),
    });
    let (bucket, key) = crate::http::gateway::split_s3_path(host, &raw.path);
    let copy = raw.header("x-amz-copy-source").is_some();
    let _ = s3::router::route(
        &raw.method,
        bucket.as_deref(),
        key.as_deref(),
        &raw.query,
        copy,
    );
    let _ = xml::parse(&raw.body);
    raw.rest(&crate::protocol::models::s3::MODEL, Protocol::RestXml);
}

/// REST-JSON (Lambda's model): a raw request routed by the model's URI templates and decoded
/// by the REST codec.
pub fn rest_json_request(data: &[u8]) {
    Raw::parse(data).rest(&crate::protocol::models::lambda::MODEL, Protocol::RestJson);
}

/// `aws-chunked` bodies, fed in two pieces (byte 0 says where to split).
pub fn aws_chunked(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    if decoder.feed(&rest[..at], &mut out).is_ok() && decoder.feed(&rest[at..], &mut out).is_ok() {
        let _ = decoder.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_take_any_bytes() {
        let samples: [&[u8]; 7] = [
            b"POST /2015-03-31/functions/f/invocations?Qualifier=1\nX-Amz-Log-Type: Tail\n\n{}",
            b"",
            b"\x00",
            b"\x00\x05{\"QueueName\": [1, {\"a\": null}]}",
            b"\x01\x03Action=AssumeRole&Tags.member.1.Key=k&DurationSeconds=x",
            b"PUT /b/k?tagging\nHost: b.s3.localhost.localstack.cloud\n\n<Tagging><TagSet>",
            b"\x03a;chunk-signature=0\r\n0123456789\r\n0\r\n\r\n",
        ];
        for s in samples {
            json_request(s);
            query_request(s);
            rest_xml_request(s);
            rest_json_request(s);
            aws_chunked(s);
        }
    }
}
