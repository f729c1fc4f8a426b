//! The S3 backend: a bucket and key prefix on any S3-compatible endpoint (AWS, podstack's own
//! emulator, moto, …), over the crate's plain-http client with path-style addressing
//! (`http://host:port/bucket/key`) and SigV4 signing ([`crate::sigv4`]); credentials, region and
//! endpoint come from the AWS environment ([`crate::aws_env`]).
//!
//! Operations: `GetObject` (ranged for [`Storage::get_range`]), `PutObject`, `ListObjectsV2`
//! (following continuation tokens), `DeleteObject`. [`Storage::create`] is `PutObject` with
//! `If-None-Match: *`, which S3 (since 2024), podstack's emulator and moto refuse with 412 when
//! the key exists, atomically; an endpoint that ignored the header would overwrite instead.
//!
//! Endpoints may be `https://` (AWS itself: `https://s3.<region>.amazonaws.com`, path-style).

use std::time::Duration;

use quick_xml::events::Event;

use super::{Storage, StorageError, StorageResult, check_key};
use crate::aws_env::{self, Credentials, Env};
use crate::http::{self, Body, Endpoint, HttpError, Response, Timeouts};
use crate::sigv4;

/// Largest error or listing answer read.
const SMALL_BODY_LIMIT: u64 = 16 << 20;
/// Largest object read into memory (no real limit).
const OBJECT_LIMIT: u64 = 1 << 40;
/// Retries of a create answered 409 `ConditionalRequestConflict` (a concurrent write).
const CONFLICT_RETRIES: u32 = 5;
/// S3 error codes that mean the credentials or the access were refused.
const DENIED_CODES: [&str; 6] = [
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
];

/// Bodies larger than this are sent with `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
const UNSIGNED_ABOVE: usize = 1 << 20;

/// A bucket and key prefix on an S3-compatible endpoint.
#[derive(Debug)]
pub struct S3Storage {
    endpoint: Endpoint,
    bucket: String,
    /// The key prefix with its trailing `/`, or empty.
    prefix: String,
    region: String,
    credentials: Credentials,
    timeouts: Timeouts,
}

/// An S3 error answer.
#[derive(Debug, Default, PartialEq, Eq)]
struct S3Error {
    status: u16,
    code: String,
    message: String,
}

/// One page of `ListObjectsV2`.
#[derive(Debug, Default, PartialEq, Eq)]
struct ListPage {
    keys: Vec<String>,
    next: Option<String>,
}

impl S3Storage {
    /// Opens `bucket/prefix` (the part after `s3://`) with the process's AWS environment; see
    /// [`S3Storage::from_url_with`].
    pub fn from_url(rest: &str, endpoint: Option<&str>) -> StorageResult<Self> {
        Self::from_url_with(rest, endpoint, &aws_env::process_env)
    }

