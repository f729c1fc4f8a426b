//! Listings: ListObjects (v1), ListObjectsV2, ListObjectVersions, ListMultipartUploads.

use hyper::Response;

use super::bucket::{owner, with_bucket};
use super::error::{S3Result, codes};
use super::state::{ObjVersion, Upload, checksum_type, list};
use super::xml::{S3_NS, XmlWriter};
use super::{Ctx, S3, xml};
use crate::checksum::b64;
use crate::http::body::Body;
use crate::http::util::{iso8601_ms, uri_encode};

/// `max-keys` (default and ceiling 1000).
fn max_keys(ctx: &Ctx, name: &str) -> S3Result<usize> {
    match ctx.query.get(name) {
        None => Ok(1000),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as usize)
            .ok_or_else(|| {
                codes::invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                    name,
                    v,
                )
            }),
    }
}

/// Encodes per `encoding-type=url`.
struct Enc(bool);

impl Enc {
    fn of(ctx: &Ctx) -> S3Result<Self> {
        match ctx.query.get("encoding-type") {
            None => Ok(Self(false)),
            Some("url") => Ok(Self(true)),
            Some(v) => Err(codes::invalid_argument(
                "Invalid Encoding Method specified in Request",
                "encoding-type",
                v,
            )),
        }
    }
    fn s(&self, v: &str) -> String {
        if self.0 {
            uri_encode(v, true)
        } else {
            v.to_owned()
        }
    }
}

fn object_entry(
    w: &mut XmlWriter,
    enc: &Enc,
    key: &str,
    v: &ObjVersion,
    account: &str,
    with_owner: bool,
) {
    w.elem("Key", &enc.s(key));
    w.elem("LastModified", &iso8601_ms(v.last_modified));
    w.elem("ETag", &v.quoted_etag());
    checksum_elems(w, v);
    w.elem("Size", &v.size.to_string());
    w.elem(
        "StorageClass",
        v.meta.storage_class.as_deref().unwrap_or("STANDARD"),
    );
    if with_owner {
        owner(w, account);
    }
}

/// `ChecksumAlgorithm` and `ChecksumType` of a listed object or version.
fn checksum_elems(w: &mut XmlWriter, v: &ObjVersion) {
    if let Some(c) = &v.checksum {
        w.elem("ChecksumAlgorithm", c.algorithm.name());
        w.elem("ChecksumType", c.type_name());
    }
}

/// `GET /bucket` (v1) and `GET /bucket?list-type=2`.
pub fn list_objects(s3: &S3, ctx: &Ctx, v2: bool) -> S3Result<Response<Body>> {
    let enc = Enc::of(ctx)?;
    let max = max_keys(ctx, "max-keys")?;
    let prefix = ctx.query.get("prefix").unwrap_or_default();
    let delimiter = ctx.query.get("delimiter").filter(|d| !d.is_empty());
    let token = ctx.query.get("continuation-token");
    let after: Option<String> = if v2 {
        match token {
            Some(t) => Some(decode_token(t)?),
            None => ctx.query.get("start-after").map(str::to_owned),
        }
    } else {
        ctx.query.get("marker").map(str::to_owned)
    };
    let fetch_owner = !v2 || ctx.query.get("fetch-owner") == Some("true");
    with_bucket(s3, ctx, |b| {
        let l = list(b, prefix, delimiter, after.as_deref(), max);
        let mut w = XmlWriter::new();
        w.open("ListBucketResult", Some(S3_NS));
        w.elem("Name", &b.name);
        w.elem("Prefix", &enc.s(prefix));
        if v2 {
            w.opt(
                "StartAfter",
                ctx.query.get("start-after").map(|s| enc.s(s)).as_deref(),
            );
            w.opt("ContinuationToken", token);
            if l.truncated {
                w.opt(
                    "NextContinuationToken",
                    l.last.as_deref().map(encode_token).as_deref(),
                );
            }
            w.elem(
                "KeyCount",
                &(l.contents.len() + l.prefixes.len()).to_string(),
            );
        } else {
            w.elem("Marker", &enc.s(after.as_deref().unwrap_or_default()));
            if l.truncated && delimiter.is_some() {
                w.opt("NextMarker", l.last.as_deref().map(|s| enc.s(s)).as_deref());
            }
        }
        w.elem("MaxKeys", &max.to_string());
        w.opt("Delimiter", delimiter.map(|d| enc.s(d)).as_deref());
        if enc.0 {
            w.elem("EncodingType", "url");
        }
        w.elem("IsTruncated", if l.truncated { "true" } else { "false" });
        for (key, v) in &l.contents {
            w.open("Contents", None);
            object_entry(&mut w, &enc, key, v, &ctx.account, fetch_owner);
            w.close("Contents");
        }
        for p in &l.prefixes {
            w.open("CommonPrefixes", None);
            w.elem("Prefix", &enc.s(p));
            w.close("CommonPrefixes");
        }
        w.close("ListBucketResult");
        Ok(xml(200, w.finish()))
    })
}

