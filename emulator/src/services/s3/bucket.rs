//! Bucket operations: create, delete, head, list, location, versioning, tagging and the stored
//! configurations (policy, CORS, lifecycle, notification).

use hyper::Response;
use hyper::body::Incoming;

use super::error::{S3Result, codes};
use super::ingest::read_small;
use super::state::{Bucket, S3Mark, S3State, Versioning};
use super::xml::{Node, S3_NS, XmlWriter};
use super::{Ctx, S3, empty, parse_xml, set_header, valid_bucket_name, xml};
use crate::http::body::Body;
use crate::http::util::iso8601_ms;

const SMALL_BODY: usize = 1 << 20;

/// `GET /`.
pub fn list_buckets(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let state = s3.read();
    let mut w = XmlWriter::new();
    w.open("ListAllMyBucketsResult", Some(S3_NS));
    owner(&mut w, &ctx.account);
    w.open("Buckets", None);
    if let Some(buckets) = state.accounts.get(&ctx.account) {
        for b in buckets.values() {
            w.open("Bucket", None);
            w.elem("Name", &b.name);
            w.elem("CreationDate", &iso8601_ms(b.created));
            w.elem("BucketRegion", &b.region);
            w.close("Bucket");
        }
    }
    w.close("Buckets");
    w.close("ListAllMyBucketsResult");
    Ok(xml(200, w.finish()))
}

/// Writes an `<Owner>` element for `account`.
pub fn owner(w: &mut XmlWriter, account: &str) {
    w.open("Owner", None);
    w.elem("ID", &format!("{account:0>64}"));
    w.elem("DisplayName", "webfile");
    w.close("Owner");
}

/// `PUT /bucket`.
pub async fn create(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let name = ctx.bucket();
    if !valid_bucket_name(name) {
        return Err(codes::invalid_bucket_name(name));
    }
    let bytes = read_small(&ctx.headers, body, SMALL_BODY).await?;
    let region = if bytes.iter().all(u8::is_ascii_whitespace) {
        ctx.region.clone()
    } else {
        let doc = parse_xml(&bytes)?;
        match doc.text_of("LocationConstraint").filter(|s| !s.is_empty()) {
            Some("EU") => "eu-west-1".to_owned(),
            Some(r) => r.to_owned(),
            None => "us-east-1".to_owned(),
        }
    };
    if region == "us-east-1" && bytes.iter().any(|b| !b.is_ascii_whitespace()) {
        let doc = parse_xml(&bytes)?;
        if doc.text_of("LocationConstraint") == Some("us-east-1") {
            return Err(codes::invalid_argument(
                "The us-east-1 location constraint is incompatible for the region specific endpoint this request was sent to.",
                "LocationConstraint",
                "us-east-1",
            ));
        }
    }
    let mut state = s3.write();
    match state.owner_of(name) {
        Some(a) if a == ctx.account => {
            // us-east-1 answers success again for the owner, like AWS's legacy behaviour.
            if region != "us-east-1" {
                return Err(codes::bucket_owned(name));
            }
        }
        Some(_) => return Err(codes::bucket_exists(name)),
        None => {
            let bucket = Bucket {
                name: name.to_owned(),
                region,
                created: s3.clock.now_ms(),
                ..Bucket::default()
            };
            state.buckets(&ctx.account).insert(name.to_owned(), bucket);
            state.marks.touch(S3Mark::Bucket {
                account: ctx.account.clone(),
                bucket: name.to_owned(),
            });
        }
    }
    let mut r = empty(200);
    set_header(&mut r, "location", &format!("/{name}"));
    Ok(r)
}

/// Runs `f` on the request's bucket, or fails with NoSuchBucket.
pub fn with_bucket<T>(s3: &S3, ctx: &Ctx, f: impl FnOnce(&Bucket) -> S3Result<T>) -> S3Result<T> {
    let state = s3.read();
    let b = state
        .bucket(&ctx.account, ctx.bucket())
        .ok_or_else(|| codes::no_such_bucket(ctx.bucket()))?;
    f(b)
}

/// Runs `f` on the request's bucket, mutably, or fails with NoSuchBucket. Marks the request's
/// key and its `uploadId` as changed, or the bucket for a request on the bucket itself (see
/// [`with_bucket_mut_marking`]).
pub fn with_bucket_mut<T>(
    s3: &S3,
    ctx: &Ctx,
    f: impl FnOnce(&mut Bucket) -> S3Result<T>,
) -> S3Result<T> {
    with_bucket_mut_marking(s3, ctx, &[], None, f)
}