    /// Opens `bucket/prefix` on `endpoint`, else `AWS_ENDPOINT_URL_S3`, else
    /// `AWS_ENDPOINT_URL`, else AWS's regional endpoint (over https), with the
    /// credentials and region `env` provides.
    pub fn from_url_with(rest: &str, endpoint: Option<&str>, env: Env<'_>) -> StorageResult<Self> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() || bucket.contains('/') || check_key(bucket).is_err() {
            return Err(StorageError::Failed(format!(
                "s3://{rest}: expected s3://BUCKET or s3://BUCKET/PREFIX"
            )));
        }
        if !prefix.is_empty() && check_key(prefix).is_err() {
            return Err(StorageError::Failed(format!(
                "s3://{rest}: the key prefix {prefix:?} has empty or unsafe segments"
            )));
        }
        let region = aws_env::region(env).map_err(env_error)?;
        let url = endpoint
            .map(str::to_owned)
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = parse_endpoint(&url)?;
        let credentials = aws_env::credentials(env).map_err(env_error)?;
        Ok(Self {
            endpoint,
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            region,
            credentials,
            timeouts: Timeouts::default(),
        })
    }

    /// `s3://bucket/prefix/key`, for messages.
    fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{}{key}", self.bucket, self.prefix)
    }

    /// Sends one signed request for `key` (or the bucket itself when `None`).
    fn send(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> StorageResult<Response> {
        let mut path = format!("/{}", sigv4::uri_encode(&self.bucket, false));
        if let Some(key) = key {
            path.push('/');
            path.push_str(&sigv4::uri_encode(&format!("{}{key}", self.prefix), true));
        }
        let query = sigv4::canonical_query(query);
        let date = sigv4::amz_date(podstore::fsutil::now_unix());
        // Large bodies (packs) go unsigned: hashing them again would cost as much as the
        // server's own verification, and every object in them is checked against its id
        // whenever it is read back.
        let payload_hash = if body.len() > UNSIGNED_ABOVE {
            "UNSIGNED-PAYLOAD".to_owned()
        } else {
            sigv4::sha256_hex(body)
        };
        let host = self.endpoint.host_header();
        let mut signed = vec![
            ("host", host.as_str()),
            ("x-amz-content-sha256", payload_hash.as_str()),
            ("x-amz-date", date.as_str()),
        ];
        if let Some(token) = &self.credentials.session_token {
            signed.push(("x-amz-security-token", token));
        }
        signed.extend_from_slice(extra);
        let signer = sigv4::Signer {
            access_key_id: &self.credentials.access_key_id,
            secret_access_key: &self.credentials.secret_access_key,
            region: &self.region,
            service: "s3",
        };
        let signed_path = format!("{}{path}", self.endpoint.prefix);
        let authorization = signer.authorization(
            &sigv4::Request {
                method,
                path: &signed_path,
                query: &query,
                headers: &signed,
                payload_hash: &payload_hash,
            },
            &date,
        );
        // The client writes `Host` itself, with the same value.
        let mut headers: Vec<(&str, &str)> =
            signed.into_iter().filter(|(k, _)| *k != "host").collect();
        headers.push(("authorization", &authorization));
        let target = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        let body = if body.is_empty() {
            Body::Empty
        } else {
            Body::Bytes(body)
        };
        http::send(
            &self.endpoint,
            method,
            &target,
            &headers,
            body,
            self.timeouts,
        )
        .map_err(|e| self.transport(e))
    }

    /// A failed exchange: a connection problem is [`StorageError::Unreachable`].
    fn transport(&self, e: HttpError) -> StorageError {
        let msg = format!("S3 endpoint {}: {e}", self.endpoint);
        match e {
            HttpError::Connect(_) | HttpError::Io(_) => StorageError::Unreachable(msg),
            HttpError::Protocol(_) | HttpError::Sink(_) => StorageError::Failed(msg),
        }
    }

    /// The whole body of a successful answer.
    fn body(&self, resp: Response, limit: u64) -> StorageResult<Vec<u8>> {
        resp.bytes(limit).map_err(|e| self.transport(e))
    }

    /// The storage error of an S3 error answer to `what` (`GetObject s3://…`).
    fn failure(&self, what: &str, e: &S3Error) -> StorageError {
        let detail = match (e.code.is_empty(), e.message.is_empty()) {
            (true, _) => format!("HTTP {}", e.status),
            (false, true) => format!("HTTP {} {}", e.status, e.code),
            (false, false) => format!("HTTP {} {}: {}", e.status, e.code, e.message),
        };
        if e.code == "NoSuchBucket" {
            StorageError::Failed(format!(
                "{what}: bucket {:?} does not exist at {} ({detail})",
                self.bucket, self.endpoint
            ))
        } else if e.status == 403 || DENIED_CODES.contains(&e.code.as_str()) {
            StorageError::Denied(format!("{what}: {detail}"))
        } else {
            StorageError::Failed(format!("{what}: {detail}"))
        }
    }

    /// Reads an error answer and maps it (see [`S3Storage::failure`]).
    fn fail(&self, what: &str, resp: Response) -> StorageError {
        self.failure(what, &read_error(resp))
    }

    /// `PutObject`, with `If-None-Match: *` when `exclusive`; the raw answer.
    fn put_object(&self, key: &str, bytes: &[u8], exclusive: bool) -> StorageResult<Response> {
        check_key(key)?;
        let extra: &[(&str, &str)] = if exclusive {
            &[("if-none-match", "*")]
        } else {
            &[]
        };
        self.send("PUT", Some(key), &[], extra, bytes)
    }

    /// Checks with `HeadObject` that `key` exists and holds at least `size` bytes.
    fn check_size(&self, key: &str, size: u64) -> StorageResult<()> {
        let what = format!("HeadObject {}", self.url_of(key));
        let resp = self.send("HEAD", Some(key), &[], &[], b"")?;
        match resp.status {
            200 => {
                let len = resp
                    .header("content-length")
                    .and_then(|l| l.parse::<u64>().ok());
                match len {
                    Some(len) if len >= size => Ok(()),
                    _ => Err(StorageError::Failed(format!(
                        "{what}: the object is shorter than {size} bytes"
                    ))),
                }
            }
            404 => Err(StorageError::Failed(format!("{what}: no such object"))),
            _ => Err(self.fail(&what, resp)),
        }
    }

    /// One `ListObjectsV2` page of keys starting with `full_prefix`.
    fn list_page(&self, full_prefix: &str, token: Option<&str>) -> StorageResult<ListPage> {
        let what = format!("ListObjectsV2 s3://{}/{full_prefix}", self.bucket);
        let mut query = vec![("list-type", "2"), ("prefix", full_prefix)];
        query.extend(token.map(|t| ("continuation-token", t)));
        let resp = self.send("GET", None, &query, &[], b"")?;
        if resp.status != 200 {
            return Err(self.fail(&what, resp));
        }
        let body = self.body(resp, SMALL_BODY_LIMIT)?;
        parse_list(&body).map_err(|e| StorageError::Failed(format!("{what}: {e}")))
    }
}

