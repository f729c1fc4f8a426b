//! The HTTP server of `podstack-remote`: routes of [`crate::protocol`], bearer-token checks,
//! body limits, and the repository work on blocking threads.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use podstore::{CommitId, ObjectId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::auth::{TokenRecord, Tokens};
use crate::protocol::{
    CreateVersion, ErrorBody, ErrorDetail, IdList, MAX_GET_BYTES, MAX_IDS, MAX_JSON_BODY,
    MAX_PACK_BODY, ObjectListing, PodList, Role, WhoAmI,
};
use crate::repo::{Repo, RepoError};
use crate::storage::StorageError;

/// What every request handler shares.
#[derive(Debug)]
pub struct Shared {
    repo: Repo,
    tokens: Tokens,
    buffers: TransferBudget,
}

/// The default of [`Shared::with_transfer_budget`]: 1 GiB of uploads and downloads at once.
pub const DEFAULT_TRANSFER_BUDGET: u64 = 1 << 30;

impl Shared {
    /// Serves `repo` with the default transfer budget.
    pub fn new(repo: Repo) -> Arc<Self> {
        Self::with_transfer_budget(repo, DEFAULT_TRANSFER_BUDGET)
    }

    /// Serves `repo`, holding at most `bytes` of pack uploads and object downloads in memory
    /// at once (see [`TransferBudget`]).
    pub fn with_transfer_budget(repo: Repo, bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            repo,
            tokens: Tokens::new(),
            buffers: TransferBudget::new(bytes),
        })
    }
}

/// Bounds the memory that transfers take. A pack upload is read whole into memory, verified,
/// then stored; a download is built whole, then sent. An upload reserves its declared length
/// (the body limit when it declares none) before its body is read and keeps it until it is
/// stored; a download reserves the most its stream can take (known from the index before
/// anything is read) and keeps it until the answer's bytes are dropped, sent or not.
/// Transfers that do not fit wait (an upload with its body unread: TCP holds the sender
/// back), so many pushers and pullers at once slow down instead of driving the server out of
/// memory. A transfer larger than the whole budget waits for all of it.
#[derive(Debug)]
struct TransferBudget {
    kib: Arc<tokio::sync::Semaphore>,
    total_kib: u32,
}

impl TransferBudget {
    fn new(bytes: u64) -> Self {
        let total_kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            kib: Arc::new(tokio::sync::Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Waits until `len` bytes (at most the whole budget) are free, and holds them.
    async fn reserve(&self, len: u64) -> Result<tokio::sync::OwnedSemaphorePermit, Failure> {
        let kib = u32::try_from(len.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        self.kib.clone().acquire_many_owned(kib).await.map_err(|_| {
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            )
        })
    }
}

/// An answer's bytes together with the budget they hold, given back when hyper drops them.
struct Reserved {
    bytes: Vec<u8>,
    _held: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Reserved {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

type Answer = Response<Full<Bytes>>;

/// An error answer.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    latest: Option<u64>,
}

fn fail(status: StatusCode, code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        code,
        message: message.into(),
        latest: None,
    }
}

impl From<RepoError> for Failure {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Invalid(m) => fail(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            RepoError::NotFound(m) => fail(StatusCode::NOT_FOUND, "not_found", m),
            RepoError::Conflict { message, latest } => Failure {
                latest,
                ..fail(StatusCode::CONFLICT, "conflict", message)
            },
            RepoError::Storage(StorageError::Unreachable(m)) => fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                format!("the remote's storage is unreachable: {m}"),
            ),
            other => fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                other.to_string(),
            ),
        }
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        RepoError::Storage(e).into()
    }
}

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    match serde_json::to_vec(value) {
        Ok(b) => answer(status, "application/json", b),
        Err(e) => error_answer(fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}

fn error_answer(f: Failure) -> Answer {
    let body = ErrorBody {
        error: ErrorDetail {
            code: f.code.to_owned(),
            message: f.message,
            latest: f.latest,
        },
    };
    let mut r = json(f.status, &body);
    if f.status == StatusCode::UNAUTHORIZED
        && let Ok(v) = "Bearer realm=\"podstack-remote\"".parse()
    {
        r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Serves on `listener` until `shutdown` completes; in-flight requests get 30 s to finish.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let sh = shared.clone();
                let svc = service_fn(move |req| {
                    let sh = sh.clone();
                    async move {
                        let r = match route(req, sh).await {
                            Ok(r) => r,
                            Err(f) => error_answer(f),
                        };
                        Ok::<_, Infallible>(r)
                    }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("request handler failed: {e}"),
        )
    })?
}

async fn authenticate(
    req: &Request<Incoming>,
    sh: &Arc<Shared>,
    need: Role,
) -> Result<TokenRecord, Failure> {
    let token = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            fail(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "no token: send Authorization: Bearer <token> (podstack login)",
            )
        })?;
    let sh2 = sh.clone();
    let who = blocking(move || Ok(sh2.tokens.check(sh2.repo.storage(), &token)?))
        .await?
        .ok_or_else(|| {
            fail(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the token is not known to this remote (revoked or mistyped?)",
            )
        })?;
    if who.role < need {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {:?} has role {}; this needs {}",
                who.name,
                who.role.name(),
                need.name()
            ),
        ));
    }
    Ok(who)
}

/// The body length `req` declares; 413 when it is over `limit`.
fn declared_len(req: &Request<Incoming>, limit: u64) -> Result<Option<u64>, Failure> {
    let len = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match len {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(len),
    }
}

async fn body(req: Request<Incoming>, limit: u64) -> Result<Bytes, Failure> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    declared_len(&req, limit)?;
    match Limited::new(req.into_body(), limit_usize).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(e) => Err(fail(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("cannot read the request body: {e}"),
        )),
    }
}