fn encode_token(last: &str) -> String {
    b64(last.as_bytes())
}

fn decode_token(t: &str) -> S3Result<String> {
    crate::checksum::b64_decode(t)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            codes::invalid_argument(
                "The continuation token provided is incorrect",
                "continuation-token",
                t,
            )
        })
}

/// `GET /bucket?versions`.
pub fn list_versions(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let enc = Enc::of(ctx)?;
    let max = max_keys(ctx, "max-keys")?;
    let prefix = ctx.query.get("prefix").unwrap_or_default();
    let delimiter = ctx.query.get("delimiter").filter(|d| !d.is_empty());
    let key_marker = ctx.query.get("key-marker").unwrap_or_default();
    let version_marker = ctx.query.get("version-id-marker").filter(|v| !v.is_empty());
    with_bucket(s3, ctx, |b| {
        let mut w = XmlWriter::new();
        w.open("ListVersionsResult", Some(S3_NS));
        w.elem("Name", &b.name);
        w.elem("Prefix", &enc.s(prefix));
        w.elem("KeyMarker", &enc.s(key_marker));
        w.elem("VersionIdMarker", version_marker.unwrap_or_default());
        let mut count = 0;
        let mut truncated = false;
        let mut next: Option<(String, String)> = None;
        let mut prefixes: Vec<String> = Vec::new();
        let mut body = XmlWriter::default();
        'keys: for (key, versions) in b.objects.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if key.as_str() < key_marker || (key == key_marker && version_marker.is_none()) {
                continue;
            }
            if let Some(d) = delimiter
                && let Some(i) = key[prefix.len()..].find(d)
            {
                let cp = key[..prefix.len() + i + d.len()].to_owned();
                if prefixes.last() != Some(&cp) && cp.as_str() > key_marker {
                    if count >= max {
                        truncated = max > 0;
                        break;
                    }
                    count += 1;
                    next = Some((cp.clone(), String::new()));
                    prefixes.push(cp);
                }
                continue;
            }
            let mut skipping = key == key_marker;
            for (i, v) in versions.iter().enumerate().rev() {
                if skipping {
                    if Some(v.version_id.as_str()) == version_marker {
                        skipping = false;
                    }
                    continue;
                }
                if count >= max {
                    truncated = max > 0;
                    break 'keys;
                }
                count += 1;
                next = Some((key.clone(), v.version_id.clone()));
                let tag = if v.delete_marker {
                    "DeleteMarker"
                } else {
                    "Version"
                };
                body.open(tag, None);
                body.elem("Key", &enc.s(key));
                body.elem("VersionId", &v.version_id);
                body.elem(
                    "IsLatest",
                    if i + 1 == versions.len() {
                        "true"
                    } else {
                        "false"
                    },
                );
                if v.delete_marker {
                    body.elem("LastModified", &iso8601_ms(v.last_modified));
                    owner(&mut body, &ctx.account);
                } else {
                    body.elem("LastModified", &iso8601_ms(v.last_modified));
                    body.elem("ETag", &v.quoted_etag());
                    checksum_elems(&mut body, v);
                    body.elem("Size", &v.size.to_string());
                    body.elem(
                        "StorageClass",
                        v.meta.storage_class.as_deref().unwrap_or("STANDARD"),
                    );
                    owner(&mut body, &ctx.account);
                }
                body.close(tag);
            }
        }
        if truncated && let Some((k, v)) = &next {
            w.elem("NextKeyMarker", &enc.s(k));
            if !v.is_empty() {
                w.elem("NextVersionIdMarker", v);
            }
        }
        w.elem("MaxKeys", &max.to_string());
        w.opt("Delimiter", delimiter.map(|d| enc.s(d)).as_deref());
        if enc.0 {
            w.elem("EncodingType", "url");
        }
        w.elem("IsTruncated", if truncated { "true" } else { "false" });
        w.raw(&body.finish());
        for p in &prefixes {
            w.open("CommonPrefixes", None);
            w.elem("Prefix", &enc.s(p));
            w.close("CommonPrefixes");
        }
        w.close("ListVersionsResult");
        Ok(xml(200, w.finish()))
    })
}

