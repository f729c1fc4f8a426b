//! S3: REST-XML over path-style and virtual-hosted URLs.
//!
//! `router` maps a request to an [`router::Op`]; handlers are grouped by resource
//! (`bucket`, `object`, `list`, `multipart`); `state` is the in-memory model whose bodies
//! live in the pod store; `ingest` streams bodies in, `output` streams them out.

pub mod bucket;
pub mod error;
pub mod ingest;
pub mod list;
pub mod multipart;
pub mod object;
pub mod output;
pub mod router;
pub mod snapshot;
pub mod state;

use std::sync::RwLock;

use hyper::body::Incoming;
use hyper::{HeaderMap, Response};
use podstore::Store;

use crate::http::body::Body;
use crate::http::util::Query;
pub use crate::http::util::set_header;
use crate::protocol::AwsResult;
pub use crate::protocol::xml;
use crate::registry::Build;
use crate::service::{BoxFuture, Context, Deps, Provider, ServiceDef, read, write};
use error::{S3Error, S3Result, codes};
use router::Op;
use state::S3State;

/// Who and what a request is about, once routed to S3.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// HTTP method.
    pub method: String,
    /// Bucket from the host or the first path segment.
    pub bucket: Option<String>,
    /// Key (decoded), when the path names one.
    pub key: Option<String>,
    /// Query parameters.
    pub query: Query,
    /// Request headers.
    pub headers: HeaderMap,
    /// Account derived from the credential.
    pub account: String,
    /// Region from the credential scope.
    pub region: String,
    /// Request id echoed in headers and errors.
    pub request_id: String,
    /// The request path, for error bodies.
    pub resource: String,
}

impl Ctx {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        ingest::header(&self.headers, name)
    }

    /// The bucket name (routing guarantees one for bucket and object operations).
    pub fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }

    /// The key (routing guarantees one for object operations).
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_default()
    }
}

/// S3 in the registry. Its requests go through [`S3::handle`], which streams bodies, rather
/// than through [`Provider::call`].
pub static SERVICE: ServiceDef = ServiceDef {
    name: "s3",
    model: &crate::protocol::models::s3::MODEL,
    body_limit: 1 << 20,
    validate: false,
    error_type_prefix: "",
    ops: &[
        write("AbortMultipartUpload"),
        write("CompleteMultipartUpload"),
        write("CopyObject"),
        write("CreateBucket"),
        write("CreateMultipartUpload"),
        write("DeleteBucket"),
        write("DeleteBucketCors"),
        write("DeleteBucketLifecycle"),
        write("DeleteBucketPolicy"),
        write("DeleteBucketTagging"),
        write("DeleteObject"),
        write("DeleteObjectTagging"),
        write("DeleteObjects"),
        read("GetBucketCors"),
        read("GetBucketLifecycleConfiguration"),
        read("GetBucketLocation"),
        read("GetBucketNotificationConfiguration"),
        read("GetBucketPolicy"),
        read("GetBucketTagging"),
        read("GetBucketVersioning"),
        read("GetObject"),
        read("GetObjectAttributes"),
        read("GetObjectTagging"),
        read("HeadBucket"),
        read("HeadObject"),
        read("ListBuckets"),
        read("ListMultipartUploads"),
        read("ListObjectVersions"),
        read("ListObjects"),
        read("ListObjectsV2"),
        read("ListParts"),
        write("PutBucketCors"),
        write("PutBucketLifecycleConfiguration"),
        write("PutBucketNotificationConfiguration"),
        write("PutBucketPolicy"),
        write("PutBucketTagging"),
        write("PutBucketVersioning"),
        write("PutObject"),
        write("PutObjectTagging"),
        write("UploadPart"),
        write("UploadPartCopy"),
    ],
};

impl Build for S3 {
    const DEF: &'static ServiceDef = &SERVICE;

    fn build(deps: &Deps) -> Self {
        Self::new(deps.store.clone(), deps.clock.clone())
    }
}

impl Provider for S3 {
    fn def(&self) -> &'static ServiceDef {
        &SERVICE
    }

    /// S3 has no operation in the JSON shape: [`S3::handle`] serves all of them.
    fn call<'a>(
        &'a self,
        _cx: &'a Context,
        op: &'a str,
        _input: serde_json::Value,
    ) -> BoxFuture<'a, AwsResult<serde_json::Value>> {
        Box::pin(std::future::ready(Err(crate::service::not_implemented(
            &SERVICE, op,
        ))))
    }
}

