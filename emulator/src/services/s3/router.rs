//! The pure S3 router: (method, bucket, key, query, copy-source header) → [`Op`].
//!
//! No I/O and no state: unit-tested as a table. Every other operation of the S3 model routes
//! to [`Op::Unsupported`] with its name, found from the model's HTTP bindings, and is
//! answered as `NotImplemented`.

use crate::http::util::Query;
use crate::protocol::model::{Loc, Model, O, op_flags};

/// Defines [`Op`] with one variant per implemented operation, named as in the model, and
/// [`IMPLEMENTED`], the list of their names.
macro_rules! ops {
    ($($name:ident),* $(,)?) => {
        /// An S3 operation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Op {
            $($name,)*
            /// An operation of the model that podstack does not implement (its name).
            Unsupported(&'static str),
        }

        impl Op {
            /// The operation's name in the S3 model.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                    Self::Unsupported(name) => name,
                }
            }
        }

        /// The names of the operations with a variant.
        pub const IMPLEMENTED: &[&str] = &[$(stringify!($name)),*];
    };
}

ops! {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    PutBucketVersioning,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PutBucketTagging,
    GetBucketTagging,
    DeleteBucketTagging,
    PutBucketPolicy,
    GetBucketPolicy,
    DeleteBucketPolicy,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    PutBucketLifecycleConfiguration,
    GetBucketLifecycleConfiguration,
    DeleteBucketLifecycle,
    PutBucketNotificationConfiguration,
    GetBucketNotificationConfiguration,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    GetObjectAttributes,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
}

/// The model's operation for a request: the one whose method and path (`/{Bucket}` or
/// `/{Bucket}/{Key+}`) match and whose literal query keys (`?acl`,
/// `?select&select-type=2`) are all present, preferring more query keys, then more of its
/// required query members present (`?analytics&id=` is the Get, not the List), then not
/// deprecated, then implemented (so that a tie leaves the choice to the table).
fn model_op(method: &str, object: bool, q: &Query) -> Option<&'static Binding> {
    let candidates = bindings(method, object);
    if q.0.is_empty() && candidates.iter().all(|b| b.ours || !b.keys.is_empty()) {
        return None;
    }
    candidates
        .iter()
        .filter(|b| {
            b.keys.iter().all(|(k, v)| match v {
                Some(v) => q.get(k) == Some(v),
                None => q.has(k),
            })
        })
        .max_by_key(|b| {
            let required = b.required.iter().filter(|k| q.has(k)).count();
            (b.keys.len(), required, b.current, b.ours)
        })
}

/// An operation of the S3 model on a bucket or an object, its HTTP binding parsed once.
#[derive(Debug)]
struct Binding {
    name: &'static str,
    /// The literal query keys of its URI, with their values where the URI fixes one.
    keys: Vec<(&'static str, Option<&'static str>)>,
    /// The query-string names of its required members.
    required: Vec<&'static str>,
    /// Not deprecated.
    current: bool,
    /// The table implements it.
    ours: bool,
}

/// The methods S3 operations use, for indexing [`bindings`].
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// The model's bucket (`object` false) or object operations with `method`, their bindings
/// parsed on first use: a request looks only at the few that can match it.
fn bindings(method: &str, object: bool) -> &'static [Binding] {
    static BINDINGS: std::sync::OnceLock<Vec<Vec<Binding>>> = std::sync::OnceLock::new();
    let all = BINDINGS.get_or_init(|| {
        let mut by = Vec::new();
        by.resize_with(METHODS.len() * 2, Vec::new);
        for (slot, b) in parse_bindings() {
            by[slot].push(b);
        }
        by
    });
    METHODS
        .iter()
        .position(|m| *m == method)
        .map_or(&[], |m| &all[m * 2 + usize::from(object)])
}