/// [`with_bucket_mut`] that also marks `keys` and `upload` as changed: every mutation of a
/// bucket goes through here, so its change marks are set under the same lock.
pub fn with_bucket_mut_marking<T>(
    s3: &S3,
    ctx: &Ctx,
    keys: &[&str],
    upload: Option<&str>,
    f: impl FnOnce(&mut Bucket) -> S3Result<T>,
) -> S3Result<T> {
    let mut guard = s3.write();
    let S3State { accounts, marks } = &mut *guard;
    let b = accounts
        .get_mut(&ctx.account)
        .and_then(|a| a.get_mut(ctx.bucket()))
        .ok_or_else(|| codes::no_such_bucket(ctx.bucket()))?;
    let result = f(b);
    let (account, bucket) = (&ctx.account, ctx.bucket());
    // Requests on keys and uploads never change the bucket's own fields.
    if ctx.key.is_none() && keys.is_empty() && upload.is_none() {
        marks.touch(S3Mark::Bucket {
            account: account.clone(),
            bucket: bucket.to_owned(),
        });
    }
    for key in ctx.key.as_deref().into_iter().chain(keys.iter().copied()) {
        marks.touch(S3Mark::Object {
            account: account.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        });
    }
    for id in ctx.query.get("uploadId").into_iter().chain(upload) {
        marks.touch(S3Mark::Upload {
            account: account.clone(),
            bucket: bucket.to_owned(),
            id: id.to_owned(),
        });
    }
    result
}

/// `DELETE /bucket`.
pub fn delete(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let mut state = s3.write();
    let buckets = state.buckets(&ctx.account);
    let b = buckets
        .get(ctx.bucket())
        .ok_or_else(|| codes::no_such_bucket(ctx.bucket()))?;
    if !b.is_empty() {
        return Err(codes::bucket_not_empty(ctx.bucket()));
    }
    if let Some(gone) = buckets.remove(ctx.bucket()) {
        state.marks.delete_resource(
            [&ctx.account, &gone.region, super::SERVICE.name],
            &["bucket", "object", "upload"],
            &gone.name,
        );
    }
    Ok(empty(204))
}

/// `HEAD /bucket`.
pub fn head(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    with_bucket(s3, ctx, |b| {
        let mut r = empty(200);
        set_header(&mut r, "x-amz-bucket-region", &b.region);
        Ok(r)
    })
}

/// `GET /bucket?location`.
pub fn location(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    with_bucket(s3, ctx, |b| {
        let mut w = XmlWriter::new();
        w.open("LocationConstraint", Some(S3_NS));
        if b.region != "us-east-1" {
            w.raw(&escape(&b.region));
        }
        w.close("LocationConstraint");
        Ok(xml(200, w.finish()))
    })
}

fn escape(s: &str) -> String {
    let mut out = String::new();
    super::xml::escape_into(&mut out, s);
    out
}

/// `PUT /bucket?versioning`.
pub async fn put_versioning(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let doc = parse_xml(&read_small(&ctx.headers, body, SMALL_BODY).await?)?;
    let status = match doc.text_of("Status") {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => return Err(codes::malformed_xml()),
    };
    with_bucket_mut(s3, ctx, |b| {
        if !(b.versioning == Versioning::Unversioned && status == Versioning::Suspended) {
            b.versioning = status;
        }
        Ok(empty(200))
    })
}

/// `GET /bucket?versioning`.
pub fn get_versioning(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    with_bucket(s3, ctx, |b| {
        let mut w = XmlWriter::new();
        w.open("VersioningConfiguration", Some(S3_NS));
        match b.versioning {
            Versioning::Enabled => w.elem("Status", "Enabled"),
            Versioning::Suspended => w.elem("Status", "Suspended"),
            Versioning::Unversioned => {}
        }
        w.close("VersioningConfiguration");
        Ok(xml(200, w.finish()))
    })
}