/// Maps a credentials or region problem: unreadable files fail, missing keys are denied.
fn env_error(e: aws_env::AwsEnvError) -> StorageError {
    match e {
        aws_env::AwsEnvError::Read { .. } => StorageError::Failed(e.to_string()),
        _ => StorageError::Denied(e.to_string()),
    }
}

/// Parses the endpoint URL.
fn parse_endpoint(url: &str) -> StorageResult<Endpoint> {
    Endpoint::parse(url).map_err(|e| StorageError::Failed(format!("S3 endpoint: {e}")))
}

/// Reads an error answer's code and message (empty when it has no XML body, as for HEAD).
fn read_error(resp: Response) -> S3Error {
    let status = resp.status;
    let body = resp.bytes(SMALL_BODY_LIMIT).unwrap_or_default();
    parse_error(status, &body)
}

fn parse_error(status: u16, body: &[u8]) -> S3Error {
    let mut e = S3Error {
        status,
        ..S3Error::default()
    };
    // A body that is not S3's XML leaves the code empty; the status still says enough.
    let _ = xml_leaves(body, |path, text| match path {
        "Error/Code" => e.code = text,
        "Error/Message" => e.message = text,
        _ => {}
    });
    e
}

/// Parses a `ListObjectsV2` answer.
fn parse_list(body: &[u8]) -> Result<ListPage, String> {
    let mut page = ListPage::default();
    let mut truncated = false;
    xml_leaves(body, |path, text| match path {
        "ListBucketResult/Contents/Key" => page.keys.push(text),
        "ListBucketResult/IsTruncated" => truncated = text == "true",
        "ListBucketResult/NextContinuationToken" => page.next = Some(text),
        _ => {}
    })?;
    if !truncated {
        page.next = None;
    } else if page.next.as_deref().is_none_or(str::is_empty) {
        return Err("the listing is truncated but has no NextContinuationToken".into());
    }
    Ok(page)
}

/// Calls `f(path, text)` at the end of each element, `path` being the element names from the
/// root joined by `/` (`ListBucketResult/Contents/Key`), `text` its text with references
/// resolved.
fn xml_leaves(body: &[u8], mut f: impl FnMut(&str, String)) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut buf = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("invalid XML: {e}"))?
        {
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_owned());
                buf.clear();
            }
            Event::Text(t) => buf.push_str(&t.xml10_content()),
            Event::CData(t) => buf.push_str(&t),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => buf.push(c),
                _ => buf.push_str(
                    quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("unknown entity &{};", &*r))?,
                ),
            },
            Event::End(_) => {
                f(&path.join("/"), std::mem::take(&mut buf));
                path.pop();
            }
            Event::Eof if path.is_empty() => return Ok(()),
            Event::Eof => return Err("the XML ends inside an element".into()),
            _ => {}
        }
    }
}