/// The S3 service: its state and the store holding bodies.
#[derive(Debug)]
pub struct S3 {
    /// Where bodies go.
    pub store: Store,
    /// Buckets and objects.
    pub state: RwLock<S3State>,
    /// The emulator's clock (creation and modification times).
    pub clock: crate::clock::Clock,
}

impl S3 {
    /// An empty S3 over `store`, on `clock`.
    pub fn new(store: Store, clock: crate::clock::Clock) -> Self {
        Self {
            store,
            state: RwLock::new(S3State::default()),
            clock,
        }
    }

    /// Reads the state.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, S3State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the state.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, S3State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the whole state, taken under the read lock (metadata only: bodies are
    /// shared blobs, so this copies no object bytes).
    pub fn copy_state(&self) -> S3State {
        self.read().clone()
    }

    /// Replaces the whole state; returns the previous one.
    pub fn replace_state(&self, state: S3State) -> S3State {
        std::mem::replace(&mut *self.write(), state)
    }

    /// The operation of a request (pure: see [`router`]).
    pub fn route(ctx: &Ctx) -> Option<Op> {
        let copy = ctx.header("x-amz-copy-source").is_some();
        router::route(
            &ctx.method,
            ctx.bucket.as_deref(),
            ctx.key.as_deref(),
            &ctx.query,
            copy,
        )
    }

    /// Handles one request routed to `op` (`None`: the method does not apply to the
    /// resource); errors become S3 XML error responses.
    pub async fn handle(&self, ctx: Ctx, op: Option<Op>, body: Incoming) -> Response<Body> {
        match self.dispatch(&ctx, op, body).await {
            Ok(r) => r,
            Err(e) => error_response(&ctx, &e),
        }
    }

    async fn dispatch(
        &self,
        ctx: &Ctx,
        op: Option<Op>,
        body: Incoming,
    ) -> S3Result<Response<Body>> {
        let op = op.ok_or_else(|| codes::method_not_allowed(&ctx.method))?;
        if ctx.key.as_ref().is_some_and(|k| k.len() > 1024) {
            return Err(codes::key_too_long());
        }
        use Op::*;
        match op {
            ListBuckets => bucket::list_buckets(self, ctx),
            CreateBucket => bucket::create(self, ctx, body).await,
            DeleteBucket => bucket::delete(self, ctx),
            HeadBucket => bucket::head(self, ctx),
            GetBucketLocation => bucket::location(self, ctx),
            PutBucketVersioning => bucket::put_versioning(self, ctx, body).await,
            GetBucketVersioning => bucket::get_versioning(self, ctx),
            PutBucketTagging => bucket::put_tagging(self, ctx, body).await,
            GetBucketTagging => bucket::get_tagging(self, ctx),
            DeleteBucketTagging => bucket::delete_tagging(self, ctx),
            PutBucketPolicy => bucket::put_config(self, ctx, body, "policy").await,
            GetBucketPolicy => bucket::get_config(self, ctx, "policy"),
            DeleteBucketPolicy => bucket::delete_config(self, ctx, "policy"),
            PutBucketCors => bucket::put_config(self, ctx, body, "cors").await,
            GetBucketCors => bucket::get_config(self, ctx, "cors"),
            DeleteBucketCors => bucket::delete_config(self, ctx, "cors"),
            PutBucketLifecycleConfiguration => {
                bucket::put_config(self, ctx, body, "lifecycle").await
            }
            GetBucketLifecycleConfiguration => bucket::get_config(self, ctx, "lifecycle"),
            DeleteBucketLifecycle => bucket::delete_config(self, ctx, "lifecycle"),
            PutBucketNotificationConfiguration => {
                bucket::put_config(self, ctx, body, "notification").await
            }
            GetBucketNotificationConfiguration => bucket::get_config(self, ctx, "notification"),
            ListObjects => list::list_objects(self, ctx, false),
            ListObjectsV2 => list::list_objects(self, ctx, true),
            ListObjectVersions => list::list_versions(self, ctx),
            ListMultipartUploads => list::list_uploads(self, ctx),
            DeleteObjects => object::delete_objects(self, ctx, body).await,
            PutObject => object::put(self, ctx, body).await,
            CopyObject => object::copy(self, ctx),
            GetObject => object::get(self, ctx, false).await,
            HeadObject => object::get(self, ctx, true).await,
            DeleteObject => object::delete(self, ctx),
            PutObjectTagging => object::put_tagging(self, ctx, body).await,
            GetObjectTagging => object::get_tagging(self, ctx),
            DeleteObjectTagging => object::delete_tagging(self, ctx),
            GetObjectAttributes => object::attributes(self, ctx),
            CreateMultipartUpload => multipart::create(self, ctx),
            UploadPart => multipart::upload_part(self, ctx, body).await,
            UploadPartCopy => multipart::upload_part_copy(self, ctx),
            CompleteMultipartUpload => multipart::complete(self, ctx, body).await,
            AbortMultipartUpload => multipart::abort(self, ctx),
            ListParts => multipart::list_parts(self, ctx),
            Unsupported(name) => Err(codes::not_implemented(name)),
        }
    }
}

