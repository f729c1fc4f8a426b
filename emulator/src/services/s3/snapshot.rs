//! S3 state as resource documents, and back.
//!
//! # Layout
//! - `<account>/<bucket region>/s3/bucket/<bucket>` → `s3.bucket/1`:
//!   `{name, region, created, versioning ("Unversioned"|"Enabled"|"Suspended"),
//!   tags ([[k, v], …] or null), config {policy|cors|lifecycle|notification: text}}`.
//! - `<account>/<bucket region>/s3/object/<bucket>/<key>` → `s3.object/1`:
//!   `{bucket, key, versions: [version, …]}`, oldest version first, where a version is
//!   `{version_id, delete_marker, body: [blob ref, …], size, etag, last_modified,
//!   meta {content_type, content_encoding, content_disposition, content_language,
//!   cache_control, expires, user: [[k, v], …], storage_class, redirect}, tags: [[k, v], …],
//!   checksum {algorithm, value, composite} | null, parts: [part, …]}` and a part is
//!   `{number, body: blob ref, etag, last_modified, checksum}`.
//! - `<account>/<bucket region>/s3/upload/<bucket>/<upload id>` → `s3.upload/1`:
//!   `{bucket, id, key, initiated, meta, tags, checksum_algorithm (name | null),
//!   checksum_full_object, parts: [part, …]}` (parts by number).
//!
//! Keys and upload ids are one path segment each, whatever `/` they contain. Times are Unix
//! milliseconds. Blob references are `{"$blob": <sha-256 hex>, "size": n}`
//! (`podstore::blob_ref`); the blobs are in the pod store already.
//!
//! # Rules at load
//! - Buckets, objects (every version, delete markers included) and multipart uploads are
//!   restored exactly; open uploads keep their parts and can be completed or aborted.
//! - An object or upload needs its bucket's document in the same account and region.
//! - Bucket names are global: the same name in two accounts (or two regions) is refused.
//! - A version's `size` must equal the sum of its body blobs' sizes.
//! - Whether referenced blobs exist in the pod store is not checked here.

use std::collections::{BTreeMap, HashMap, HashSet};

use podstore::{BlobInfo, Document, StatePath, blob_ref};
use serde_json::{Value, json};

use super::state::{
    Bucket, Checksum, ObjMeta, ObjVersion, Part, S3Mark, S3State, Upload, Versioning,
};
use super::{S3, SERVICE};
use crate::checksum::Algorithm;
use crate::persist::snapshot::decode::{
    DecodeError, DecodeResult, Fields, check_schema, leaf, pairs_json, path, split,
};
use crate::persist::snapshot::{Delta, Leaves, ServiceSnapshot, Staged, Taken, staged};

/// `s3.bucket/1`.
pub const BUCKET: (&str, u32) = ("s3.bucket", 1);
/// `s3.object/1`.
pub const OBJECT: (&str, u32) = ("s3.object", 1);
/// `s3.upload/1`.
pub const UPLOAD: (&str, u32) = ("s3.upload", 1);

/// Highest part number S3 accepts.
const MAX_PART: u32 = 10_000;

impl ServiceSnapshot for S3 {
    fn name(&self) -> &'static str {
        SERVICE.name
    }

    fn schemas(&self) -> Vec<(&'static str, u32)> {
        vec![BUCKET, OBJECT, UPLOAD]
    }

    fn export(&self, _now_ms: i64) -> Result<Leaves, String> {
        let state = self.copy_state();
        encode(&state)
    }

    fn stage(&self, leaves: Leaves, _now_ms: i64) -> Result<Staged<'_>, DecodeError> {
        Ok(staged(self, decode(&leaves)?, |s3, mut state| {
            state.marks.set_all();
            s3.replace_state(state);
        }))
    }

    fn reset(&self) {
        let mut state = S3State::default();
        state.marks.set_all();
        self.replace_state(state);
    }

    fn export_changes(&self, _now_ms: i64) -> Result<Delta, String> {
        let (copies, mut gone) = {
            let mut guard = self.write();
            match guard.marks.take() {
                Taken::All => {
                    let copy = guard.clone();
                    drop(guard);
                    return Ok(Delta::Full(encode(&copy)?));
                }
                Taken::Some { keys, deleted } => {
                    let copies: Vec<Copy> = keys
                        .into_iter()
                        .filter_map(|m| copy_of(&guard, m))
                        .collect();
                    (copies, deleted)
                }
            }
        };
        let mut set = Vec::new();
        for c in copies {
            match c {
                Copy::Bucket(account, b) => set.push(bucket_leaf(&account, &b)?),
                Copy::Object(at, key, Some(versions)) => {
                    set.push(object_leaf(&at, &key, &versions)?)
                }
                Copy::Object(at, key, None) => gone.push(at.path("object", &key)?),
                Copy::Upload(at, _, Some(u)) => set.push(upload_leaf(&at, &u)?),
                Copy::Upload(at, id, None) => gone.push(at.path("upload", &id)?),
            }
        }
        Ok(Delta::Changes { deleted: gone, set })
    }

    fn mark_all(&self) {
        self.write().marks.set_all();
    }

    fn mark_clean(&self) {
        self.write().marks.clear();
    }
}

