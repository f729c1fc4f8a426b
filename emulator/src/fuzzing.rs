//! Entry points for the fuzz targets in `fuzz/` (`cargo fuzz`): each takes arbitrary bytes
//! and drives one request parser the way the gateway does, without a server. None may panic,
//! hang or allocate without bound, whatever the bytes; errors are the expected outcome.

use crate::http::aws_chunked::Decoder;
use crate::http::util::Query;
use crate::protocol::model::Protocol;
use crate::protocol::validate::validate;
use crate::protocol::{parse_json, query, xml};
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
    let _ = registry::by_action(&form);
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

/// REST-XML (S3): a request head `METHOD TARGET\nHost: …\nX-Amz-Target: …` followed by a
/// blank line and a body. Routes it as the gateway does (registry, path-style or virtual-host
/// split, the S3 router) and parses the body as S3's XML.
pub fn rest_xml_request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let (method, target) = lines
        .next()
        .and_then(|l| l.split_once(' '))
        .unwrap_or(("GET", "/"));
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let host = header("host").unwrap_or("localhost");
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let q = Query::parse(Some(raw_query));
    let _ = registry::route(&Head {
        target: header("x-amz-target"),
        scope: header("x-scope"),
        host,
        form: q.has("Action"),
    });
    let (bucket, key) = crate::http::gateway::split_s3_path(host, path);
    let copy = header("x-amz-copy-source").is_some();
    let _ = s3::router::route(method, bucket.as_deref(), key.as_deref(), &q, copy);
    let _ = xml::parse(body.as_bytes());
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
        let samples: [&[u8]; 6] = [
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
            aws_chunked(s);
        }
    }
}
