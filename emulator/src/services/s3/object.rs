//! Object operations: put (with conditional writes), get and head (ranges, conditionals,
//! `response-*` overrides, part numbers), delete, DeleteObjects, copy, tagging, attributes.

use hyper::Response;
use hyper::body::Incoming;

use super::bucket::{
    parse_tagging, tagging_xml, with_bucket, with_bucket_mut, with_bucket_mut_marking,
};
use super::error::{S3Error, S3Result, codes};
use super::ingest::{Ingested, ingest, read_small, store_error};
use super::output;
use super::state::{Bucket, Checksum, ObjMeta, ObjVersion, Versioning};
use super::xml::{S3_NS, XmlWriter};
use super::{Ctx, S3, empty, parse_xml, set_header, xml};
use crate::checksum::{Algorithm, Hasher};
use crate::http::body::Body;
use crate::http::util::{
    Query, form_decode, http_date, iso8601_ms, parse_http_date, percent_decode,
};
use crate::ids;

/// Content headers and user metadata from request headers.
pub fn meta_from_headers(ctx: &Ctx) -> ObjMeta {
    let h = |n: &str| ctx.header(n).map(str::to_owned);
    let encoding = h("content-encoding").and_then(|e| {
        let rest: Vec<&str> = e
            .split(',')
            .map(str::trim)
            .filter(|p| *p != "aws-chunked" && !p.is_empty())
            .collect();
        (!rest.is_empty()).then(|| rest.join(","))
    });
    let mut user = Vec::new();
    for (name, value) in &ctx.headers {
        if let Some(k) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            user.push((k.to_owned(), v));
        }
    }
    ObjMeta {
        content_type: h("content-type"),
        content_encoding: encoding,
        content_disposition: h("content-disposition"),
        content_language: h("content-language"),
        cache_control: h("cache-control"),
        expires: h("expires"),
        user,
        storage_class: h("x-amz-storage-class").filter(|s| s != "STANDARD"),
        redirect: h("x-amz-website-redirect-location"),
    }
}