/// A bucket's own fields (everything but its keys and uploads): what its document holds.
#[derive(Debug)]
struct BucketHead {
    name: String,
    region: String,
    created: i64,
    versioning: Versioning,
    tags: Option<Vec<(String, String)>>,
    config: BTreeMap<String, String>,
}

impl BucketHead {
    fn of(b: &Bucket) -> Self {
        Self {
            name: b.name.clone(),
            region: b.region.clone(),
            created: b.created,
            versioning: b.versioning,
            tags: b.tags.clone(),
            config: b.config.clone(),
        }
    }
}

/// Where a key or an upload lives: the account, its bucket's region and name.
#[derive(Debug)]
struct InBucket {
    account: String,
    region: String,
    bucket: String,
}

impl InBucket {
    fn of(account: String, b: &Bucket) -> Self {
        Self {
            account,
            region: b.region.clone(),
            bucket: b.name.clone(),
        }
    }

    /// `<account>/<region>/s3/<kind>/<bucket>/<name>`.
    fn path(&self, kind: &str, name: &str) -> Result<StatePath, String> {
        path([
            self.account.as_str(),
            &self.region,
            SERVICE.name,
            kind,
            &self.bucket,
            name,
        ])
    }
}

/// A changed resource copied under the lock (None: it no longer exists).
#[derive(Debug)]
enum Copy {
    Bucket(String, BucketHead),
    Object(InBucket, String, Option<Vec<ObjVersion>>),
    Upload(InBucket, String, Option<Box<Upload>>),
}

/// Copies what a mark names; `None` when its bucket is gone (the bucket's deletion recorded
/// the paths to delete).
fn copy_of(state: &S3State, mark: S3Mark) -> Option<Copy> {
    match mark {
        S3Mark::Bucket { account, bucket } => {
            let b = state.bucket(&account, &bucket)?;
            Some(Copy::Bucket(account, BucketHead::of(b)))
        }
        S3Mark::Object {
            account,
            bucket,
            key,
        } => {
            let b = state.bucket(&account, &bucket)?;
            let versions = b.objects.get(&key).cloned();
            Some(Copy::Object(InBucket::of(account, b), key, versions))
        }
        S3Mark::Upload {
            account,
            bucket,
            id,
        } => {
            let b = state.bucket(&account, &bucket)?;
            let upload = b.uploads.get(&id).cloned().map(Box::new);
            Some(Copy::Upload(InBucket::of(account, b), id, upload))
        }
    }
}

