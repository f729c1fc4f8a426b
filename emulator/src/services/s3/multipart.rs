//! Multipart uploads: create, upload part, upload part copy, complete, abort, list parts.
//! Completing stores no bytes: the object keeps its parts' blobs in order.

use hyper::Response;
use hyper::body::Incoming;
use md5::Digest;
use podstore::{BlobInfo, BlobWriter};

use super::bucket::{with_bucket, with_bucket_mut, with_bucket_mut_marking};
use super::error::{S3Error, S3Result, codes};
use super::ingest::{Ingested, ingest, read_small, store_error};
use super::object::{
    check_write_conditions, checksum_headers, checksum_of, meta_from_headers, new_version_id,
    source_version, tags_from_header,
};
use super::output;
use super::state::{Bucket, Checksum, ObjVersion, Part, Upload, Versioning, checksum_type};
use super::xml::{S3_NS, XmlWriter};
use super::{Ctx, S3, empty, parse_xml, set_header, xml};
use crate::checksum::{self, Algorithm, Hasher};
use crate::http::body::Body;
use crate::http::util::iso8601_ms;
use crate::ids;

/// Smallest part except the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;

fn upload_id(ctx: &Ctx) -> &str {
    ctx.query.get("uploadId").unwrap_or_default()
}

fn part_number(ctx: &Ctx) -> S3Result<u32> {
    parse_part_number(ctx.query.get("partNumber").unwrap_or_default())
}

/// A `partNumber` parameter: 1 to 10,000, else InvalidArgument naming it.
pub fn parse_part_number(raw: &str) -> S3Result<u32> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            codes::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                raw,
            )
        })
}

/// `POST /bucket/key?uploads`.
pub fn create(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let meta = meta_from_headers(ctx);
    let tags = tags_from_header(ctx)?;
    let algorithm = match ctx.header("x-amz-checksum-algorithm") {
        None => None,
        Some(a) => Some(Algorithm::parse(a).ok_or_else(|| {
            codes::invalid_request(format!("Checksum algorithm {a} is not supported"))
        })?),
    };
    let full_object = match ctx.header("x-amz-checksum-type") {
        Some("FULL_OBJECT") => true,
        Some("COMPOSITE") | None => algorithm == Some(Algorithm::Crc64Nvme),
        Some(t) => {
            return Err(codes::invalid_request(format!(
                "Value for x-amz-checksum-type header is invalid: {t}"
            )));
        }
    };
    let id = ids::alnum(48);
    with_bucket_mut_marking(s3, ctx, &[], Some(&id), |b| {
        b.uploads.insert(
            id.clone(),
            Upload {
                id: id.clone(),
                key: ctx.key().to_owned(),
                initiated: s3.clock.now_ms(),
                meta,
                tags,
                checksum_algorithm: algorithm,
                checksum_full_object: full_object,
                parts: Default::default(),
            },
        );
        let mut w = XmlWriter::new();
        w.open("InitiateMultipartUploadResult", Some(S3_NS));
        w.elem("Bucket", &b.name);
        w.elem("Key", ctx.key());
        w.elem("UploadId", &id);
        w.close("InitiateMultipartUploadResult");
        let mut r = xml(200, w.finish());
        if let Some(a) = algorithm {
            set_header(&mut r, "x-amz-checksum-algorithm", a.name());
            set_header(&mut r, "x-amz-checksum-type", checksum_type(!full_object));
        }
        Ok(r)
    })
}

/// The request's upload: its id must exist and belong to the request's key.
fn upload_of<'b>(b: &'b Bucket, ctx: &Ctx) -> S3Result<&'b Upload> {
    b.uploads
        .get(upload_id(ctx))
        .filter(|u| u.key == ctx.key())
        .ok_or_else(|| codes::no_such_upload(upload_id(ctx)))
}

fn check_upload(s3: &S3, ctx: &Ctx) -> S3Result<Option<Algorithm>> {
    with_bucket(s3, ctx, |b| upload_of(b, ctx).map(|u| u.checksum_algorithm))
}

fn store_part(s3: &S3, ctx: &Ctx, part: Part) -> S3Result<Response<Body>> {
    with_bucket_mut(s3, ctx, |b| {
        let u = b
            .uploads
            .get_mut(upload_id(ctx))
            .ok_or_else(|| codes::no_such_upload(upload_id(ctx)))?;
        let mut r = empty(200);
        set_header(&mut r, "etag", &format!("\"{}\"", part.etag));
        if let Some(c) = &part.checksum {
            set_header(&mut r, &c.algorithm.header(), &c.value);
        }
        u.parts.insert(part.number, part);
        Ok(r)
    })
}