/// Tags from `x-amz-tagging: k=v&k2=v2`.
pub fn tags_from_header(ctx: &Ctx) -> S3Result<Vec<(String, String)>> {
    let Some(raw) = ctx.header("x-amz-tagging") else {
        return Ok(Vec::new());
    };
    let q = Query::parse(Some(raw));
    let mut tags: Vec<(String, String)> = Vec::new();
    for (k, v) in q.0 {
        if tags.iter().any(|(x, _)| *x == k) {
            return Err(codes::invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
        tags.push((k, v));
    }
    if tags.len() > 10 {
        return Err(codes::invalid_tag("Object tags cannot be greater than 10"));
    }
    Ok(tags)
}

/// The version id a new write gets in `b`.
pub fn new_version_id(b: &Bucket) -> String {
    match b.versioning {
        Versioning::Enabled => ids::alnum(32),
        _ => "null".to_owned(),
    }
}

/// Checks `If-None-Match: *` / `If-Match` of a write against the key's current version.
pub fn check_write_conditions(ctx: &Ctx, b: &Bucket, key: &str) -> S3Result<()> {
    let current = b.latest(key).filter(|v| !v.delete_marker);
    if ctx.header("if-none-match").is_some_and(|v| v.trim() == "*") && current.is_some() {
        return Err(codes::precondition_failed("If-None-Match"));
    }
    if let Some(want) = ctx.header("if-match") {
        match current {
            None => return Err(codes::no_such_key(key)),
            Some(v) if !etag_matches(want, &v.etag) => {
                return Err(codes::precondition_failed("If-Match"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Whether an `If-Match`-style list (`"a", "b"`, `*`, `W/"a"`) names `etag`.
pub fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// Adds the version id header when the bucket has (or had) versioning.
fn version_header(r: &mut Response<Body>, b: &Bucket, v: &ObjVersion) {
    if b.versioning != Versioning::Unversioned || v.version_id != "null" {
        set_header(r, "x-amz-version-id", &v.version_id);
    }
}

/// Adds a checksum's response headers.
pub fn checksum_headers(r: &mut Response<Body>, c: &Checksum) {
    set_header(r, &c.algorithm.header(), &c.value);
    set_header(r, "x-amz-checksum-type", c.type_name());
}

/// `PUT /bucket/key`.
pub async fn put(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let meta = meta_from_headers(ctx);
    let tags = tags_from_header(ctx)?;
    with_bucket(s3, ctx, |b| check_write_conditions(ctx, b, ctx.key()))?;
    let Ingested {
        blob,
        md5,
        checksum,
    } = ingest(&s3.store, &ctx.headers, body).await?;
    with_bucket_mut(s3, ctx, |b| {
        check_write_conditions(ctx, b, ctx.key())?;
        let v = ObjVersion {
            version_id: new_version_id(b),
            delete_marker: false,
            body: vec![blob],
            size: blob.size,
            etag: md5,
            last_modified: s3.clock.now_ms(),
            meta,
            tags,
            checksum,
            parts: Vec::new(),
        };
        let mut r = empty(200);
        set_header(&mut r, "etag", &v.quoted_etag());
        if let Some(c) = &v.checksum {
            checksum_headers(&mut r, c);
        }
        version_header(&mut r, b, &v);
        b.put_version(ctx.key(), v);
        Ok(r)
    })
}

/// Finds the version a read names (`versionId` or the latest), with S3's errors for delete
/// markers.
fn find_version(
    b: &Bucket,
    key: &str,
    version: Option<&str>,
    method: &str,
) -> S3Result<ObjVersion> {
    let v = match version {
        Some(id) => b
            .version(key, id)
            .ok_or_else(|| codes::no_such_version(key, id))?,
        None => b.latest(key).ok_or_else(|| codes::no_such_key(key))?,
    };
    if v.delete_marker {
        let e = if version.is_some() {
            codes::method_not_allowed(method)
        } else {
            codes::no_such_key(key)
        };
        return Err(e
            .with("DeleteMarker", "true")
            .with("VersionId", v.version_id.clone()));
    }
    Ok(v.clone())
}

/// Evaluates GET conditionals: `Err` is 412, `Ok(true)` means 304 Not Modified.
fn not_modified(ctx: &Ctx, v: &ObjVersion) -> S3Result<bool> {
    let modified = v.last_modified / 1000;
    let if_match = ctx.header("if-match");
    if let Some(m) = if_match
        && !etag_matches(m, &v.etag)
    {
        return Err(codes::precondition_failed("If-Match"));
    }
    if if_match.is_none()
        && let Some(t) = ctx.header("if-unmodified-since").and_then(parse_http_date)
        && modified > t
    {
        return Err(codes::precondition_failed("If-Unmodified-Since"));
    }
    let if_none = ctx.header("if-none-match");
    if let Some(m) = if_none {
        return Ok(etag_matches(m, &v.etag));
    }
    if let Some(t) = ctx.header("if-modified-since").and_then(parse_http_date) {
        return Ok(modified <= t);
    }
    Ok(false)
}

/// Parses `Range: bytes=…` against `size`: `Ok(None)` serves the whole object.
fn parse_range(header: Option<&str>, size: u64) -> S3Result<Option<(u64, u64)>> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(s), Some(e)) if s <= e => (s, e.min(size.saturating_sub(1))),
        (Some(_), Some(_)) => return Ok(None),
        (Some(s), None) if b.is_empty() => (s, size.saturating_sub(1)),
        (None, Some(n)) if a.is_empty() && n > 0 => {
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if range.0 >= size {
        return Err(codes::invalid_range(size));
    }
    Ok(Some(range))
}

/// `GET`/`HEAD /bucket/key`.
pub async fn get(s3: &S3, ctx: &Ctx, head: bool) -> S3Result<Response<Body>> {
    let (v, versioned) = with_bucket(s3, ctx, |b| {
        let v = find_version(b, ctx.key(), ctx.query.get("versionId"), &ctx.method)?;
        Ok((v, b.versioning != Versioning::Unversioned))
    })?;
    if not_modified(ctx, &v)? {
        let mut r = empty(304);
        set_header(&mut r, "etag", &v.quoted_etag());
        set_header(&mut r, "last-modified", &http_date(v.last_modified / 1000));
        return Ok(r);
    }
    // A checksum describes the bytes it is sent with: the whole object, or one part of a
    // multipart object; a byte range gets none (clients would validate it and fail).
    let (range, parts_count, checksum) = match ctx.query.get("partNumber") {
        Some(_) if ctx.header("range").is_some() => {
            return Err(codes::invalid_request(
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        Some(p) => part_range(&v, p)?,
        None => {
            let range = parse_range(ctx.header("range"), v.size)?;
            let checksum = if range.is_some() {
                None
            } else {
                v.checksum.clone()
            };
            (range, None, checksum)
        }
    };
    let (start, len) = range.map_or((0, v.size), |(s, e)| (s, e - s + 1));
    let body = if head {
        Body::Empty
    } else {
        output::body(&s3.store, &v.body, start, len).map_err(|e| codes::internal(e.to_string()))?
    };
    let mut r = Response::new(body);
    if range.is_some() {
        *r.status_mut() = hyper::StatusCode::PARTIAL_CONTENT;
        set_header(
            &mut r,
            "content-range",
            &format!("bytes {start}-{}/{}", start + len - 1, v.size),
        );
    }
    object_headers(&mut r, ctx, &v, versioned, checksum.as_ref());
    set_header(&mut r, "content-length", &len.to_string());
    if let Some(n) = parts_count {
        set_header(&mut r, "x-amz-mp-parts-count", &n.to_string());
    }
    Ok(r)
}

/// What a `partNumber` read serves: the byte range, the object's part count, and the
/// checksum of the bytes served.
type PartRange = (Option<(u64, u64)>, Option<usize>, Option<Checksum>);

fn part_range(v: &ObjVersion, p: &str) -> S3Result<PartRange> {
    let n = super::multipart::parse_part_number(p)? as usize;
    let unsatisfiable = || {
        S3Error::new(
            "InvalidPartNumber",
            416,
            "The requested partnumber is not satisfiable",
        )
    };
    if v.parts.is_empty() {
        if n != 1 {
            return Err(unsatisfiable());
        }
        return Ok((None, None, v.checksum.clone()));
    }
    let part = v.parts.get(n - 1).ok_or_else(unsatisfiable)?;
    let start: u64 = v.parts[..n - 1].iter().map(|p| p.blob.size).sum();
    let checksum = part.checksum.clone().map(|c| Checksum {
        composite: v.checksum.as_ref().is_some_and(|o| o.composite),
        ..c
    });
    Ok((
        Some((start, start + part.blob.size - 1)),
        Some(v.parts.len()),
        checksum,
    ))
}

fn object_headers(
    r: &mut Response<Body>,
    ctx: &Ctx,
    v: &ObjVersion,
    versioned: bool,
    checksum: Option<&Checksum>,
) {
    let m = &v.meta;
    let ov = |name: &str| {
        ctx.query
            .get(&format!("response-{name}"))
            .map(str::to_owned)
    };
    let pairs = [
        (
            "content-type",
            ov("content-type")
                .or(m.content_type.clone())
                .or(Some("binary/octet-stream".into())),
        ),
        (
            "content-encoding",
            ov("content-encoding").or(m.content_encoding.clone()),
        ),
        (
            "content-disposition",
            ov("content-disposition").or(m.content_disposition.clone()),
        ),
        (
            "content-language",
            ov("content-language").or(m.content_language.clone()),
        ),
        (
            "cache-control",
            ov("cache-control").or(m.cache_control.clone()),
        ),
        ("expires", ov("expires").or(m.expires.clone())),
        ("x-amz-storage-class", m.storage_class.clone()),
        ("x-amz-website-redirect-location", m.redirect.clone()),
    ];
    for (k, v) in pairs {
        if let Some(v) = v {
            set_header(r, k, &v);
        }
    }
    set_header(r, "etag", &v.quoted_etag());
    set_header(r, "last-modified", &http_date(v.last_modified / 1000));
    set_header(r, "accept-ranges", "bytes");
    if versioned || v.version_id != "null" {
        set_header(r, "x-amz-version-id", &v.version_id);
    }
    for (k, val) in &m.user {
        set_header(r, &format!("x-amz-meta-{k}"), val);
    }
    if !v.tags.is_empty() {
        set_header(r, "x-amz-tagging-count", &v.tags.len().to_string());
    }
    if ctx
        .header("x-amz-checksum-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
        && let Some(c) = checksum
    {
        checksum_headers(r, c);
    }
}

/// Deletes `key` (or one version) from `b` by S3's versioning rules. Returns
/// (delete marker involved, version id to report). `now`: the time of a new delete marker.
fn delete_in(b: &mut Bucket, key: &str, version: Option<&str>, now: i64) -> (bool, Option<String>) {
    match version {
        Some(id) => match b.remove_version(key, id) {
            Some(v) => (v.delete_marker, Some(v.version_id)),
            None => (false, Some(id.to_owned())),
        },
        None => match b.versioning {
            Versioning::Unversioned => {
                b.objects.remove(key);
                (false, None)
            }
            Versioning::Enabled | Versioning::Suspended => {
                let id = new_version_id(b);
                b.put_version(key, ObjVersion::marker(id.clone(), now));
                (true, Some(id))
            }
        },
    }
}

/// `DELETE /bucket/key`.
pub fn delete(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    with_bucket_mut(s3, ctx, |b| {
        if let Some(m) = ctx.header("if-match") {
            match b.latest(ctx.key()).filter(|v| !v.delete_marker) {
                None => return Err(codes::no_such_key(ctx.key())),
                Some(v) if !etag_matches(m, &v.etag) => {
                    return Err(codes::precondition_failed("If-Match"));
                }
                Some(_) => {}
            }
        }
        let (marker, id) = delete_in(b, ctx.key(), ctx.query.get("versionId"), s3.clock.now_ms());
        let mut r = empty(204);
        if marker {
            set_header(&mut r, "x-amz-delete-marker", "true");
        }
        if let Some(id) = id {
            set_header(&mut r, "x-amz-version-id", &id);
        }
        Ok(r)
    })
}

/// `POST /bucket?delete`.
pub async fn delete_objects(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let doc = parse_xml(&read_small(&ctx.headers, body, 4 << 20).await?)?;
    let (quiet, objects) = parse_delete(&doc)?;
    delete_many(s3, ctx, quiet, &objects)
}

/// The keys (and versions) of a DeleteObjects body: (quiet, [(key, version)]).
type DeleteRequest = (bool, Vec<(String, Option<String>)>);

/// Reads a `<Delete>` document: 1 to 1000 objects.
pub fn parse_delete(doc: &super::xml::Node) -> S3Result<DeleteRequest> {
    if doc.name != "Delete" {
        return Err(codes::malformed_xml());
    }
    let quiet = doc
        .text_of("Quiet")
        .is_some_and(|q| q.eq_ignore_ascii_case("true"));
    let objects: Vec<(String, Option<String>)> = doc
        .all("Object")
        .map(|o| {
            (
                o.text_of("Key").unwrap_or_default().to_owned(),
                o.text_of("VersionId").map(str::to_owned),
            )
        })
        .collect();
    if objects.is_empty() || objects.len() > 1000 {
        return Err(codes::malformed_xml());
    }
    Ok((quiet, objects))
}

/// Deletes `objects` and renders the `DeleteResult` (errors only when `quiet`).
pub fn delete_many(
    s3: &S3,
    ctx: &Ctx,
    quiet: bool,
    objects: &[(String, Option<String>)],
) -> S3Result<Response<Body>> {
    let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    with_bucket_mut_marking(s3, ctx, &keys, None, |b| {
        let mut w = XmlWriter::new();
        w.open("DeleteResult", Some(S3_NS));
        for (key, version) in objects {
            if key.is_empty() {
                w.open("Error", None);
                w.elem("Key", key);
                w.elem("Code", "UserKeyMustBeSpecified");
                w.elem("Message", "The key must be specified");
                w.close("Error");
                continue;
            }
            let (marker, id) = delete_in(b, key, version.as_deref(), s3.clock.now_ms());
            if quiet {
                continue;
            }
            w.open("Deleted", None);
            w.elem("Key", key);
            if let Some(v) = version {
                w.elem("VersionId", v);
            }
            if marker {
                // The marker created, or the marker deleted by its version id.
                w.elem("DeleteMarker", "true");
                w.opt("DeleteMarkerVersionId", id.as_deref());
            }
            w.close("Deleted");
        }
        w.close("DeleteResult");
        Ok(xml(200, w.finish()))
    })
}

/// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded.
pub fn copy_source(ctx: &Ctx) -> S3Result<(String, String, Option<String>)> {
    let raw = ctx.header("x-amz-copy-source").unwrap_or_default();
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let path = percent_decode(path.trim_start_matches('/'));
    let (bucket, key) = path
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| {
            codes::invalid_argument("Invalid copy source object key", "x-amz-copy-source", raw)
        })?;
    let version = Query::parse(Some(query)).get("versionId").map(form_decode);
    Ok((bucket.to_owned(), key.to_owned(), version))
}

/// Reads the copy source version and checks the `x-amz-copy-source-if-*` conditions.
pub fn source_version(s3: &S3, ctx: &Ctx) -> S3Result<ObjVersion> {
    let (bucket, key, version) = copy_source(ctx)?;
    let state = s3.read();
    let b = state
        .bucket(&ctx.account, &bucket)
        .ok_or_else(|| codes::no_such_bucket(&bucket))?;
    let v = find_version(b, &key, version.as_deref(), "GET").map_err(|e| {
        if e.code == "MethodNotAllowed" {
            codes::invalid_request("The source of a copy request may not specifically refer to a delete marker by version id.")
        } else {
            e
        }
    })?;
    let modified = v.last_modified / 1000;
    let h = |n: &str| ctx.header(&format!("x-amz-copy-source-if-{n}"));
    let failed = h("match").is_some_and(|m| !etag_matches(m, &v.etag))
        || h("none-match").is_some_and(|m| etag_matches(m, &v.etag))
        || (h("match").is_none()
            && h("unmodified-since")
                .and_then(parse_http_date)
                .is_some_and(|t| modified > t))
        || (h("none-match").is_none()
            && h("modified-since")
                .and_then(parse_http_date)
                .is_some_and(|t| modified <= t));
    if failed {
        return Err(codes::precondition_failed("x-amz-copy-source-If"));
    }
    Ok(v)
}

/// Computes a checksum over stored blobs.
pub fn checksum_of(s3: &S3, blobs: &[podstore::BlobInfo], a: Algorithm) -> S3Result<Checksum> {
    let mut h = Hasher::new(a);
    let size: u64 = blobs.iter().map(|b| b.size).sum();
    tokio::task::block_in_place(|| {
        output::copy_range(&s3.store, blobs, 0, size, &mut |b| {
            h.update(b);
            Ok(())
        })
    })
    .map_err(|e| {
        store_error(podstore::Error::Io {
            op: "read",
            path: "<store>".into(),
            source: e,
        })
    })?;
    Ok(Checksum {
        algorithm: a,
        value: h.value(),
        composite: false,
    })
}

/// `PUT /bucket/key` with `x-amz-copy-source`.
pub fn copy(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let src = source_version(s3, ctx)?;
    let (sb, sk, _) = copy_source(ctx)?;
    let replace_meta = ctx.header("x-amz-metadata-directive") == Some("REPLACE");
    let replace_tags = ctx.header("x-amz-tagging-directive") == Some("REPLACE");
    let same = sb == ctx.bucket() && sk == ctx.key();
    if same
        && !replace_meta
        && ctx.header("x-amz-storage-class").is_none()
        && ctx.header("x-amz-website-redirect-location").is_none()
    {
        return Err(codes::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let meta = if replace_meta {
        meta_from_headers(ctx)
    } else {
        src.meta.clone()
    };
    let tags = if replace_tags {
        tags_from_header(ctx)?
    } else {
        src.tags.clone()
    };
    let wanted = ctx
        .header("x-amz-checksum-algorithm")
        .and_then(Algorithm::parse);
    let checksum = match (wanted, &src.checksum) {
        (Some(a), Some(c)) if c.algorithm == a && !c.composite => Some(c.clone()),
        (Some(a), _) => Some(checksum_of(s3, &src.body, a)?),
        (None, c) => c.clone().filter(|c| !c.composite),
    };
    with_bucket_mut(s3, ctx, |b| {
        check_write_conditions(ctx, b, ctx.key())?;
        let v = ObjVersion {
            version_id: new_version_id(b),
            last_modified: s3.clock.now_ms(),
            meta,
            tags,
            checksum,
            ..src.clone()
        };
        let mut r = xml(200, copy_result_xml(&v));
        if src.version_id != "null" {
            set_header(&mut r, "x-amz-copy-source-version-id", &src.version_id);
        }
        version_header(&mut r, b, &v);
        b.put_version(ctx.key(), v);
        Ok(r)
    })
}

/// The `CopyObjectResult` for the new version `v`.
pub fn copy_result_xml(v: &ObjVersion) -> String {
    let mut w = XmlWriter::new();
    w.open("CopyObjectResult", Some(S3_NS));
    w.elem("ETag", &v.quoted_etag());
    w.elem("LastModified", &iso8601_ms(v.last_modified));
    if let Some(c) = &v.checksum {
        w.elem("ChecksumType", "FULL_OBJECT");
        w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value);
    }
    w.close("CopyObjectResult");
    w.finish()
}

/// Runs `f` on the version a tagging request names.
fn with_version_mut<T>(s3: &S3, ctx: &Ctx, f: impl FnOnce(&mut ObjVersion) -> T) -> S3Result<T> {
    with_bucket_mut(s3, ctx, |b| {
        let key = ctx.key();
        let versions = b
            .objects
            .get_mut(key)
            .ok_or_else(|| codes::no_such_key(key))?;
        let v = match ctx.query.get("versionId") {
            Some(id) => versions
                .iter_mut()
                .find(|v| v.version_id == id)
                .ok_or_else(|| codes::no_such_version(key, id))?,
            None => versions
                .last_mut()
                .filter(|v| !v.delete_marker)
                .ok_or_else(|| codes::no_such_key(key))?,
        };
        if v.delete_marker {
            return Err(codes::method_not_allowed(&ctx.method));
        }
        Ok(f(v))
    })
}

/// `PUT /bucket/key?tagging`.
pub async fn put_tagging(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let doc = parse_xml(&read_small(&ctx.headers, body, 1 << 20).await?)?;
    let tags = parse_tagging(&doc, 10)?;
    let id = with_version_mut(s3, ctx, |v| {
        v.tags = tags;
        v.version_id.clone()
    })?;
    let mut r = empty(200);
    set_header(&mut r, "x-amz-version-id", &id);
    Ok(r)
}

/// `GET /bucket/key?tagging`.
pub fn get_tagging(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let (tags, id) = with_version_mut(s3, ctx, |v| (v.tags.clone(), v.version_id.clone()))?;
    let mut r = xml(200, tagging_xml(&tags));
    set_header(&mut r, "x-amz-version-id", &id);
    Ok(r)
}

/// `DELETE /bucket/key?tagging`.
pub fn delete_tagging(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let id = with_version_mut(s3, ctx, |v| {
        v.tags.clear();
        v.version_id.clone()
    })?;
    let mut r = empty(204);
    set_header(&mut r, "x-amz-version-id", &id);
    Ok(r)
}

/// `GET /bucket/key?attributes`.
pub fn attributes(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let wanted: Vec<String> = ctx
        .header("x-amz-object-attributes")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(codes::invalid_argument(
            "Invalid attribute name specified.",
            "x-amz-object-attributes",
            "",
        ));
    }
    let (v, versioned) = with_bucket(s3, ctx, |b| {
        Ok((
            find_version(b, ctx.key(), ctx.query.get("versionId"), "GET")?,
            b.versioning != Versioning::Unversioned,
        ))
    })?;
    let has = |n: &str| wanted.iter().any(|w| w == n);
    let mut w = XmlWriter::new();
    w.open("GetObjectAttributesResponse", Some(S3_NS));
    if has("ETag") {
        w.elem("ETag", &v.etag);
    }
    if has("Checksum")
        && let Some(c) = &v.checksum
    {
        w.open("Checksum", None);
        w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value);
        w.elem("ChecksumType", c.type_name());
        w.close("Checksum");
    }
    if has("ObjectParts") && !v.parts.is_empty() {
        object_parts(&mut w, ctx, &v);
    }
    if has("StorageClass") {
        w.elem(
            "StorageClass",
            v.meta.storage_class.as_deref().unwrap_or("STANDARD"),
        );
    }
    if has("ObjectSize") {
        w.elem("ObjectSize", &v.size.to_string());
    }
    w.close("GetObjectAttributesResponse");
    let mut r = xml(200, w.finish());
    set_header(&mut r, "last-modified", &http_date(v.last_modified / 1000));
    if versioned || v.version_id != "null" {
        set_header(&mut r, "x-amz-version-id", &v.version_id);
    }
    Ok(r)
}

fn object_parts(w: &mut XmlWriter, ctx: &Ctx, v: &ObjVersion) {
    let max: usize = ctx
        .header("x-amz-max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000);
    let marker: u32 = ctx
        .header("x-amz-part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    w.open("ObjectParts", None);
    w.elem("PartsCount", &v.parts.len().to_string());
    let page = super::multipart::part_page(w, v.parts.iter(), marker, max);
    for p in page {
        w.open("Part", None);
        w.elem("PartNumber", &p.number.to_string());
        w.elem("Size", &p.blob.size.to_string());
        if let Some(c) = &p.checksum {
            w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value);
        }
        w.close("Part");
    }
    w.close("ObjectParts");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::s3::testutil::{body_text, ctx, s3};

    /// 2026-01-02T03:04:05.678Z.
    const T: i64 = 1_767_323_045_678;

    fn object(etag: &str) -> ObjVersion {
        let mut v = ObjVersion::marker("null".into(), T);
        v.delete_marker = false;
        v.etag = etag.into();
        v
    }

    #[test]
    fn copy_result_is_exact() {
        let mut v = object("9dd4e461268c8034f5c8564e155c67a6");
        assert_eq!(
            copy_result_xml(&v),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <ETag>&quot;9dd4e461268c8034f5c8564e155c67a6&quot;</ETag>\
             <LastModified>2026-01-02T03:04:05.678Z</LastModified></CopyObjectResult>"
        );
        v.checksum = Some(Checksum {
            algorithm: Algorithm::Crc32c,
            value: "yZRlqg==".into(),
            composite: false,
        });
        assert_eq!(
            copy_result_xml(&v),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <ETag>&quot;9dd4e461268c8034f5c8564e155c67a6&quot;</ETag>\
             <LastModified>2026-01-02T03:04:05.678Z</LastModified>\
             <ChecksumType>FULL_OBJECT</ChecksumType><ChecksumCRC32C>yZRlqg==</ChecksumCRC32C>\
             </CopyObjectResult>"
        );
    }

    #[test]
    fn delete_result_is_exact() {
        let (s3, _dir) = s3();
        let mut b = Bucket {
            name: "bkt".into(),
            versioning: Versioning::Enabled,
            ..Bucket::default()
        };
        let mut v1 = object("aa");
        v1.version_id = "v1".into();
        b.put_version("a&b", v1.clone());
        b.put_version("keep", v1);
        s3.write().buckets("000000000000").insert("bkt".into(), b);
        let c = ctx("POST", "bkt", None, "delete");
        let doc = parse_xml(
            b"<Delete><Object><Key>a&amp;b</Key></Object>\
              <Object><Key>keep</Key><VersionId>v1</VersionId></Object>\
              <Object><Key></Key></Object></Delete>",
        )
        .expect("xml");
        let (quiet, objects) = parse_delete(&doc).expect("parse");
        assert!(!quiet);
        let body = body_text(delete_many(&s3, &c, quiet, &objects).expect("delete"));
        let marker = {
            let state = s3.read();
            let b = state.bucket("000000000000", "bkt").expect("bucket");
            assert!(!b.objects.contains_key("keep"), "the only version is gone");
            let m = b.latest("a&b").expect("marker");
            assert!(m.delete_marker);
            m.version_id.clone()
        };
        assert_eq!(
            body,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Deleted><Key>a&amp;b</Key><DeleteMarker>true</DeleteMarker>\
                 <DeleteMarkerVersionId>{marker}</DeleteMarkerVersionId></Deleted>\
                 <Deleted><Key>keep</Key><VersionId>v1</VersionId></Deleted>\
                 <Error><Key></Key><Code>UserKeyMustBeSpecified</Code>\
                 <Message>The key must be specified</Message></Error>\
                 </DeleteResult>"
            )
        );
        // Quiet: only errors are reported.
        let doc = parse_xml(b"<Delete><Quiet>true</Quiet><Object><Key>x</Key></Object></Delete>")
            .expect("xml");
        let (quiet, objects) = parse_delete(&doc).expect("parse");
        assert!(quiet);
        assert_eq!(
            body_text(delete_many(&s3, &c, quiet, &objects).expect("delete")),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>"
        );
        // Over 1000 objects, or none, is malformed.
        let many = format!(
            "<Delete>{}</Delete>",
            "<Object><Key>k</Key></Object>".repeat(1001)
        );
        let doc = parse_xml(many.as_bytes()).expect("xml");
        assert_eq!(parse_delete(&doc).map_err(|e| e.code), Err("MalformedXML"));
        let doc = parse_xml(b"<Delete></Delete>").expect("xml");
        assert_eq!(parse_delete(&doc).map_err(|e| e.code), Err("MalformedXML"));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=50-1000"), 100), Ok(Some((50, 99))));
        assert_eq!(parse_range(Some("bytes=9-0"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=1-2"), 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 100), Ok(None));
        assert_eq!(
            parse_range(Some("bytes=100-"), 100).map_err(|e| e.status),
            Err(416)
        );
    }

    #[test]
    fn etag_lists() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", W/\"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"x\"", "abc"));
    }
}