fn too_large(limit: u64) -> Failure {
    fail(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the request body is larger than {limit} bytes"),
    )
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("malformed JSON body: {e}"),
        )
    })
}

fn ids_in(bytes: &[u8]) -> Result<Vec<ObjectId>, Failure> {
    let list: IdList = parse(bytes)?;
    if list.ids.len() > MAX_IDS {
        return Err(fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("more than {MAX_IDS} ids in one request"),
        ));
    }
    Ok(list.ids)
}

fn version_number(s: &str) -> Result<u64, Failure> {
    s.parse().map_err(|_| {
        fail(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{s:?} is not a version number"),
        )
    })
}

async fn route(req: Request<Incoming>, sh: Arc<Shared>) -> Result<Answer, Failure> {
    let path = req.uri().path().to_owned();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (&method, segs.as_slice()) {
        (&Method::GET, ["healthz"]) => Ok(answer(StatusCode::OK, "text/plain", b"ok\n".to_vec())),
        (&Method::GET, ["v1", "whoami"]) => {
            let who = authenticate(&req, &sh, Role::Read).await?;
            Ok(json(
                StatusCode::OK,
                &WhoAmI {
                    name: who.name,
                    role: who.role,
                },
            ))
        }
        (&Method::GET, ["v1", "pods"]) => {
            authenticate(&req, &sh, Role::Read).await?;
            let pods = blocking(move || Ok(sh.repo.pods()?)).await?;
            Ok(json(StatusCode::OK, &PodList { pods }))
        }
        (&Method::GET, ["v1", "pods", name, "versions"]) => {
            authenticate(&req, &sh, Role::Read).await?;
            let name = (*name).to_owned();
            let list = blocking(move || Ok(sh.repo.versions(&name)?)).await?;
            Ok(json(StatusCode::OK, &list))
        }
        (&Method::GET, ["v1", "pods", name, "versions", n, "objects"]) => {
            authenticate(&req, &sh, Role::Read).await?;
            let (name, n) = ((*name).to_owned(), version_number(n)?);
            let listing = blocking(move || {
                let v = sh.repo.version(&name, n)?;
                let commit: CommitId = v.commit.ok_or_else(|| {
                    fail(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        "the version was deleted",
                    )
                })?;
                Ok(ObjectListing {
                    version: n,
                    commit,
                    objects: sh.repo.listing(commit)?,
                })
            })
            .await?;
            Ok(json(StatusCode::OK, &listing))
        }
        (&Method::POST, ["v1", "objects", "missing"]) => {
            authenticate(&req, &sh, Role::Write).await?;
            let ids = ids_in(&body(req, MAX_JSON_BODY).await?)?;
            let missing = blocking(move || Ok(sh.repo.missing(&ids)?)).await?;
            Ok(json(StatusCode::OK, &IdList { ids: missing }))
        }
        (&Method::POST, ["v1", "objects", "get"]) => {
            authenticate(&req, &sh, Role::Read).await?;
            let ids = ids_in(&body(req, MAX_JSON_BODY).await?)?;
            let shared = sh.clone();
            let plan = blocking(move || Ok(shared.repo.plan_objects(&ids)?)).await?;
            let bound = plan.size_bound();
            if bound > MAX_GET_BYTES {
                return Err(fail(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "these objects take up to {bound} bytes; ask for at most \
                         {MAX_GET_BYTES} bytes of objects at once"
                    ),
                ));
            }
            let held = sh.buffers.reserve(bound).await?;
            let stream = blocking(move || {
                let mut out = Vec::with_capacity(usize::try_from(bound).unwrap_or(0));
                sh.repo.write_planned(&plan, &mut out)?;
                Ok(out)
            })
            .await?;
            let body = Bytes::from_owner(Reserved {
                bytes: stream,
                _held: held,
            });
            Ok(answer(StatusCode::OK, "application/octet-stream", body))
        }
        (&Method::POST, ["v1", "packs"]) => {
            authenticate(&req, &sh, Role::Write).await?;
            let len = declared_len(&req, MAX_PACK_BODY)?.unwrap_or(MAX_PACK_BODY);
            let held = sh.buffers.reserve(len).await?;
            let bytes = body(req, MAX_PACK_BODY).await?;
            let receipt = blocking(move || Ok(sh.repo.receive_pack(&bytes)?)).await?;
            drop(held);
            Ok(json(StatusCode::OK, &receipt))
        }
        (&Method::POST, ["v1", "pods", name, "versions"]) => {
            let who = authenticate(&req, &sh, Role::Write).await?;
            let name = (*name).to_owned();
            let create: CreateVersion = parse(&body(req, MAX_JSON_BODY).await?)?;
            let rec = blocking(move || {
                Ok(sh.repo.create_version(
                    &name,
                    create.version,
                    create.commit,
                    create.expected_latest,
                    &who.name,
                )?)
            })
            .await?;
            Ok(json(StatusCode::CREATED, &rec))
        }
        (&Method::DELETE, ["v1", "pods", name, rest @ ..]) => {
            authenticate(&req, &sh, Role::Admin).await?;
            let version = match rest {
                [] => None,
                ["versions", n] => Some(version_number(n)?),
                _ => return Err(not_found(&method, &path)),
            };
            let name = (*name).to_owned();
            blocking(move || Ok(sh.repo.delete(&name, version)?)).await?;
            Ok(answer(StatusCode::NO_CONTENT, "text/plain", Vec::new()))
        }
        _ => Err(not_found(&method, &path)),
    }
}

fn not_found(method: &Method, path: &str) -> Failure {
    fail(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such API call: {method} {path}"),
    )
}