/// Every bucket and object operation of the model with its slot in [`bindings`].
fn parse_bindings() -> Vec<(usize, Binding)> {
    let model = &crate::protocol::models::s3::MODEL;
    model
        .operations
        .iter()
        .filter_map(|o| {
            let (path, query) = o.uri.split_once('?').unwrap_or((o.uri, ""));
            let object = match path {
                "/{Bucket}/{Key+}" => true,
                "/{Bucket}" => false,
                _ => return None,
            };
            let m = METHODS.iter().position(|m| *m == o.method)?;
            Some((
                m * 2 + usize::from(object),
                Binding {
                    name: o.name,
                    keys: query
                        .split('&')
                        .filter(|k| !k.is_empty())
                        .map(|k| k.split_once('=').map_or((k, None), |(k, v)| (k, Some(v))))
                        .collect(),
                    required: required_query(model, o).collect(),
                    current: o.flags & op_flags::DEPRECATED == 0,
                    ours: IMPLEMENTED.contains(&o.name),
                },
            ))
        })
        .collect()
}

/// The query-string names of an operation's required members.
fn required_query(model: &'static Model, o: &'static O) -> impl Iterator<Item = &'static str> {
    o.input
        .into_iter()
        .flat_map(|i| model.shape(i).members)
        .filter(|m| m.required && m.loc == Loc::Query)
        .map(|m| m.wire_name())
}

/// The model's operation for a request, when the table does not implement it.
fn unsupported(method: &str, object: bool, q: &Query) -> Option<Op> {
    model_op(method, object, q)
        .filter(|b| !b.ours)
        .map(|b| Op::Unsupported(b.name))
}

/// Routes a request. `None` when the method does not apply to the resource.
pub fn route(
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    q: &Query,
    copy_source: bool,
) -> Option<Op> {
    match (bucket, key) {
        (None, _) => (method == "GET").then_some(Op::ListBuckets),
        (Some(_), None) => bucket_op(method, q),
        (Some(_), Some(_)) => object_op(method, q, copy_source),
    }
}

fn bucket_op(method: &str, q: &Query) -> Option<Op> {
    use Op::*;
    if let Some(op) = unsupported(method, false, q) {
        return Some(op);
    }
    let pick = |get, put, delete| match method {
        "GET" => Some(get),
        "PUT" => Some(put),
        "DELETE" => Some(delete),
        _ => None,
    };
    if q.has("versioning") {
        return match method {
            "GET" => Some(GetBucketVersioning),
            "PUT" => Some(PutBucketVersioning),
            _ => None,
        };
    }
    if q.has("tagging") {
        return pick(GetBucketTagging, PutBucketTagging, DeleteBucketTagging);
    }
    if q.has("policy") {
        return pick(GetBucketPolicy, PutBucketPolicy, DeleteBucketPolicy);
    }
    if q.has("cors") {
        return pick(GetBucketCors, PutBucketCors, DeleteBucketCors);
    }
    if q.has("lifecycle") {
        return pick(
            GetBucketLifecycleConfiguration,
            PutBucketLifecycleConfiguration,
            DeleteBucketLifecycle,
        );
    }
    if q.has("notification") {
        return match method {
            "GET" => Some(GetBucketNotificationConfiguration),
            "PUT" => Some(PutBucketNotificationConfiguration),
            _ => None,
        };
    }
    match method {
        "GET" if q.has("location") => Some(GetBucketLocation),
        "GET" if q.has("versions") => Some(ListObjectVersions),
        "GET" if q.has("uploads") => Some(ListMultipartUploads),
        "GET" if q.get("list-type") == Some("2") => Some(ListObjectsV2),
        "GET" => Some(ListObjects),
        "POST" if q.has("delete") => Some(DeleteObjects),
        "PUT" => Some(CreateBucket),
        "DELETE" => Some(DeleteBucket),
        "HEAD" => Some(HeadBucket),
        _ => None,
    }
}