/// `PUT /bucket/key?partNumber=N&uploadId=…`.
pub async fn upload_part(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let number = part_number(ctx)?;
    let algorithm = check_upload(s3, ctx)?;
    let Ingested {
        blob,
        md5,
        checksum,
    } = ingest(&s3.store, &ctx.headers, body).await?;
    let checksum = match (algorithm, checksum) {
        (Some(a), Some(c)) if c.algorithm != a => {
            return Err(codes::invalid_request(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                a.name().to_ascii_lowercase(),
                c.algorithm.name().to_ascii_lowercase()
            )));
        }
        (Some(a), None) => Some(checksum_of(s3, &[blob], a)?),
        (_, c) => c,
    };
    store_part(
        s3,
        ctx,
        Part {
            number,
            blob,
            etag: md5,
            last_modified: s3.clock.now_ms(),
            checksum,
        },
    )
}

/// `PUT /bucket/key?partNumber=N&uploadId=…` with `x-amz-copy-source[-range]`.
pub fn upload_part_copy(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let number = part_number(ctx)?;
    let algorithm = check_upload(s3, ctx)?;
    let src = source_version(s3, ctx)?;
    let (start, len) = match ctx.header("x-amz-copy-source-range") {
        None => (0, src.size),
        Some(r) => copy_range(r, src.size)?,
    };
    let (blob, md5) =
        if start == 0 && len == src.size && src.body.len() == 1 && src.parts.is_empty() {
            (src.body[0], src.etag.clone())
        } else {
            materialize(s3, &src.body, start, len)?
        };
    let checksum = algorithm.map(|a| checksum_of(s3, &[blob], a)).transpose()?;
    let last_modified = s3.clock.now_ms();
    let etag = md5.clone();
    let mut r = store_part(
        s3,
        ctx,
        Part {
            number,
            blob,
            etag,
            last_modified,
            checksum: checksum.clone(),
        },
    )?;
    let mut w = XmlWriter::new();
    w.open("CopyPartResult", Some(S3_NS));
    w.elem("ETag", &format!("\"{md5}\""));
    w.elem("LastModified", &iso8601_ms(last_modified));
    if let Some(c) = &checksum {
        w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value);
    }
    w.close("CopyPartResult");
    let headers = std::mem::take(r.headers_mut());
    let mut out = xml(200, w.finish());
    for (k, v) in headers.iter() {
        if k.as_str().starts_with("x-amz-checksum") {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    if src.version_id != "null" {
        set_header(&mut out, "x-amz-copy-source-version-id", &src.version_id);
    }
    Ok(out)
}

/// Parses `bytes=a-b` of `x-amz-copy-source-range` (both ends required, inside the source).
fn copy_range(spec: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        codes::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            spec,
        )
    };
    let (a, b) = spec
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a > b || b >= size {
        return Err(S3Error::new(
            "InvalidRange",
            416,
            "The requested range is not satisfiable",
        )
        .with("RangeRequested", spec));
    }
    Ok((a, b - a + 1))
}

/// Writes a range of stored blobs as a new blob; returns it and its MD5.
fn materialize(s3: &S3, blobs: &[BlobInfo], start: u64, len: u64) -> S3Result<(BlobInfo, String)> {
    tokio::task::block_in_place(|| {
        let mut w = BlobWriter::new(&s3.store);
        let mut md5 = md5::Md5::new();
        let mut err = None;
        let res = output::copy_range(&s3.store, blobs, start, len, &mut |b| {
            md5.update(b);
            w.write(b).map_err(|e| {
                let msg = e.to_string();
                err = Some(e);
                std::io::Error::other(msg)
            })
        });
        if let Some(e) = err {
            return Err(store_error(e));
        }
        res.map_err(|e| codes::internal(e.to_string()))?;
        let done = w.finish().map_err(store_error)?;
        Ok((done.blob, checksum::hex(&md5.finalize())))
    })
}