/// Parses a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…` document with S3's limits.
pub fn parse_tagging(doc: &Node, max: usize) -> S3Result<Vec<(String, String)>> {
    let set = doc.child("TagSet").ok_or_else(codes::malformed_xml)?;
    let mut tags: Vec<(String, String)> = Vec::new();
    for t in set.all("Tag") {
        let k = t
            .text_of("Key")
            .ok_or_else(codes::malformed_xml)?
            .to_owned();
        let v = t.text_of("Value").unwrap_or_default().to_owned();
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(codes::invalid_tag(
                "The TagKey you have provided is invalid",
            ));
        }
        if tags.iter().any(|(x, _)| *x == k) {
            return Err(codes::invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
        tags.push((k, v));
    }
    if tags.len() > max {
        return Err(codes::invalid_tag(format!(
            "Object tags cannot be greater than {max}"
        )));
    }
    Ok(tags)
}

/// Renders a `<Tagging>` document.
pub fn tagging_xml(tags: &[(String, String)]) -> String {
    let mut w = XmlWriter::new();
    w.open("Tagging", Some(S3_NS));
    w.open("TagSet", None);
    for (k, v) in tags {
        w.open("Tag", None);
        w.elem("Key", k);
        w.elem("Value", v);
        w.close("Tag");
    }
    w.close("TagSet");
    w.close("Tagging");
    w.finish()
}

/// `PUT /bucket?tagging`.
pub async fn put_tagging(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let doc = parse_xml(&read_small(&ctx.headers, body, SMALL_BODY).await?)?;
    let tags = parse_tagging(&doc, 50)?;
    with_bucket_mut(s3, ctx, |b| {
        b.tags = Some(tags);
        Ok(empty(204))
    })
}

/// `GET /bucket?tagging`.
pub fn get_tagging(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    with_bucket(s3, ctx, |b| match &b.tags {
        Some(t) => Ok(xml(200, tagging_xml(t))),
        None => Err(codes::no_such_config("NoSuchTagSet", "TagSet", &b.name)),
    })
}

/// `DELETE /bucket?tagging`.
pub fn delete_tagging(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    with_bucket_mut(s3, ctx, |b| {
        b.tags = None;
        Ok(empty(204))
    })
}

/// The error for a configuration that was never set.
fn missing_config(what: &str, bucket: &str) -> super::error::S3Error {
    match what {
        "policy" => codes::no_such_config("NoSuchBucketPolicy", "bucket policy", bucket),
        "cors" => codes::no_such_config("NoSuchCORSConfiguration", "CORS configuration", bucket),
        "lifecycle" => codes::no_such_config(
            "NoSuchLifecycleConfiguration",
            "lifecycle configuration",
            bucket,
        ),
        _ => codes::no_such_config("NoSuchConfiguration", "configuration", bucket),
    }
}

/// `PUT /bucket?policy|cors|lifecycle|notification`: validated (JSON or XML) and stored as sent.
pub async fn put_config(
    s3: &S3,
    ctx: &Ctx,
    body: Incoming,
    what: &str,
) -> S3Result<Response<Body>> {
    let bytes = read_small(&ctx.headers, body, 20 << 20).await?;
    let text = String::from_utf8(bytes).map_err(|_| codes::malformed_xml())?;
    if what == "policy" {
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            super::error::S3Error::new(
                "MalformedPolicy",
                400,
                "Policies must be valid JSON and the first byte must be '{'",
            )
        })?;
        if !v.is_object() {
            return Err(super::error::S3Error::new(
                "MalformedPolicy",
                400,
                "Policies must be valid JSON and the first byte must be '{'",
            ));
        }
    } else {
        parse_xml(text.as_bytes())?;
    }
    with_bucket_mut(s3, ctx, |b| {
        if what == "notification"
            && text.trim_end().ends_with("/>")
            && !text.contains("Configuration>")
        {
            b.config.remove(what);
        } else {
            b.config.insert(what.to_owned(), text);
        }
        Ok(empty(if what == "policy" || what == "lifecycle" {
            204
        } else {
            200
        }))
    })
}

/// `GET /bucket?policy|cors|lifecycle|notification`.
pub fn get_config(s3: &S3, ctx: &Ctx, what: &str) -> S3Result<Response<Body>> {
    with_bucket(s3, ctx, |b| match b.config.get(what) {
        Some(text) if what == "policy" => {
            let mut r = Response::new(Body::full(text.clone()));
            set_header(&mut r, "content-type", "application/json");
            Ok(r)
        }
        Some(text) => Ok(xml(200, text.clone())),
        None if what == "notification" => {
            let mut w = XmlWriter::new();
            w.open("NotificationConfiguration", Some(S3_NS));
            w.close("NotificationConfiguration");
            Ok(xml(200, w.finish()))
        }
        None => Err(missing_config(what, &b.name)),
    })
}

/// `DELETE /bucket?policy|cors|lifecycle`.
pub fn delete_config(s3: &S3, ctx: &Ctx, what: &str) -> S3Result<Response<Body>> {
    with_bucket_mut(s3, ctx, |b| {
        b.config.remove(what);
        Ok(empty(204))
    })
}