/// A response with status, headers and an XML body.
pub fn xml(status: u16, xml: String) -> Response<Body> {
    let mut r = Response::new(Body::full(xml));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    r
}

/// An empty response with a status.
pub fn empty(status: u16) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r
}

/// Renders an error; HEAD responses carry no body.
pub fn error_response(ctx: &Ctx, e: &S3Error) -> Response<Body> {
    let mut r = if ctx.method == "HEAD" {
        empty(e.status)
    } else {
        xml(e.status, e.to_xml(&ctx.resource, &ctx.request_id))
    };
    if e.extra
        .iter()
        .any(|(k, v)| *k == "DeleteMarker" && v == "true")
    {
        set_header(&mut r, "x-amz-delete-marker", "true");
        if let Some((_, id)) = e.extra.iter().find(|(k, _)| *k == "VersionId") {
            set_header(&mut r, "x-amz-version-id", id);
        }
    }
    r
}

/// Parses an XML request body.
pub fn parse_xml(bytes: &[u8]) -> S3Result<xml::Node> {
    xml::parse(bytes).map_err(|_| codes::malformed_xml())
}

/// Validates a bucket name against S3's rules for new buckets.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builds an [`S3`] over a temporary store and [`Ctx`]s for handler tests.

    use super::*;

    /// An empty S3 over a store in a fresh temporary directory (kept alive by the guard).
    pub fn s3() -> (S3, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("store")).expect("open store");
        (S3::new(store, crate::clock::Clock::default()), dir)
    }

    /// A request context for account `000000000000` in us-east-1, request id `req-1`.
    pub fn ctx(method: &str, bucket: &str, key: Option<&str>, query: &str) -> Ctx {
        Ctx {
            method: method.to_owned(),
            bucket: Some(bucket.to_owned()),
            key: key.map(str::to_owned),
            query: Query::parse(Some(query)),
            headers: HeaderMap::new(),
            account: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            request_id: "req-1".to_owned(),
            resource: format!(
                "/{bucket}{}",
                key.map(|k| format!("/{k}")).unwrap_or_default()
            ),
        }
    }

    /// The text of a buffered response body.
    pub fn body_text(r: Response<Body>) -> String {
        match r.into_body() {
            Body::Empty => String::new(),
            Body::Full(b) => {
                String::from_utf8(b.map(|b| b.to_vec()).unwrap_or_default()).expect("UTF-8 body")
            }
            Body::Stream(..) => panic!("a streamed body in a unit test"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_exact() {
        let e = codes::no_such_key("a/<b>&c");
        assert_eq!(
            e.to_xml("/bkt/a/<b>&c", "req-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>\
             <Key>a/&lt;b&gt;&amp;c</Key><Resource>/bkt/a/&lt;b&gt;&amp;c</Resource>\
             <RequestId>req-1</RequestId><HostId>req-1</HostId></Error>"
        );
        let ctx = testutil::ctx("GET", "bkt", None, "acl");
        let r = error_response(&ctx, &codes::not_implemented("GetBucketAcl"));
        assert_eq!(r.status(), 501);
        assert_eq!(
            r.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/xml"[..])
        );
        assert_eq!(
            testutil::body_text(r),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Error><Code>NotImplemented</Code>\
             <Message>The operation GetBucketAcl of Amazon Simple Storage Service (s3) is not \
             implemented by podstack yet</Message>\
             <Resource>/bkt</Resource><RequestId>req-1</RequestId><HostId>req-1</HostId></Error>"
        );
        // HEAD: status only, no body; delete markers are flagged in headers.
        let head = testutil::ctx("HEAD", "bkt", Some("k"), "");
        let e = codes::no_such_key("k")
            .with("DeleteMarker", "true")
            .with("VersionId", "v1");
        let r = error_response(&head, &e);
        assert_eq!(r.status(), 404);
        assert_eq!(
            r.headers().get("x-amz-delete-marker").map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        assert_eq!(
            r.headers().get("x-amz-version-id").map(|v| v.as_bytes()),
            Some(&b"v1"[..])
        );
        assert_eq!(testutil::body_text(r), "");
    }
}