/// The parts named by a CompleteMultipartUpload body, validated against the upload.
fn chosen_parts(u: &Upload, doc: &super::xml::Node) -> S3Result<Vec<Part>> {
    let mut out: Vec<Part> = Vec::new();
    for p in doc.all("Part") {
        let n: u32 = p
            .text_of("PartNumber")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(codes::malformed_xml)?;
        if out.last().is_some_and(|l| l.number >= n) {
            return Err(codes::invalid_part_order());
        }
        let part = u.parts.get(&n).ok_or_else(|| codes::invalid_part(n))?;
        let etag = p
            .text_of("ETag")
            .unwrap_or_default()
            .trim()
            .trim_matches('"');
        if etag != part.etag {
            return Err(codes::invalid_part(n));
        }
        if let (Some(c), Some(a)) = (&part.checksum, u.checksum_algorithm)
            && let Some(sent) = p.text_of(&format!("Checksum{}", a.name()))
            && sent.trim() != c.value
        {
            return Err(codes::invalid_part(n));
        }
        out.push(part.clone());
    }
    if out.is_empty() {
        return Err(codes::malformed_xml());
    }
    if out[..out.len() - 1].iter().any(|p| p.blob.size < MIN_PART) {
        return Err(codes::entity_too_small());
    }
    Ok(out)
}

/// The multipart ETag: MD5 of the parts' binary MD5s, `-N`.
fn multipart_etag(parts: &[Part]) -> String {
    let mut h = md5::Md5::new();
    for p in parts {
        let bytes: Vec<u8> = (0..p.etag.len() / 2)
            .filter_map(|i| u8::from_str_radix(&p.etag[2 * i..2 * i + 2], 16).ok())
            .collect();
        h.update(&bytes);
    }
    format!("{}-{}", checksum::hex(&h.finalize()), parts.len())
}

/// The object checksum: composite (checksum of part checksums, `-N`) or full object.
fn object_checksum(s3: &S3, u: &Upload, parts: &[Part]) -> S3Result<Option<Checksum>> {
    let Some(a) = u.checksum_algorithm else {
        return Ok(None);
    };
    if u.checksum_full_object {
        let blobs: Vec<BlobInfo> = parts.iter().map(|p| p.blob).collect();
        return checksum_of(s3, &blobs, a).map(Some);
    }
    let mut h = Hasher::new(a);
    for p in parts {
        let c = p
            .checksum
            .as_ref()
            .ok_or_else(|| codes::invalid_part(p.number))?;
        h.update(&checksum::b64_decode(&c.value).unwrap_or_default());
    }
    Ok(Some(Checksum {
        algorithm: a,
        value: format!("{}-{}", h.value(), parts.len()),
        composite: true,
    }))
}

/// `POST /bucket/key?uploadId=…`.
pub async fn complete(s3: &S3, ctx: &Ctx, body: Incoming) -> S3Result<Response<Body>> {
    let doc = parse_xml(&read_small(&ctx.headers, body, 4 << 20).await?)?;
    let (upload, parts) = with_bucket(s3, ctx, |b| {
        let u = upload_of(b, ctx)?;
        check_write_conditions(ctx, b, ctx.key())?;
        Ok((u.clone(), chosen_parts(u, &doc)?))
    })?;
    let checksum = object_checksum(s3, &upload, &parts)?;
    with_bucket_mut(s3, ctx, |b| {
        check_write_conditions(ctx, b, ctx.key())?;
        upload_of(b, ctx)?;
        b.uploads.remove(upload_id(ctx));
        let v = ObjVersion {
            version_id: new_version_id(b),
            delete_marker: false,
            body: parts.iter().map(|p| p.blob).collect(),
            size: parts.iter().map(|p| p.blob.size).sum(),
            etag: multipart_etag(&parts),
            last_modified: s3.clock.now_ms(),
            meta: upload.meta.clone(),
            tags: upload.tags.clone(),
            checksum,
            parts,
        };
        let mut w = XmlWriter::new();
        w.open("CompleteMultipartUploadResult", Some(S3_NS));
        w.elem(
            "Location",
            &format!(
                "/{}/{}",
                b.name,
                crate::http::util::uri_encode(ctx.key(), true)
            ),
        );
        w.elem("Bucket", &b.name);
        w.elem("Key", ctx.key());
        w.elem("ETag", &v.quoted_etag());
        if let Some(c) = &v.checksum {
            w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value);
            w.elem("ChecksumType", c.type_name());
        }
        w.close("CompleteMultipartUploadResult");
        let mut r = xml(200, w.finish());
        if let Some(c) = &v.checksum {
            checksum_headers(&mut r, c);
        }
        if b.versioning != Versioning::Unversioned {
            set_header(&mut r, "x-amz-version-id", &v.version_id);
        }
        b.put_version(ctx.key(), v);
        Ok(r)
    })
}

/// `DELETE /bucket/key?uploadId=…`.
pub fn abort(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    with_bucket_mut(s3, ctx, |b| {
        upload_of(b, ctx)?;
        b.uploads.remove(upload_id(ctx));
        Ok(empty(204))
    })
}