fn object_op(method: &str, q: &Query, copy_source: bool) -> Option<Op> {
    use Op::*;
    if let Some(op) = unsupported(method, true, q) {
        return Some(op);
    }
    if q.has("tagging") {
        return match method {
            "GET" => Some(GetObjectTagging),
            "PUT" => Some(PutObjectTagging),
            "DELETE" => Some(DeleteObjectTagging),
            _ => None,
        };
    }
    let upload = q.has("uploadId");
    match method {
        "GET" if q.has("attributes") => Some(GetObjectAttributes),
        "GET" if upload => Some(ListParts),
        "GET" => Some(GetObject),
        "HEAD" => Some(HeadObject),
        "PUT" if upload && q.has("partNumber") => Some(if copy_source {
            UploadPartCopy
        } else {
            UploadPart
        }),
        "PUT" if copy_source => Some(CopyObject),
        "PUT" => Some(PutObject),
        "POST" if q.has("uploads") => Some(CreateMultipartUpload),
        "POST" if upload => Some(CompleteMultipartUpload),
        "DELETE" if upload => Some(AbortMultipartUpload),
        "DELETE" => Some(DeleteObject),
        _ => None,
    }
}

/// Splits a host into a virtual-hosted bucket name, if any: `<bucket>.s3.localhost.localstack.cloud`,
/// `<bucket>.localhost`, `<bucket>.s3.amazonaws.com`, `<bucket>.s3.<region>.amazonaws.com`.
pub fn bucket_from_host(host: &str) -> Option<String> {
    let host = host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let host = host.to_ascii_lowercase();
    for suffix in [".s3.localhost.localstack.cloud", ".s3.amazonaws.com"] {
        if let Some(b) = host.strip_suffix(suffix) {
            return Some(b.to_owned()).filter(|b| !b.is_empty());
        }
    }
    if let Some(rest) = host.strip_suffix(".amazonaws.com")
        && let Some((bucket, region)) = rest.rsplit_once(".s3.")
        && !region.contains('.')
    {
        return Some(bucket.to_owned());
    }
    if let Some(b) = host.strip_suffix(".localhost")
        && !b.contains(".s3")
        && !b.is_empty()
        && b != "s3"
        && !crate::registry::is_endpoint_label(b)
    {
        return Some(b.to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use Op::*;

    fn r(method: &str, bucket: Option<&str>, key: Option<&str>, q: &str, copy: bool) -> Option<Op> {
        route(method, bucket, key, &Query::parse(Some(q)), copy)
    }

    #[test]
    fn routing_table() {
        let b = Some("b");
        let k = Some("k");
        let table = [
            (r("GET", None, None, "", false), Some(ListBuckets)),
            (r("PUT", b, None, "", false), Some(CreateBucket)),
            (
                r("GET", b, None, "list-type=2&prefix=a", false),
                Some(ListObjectsV2),
            ),
            (r("GET", b, None, "prefix=a", false), Some(ListObjects)),
            (
                r("GET", b, None, "versions", false),
                Some(ListObjectVersions),
            ),
            (
                r("GET", b, None, "location", false),
                Some(GetBucketLocation),
            ),
            (r("POST", b, None, "delete", false), Some(DeleteObjects)),
            (
                r("PUT", b, None, "versioning", false),
                Some(PutBucketVersioning),
            ),
            (
                r("DELETE", b, None, "lifecycle", false),
                Some(DeleteBucketLifecycle),
            ),
            (
                r("GET", b, None, "acl", false),
                Some(Unsupported("GetBucketAcl")),
            ),
            (r("PUT", b, k, "", false), Some(PutObject)),
            (r("PUT", b, k, "", true), Some(CopyObject)),
            (
                r("PUT", b, k, "partNumber=1&uploadId=u", false),
                Some(UploadPart),
            ),
            (
                r("PUT", b, k, "partNumber=1&uploadId=u", true),
                Some(UploadPartCopy),
            ),
            (
                r("POST", b, k, "uploads", false),
                Some(CreateMultipartUpload),
            ),
            (
                r("POST", b, k, "uploadId=u", false),
                Some(CompleteMultipartUpload),
            ),
            (r("GET", b, k, "uploadId=u", false), Some(ListParts)),
            (
                r("DELETE", b, k, "uploadId=u", false),
                Some(AbortMultipartUpload),
            ),
            (
                r("GET", b, k, "attributes", false),
                Some(GetObjectAttributes),
            ),
            (r("GET", b, k, "tagging", false), Some(GetObjectTagging)),
            (r("HEAD", b, k, "", false), Some(HeadObject)),
            (r("HEAD", b, None, "", false), Some(HeadBucket)),
            (r("DELETE", b, None, "", false), Some(DeleteBucket)),
            (r("DELETE", b, k, "", false), Some(DeleteObject)),
            (r("DELETE", b, k, "versionId=v", false), Some(DeleteObject)),
            (
                r("GET", b, None, "uploads&prefix=a", false),
                Some(ListMultipartUploads),
            ),
            (
                r("GET", b, None, "versioning", false),
                Some(GetBucketVersioning),
            ),
            (r("DELETE", b, None, "versioning", false), None),
            (r("PUT", b, None, "tagging", false), Some(PutBucketTagging)),
            (
                r("DELETE", b, None, "tagging", false),
                Some(DeleteBucketTagging),
            ),
            (r("GET", b, None, "policy", false), Some(GetBucketPolicy)),
            (r("PUT", b, None, "cors", false), Some(PutBucketCors)),
            (
                r("GET", b, None, "notification", false),
                Some(GetBucketNotificationConfiguration),
            ),
            (
                r("PUT", b, None, "encryption", false),
                Some(Unsupported("PutBucketEncryption")),
            ),
            (
                r("GET", b, k, "acl", false),
                Some(Unsupported("GetObjectAcl")),
            ),
            (
                r("POST", b, k, "restore", false),
                Some(Unsupported("RestoreObject")),
            ),
            (
                r("DELETE", b, k, "tagging", false),
                Some(DeleteObjectTagging),
            ),
            // A `versionId` or `partNumber` alone does not change the operation.
            (r("GET", b, k, "partNumber=2", false), Some(GetObject)),
            (
                r("GET", b, k, "versionId=v&tagging", false),
                Some(GetObjectTagging),
            ),
            (r("POST", b, None, "", false), None),
            (r("PATCH", b, k, "", false), None),
            (r("POST", None, None, "", false), None),
        ];
        for (i, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn virtual_hosts() {
        assert_eq!(
            bucket_from_host("b1.s3.localhost.localstack.cloud:4566").as_deref(),
            Some("b1")
        );
        assert_eq!(
            bucket_from_host("my.bucket.localhost:4566").as_deref(),
            Some("my.bucket")
        );
        assert_eq!(
            bucket_from_host("b.s3.eu-west-1.amazonaws.com").as_deref(),
            Some("b")
        );
        assert_eq!(bucket_from_host("localhost:4566"), None);
        assert_eq!(bucket_from_host("127.0.0.1:4566"), None);
        assert_eq!(bucket_from_host("s3.localhost.localstack.cloud:4566"), None);
        assert_eq!(bucket_from_host("sqs.localhost"), None);
    }

    /// Every bucket or object operation of the model routes to itself, implemented or not
    /// (a deprecated one to its successor).
    #[test]
    fn every_operation_of_the_model_is_reachable() {
        let model = &crate::protocol::models::s3::MODEL;
        let mut checked = 0;
        for (slot, b) in parse_bindings() {
            let object = slot % 2 == 1;
            let method = METHODS[slot / 2];
            let mut params: Vec<String> = b
                .keys
                .iter()
                .map(|(k, v)| v.map_or_else(|| (*k).to_owned(), |v| format!("{k}={v}")))
                .collect();
            params.extend(b.required.iter().map(|k| format!("{k}=x")));
            let q = Query::parse(Some(&params.join("&")));
            let key = object.then_some("k");
            let copy = ["CopyObject", "UploadPartCopy"].contains(&b.name);
            let got = route(method, Some("b"), key, &q, copy).map(Op::name);
            let op = model.operation(b.name).expect("in the model");
            let deprecated = op.flags & op_flags::DEPRECATED != 0;
            // A deprecated operation shares its binding with its successor
            // (GetBucketLifecycle, GetBucketLifecycleConfiguration): the successor wins.
            let successor = got.is_some_and(|g| g == format!("{}Configuration", b.name));
            assert!(
                got == Some(b.name) || (deprecated && successor),
                "{method} {} routes to {got:?}",
                b.name
            );
            checked += 1;
        }
        assert!(checked > 90, "{checked} bindings");
    }
}