impl Storage for S3Storage {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
            .trim_end_matches('/')
            .to_owned()
    }

    fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        check_key(key)?;
        let what = format!("GetObject {}", self.url_of(key));
        let resp = self.send("GET", Some(key), &[], &[], b"")?;
        match resp.status {
            200 => self.body(resp, OBJECT_LIMIT).map(Some),
            404 => match read_error(resp) {
                e if e.code == "NoSuchKey" => Ok(None),
                e => Err(self.failure(&what, &e)),
            },
            _ => Err(self.fail(&what, resp)),
        }
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> StorageResult<Vec<u8>> {
        check_key(key)?;
        if len == 0 {
            return self.check_size(key, start).map(|()| Vec::new());
        }
        let what = format!("GetObject {}", self.url_of(key));
        let end = start.checked_add(len - 1).ok_or_else(|| {
            StorageError::Failed(format!("{what}: range {start}+{len} overflows"))
        })?;
        let range = format!("bytes={start}-{end}");
        let resp = self.send("GET", Some(key), &[], &[("range", &range)], b"")?;
        let status = resp.status;
        match status {
            // 200: the whole object, which is the range only when it starts at 0.
            200 | 206 => {
                let mismatch = |got: u64| {
                    StorageError::Failed(format!(
                        "{what}: asked for {range}, got {got} bytes (HTTP {status}): the object \
                         is shorter, or the endpoint ignored the range"
                    ))
                };
                if status == 200 && start != 0 {
                    return Err(mismatch(resp.content_length().unwrap_or(0)));
                }
                if let Some(n) = resp.content_length().filter(|n| *n != len) {
                    return Err(mismatch(n));
                }
                let body = self.body(resp, len)?;
                if body.len() as u64 == len {
                    Ok(body)
                } else {
                    Err(mismatch(body.len() as u64))
                }
            }
            416 => Err(StorageError::Failed(format!(
                "{what}: the object is shorter than {start}+{len} bytes (InvalidRange)"
            ))),
            404 => match read_error(resp) {
                e if e.code == "NoSuchKey" => {
                    Err(StorageError::Failed(format!("{what}: no such object")))
                }
                e => Err(self.failure(&what, &e)),
            },
            _ => Err(self.fail(&what, resp)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> StorageResult<()> {
        let resp = self.put_object(key, bytes, false)?;
        match resp.status {
            200 => Ok(()),
            _ => Err(self.fail(&format!("PutObject {}", self.url_of(key)), resp)),
        }
    }

    fn create(&self, key: &str, bytes: &[u8]) -> StorageResult<bool> {
        let what = format!("PutObject (If-None-Match: *) {}", self.url_of(key));
        for attempt in 0..CONFLICT_RETRIES {
            let resp = self.put_object(key, bytes, true)?;
            match resp.status {
                200 => return Ok(true),
                412 => return Ok(false),
                409 => {
                    let e = read_error(resp);
                    if e.code != "ConditionalRequestConflict" {
                        return Err(self.failure(&what, &e));
                    }
                    std::thread::sleep(Duration::from_millis(20 << attempt));
                }
                _ => return Err(self.fail(&what, resp)),
            }
        }
        // Every attempt lost to a concurrent write (409 means ours was not applied): the key
        // exists if one of the others succeeded.
        match self.get(key)? {
            Some(_) => Ok(false),
            None => Err(StorageError::Failed(format!(
                "{what}: HTTP 409 ConditionalRequestConflict {CONFLICT_RETRIES} times in a row"
            ))),
        }
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<String>> {
        if !prefix.is_empty() {
            check_key(prefix.strip_suffix('/').unwrap_or(prefix))?;
        }
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(&full_prefix, token.as_deref())?;
            keys.extend(
                page.keys
                    .iter()
                    .filter_map(|k| k.strip_prefix(&self.prefix))
                    .filter(|k| check_key(k).is_ok())
                    .map(str::to_owned),
            );
            match page.next {
                Some(next) if token.as_ref() == Some(&next) => {
                    return Err(StorageError::Failed(format!(
                        "ListObjectsV2 s3://{}/{full_prefix}: the endpoint repeated a \
                         continuation token",
                        self.bucket
                    )));
                }
                Some(next) => token = Some(next),
                None => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        check_key(key)?;
        let resp = self.send("DELETE", Some(key), &[], &[], b"")?;
        match resp.status {
            200 | 204 => Ok(()),
            404 => match read_error(resp) {
                e if e.code == "NoSuchKey" => Ok(()),
                e => Err(self.failure(&format!("DeleteObject {}", self.url_of(key)), &e)),
            },
            _ => Err(self.fail(&format!("DeleteObject {}", self.url_of(key)), resp)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    fn env(name: &str) -> Option<String> {
        match name {
            "AWS_ACCESS_KEY_ID" => Some("AKIDTEST".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("SECRETTEST".into()),
            "AWS_SESSION_TOKEN" => Some("TOKENTEST".into()),
            "HOME" => Some("/nonexistent".into()),
            _ => None,
        }
    }

    /// An S3 that answers each connection with the next of `answers` (status, extra headers,
    /// body) and returns the request heads it got.
    fn fake_s3(answers: Vec<(u16, &'static str, String)>) -> (S3Storage, JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for (status, headers, body) in answers {
                let (s, _) = l.accept().expect("accept");
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let (mut head, mut len) = (String::new(), 0);
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).expect("line");
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().expect("length");
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                r.read_exact(&mut vec![0; len]).expect("body");
                let answer = format!(
                    "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                (&s).write_all(answer.as_bytes()).expect("answer");
                heads.push(head);
            }
            heads
        });
        let s = S3Storage::from_url_with("bkt/team/pods", Some(&url), &env).expect("open");
        (s, server)
    }

    fn error_xml(code: &str, message: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        )
    }

    #[test]
    fn urls_and_endpoints() {
        let s =
            S3Storage::from_url_with("bkt/a/b/", Some("http://127.0.0.1:9"), &env).expect("open");
        assert_eq!(
            (s.describe(), s.url_of("k")),
            ("s3://bkt/a/b".into(), "s3://bkt/a/b/k".into())
        );
        let s = S3Storage::from_url_with("bkt", Some("127.0.0.1:9"), &env).expect("bare");
        assert_eq!(s.describe(), "s3://bkt");
        for bad in ["", "/x", "bkt/../x", "b kt/x"] {
            assert!(
                S3Storage::from_url_with(bad, Some("http://h:1"), &env).is_err(),
                "{bad}"
            );
        }
        let aws = S3Storage::from_url_with("bkt", None, &env).expect("AWS default");
        assert!(aws.endpoint.tls && aws.endpoint.host == "s3.us-east-1.amazonaws.com");
        assert_eq!(aws.endpoint.port, 443);
        let with_url = |k: &str| match k {
            "AWS_ENDPOINT_URL" => Some("http://10.0.0.1:4566".to_owned()),
            _ => env(k),
        };
        let s = S3Storage::from_url_with("bkt", None, &with_url).expect("AWS_ENDPOINT_URL");
        assert_eq!(s.endpoint.port, 4566);
        let nothing = |k: &str| (k == "HOME").then(|| "/nonexistent".to_owned());
        let e = S3Storage::from_url_with("bkt", Some("http://h:1"), &nothing).expect_err("no keys");
        assert!(
            matches!(&e, StorageError::Denied(m) if m.contains("AWS_ACCESS_KEY_ID")),
            "{e}"
        );
    }

    #[test]
    fn unreachable_endpoints_are_named() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let s = S3Storage::from_url_with("bkt", Some(&url), &env).expect("open");
        let e = s.get("k").expect_err("refused");
        assert!(
            matches!(&e, StorageError::Unreachable(m) if m.contains(&url)),
            "{e}"
        );
    }

    #[test]
    fn create_retries_conflicts_and_signs_its_condition() {
        let (s, server) = fake_s3(vec![
            (409, "", error_xml("ConditionalRequestConflict", "busy")),
            (412, "", error_xml("PreconditionFailed", "exists")),
            (200, "", String::new()),
        ]);
        assert!(!s.create("pods/p/1.json", b"{}").expect("create"));
        assert!(s.create("pods/p/2.json", b"{}").expect("create"));
        let heads = server.join().expect("server");
        assert!(
            heads[0].starts_with("PUT /bkt/team/pods/pods/p/1.json HTTP/1.1\r\n"),
            "{}",
            heads[0]
        );
        for h in &heads {
            let h = h.to_ascii_lowercase();
            assert!(h.contains("if-none-match: *\r\n"), "{h}");
            assert!(h.contains("x-amz-security-token: tokentest\r\n"), "{h}");
            assert!(
                h.contains("signedheaders=host;if-none-match;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
                "{h}"
            );
            assert!(!h.contains("secrettest"), "{h}");
        }
    }

    #[test]
    fn error_answers_map_to_storage_errors() {
        let (s, server) = fake_s3(vec![
            (404, "", error_xml("NoSuchKey", "no")),
            (
                404,
                "",
                error_xml("NoSuchBucket", "The specified bucket does not exist"),
            ),
            (
                403,
                "",
                error_xml("SignatureDoesNotMatch", "check your key"),
            ),
            (500, "", error_xml("InternalError", "oops")),
            (206, "", "0123".into()),
            (200, "", "0123456789".into()),
            (416, "", error_xml("InvalidRange", "no")),
            (204, "", String::new()),
        ]);
        assert_eq!(s.get("a").expect("absent"), None);
        let e = s.get("a").expect_err("no bucket");
        assert!(
            matches!(&e, StorageError::Failed(m) if m.contains("bucket \"bkt\" does not exist")),
            "{e}"
        );
        let e = s.put("a", b"x").expect_err("denied");
        assert!(
            matches!(&e, StorageError::Denied(m) if m.contains("HTTP 403 SignatureDoesNotMatch: check your key")),
            "{e}"
        );
        let e = s.put("a", b"x").expect_err("500");
        assert!(
            e.to_string()
                .contains("PutObject s3://bkt/team/pods/a: HTTP 500 InternalError: oops"),
            "{e}"
        );
        assert!(s.get_range("a", 0, 10).is_err(), "a short 206");
        assert!(
            s.get_range("a", 2, 10).is_err(),
            "a 200 for a range not at 0"
        );
        assert!(s.get_range("a", 0, 10).is_err(), "416");
        s.delete("a").expect("delete");
        let heads = server.join().expect("server");
        assert!(
            heads[4]
                .to_ascii_lowercase()
                .contains("range: bytes=0-9\r\n"),
            "{}",
            heads[4]
        );
        assert!(
            heads[7].starts_with("DELETE /bkt/team/pods/a "),
            "{}",
            heads[7]
        );
    }

    #[test]
    fn lists_follow_continuation_tokens() {
        let page = |keys: &[&str], next: Option<&str>| {
            let contents: String = keys
                .iter()
                .map(|k| format!("<Contents><Key>{k}</Key><Size>1</Size></Contents>"))
                .collect();
            let tail = match next {
                Some(t) => format!(
                    "<IsTruncated>true</IsTruncated><NextContinuationToken>{t}</NextContinuationToken>"
                ),
                None => "<IsTruncated>false</IsTruncated>".into(),
            };
            format!(
                "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Name>bkt</Name>{contents}{tail}</ListBucketResult>"
            )
        };
        let (s, server) = fake_s3(vec![
            (
                200,
                "",
                page(&["team/pods/p/b", "team/pods/p/bad key"], Some("t+1/=")),
            ),
            (200, "", page(&["team/pods/p/a"], None)),
        ]);
        assert_eq!(s.list("p/").expect("list"), vec!["p/a", "p/b"]);
        let heads = server.join().expect("server");
        assert!(
            heads[0].starts_with("GET /bkt?list-type=2&prefix=team%2Fpods%2Fp%2F HTTP/1.1"),
            "{}",
            heads[0]
        );
        assert!(
            heads[1].contains("continuation-token=t%2B1%2F%3D&list-type=2&"),
            "{}",
            heads[1]
        );
    }

    #[test]
    fn parses_s3_xml() {
        let e = parse_error(
            403,
            b"<Error><Code>AccessDenied</Code><Message>a &amp; b&#33;</Message></Error>",
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("AccessDenied", "a & b!")
        );
        assert_eq!(parse_error(404, b"").code, "");
        let truncated = b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
        assert!(parse_list(truncated).is_err());
        assert!(parse_list(b"<ListBucketResult><Contents>").is_err());
        let done = parse_list(b"<ListBucketResult><Contents><Key>k</Key></Contents><NextContinuationToken>x</NextContinuationToken></ListBucketResult>")
            .expect("list");
        assert_eq!(
            done,
            ListPage {
                keys: vec!["k".into()],
                next: None
            }
        );
    }
}