/// Writes the paging elements of a list of parts (`PartNumberMarker`, `NextPartNumberMarker`,
/// `MaxParts`, `IsTruncated`) and returns the page of parts after `marker`.
pub fn part_page<'a>(
    w: &mut XmlWriter,
    parts: impl Iterator<Item = &'a Part>,
    marker: u32,
    max: usize,
) -> Vec<&'a Part> {
    let mut after: Vec<&Part> = parts.filter(|p| p.number > marker).collect();
    let truncated = after.len() > max;
    after.truncate(max);
    w.elem("PartNumberMarker", &marker.to_string());
    w.elem(
        "NextPartNumberMarker",
        &after.last().map_or(marker, |p| p.number).to_string(),
    );
    w.elem("MaxParts", &max.to_string());
    w.elem("IsTruncated", if truncated { "true" } else { "false" });
    after
}

/// `GET /bucket/key?uploadId=…`.
pub fn list_parts(s3: &S3, ctx: &Ctx) -> S3Result<Response<Body>> {
    let max: usize = ctx
        .query
        .get("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let marker: u32 = ctx
        .query
        .get("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    with_bucket(s3, ctx, |b| {
        let u = upload_of(b, ctx)?;
        let mut w = XmlWriter::new();
        w.open("ListPartsResult", Some(S3_NS));
        w.elem("Bucket", &b.name);
        w.elem("Key", &u.key);
        w.elem("UploadId", &u.id);
        let page = part_page(&mut w, u.parts.values(), marker, max);
        w.open("Initiator", None);
        w.elem("ID", &format!("arn:aws:iam::{}:root", ctx.account));
        w.elem("DisplayName", "webfile");
        w.close("Initiator");
        super::bucket::owner(&mut w, &ctx.account);
        w.elem(
            "StorageClass",
            u.meta.storage_class.as_deref().unwrap_or("STANDARD"),
        );
        if let Some(a) = u.checksum_algorithm {
            w.elem("ChecksumAlgorithm", a.name());
            w.elem("ChecksumType", checksum_type(!u.checksum_full_object));
        }
        for p in page {
            w.open("Part", None);
            w.elem("PartNumber", &p.number.to_string());
            w.elem("LastModified", &iso8601_ms(p.last_modified));
            w.elem("ETag", &format!("\"{}\"", p.etag));
            w.elem("Size", &p.blob.size.to_string());
            if let Some(c) = &p.checksum {
                w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value);
            }
            w.close("Part");
        }
        w.close("ListPartsResult");
        Ok(xml(200, w.finish()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::s3::testutil::{body_text, ctx, s3};

    #[test]
    fn initiate_result_is_exact() {
        let (s3, _dir) = s3();
        s3.write().buckets("000000000000").insert(
            "bkt".into(),
            crate::services::s3::state::Bucket {
                name: "bkt".into(),
                ..Default::default()
            },
        );
        let mut c = ctx("POST", "bkt", Some("dir/a&b.bin"), "uploads");
        c.headers.insert(
            "x-amz-checksum-algorithm",
            hyper::header::HeaderValue::from_static("SHA256"),
        );
        let r = create(&s3, &c).expect("create");
        let headers = r.headers().clone();
        let body = body_text(r);
        let id = {
            let state = s3.read();
            let b = state.bucket("000000000000", "bkt").expect("bucket");
            let u = b.uploads.values().next().expect("one upload");
            assert_eq!(u.key, "dir/a&b.bin");
            u.id.clone()
        };
        assert_eq!(id.len(), 48);
        assert_eq!(
            body,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Bucket>bkt</Bucket><Key>dir/a&amp;b.bin</Key><UploadId>{id}</UploadId>\
                 </InitiateMultipartUploadResult>"
            )
        );
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        assert_eq!(h("x-amz-checksum-algorithm"), Some("SHA256"));
        assert_eq!(h("x-amz-checksum-type"), Some("COMPOSITE"));
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        let (s3, _dir) = s3();
        let part = |number: u32, data: &[u8]| Part {
            number,
            blob: podstore::put_blob(&s3.store, data).expect("blob").blob,
            etag: checksum::md5_hex(data),
            last_modified: 0,
            checksum: None,
        };
        assert_eq!(
            multipart_etag(&[part(1, b"a"), part(2, b"b")]),
            // python3: md5(bytes.fromhex(md5(b"a")) + bytes.fromhex(md5(b"b")))
            "96e024ba2074fe77e8e965ba43a704be-2"
        );
    }
}