/// Encodes a whole S3 state, sorted by path.
pub fn encode(state: &S3State) -> Result<Leaves, String> {
    let mut out = Vec::new();
    for (account, buckets) in &state.accounts {
        for b in buckets.values() {
            out.push(bucket_leaf(account, &BucketHead::of(b))?);
            let at = InBucket::of(account.clone(), b);
            for (key, versions) in &b.objects {
                out.push(object_leaf(&at, key, versions)?);
            }
            for u in b.uploads.values() {
                out.push(upload_leaf(&at, u)?);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn bucket_leaf(account: &str, b: &BucketHead) -> Result<(StatePath, Document), String> {
    let v = json!({
        "schema": schema(BUCKET),
        "name": b.name,
        "region": b.region,
        "created": b.created,
        "versioning": versioning_name(b.versioning),
        "tags": b.tags.as_deref().map_or(Value::Null, pairs_json),
        "config": b.config,
    });
    leaf([account, &b.region, SERVICE.name, "bucket", &b.name], v)
}

fn object_leaf(
    at: &InBucket,
    key: &str,
    versions: &[ObjVersion],
) -> Result<(StatePath, Document), String> {
    let v = json!({
        "schema": schema(OBJECT),
        "bucket": at.bucket,
        "key": key,
        "versions": versions.iter().map(version_json).collect::<Vec<_>>(),
    });
    leaf(
        [
            &at.account,
            &at.region,
            SERVICE.name,
            "object",
            &at.bucket,
            key,
        ],
        v,
    )
}

fn upload_leaf(at: &InBucket, u: &Upload) -> Result<(StatePath, Document), String> {
    let v = json!({
        "schema": schema(UPLOAD),
        "bucket": at.bucket,
        "id": u.id,
        "key": u.key,
        "initiated": u.initiated,
        "meta": meta_json(&u.meta),
        "tags": pairs_json(&u.tags),
        "checksum_algorithm": u.checksum_algorithm.map(Algorithm::name),
        "checksum_full_object": u.checksum_full_object,
        "parts": u.parts.values().map(part_json).collect::<Vec<_>>(),
    });
    leaf(
        [
            &at.account,
            &at.region,
            SERVICE.name,
            "upload",
            &at.bucket,
            &u.id,
        ],
        v,
    )
}

fn schema((name, version): (&str, u32)) -> String {
    format!("{name}/{version}")
}

fn versioning_name(v: Versioning) -> &'static str {
    match v {
        Versioning::Unversioned => "Unversioned",
        Versioning::Enabled => "Enabled",
        Versioning::Suspended => "Suspended",
    }
}

fn version_json(v: &ObjVersion) -> Value {
    json!({
        "version_id": v.version_id,
        "delete_marker": v.delete_marker,
        "body": v.body.iter().map(blob_ref).collect::<Vec<_>>(),
        "size": v.size,
        "etag": v.etag,
        "last_modified": v.last_modified,
        "meta": meta_json(&v.meta),
        "tags": pairs_json(&v.tags),
        "checksum": checksum_json(v.checksum.as_ref()),
        "parts": v.parts.iter().map(part_json).collect::<Vec<_>>(),
    })
}

fn meta_json(m: &ObjMeta) -> Value {
    json!({
        "content_type": m.content_type,
        "content_encoding": m.content_encoding,
        "content_disposition": m.content_disposition,
        "content_language": m.content_language,
        "cache_control": m.cache_control,
        "expires": m.expires,
        "user": pairs_json(&m.user),
        "storage_class": m.storage_class,
        "redirect": m.redirect,
    })
}

fn checksum_json(c: Option<&Checksum>) -> Value {
    c.map_or(
        Value::Null,
        |c| json!({"algorithm": c.algorithm.name(), "value": c.value, "composite": c.composite}),
    )
}

fn part_json(p: &Part) -> Value {
    json!({
        "number": p.number,
        "body": blob_ref(&p.blob),
        "etag": p.etag,
        "last_modified": p.last_modified,
        "checksum": checksum_json(p.checksum.as_ref()),
    })
}

/// A decoded object or upload waiting for its bucket.
#[derive(Debug)]
struct Pending<T> {
    at: String,
    account: String,
    region: String,
    bucket: String,
    id: String,
    value: T,
}

/// Decoded documents before they are put together.
#[derive(Debug, Default)]
struct Assembly {
    buckets: BTreeMap<(String, String), Bucket>,
    objects: Vec<Pending<Vec<ObjVersion>>>,
    uploads: Vec<Pending<Upload>>,
}

/// Decodes S3 leaves into a complete state; errors name the path and the problem.
pub fn decode(leaves: &Leaves) -> DecodeResult<S3State> {
    let mut a = Assembly::default();
    for (p, d) in leaves {
        a.add(p, d)?;
    }
    a.finish()
}

impl Assembly {
    fn add(&mut self, p: &StatePath, d: &Document) -> DecodeResult<()> {
        let leaf = split(p, SERVICE.name)?;
        leaf.regional(p)?;
        let at = p.to_string();
        let f = Fields::new(&at, d.value())?;
        let pending = |bucket: &str, id: &str| Pending {
            at: at.clone(),
            account: leaf.account.to_owned(),
            region: leaf.region.to_owned(),
            bucket: bucket.to_owned(),
            id: id.to_owned(),
            value: (),
        };
        match leaf.kind {
            "bucket" => {
                let [name] = leaf.ids(p, "<account>/<region>/s3/bucket/<bucket>")?;
                check_schema(p, d, BUCKET.0, BUCKET.1)?;
                self.add_bucket(&at, leaf.account, decode_bucket(&f, leaf.region, name)?)
            }
            "object" => {
                let [bucket, key] = leaf.ids(p, "<account>/<region>/s3/object/<bucket>/<key>")?;
                check_schema(p, d, OBJECT.0, OBJECT.1)?;
                let value = decode_object(&f, bucket, key)?;
                self.objects.push(pending(bucket, key).with(value));
                Ok(())
            }
            "upload" => {
                let [bucket, id] =
                    leaf.ids(p, "<account>/<region>/s3/upload/<bucket>/<upload id>")?;
                check_schema(p, d, UPLOAD.0, UPLOAD.1)?;
                let value = decode_upload(&f, bucket, id)?;
                self.uploads.push(pending(bucket, id).with(value));
                Ok(())
            }
            other => Err(DecodeError::new(
                &at,
                format!("unknown S3 resource type {other:?}"),
            )),
        }
    }

    fn add_bucket(&mut self, at: &str, account: &str, b: Bucket) -> DecodeResult<()> {
        let key = (account.to_owned(), b.name.clone());
        if let Some(prev) = self.buckets.get(&key) {
            return Err(DecodeError::new(
                at,
                format!(
                    "bucket {:?} is defined twice (also in region {})",
                    b.name, prev.region
                ),
            ));
        }
        self.buckets.insert(key, b);
        Ok(())
    }

    fn finish(mut self) -> DecodeResult<S3State> {
        for o in std::mem::take(&mut self.objects) {
            let b = self.bucket_of(&o)?;
            if b.objects.insert(o.id.clone(), o.value).is_some() {
                return Err(DecodeError::new(
                    &o.at,
                    format!("key {:?} is defined twice", o.id),
                ));
            }
        }
        for u in std::mem::take(&mut self.uploads) {
            let b = self.bucket_of(&u)?;
            if b.uploads.insert(u.id.clone(), u.value).is_some() {
                return Err(DecodeError::new(
                    &u.at,
                    format!("upload {:?} is defined twice", u.id),
                ));
            }
        }
        check_global_names(&self.buckets)?;
        let mut state = S3State::default();
        for ((account, name), b) in self.buckets {
            state.buckets(&account).insert(name, b);
        }
        Ok(state)
    }

    fn bucket_of<T>(&mut self, p: &Pending<T>) -> DecodeResult<&mut Bucket> {
        let key = (p.account.clone(), p.bucket.clone());
        let b = self.buckets.get_mut(&key).ok_or_else(|| {
            DecodeError::new(
                &p.at,
                format!(
                    "bucket {:?} of account {} is not in the state",
                    p.bucket, p.account
                ),
            )
        })?;
        if b.region != p.region {
            return Err(DecodeError::new(
                &p.at,
                format!(
                    "bucket {:?} is in region {}, not {}",
                    p.bucket, b.region, p.region
                ),
            ));
        }
        Ok(b)
    }
}

impl Pending<()> {
    fn with<T>(self, value: T) -> Pending<T> {
        Pending {
            at: self.at,
            account: self.account,
            region: self.region,
            bucket: self.bucket,
            id: self.id,
            value,
        }
    }
}

/// Bucket names are global in S3: one name, one account.
fn check_global_names(buckets: &BTreeMap<(String, String), Bucket>) -> DecodeResult<()> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for ((account, name), b) in buckets {
        if let Some(first) = owner.insert(name, account) {
            return Err(DecodeError::new(
                format!("{account}/{}/s3/bucket/{name}", b.region),
                format!("bucket names are global, and account {first} has a bucket {name:?} too"),
            ));
        }
    }
    Ok(())
}

fn decode_bucket(f: &Fields<'_>, region: &str, name: &str) -> DecodeResult<Bucket> {
    f.matches("name", name)?;
    f.matches("region", region)?;
    let versioning = match f.str("versioning")? {
        "Unversioned" => Versioning::Unversioned,
        "Enabled" => Versioning::Enabled,
        "Suspended" => Versioning::Suspended,
        other => {
            return Err(f.err(
                "versioning",
                &format!("is {other:?}, not Unversioned, Enabled or Suspended"),
            ));
        }
    };
    Ok(Bucket {
        name: name.to_owned(),
        region: region.to_owned(),
        created: f.time("created")?,
        versioning,
        objects: BTreeMap::new(),
        uploads: HashMap::new(),
        tags: f.opt_pairs("tags")?,
        config: f.string_map("config")?,
    })
}

fn decode_object(f: &Fields<'_>, bucket: &str, key: &str) -> DecodeResult<Vec<ObjVersion>> {
    f.matches("bucket", bucket)?;
    f.matches("key", key)?;
    let list = f.array("versions")?;
    if list.is_empty() {
        return Err(f.err("versions", "is empty (an object has at least one version)"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let version = decode_version(&f.nested(&format!("versions[{i}]"), v)?)?;
        if !seen.insert(version.version_id.clone()) {
            return Err(f.err(
                &format!("versions[{i}].version_id"),
                &format!("{:?} is used twice", version.version_id),
            ));
        }
        out.push(version);
    }
    Ok(out)
}

fn decode_version(f: &Fields<'_>) -> DecodeResult<ObjVersion> {
    let body = f
        .opt_array("body")?
        .iter()
        .enumerate()
        .map(|(i, b)| f.blob_of(&format!("body[{i}]"), b))
        .collect::<DecodeResult<Vec<BlobInfo>>>()?;
    let size = f.u64("size")?;
    let total = body.iter().try_fold(0u64, |a, b| a.checked_add(b.size));
    if total != Some(size) {
        return Err(f.err("size", "differs from the sum of the body blobs' sizes"));
    }
    Ok(ObjVersion {
        version_id: f.str("version_id")?.to_owned(),
        delete_marker: f.bool("delete_marker")?,
        body,
        size,
        etag: f.str("etag")?.to_owned(),
        last_modified: f.time("last_modified")?,
        meta: decode_meta(f)?,
        tags: f.opt_pairs("tags")?.unwrap_or_default(),
        checksum: decode_checksum(f, "checksum")?,
        parts: decode_parts(f)?,
    })
}

fn decode_meta(parent: &Fields<'_>) -> DecodeResult<ObjMeta> {
    let Some(f) = parent.opt_object("meta")? else {
        return Ok(ObjMeta::default());
    };
    Ok(ObjMeta {
        content_type: f.opt_string("content_type")?,
        content_encoding: f.opt_string("content_encoding")?,
        content_disposition: f.opt_string("content_disposition")?,
        content_language: f.opt_string("content_language")?,
        cache_control: f.opt_string("cache_control")?,
        expires: f.opt_string("expires")?,
        user: f.opt_pairs("user")?.unwrap_or_default(),
        storage_class: f.opt_string("storage_class")?,
        redirect: f.opt_string("redirect")?,
    })
}

fn algorithm(f: &Fields<'_>, k: &str) -> DecodeResult<Option<Algorithm>> {
    f.opt_str(k)?
        .map(|name| {
            Algorithm::parse(name)
                .ok_or_else(|| f.err(k, &format!("{name:?} is not a checksum algorithm")))
        })
        .transpose()
}

fn decode_checksum(parent: &Fields<'_>, k: &str) -> DecodeResult<Option<Checksum>> {
    let Some(f) = parent.opt_object(k)? else {
        return Ok(None);
    };
    let algorithm = algorithm(&f, "algorithm")?.ok_or_else(|| f.err("algorithm", "is missing"))?;
    Ok(Some(Checksum {
        algorithm,
        value: f.str("value")?.to_owned(),
        composite: f.bool("composite")?,
    }))
}

fn decode_parts(f: &Fields<'_>) -> DecodeResult<Vec<Part>> {
    f.opt_array("parts")?
        .iter()
        .enumerate()
        .map(|(i, p)| decode_part(&f.nested(&format!("parts[{i}]"), p)?))
        .collect()
}

fn decode_part(f: &Fields<'_>) -> DecodeResult<Part> {
    let number = f.u32("number")?;
    if !(1..=MAX_PART).contains(&number) {
        return Err(f.err("number", &format!("is {number}, not within 1..={MAX_PART}")));
    }
    Ok(Part {
        number,
        blob: f.blob("body")?,
        etag: f.str("etag")?.to_owned(),
        last_modified: f.time("last_modified")?,
        checksum: decode_checksum(f, "checksum")?,
    })
}

fn decode_upload(f: &Fields<'_>, bucket: &str, id: &str) -> DecodeResult<Upload> {
    f.matches("bucket", bucket)?;
    f.matches("id", id)?;
    let mut parts = BTreeMap::new();
    for p in decode_parts(f)? {
        let n = p.number;
        if parts.insert(n, p).is_some() {
            return Err(f.err("parts", &format!("has part {n} twice")));
        }
    }
    Ok(Upload {
        id: id.to_owned(),
        key: f.str("key")?.to_owned(),
        initiated: f.time("initiated")?,
        meta: decode_meta(f)?,
        tags: f.opt_pairs("tags")?.unwrap_or_default(),
        checksum_algorithm: algorithm(f, "checksum_algorithm")?,
        checksum_full_object: f.bool("checksum_full_object")?,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::snapshot::decode::testing::{self, edited_at as edited, mutations};
    use crate::services::s3::testutil;
    use podstore::Store;

    const A: &str = "000000000000";
    const B: &str = "111111111111";
    const T: i64 = 1_700_000_000_000;

    fn blob(store: &Store, data: &[u8]) -> BlobInfo {
        podstore::put_blob(store, data).expect("blob").blob
    }

    fn checksum(algorithm: Algorithm, value: &str, composite: bool) -> Option<Checksum> {
        Some(Checksum {
            algorithm,
            value: value.to_owned(),
            composite,
        })
    }

    fn simple(store: &Store, id: &str, data: &[u8], t: i64) -> ObjVersion {
        let body = blob(store, data);
        ObjVersion {
            version_id: id.to_owned(),
            delete_marker: false,
            body: vec![body],
            size: body.size,
            etag: crate::checksum::hex(&<md5::Md5 as md5::Digest>::digest(data)),
            last_modified: t,
            meta: ObjMeta {
                content_type: Some("text/plain".into()),
                user: vec![("owner".into(), "me".into()), ("a".into(), "1".into())],
                ..ObjMeta::default()
            },
            tags: vec![("k".into(), "v".into())],
            checksum: checksum(Algorithm::Crc32, "AAAAAA==", false),
            parts: Vec::new(),
        }
    }

    fn part(store: &Store, number: u32, data: &[u8]) -> Part {
        Part {
            number,
            blob: blob(store, data),
            etag: format!("etag{number}"),
            last_modified: T + i64::from(number),
            checksum: checksum(Algorithm::Sha256, "c2hh", false),
        }
    }

    fn multipart(store: &Store) -> ObjVersion {
        let parts = vec![part(store, 1, &[1; 100]), part(store, 2, b"tail")];
        ObjVersion {
            version_id: "null".into(),
            delete_marker: false,
            body: parts.iter().map(|p| p.blob).collect(),
            size: 104,
            etag: "0123456789abcdef0123456789abcdef-2".into(),
            last_modified: T + 5,
            meta: ObjMeta {
                cache_control: Some("no-cache".into()),
                storage_class: Some("STANDARD_IA".into()),
                redirect: Some("/x".into()),
                ..ObjMeta::default()
            },
            tags: Vec::new(),
            checksum: checksum(Algorithm::Sha256, "Y29tcG9zaXRl-2", true),
            parts,
        }
    }

    fn upload(store: &Store) -> Upload {
        Upload {
            id: "upload/1+x".into(),
            key: "in/progress".into(),
            initiated: T + 7,
            meta: ObjMeta {
                content_encoding: Some("gzip".into()),
                ..ObjMeta::default()
            },
            tags: vec![("t".into(), "1".into())],
            checksum_algorithm: Some(Algorithm::Crc32c),
            checksum_full_object: true,
            parts: [part(store, 1, b"one"), part(store, 3, b"three")]
                .into_iter()
                .map(|p| (p.number, p))
                .collect(),
        }
    }

    /// A versioned bucket with delete markers, a multipart object and an open upload in one
    /// account, and a plain bucket in another account and region.
    fn rich(store: &Store) -> S3State {
        let mut versioned = Bucket {
            name: "versioned".into(),
            region: "us-east-1".into(),
            created: T,
            versioning: Versioning::Enabled,
            tags: Some(vec![("team".into(), "a".into())]),
            config: [
                (
                    "policy".to_owned(),
                    r#"{"Version":"2012-10-17"}"#.to_owned(),
                ),
                ("cors".to_owned(), "<CORSConfiguration/>".to_owned()),
            ]
            .into(),
            ..Bucket::default()
        };
        versioned.objects.insert(
            "docs/a.txt".into(),
            vec![
                simple(store, "null", b"first", T + 1),
                simple(store, "v1", b"second", T + 2),
                ObjVersion::marker("v2".into(), T + 3),
            ],
        );
        versioned
            .objects
            .insert("gone".into(), vec![ObjVersion::marker("v3".into(), T + 4)]);
        versioned
            .objects
            .insert("big%2F/part".into(), vec![multipart(store)]);
        let u = upload(store);
        versioned.uploads.insert(u.id.clone(), u);
        let mut plain = Bucket {
            name: "plain".into(),
            region: "eu-west-1".into(),
            created: T,
            versioning: Versioning::Suspended,
            ..Bucket::default()
        };
        plain
            .objects
            .insert("empty".into(), vec![simple(store, "null", b"", T)]);
        let mut s = S3State::default();
        s.buckets(A).insert(versioned.name.clone(), versioned);
        s.buckets(B).insert(plain.name.clone(), plain);
        s
    }

    fn stage_err(s3: &S3, leaves: Leaves) -> String {
        testing::stage_err(s3, leaves, T)
    }

    #[test]
    fn a_rich_state_round_trips_exactly() {
        let (s3, _dir) = testutil::s3();
        let original = rich(&s3.store);
        s3.replace_state(original.clone());
        let first = s3.export(T).expect("export");
        assert_eq!(first.len(), 7, "2 buckets, 4 objects, 1 upload");
        let object = first
            .iter()
            .find(|(p, _)| {
                p.to_string() == "000000000000/us-east-1/s3/object/versioned/docs%2Fa.txt"
            })
            .expect("the key is one segment");
        assert_eq!(object.1.schema(), "s3.object/1");
        assert_eq!(
            object.1.blob_refs().len(),
            2,
            "the pod store sees the bodies"
        );
        s3.reset();
        assert!(s3.export(T).expect("export").is_empty());
        let staged = s3.stage(first.clone(), T).expect("stage");
        staged.install();
        assert_eq!(s3.copy_state().accounts, original.accounts);
        assert_eq!(s3.export(T).expect("export again"), first);
    }

    #[test]
    fn install_replaces_everything() {
        let (s3, _dir) = testutil::s3();
        s3.replace_state(rich(&s3.store));
        let only_b: Leaves = s3
            .export(T)
            .expect("export")
            .into_iter()
            .filter(|(p, _)| p.segments()[0] == B)
            .collect();
        s3.stage(only_b.clone(), T).expect("stage").install();
        assert_eq!(s3.export(T).expect("export"), only_b);
        assert!(!s3.copy_state().accounts.contains_key(A));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let (s3, _dir) = testutil::s3();
        s3.replace_state(rich(&s3.store));
        let leaves: Leaves = s3
            .export(T)
            .expect("export")
            .into_iter()
            .map(|(p, d)| {
                let mut v = d.into_value();
                v["added_later"] = json!({"x": 1});
                if let Some(versions) = v.get_mut("versions").and_then(Value::as_array_mut) {
                    versions.iter_mut().for_each(|x| x["new"] = json!(true));
                }
                (p, Document::new(v).expect("doc"))
            })
            .collect();
        let state = decode(&leaves).expect("forward compatible");
        assert_eq!(state.accounts, rich(&s3.store).accounts);
    }

    #[test]
    fn bad_documents_are_refused_with_the_path_and_the_problem() {
        let (s3, _dir) = testutil::s3();
        s3.replace_state(rich(&s3.store));
        let leaves = s3.export(T).expect("export");
        let bucket = "000000000000/us-east-1/s3/bucket/versioned";
        let object = "000000000000/us-east-1/s3/object/versioned/docs%2Fa.txt";
        let upload = "000000000000/us-east-1/s3/upload/versioned/upload%2F1+x";
        let cases: Vec<(Leaves, &str)> = vec![
            (
                edited(&leaves, bucket, |v| v["schema"] = json!("s3.bucket/2")),
                "000000000000/us-east-1/s3/bucket/versioned: s3.bucket/2 is newer than this podstack understands",
            ),
            (
                edited(&leaves, bucket, |v| v["schema"] = json!("s3.object/1")),
                "where s3.bucket/1 was expected",
            ),
            (
                edited(&leaves, bucket, |v| {
                    v.as_object_mut().map(|m| m.remove("created"));
                }),
                "bucket/versioned: created is missing",
            ),
            (
                edited(&leaves, bucket, |v| v["created"] = json!("yesterday")),
                "created must be an integer",
            ),
            (
                edited(&leaves, bucket, |v| v["name"] = json!("other")),
                "name is \"other\" but the path says \"versioned\"",
            ),
            (
                edited(&leaves, bucket, |v| v["versioning"] = json!("Sometimes")),
                "versioning is \"Sometimes\"",
            ),
            (
                edited(&leaves, object, |v| v["versions"][1]["size"] = json!(1)),
                "docs%2Fa.txt: versions[1].size differs from the sum",
            ),
            (
                edited(&leaves, object, |v| {
                    v["versions"][1]["body"][0]["$blob"] = json!("zz")
                }),
                "versions[1].body[0] must be a blob reference",
            ),
            (
                edited(&leaves, object, |v| {
                    v["versions"][1]["version_id"] = json!("null")
                }),
                "versions[1].version_id \"null\" is used twice",
            ),
            (
                edited(&leaves, object, |v| v["versions"] = json!([])),
                "versions is empty",
            ),
            (
                edited(&leaves, object, |v| {
                    v["versions"][0]["checksum"]["algorithm"] = json!("CRC99")
                }),
                "versions[0].checksum.algorithm \"CRC99\" is not a checksum algorithm",
            ),
            (
                edited(&leaves, upload, |v| v["parts"][1]["number"] = json!(1)),
                "parts has part 1 twice",
            ),
            (
                edited(&leaves, upload, |v| v["parts"][0]["number"] = json!(0)),
                "parts[0].number is 0",
            ),
            (
                edited(&leaves, upload, |v| v["initiated"] = json!(i64::MAX)),
                "initiated is 9223372036854775807, outside the times",
            ),
        ];
        for (bad, expected) in cases {
            let e = stage_err(&s3, bad);
            assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        let (s3, _dir) = testutil::s3();
        s3.replace_state(rich(&s3.store));
        let leaves = s3.export(T).expect("export");
        let moved = |from: &str, to: &[&str]| -> Leaves {
            leaves
                .iter()
                .cloned()
                .map(|(p, d)| {
                    if p.to_string() == from {
                        (StatePath::new(to.iter().copied()).expect("path"), d)
                    } else {
                        (p, d)
                    }
                })
                .collect()
        };
        let bucket = "000000000000/us-east-1/s3/bucket/versioned";
        let no_bucket: Leaves = leaves
            .iter()
            .filter(|(p, _)| p.to_string() != bucket)
            .cloned()
            .collect();
        let e = stage_err(&s3, no_bucket);
        assert!(
            e.contains("bucket \"versioned\" of account 000000000000 is not in the state"),
            "{e}"
        );
        let e = stage_err(
            &s3,
            moved(bucket, &[A, "us-west-2", "s3", "bucket", "versioned"]),
        );
        assert!(
            e.contains("region is \"us-east-1\" but the path says \"us-west-2\""),
            "{e}"
        );
        let mut twice = leaves.clone();
        let (p, d) = twice[0].clone();
        let mut segs = p.segments().to_vec();
        segs[1] = "ap-south-1".into();
        let mut v = d.into_value();
        v["region"] = json!("ap-south-1");
        twice.push((
            StatePath::new(segs).expect("path"),
            Document::new(v).expect("doc"),
        ));
        let e = stage_err(&s3, twice);
        assert!(e.contains("is defined twice"), "{e}");
        let key = "000000000000/us-east-1/s3/object/versioned/gone";
        let e = stage_err(
            &s3,
            moved(key, &[A, "us-east-1", "s3", "object", "versioned", "other"]),
        );
        assert!(
            e.contains("key is \"gone\" but the path says \"other\""),
            "{e}"
        );
        let e = stage_err(
            &s3,
            moved(key, &[A, "us-east-1", "s3", "object", "versioned"]),
        );
        assert!(e.contains("expected a path of the form"), "{e}");
        let e = stage_err(
            &s3,
            moved(key, &[A, "us-east-1", "s3", "thing", "versioned", "gone"]),
        );
        assert!(e.contains("unknown S3 resource type \"thing\""), "{e}");
        let e = stage_err(
            &s3,
            moved(
                key,
                &["me", "us-east-1", "s3", "object", "versioned", "gone"],
            ),
        );
        assert!(e.contains("is not a 12-digit account id"), "{e}");
        // The same bucket name in a second account.
        let plain = "111111111111/eu-west-1/s3/bucket/plain";
        let mut clash = leaves.clone();
        let (_, d) = leaves
            .iter()
            .find(|(p, _)| p.to_string() == plain)
            .cloned()
            .expect("plain");
        clash.push((
            StatePath::new([A, "eu-west-1", "s3", "bucket", "plain"]).expect("path"),
            d,
        ));
        let e = stage_err(&s3, clash);
        assert!(e.contains("bucket names are global"), "{e}");
    }

    #[test]
    fn no_mutation_of_a_document_panics() {
        let (s3, _dir) = testutil::s3();
        s3.replace_state(rich(&s3.store));
        let leaves = s3.export(T).expect("export");
        let variants = mutations(&leaves);
        assert!(variants.len() > 500, "{}", variants.len());
        let refused = variants
            .into_iter()
            .filter(|v| s3.stage(v.clone(), T).is_err())
            .count();
        assert!(refused > 100, "{refused}");
    }
}
