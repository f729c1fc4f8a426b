//! Streams a request body into a blob: decodes `aws-chunked`, computes the MD5 (ETag) and the
//! requested checksum on the way, and verifies `Content-MD5` and `x-amz-checksum-*` (header or
//! trailer). Memory stays bounded whatever the body size.

use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::Incoming;
use md5::Digest;
use podstore::{BlobInfo, BlobWriter, Store};

use super::error::{S3Error, S3Result, codes};
use super::state::Checksum;
use crate::checksum::{self, Algorithm, Hasher};
use crate::http::aws_chunked;

/// A stored body.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// The blob.
    pub blob: BlobInfo,
    /// MD5 hex.
    pub md5: String,
    /// The checksum computed (and verified when one was sent).
    pub checksum: Option<Checksum>,
}

/// Which checksum the client asked for, and the value it sent in a header, if any.
pub fn requested_checksum(
    headers: &HeaderMap,
) -> Result<Option<(Algorithm, Option<String>)>, S3Error> {
    for a in Algorithm::ALL {
        if let Some(v) = header(headers, &a.header()) {
            return Ok(Some((a, Some(v.to_owned()))));
        }
    }
    let named = header(headers, "x-amz-sdk-checksum-algorithm")
        .or_else(|| header(headers, "x-amz-checksum-algorithm"))
        .or_else(|| {
            header(headers, "x-amz-trailer").and_then(|t| t.strip_prefix("x-amz-checksum-"))
        });
    match named {
        None => Ok(None),
        Some(n) => Algorithm::parse(n).map(|a| Some((a, None))).ok_or_else(|| {
            codes::invalid_request(format!("Checksum algorithm {n} is not supported"))
        }),
    }
}

/// A header as text.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Reads the whole body into memory, refusing more than `limit` bytes (XML and JSON bodies).
pub async fn read_small(headers: &HeaderMap, body: Incoming, limit: usize) -> S3Result<Vec<u8>> {
    let chunked = is_aws_chunked(headers);
    let mut dec = aws_chunked::Decoder::new();
    let mut out = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| codes::incomplete_body(format!("reading the body failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if chunked {
                dec.feed(&data, &mut out).map_err(codes::invalid_request)?;
            } else {
                out.extend_from_slice(&data);
            }
            if out.len() > limit {
                return Err(codes::invalid_request(format!(
                    "request body is larger than {limit} bytes"
                )));
            }
        }
    }
    if chunked {
        dec.finish().map_err(codes::incomplete_body)?;
    }
    Ok(out)
}

fn is_aws_chunked(headers: &HeaderMap) -> bool {
    header(headers, "content-encoding")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "aws-chunked"))
        || header(headers, "x-amz-content-sha256").is_some_and(|s| s.starts_with("STREAMING-"))
}

/// Streams `body` into `store` as one blob and verifies the digests the client sent.
pub async fn ingest(store: &Store, headers: &HeaderMap, body: Incoming) -> S3Result<Ingested> {
    let requested = requested_checksum(headers)?;
    let content_md5 = header(headers, "content-md5").map(str::to_owned);
    if let Some(m) = &content_md5
        && checksum::b64_decode(m).is_none_or(|d| d.len() != 16)
    {
        return Err(codes::invalid_digest());
    }
    let expected_len = header(headers, "x-amz-decoded-content-length")
        .or_else(|| header(headers, "content-length"))
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = is_aws_chunked(headers);
    let mut dec = aws_chunked::Decoder::new();
    let mut md5 = md5::Md5::new();
    let mut hasher = requested.as_ref().map(|(a, _)| Hasher::new(*a));
    let mut writer = BlobWriter::new(store);
    let mut decoded = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| codes::incomplete_body(format!("the body ended early: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let piece: &[u8] = if chunked {
            decoded.clear();
            dec.feed(&data, &mut decoded)
                .map_err(codes::invalid_request)?;
            &decoded
        } else {
            &data
        };
        md5.update(piece);
        if let Some(h) = hasher.as_mut() {
            h.update(piece);
        }
        let w = &mut writer;
        tokio::task::block_in_place(|| w.write(piece)).map_err(store_error)?;
    }
    let trailers = if chunked {
        dec.finish().map_err(codes::incomplete_body)?
    } else {
        Vec::new()
    };
    let done = tokio::task::block_in_place(|| writer.finish()).map_err(store_error)?;
    if let Some(n) = expected_len
        && !chunked
        && n != done.blob.size
    {
        return Err(codes::incomplete_body(format!(
            "You did not provide the number of bytes specified by the Content-Length HTTP header ({n} expected, {} received)",
            done.blob.size
        )));
    }
    let md5 = md5.finalize();
    if let Some(m) = content_md5
        && checksum::b64_decode(&m).as_deref() != Some(md5.as_slice())
    {
        return Err(codes::bad_digest("Content-MD5"));
    }
    let checksum = match (requested, hasher) {
        (Some((a, sent)), Some(h)) => {
            let value = h.value();
            let sent = sent.or_else(|| {
                trailers
                    .iter()
                    .find(|(k, _)| *k == a.header())
                    .map(|(_, v)| v.clone())
            });
            if sent.as_ref().is_some_and(|s| *s != value) {
                return Err(codes::bad_digest(&format!(
                    "x-amz-checksum-{}",
                    a.name().to_ascii_lowercase()
                )));
            }
            Some(Checksum {
                algorithm: a,
                value,
                composite: false,
            })
        }
        _ => None,
    };
    Ok(Ingested {
        blob: done.blob,
        md5: checksum::hex(&md5),
        checksum,
    })
}

/// An error of the pod store as an S3 internal error.
pub fn store_error(e: podstore::Error) -> S3Error {
    codes::internal(format!("storage error: {e}"))
}