/// `GET /bucket?uploads`: uploads ordered by key, then initiation; markers resume after the
/// named upload (or after every upload of the key marker when no upload id marker is given).
pub fn list_uploads(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let enc = Enc::of(ctx)?;
    let max = max_keys(ctx, "max-uploads")?;
    let prefix = ctx.query.get("prefix").unwrap_or_default();
    let delimiter = ctx.query.get("delimiter").filter(|d| !d.is_empty());
    let key_marker = ctx.query.get("key-marker").unwrap_or_default();
    let id_marker = ctx.query.get("upload-id-marker").unwrap_or_default();
    with_bucket(s3, ctx, |b| {
        let mut all: Vec<&Upload> = b
            .uploads
            .values()
            .filter(|u| u.key.starts_with(prefix))
            .collect();
        all.sort_by(|a, b| (&a.key, a.initiated, &a.id).cmp(&(&b.key, b.initiated, &b.id)));
        let start = if key_marker.is_empty() {
            0
        } else {
            let named = (!id_marker.is_empty())
                .then(|| {
                    all.iter()
                        .position(|u| u.key == key_marker && u.id == id_marker)
                })
                .flatten();
            match named {
                Some(i) => i + 1,
                None => all.partition_point(|u| u.key.as_str() <= key_marker),
            }
        };
        let mut uploads: Vec<&Upload> = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut next: Option<(String, String)> = None;
        let mut truncated = false;
        for u in &all[start..] {
            let group = delimiter.and_then(|d| {
                u.key[prefix.len()..]
                    .find(d)
                    .map(|i| u.key[..prefix.len() + i + d.len()].to_owned())
            });
            if let Some(cp) = &group
                && (prefixes.last() == Some(cp) || cp.as_str() <= key_marker)
            {
                continue;
            }
            if uploads.len() + prefixes.len() >= max {
                truncated = max > 0;
                break;
            }
            match group {
                Some(cp) => {
                    next = Some((cp.clone(), String::new()));
                    prefixes.push(cp);
                }
                None => {
                    next = Some((u.key.clone(), u.id.clone()));
                    uploads.push(u);
                }
            }
        }
        let mut w = XmlWriter::new();
        w.open("ListMultipartUploadsResult", Some(S3_NS));
        w.elem("Bucket", &b.name);
        w.elem("KeyMarker", &enc.s(key_marker));
        w.elem("UploadIdMarker", id_marker);
        if let Some((key, id)) = next.filter(|_| truncated) {
            w.elem("NextKeyMarker", &enc.s(&key));
            w.elem("NextUploadIdMarker", &id);
        }
        w.elem("Prefix", &enc.s(prefix));
        w.opt("Delimiter", delimiter.map(|d| enc.s(d)).as_deref());
        w.elem("MaxUploads", &max.to_string());
        if enc.0 {
            w.elem("EncodingType", "url");
        }
        w.elem("IsTruncated", if truncated { "true" } else { "false" });
        for u in uploads {
            w.open("Upload", None);
            w.elem("Key", &enc.s(&u.key));
            w.elem("UploadId", &u.id);
            w.open("Initiator", None);
            w.elem("ID", &format!("arn:aws:iam::{}:root", ctx.account));
            w.elem("DisplayName", "webfile");
            w.close("Initiator");
            owner(&mut w, &ctx.account);
            w.elem(
                "StorageClass",
                u.meta.storage_class.as_deref().unwrap_or("STANDARD"),
            );
            w.elem("Initiated", &iso8601_ms(u.initiated));
            if let Some(a) = u.checksum_algorithm {
                w.elem("ChecksumAlgorithm", a.name());
                w.elem("ChecksumType", checksum_type(!u.checksum_full_object));
            }
            w.close("Upload");
        }
        for p in &prefixes {
            w.open("CommonPrefixes", None);
            w.elem("Prefix", &enc.s(p));
            w.close("CommonPrefixes");
        }
        w.close("ListMultipartUploadsResult");
        Ok(xml(200, w.finish()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::Algorithm;
    use crate::services::s3::state::{Bucket, Checksum, ObjVersion};
    use crate::services::s3::testutil::{body_text, ctx, s3};

    /// 2026-01-02T03:04:05.678Z.
    const T: i64 = 1_767_323_045_678;

    fn object(size: u64, etag: &str) -> ObjVersion {
        let mut v = ObjVersion::marker("null".into(), T);
        v.delete_marker = false;
        v.size = size;
        v.etag = etag.into();
        v
    }

    fn fixture() -> (S3, tempfile::TempDir) {
        let (s3, dir) = s3();
        let mut b = Bucket {
            name: "bkt".into(),
            region: "us-east-1".into(),
            created: T,
            ..Bucket::default()
        };
        for k in [
            "other.txt",
            "photos/2024/a.jpg",
            "photos/2024/b.jpg",
            "photos/index & more.html",
            "sp ace/x",
        ] {
            b.put_version(k, object(1, "9dd4e461268c8034f5c8564e155c67a6"));
        }
        let mut z = object(12, "0123456789abcdef0123456789abcdef");
        z.checksum = Some(Checksum {
            algorithm: Algorithm::Crc32,
            value: "AAAAAA==".into(),
            composite: false,
        });
        b.put_version("photos/z.txt", z);
        s3.write().buckets("000000000000").insert("bkt".into(), b);
        (s3, dir)
    }

    fn get(s3: &S3, query: &str, v2: bool) -> String {
        let r = list_objects(s3, &ctx("GET", "bkt", None, query), v2).expect("list");
        assert_eq!(r.status(), 200);
        body_text(r)
    }

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";

    #[test]
    fn list_objects_v2_with_prefix_delimiter_and_pages() {
        let (s3, _dir) = fixture();
        let page1 = get(
            &s3,
            "list-type=2&prefix=photos%2F&delimiter=%2F&max-keys=2",
            true,
        );
        assert_eq!(
            page1,
            format!(
                "{HEAD}<Name>bkt</Name><Prefix>photos/</Prefix>\
                 <NextContinuationToken>cGhvdG9zL2luZGV4ICYgbW9yZS5odG1s</NextContinuationToken>\
                 <KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter>\
                 <IsTruncated>true</IsTruncated>\
                 <Contents><Key>photos/index &amp; more.html</Key>\
                 <LastModified>2026-01-02T03:04:05.678Z</LastModified>\
                 <ETag>&quot;9dd4e461268c8034f5c8564e155c67a6&quot;</ETag>\
                 <Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>\
                 <CommonPrefixes><Prefix>photos/2024/</Prefix></CommonPrefixes>\
                 </ListBucketResult>"
            )
        );
        let page2 = get(
            &s3,
            "list-type=2&prefix=photos%2F&delimiter=%2F&max-keys=2\
             &continuation-token=cGhvdG9zL2luZGV4ICYgbW9yZS5odG1s&fetch-owner=true",
            true,
        );
        assert_eq!(
            page2,
            format!(
                "{HEAD}<Name>bkt</Name><Prefix>photos/</Prefix>\
                 <ContinuationToken>cGhvdG9zL2luZGV4ICYgbW9yZS5odG1s</ContinuationToken>\
                 <KeyCount>1</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter>\
                 <IsTruncated>false</IsTruncated>\
                 <Contents><Key>photos/z.txt</Key>\
                 <LastModified>2026-01-02T03:04:05.678Z</LastModified>\
                 <ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag>\
                 <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>\
                 <ChecksumType>FULL_OBJECT</ChecksumType>\
                 <Size>12</Size><StorageClass>STANDARD</StorageClass>\
                 <Owner><ID>{owner}</ID><DisplayName>webfile</DisplayName></Owner></Contents>\
                 </ListBucketResult>",
                owner = "0".repeat(64)
            )
        );
    }

    #[test]
    fn list_objects_v1_url_encoded_with_marker() {
        let (s3, _dir) = fixture();
        let body = get(
            &s3,
            "delimiter=%2F&encoding-type=url&marker=other.txt",
            false,
        );
        assert_eq!(
            body,
            format!(
                "{HEAD}<Name>bkt</Name><Prefix></Prefix><Marker>other.txt</Marker>\
                 <MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>\
                 <EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>\
                 <CommonPrefixes><Prefix>photos/</Prefix></CommonPrefixes>\
                 <CommonPrefixes><Prefix>sp%20ace/</Prefix></CommonPrefixes>\
                 </ListBucketResult>"
            )
        );
    }
}
