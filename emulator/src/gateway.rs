//! The gateway: one handler for every request on the port. It answers the internal
//! `/_localstack/*` endpoints, derives account and region from the credential, picks the
//! service (X-Amz-Target, credential scope, host) and hands the request to it.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response};
use podstore::Store;

use crate::auth;
use crate::body::Body;
use crate::clock::Clock;
use crate::config::Config;
use crate::http_util::{Query, percent_decode};
use crate::ids;
use crate::internal;
use crate::persistence::Persistence;
use crate::protocol;
use crate::s3::{self, S3};
use crate::secretsmanager::{self, SecretsManager};
use crate::snapshot::ServiceSnapshot;
use crate::sqs::{self, Sqs};
use crate::sts::Sts;

/// The services the gateway can route to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3.
    S3,
    /// Amazon SQS.
    Sqs,
    /// AWS Secrets Manager.
    SecretsManager,
    /// AWS STS.
    Sts,
    /// Another AWS service podstack does not emulate yet (its signing name).
    Other(&'static str),
}

/// Cheap-to-clone handle on the emulator's state.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    clock: Clock,
    s3: S3,
    sqs: Sqs,
    secrets: SecretsManager,
    sts: Sts,
    persistence: Persistence,
    started: Instant,
}

impl Gateway {
    /// Opens the pod store and builds empty services. Small objects go into packs at zstd
    /// level 1 ([`podstore::Levels::LIVE`]): the emulator writes them on every save, on the
    /// CPU its requests need.
    pub fn new(config: Config) -> Result<Self, podstore::Error> {
        let store = Store::open_with(
            &config.store_dir,
            podstore::StoreOptions {
                levels: podstore::Levels::LIVE,
                ..podstore::StoreOptions::default()
            },
        )?;
        let clock = Clock::default();
        Ok(Self {
            inner: Arc::new(Inner {
                s3: S3::new(store),
                sqs: Sqs::new(clock.clone()),
                secrets: SecretsManager::new(clock.clone()),
                sts: Sts::new(clock.clone()),
                persistence: Persistence::new(
                    config.persist.clone(),
                    crate::persistence::journal_dir(&config.store_dir),
                ),
                clock,
                config,
                started: Instant::now(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Time since start.
    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// The S3 service.
    pub fn s3(&self) -> &S3 {
        &self.inner.s3
    }

    /// The SQS service.
    pub fn sqs(&self) -> &Sqs {
        &self.inner.sqs
    }

    /// The emulator's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The pod store holding bodies and snapshots.
    pub fn store(&self) -> &Store {
        &self.inner.s3.store
    }

    /// Persistence state.
    pub fn persistence(&self) -> &Persistence {
        &self.inner.persistence
    }

    /// Every service whose state is exported and loaded, in a fixed order.
    pub fn services(&self) -> Vec<&dyn ServiceSnapshot> {
        vec![
            &self.inner.s3,
            &self.inner.secrets,
            &self.inner.sqs,
            &self.inner.sts,
        ]
    }

    /// Handles one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let request_id = ids::request_id();
        let (parts, body) = req.into_parts();
        let internal = ["/_localstack", "/_podstack"]
            .iter()
            .any(|p| parts.uri.path().starts_with(p));
        let mut resp = if internal {
            match crate::pods::handle(self, &parts, body).await {
                Some(r) => r,
                None => internal::handle(self, &parts).await,
            }
        } else {
            let mut effect = Effect::default();
            let resp = self.aws(parts, body, &request_id, &mut effect).await;
            self.after(resp, &effect).await
        };
        s3::set_header(&mut resp, "x-amz-request-id", &request_id);
        s3::set_header(&mut resp, "x-amz-id-2", &request_id);
        resp
    }

    /// Who is calling: derived once per request.
    fn caller(&self, cred: Option<&auth::Credential>, host: &str) -> Caller {
        let cfg = &self.inner.config;
        let temporary = cred.and_then(|c| self.inner.sts.identity(&c.access_key));
        Caller {
            account: match (temporary, cred) {
                (Some(t), _) => t.account,
                (None, Some(c)) => auth::account_of(&c.access_key, &cfg.default_account),
                (None, None) => cfg.default_account.clone(),
            },
            region: cred
                .and_then(|c| c.region.clone())
                .unwrap_or_else(|| cfg.default_region.clone()),
            host: host.to_owned(),
            access_key: cred.map_or_else(
                || "AKIAIOSFODNN7EXAMPLE".to_owned(),
                |c| c.access_key.clone(),
            ),
        }
    }

    /// Persistence after a request: a successful change bumps the generation; under
    /// ON_REQUEST the answer waits until a snapshot holding the change is durable.
    async fn after(&self, resp: Response<Body>, effect: &Effect) -> Response<Body> {
        if !effect.mutating || resp.status().is_client_error() || resp.status().is_server_error() {
            return resp;
        }
        let p = self.persistence();
        let generation = p.mutated();
        if !p.config.journaled() {
            return resp;
        }
        match self.durable(generation).await {
            Ok(()) => resp,
            Err(e) => internal::json_error(
                500,
                "InternalError",
                &format!("the change could not be made durable: {e}"),
            ),
        }
    }

    /// Notes the service a request goes to (loading it first under lazy loading) and whether
    /// the operation changes state.
    fn enter(&self, effect: &mut Effect, service: Service, mutating: bool) {
        if let Some(name) = service.state_name() {
            if self.persistence().config.enabled {
                self.ensure_loaded(name);
            }
            effect.mutating = mutating;
        }
    }

    async fn aws(
        &self,
        parts: hyper::http::request::Parts,
        body: Incoming,
        request_id: &str,
        effect: &mut Effect,
    ) -> Response<Body> {
        let query = Query::parse(parts.uri.query());
        let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
        let cred = auth::credential(header("authorization"), &query);
        let host = header("host")
            .or(parts.uri.host())
            .unwrap_or_default()
            .to_owned();
        let caller = self.caller(cred.as_ref(), &host);
        let scope = cred.as_ref().and_then(|c| c.service.as_deref());
        let target = header("x-amz-target").map(str::to_owned);
        let mut service = service_of(target.as_deref(), scope, &host);
        let form = header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if target.is_none()
            && form
            && parts.method == "POST"
            && !matches!(service, Service::Other(_))
        {
            let bytes = match protocol::read_body(body, 1 << 20).await {
                Ok(b) => b,
                Err(e) => return internal::json_error(e.status, &e.code, &e.message),
            };
            let mut params = query.0.clone();
            params.extend(Query::parse(Some(&String::from_utf8_lossy(&bytes))).0);
            if scope.is_none() {
                service = service_by_action(&params).unwrap_or(service);
            }
            self.enter(effect, service, op_mutates(action_of(&params)));
            if service != Service::S3 {
                return self
                    .query_service(service, &params, &caller, request_id)
                    .await;
            }
            return internal::json_error(
                400,
                "InvalidAction",
                "a form-encoded request must name an Action of a service podstack emulates",
            );
        }
        let op = target.as_deref().map_or_else(
            || action_of(&query.0),
            |t| t.rsplit('.').next().unwrap_or(t),
        );
        let mutating = match service {
            Service::S3 => !matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS"),
            _ => op_mutates(op),
        };
        self.enter(effect, service, mutating);
        match service {
            Service::S3 => {
                let (bucket, key) = split_s3_path(&host, parts.uri.path());
                let ctx = s3::Ctx {
                    method: parts.method.as_str().to_owned(),
                    bucket,
                    key,
                    query,
                    headers: parts.headers,
                    account: caller.account,
                    region: caller.region,
                    request_id: request_id.to_owned(),
                    resource: parts.uri.path().to_owned(),
                };
                self.inner.s3.handle(ctx, body).await
            }
            Service::Sts => {
                self.query_service(service, &query.0, &caller, request_id)
                    .await
            }
            Service::Sqs if target.is_none() => {
                self.query_service(service, &query.0, &caller, request_id)
                    .await
            }
            Service::SecretsManager => {
                let bytes = match protocol::read_body(body, 1 << 20).await {
                    Ok(b) => b,
                    Err(e) => return protocol::json_err(&secretsmanager::JSON, &e),
                };
                let t = target.as_deref().unwrap_or_default();
                self.inner.secrets.handle(&caller, t, &bytes)
            }
            Service::Sqs => {
                let bytes = match protocol::read_body(body, 4 << 20).await {
                    Ok(b) => b,
                    Err(e) => return protocol::json_err(&sqs::JSON, &e),
                };
                let t = target.as_deref().unwrap_or_default();
                self.inner.sqs.handle_json(&caller, t, &bytes).await
            }
            Service::Other(name) => internal::json_error(
                501,
                "NotImplemented",
                &format!("podstack does not emulate the {name} service yet"),
            ),
        }
    }

    /// Serves a query-protocol request (form parameters with `Action`).
    async fn query_service(
        &self,
        service: Service,
        params: &[(String, String)],
        caller: &Caller,
        request_id: &str,
    ) -> Response<Body> {
        match service {
            Service::Sqs => {
                self.inner
                    .sqs
                    .handle_query(caller, params, request_id)
                    .await
            }
            Service::Sts => self.inner.sts.handle(caller, params, request_id),
            Service::S3 | Service::SecretsManager | Service::Other(_) => internal::json_error(
                400,
                "InvalidAction",
                "this service does not speak the query protocol",
            ),
        }
    }
}

/// What a request did, for persistence.
#[derive(Debug, Default)]
struct Effect {
    /// Whether the operation changes state.
    mutating: bool,
}

/// The `Action` of query-protocol parameters.
fn action_of(params: &[(String, String)]) -> &str {
    params
        .iter()
        .find(|(k, _)| k == "Action")
        .map_or("", |(_, v)| v.as_str())
}

/// Whether an operation changes state (anything but Get*, List*, Describe*, BatchGet*;
/// ReceiveMessage counts: it changes receive counts and visibility).
fn op_mutates(op: &str) -> bool {
    !["Get", "List", "Describe", "BatchGet"]
        .iter()
        .any(|p| op.starts_with(p))
}

impl Service {
    /// The name of the service's part of the state tree, for services that have one.
    pub fn state_name(self) -> Option<&'static str> {
        match self {
            Self::S3 => Some("s3"),
            Self::Sqs => Some("sqs"),
            Self::SecretsManager => Some("secretsmanager"),
            Self::Sts => Some("sts"),
            Self::Other(_) => None,
        }
    }
}

/// The caller of a request, as every service needs it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Account derived from the access key.
    pub account: String,
    /// Region from the credential scope.
    pub region: String,
    /// `Host` header.
    pub host: String,
    /// Access key id.
    pub access_key: String,
}

#[cfg(test)]
impl Caller {
    /// A caller with the test access key, talking to `localhost:4566`.
    pub fn test(account: &str, region: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            host: "localhost:4566".into(),
            access_key: "test".into(),
        }
    }
}

/// Picks the service of a request.
pub fn service_of(target: Option<&str>, scope: Option<&str>, host: &str) -> Service {
    const TARGETS: &[(&str, &str)] = &[
        ("AmazonSQS", "sqs"),
        ("secretsmanager", "secretsmanager"),
        ("DynamoDB", "dynamodb"),
        ("AmazonSSM", "ssm"),
        ("TrentService", "kms"),
        ("Logs_", "logs"),
        ("AWSEvents", "events"),
        ("Kinesis_", "kinesis"),
    ];
    if target.is_some_and(|t| t.starts_with("AmazonSQS.")) {
        return Service::Sqs;
    }
    if target.is_some_and(|t| t.starts_with("secretsmanager.")) {
        return Service::SecretsManager;
    }
    if let Some(t) = target {
        return TARGETS
            .iter()
            .find(|(p, _)| t.starts_with(p))
            .map_or(Service::Other("unknown"), |(_, s)| Service::Other(s));
    }
    const KNOWN: &[&str] = &[
        "sqs",
        "sts",
        "secretsmanager",
        "dynamodb",
        "sns",
        "ssm",
        "kms",
        "iam",
        "lambda",
    ];
    match (target, scope) {
        (None, Some("sqs")) => return Service::Sqs,
        (None, Some("sts")) => return Service::Sts,
        _ => {}
    }
    match scope {
        Some("s3") => return Service::S3,
        Some(s) => {
            return KNOWN
                .iter()
                .find(|k| **k == s)
                .map_or(Service::Other("unknown"), |k| Service::Other(k));
        }
        None => {}
    }
    let first = host.split('.').next().unwrap_or_default();
    if host.contains('.')
        && let Some(k) = KNOWN.iter().find(|k| **k == first)
    {
        return match *k {
            "sqs" => Service::Sqs,
            "sts" => Service::Sts,
            "secretsmanager" => Service::SecretsManager,
            _ => Service::Other(k),
        };
    }
    Service::S3
}

/// The service of an unsigned query-protocol request, from its `Action`.
fn service_by_action(params: &[(String, String)]) -> Option<Service> {
    const SQS: &[&str] = &[
        "CreateQueue",
        "GetQueueUrl",
        "ListQueues",
        "DeleteQueue",
        "GetQueueAttributes",
        "SetQueueAttributes",
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "PurgeQueue",
        "TagQueue",
        "UntagQueue",
        "ListQueueTags",
        "ListDeadLetterSourceQueues",
    ];
    const STS: &[&str] = &[
        "GetCallerIdentity",
        "AssumeRole",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
    ];
    let action = params.iter().find(|(k, _)| k == "Action")?.1.as_str();
    if SQS.contains(&action) {
        return Some(Service::Sqs);
    }
    STS.contains(&action).then_some(Service::Sts)
}

/// Splits an S3 request into (bucket, key): the bucket comes from a virtual host or the first
/// path segment; the key is the rest, percent-decoded.
pub fn split_s3_path(host: &str, raw_path: &str) -> (Option<String>, Option<String>) {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    if let Some(bucket) = s3::router::bucket_from_host(host) {
        let key = (!path.is_empty()).then(|| percent_decode(path));
        return (Some(bucket), key);
    }
    if path.is_empty() {
        return (None, None);
    }
    match path.split_once('/') {
        None => (Some(percent_decode(path)), None),
        Some((b, k)) => (
            Some(percent_decode(b)),
            (!k.is_empty()).then(|| percent_decode(k)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_by_target_scope_and_host() {
        let table = [
            (
                service_of(Some("AmazonSQS.SendMessage"), Some("sqs"), "x"),
                Service::Sqs,
            ),
            (
                service_of(
                    Some("secretsmanager.GetSecretValue"),
                    Some("secretsmanager"),
                    "x",
                ),
                Service::SecretsManager,
            ),
            (
                service_of(Some("DynamoDB_20120810.GetItem"), Some("dynamodb"), "x"),
                Service::Other("dynamodb"),
            ),
            (service_of(None, Some("s3"), "localhost:4566"), Service::S3),
            (service_of(None, Some("sts"), "localhost"), Service::Sts),
            (service_of(None, Some("sqs"), "localhost"), Service::Sqs),
            (
                service_of(None, None, "sqs.us-east-1.localhost.localstack.cloud:4566"),
                Service::Sqs,
            ),
            (service_of(None, None, "127.0.0.1:4566"), Service::S3),
        ];
        for (i, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn s3_paths() {
        assert_eq!(split_s3_path("localhost", "/"), (None, None));
        assert_eq!(split_s3_path("localhost", "/b"), (Some("b".into()), None));
        assert_eq!(split_s3_path("localhost", "/b/"), (Some("b".into()), None));
        assert_eq!(
            split_s3_path("localhost", "/b/a%20b/c%2Fd"),
            (Some("b".into()), Some("a b/c/d".into()))
        );
        assert_eq!(
            split_s3_path("b.s3.localhost.localstack.cloud:4566", "/k//x"),
            (Some("b".into()), Some("k//x".into()))
        );
    }
}
