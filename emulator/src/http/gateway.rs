//! The gateway: one handler for every request on the port. It answers the internal
//! `/_localstack/*` endpoints, derives account and region from the credential, picks the
//! service from the registry ([`registry::route`]), decodes the request with that protocol's
//! codec, checks the operation against the model and the service's declared operations, and
//! calls the service's provider. Errors are rendered once per protocol ([`Wire::error`]).

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, Response};
use podstore::Store;
use serde_json::Value;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::auth;
use crate::http::body::Body;
use crate::http::internal;
use crate::http::util::{Query, percent_decode, set_header};
use crate::ids;
use crate::persist::persistence::Persistence;
use crate::persist::snapshot::ServiceSnapshot;
use crate::protocol::model::{O, Protocol};
use crate::protocol::validate::validate;
use crate::protocol::{self, AwsError, AwsResult, Wire};
use crate::registry::{self, Head, Route, Services};
use crate::service::{Context, Deps, ServiceDef};
use crate::services::s3::{self, S3};
use crate::services::sqs::Sqs;

/// Cheap-to-clone handle on the emulator's state.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    clock: Clock,
    store: Store,
    services: Services,
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
        let deps = Deps {
            store: store.clone(),
            clock: clock.clone(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                services: Services::new(&deps),
                persistence: Persistence::new(
                    config.persist.clone(),
                    crate::persist::persistence::journal_dir(&config.store_dir),
                ),
                store,
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
        &self.inner.services.s3
    }

    /// The SQS service.
    pub fn sqs(&self) -> &Sqs {
        &self.inner.services.sqs
    }

    /// The emulator's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The pod store holding bodies and snapshots.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Persistence state.
    pub fn persistence(&self) -> &Persistence {
        &self.inner.persistence
    }

    /// Every service whose state is exported and loaded, in the registry's order.
    pub fn services(&self) -> Vec<&dyn ServiceSnapshot> {
        self.inner
            .services
            .all()
            .into_iter()
            .map(|p| p as &dyn ServiceSnapshot)
            .collect()
    }

    /// Handles one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let request_id = ids::request_id();
        let (parts, body) = req.into_parts();
        let internal = ["/_localstack", "/_podstack"]
            .iter()
            .any(|p| parts.uri.path().starts_with(p));
        let mut resp = if internal {
            match crate::persist::pods::handle(self, &parts, body).await {
                Some(r) => r,
                None => internal::handle(self, &parts).await,
            }
        } else {
            let mut effect = Effect::default();
            let resp = self.aws(parts, body, &request_id, &mut effect).await;
            self.after(resp, &effect, &request_id).await
        };
        set_header(&mut resp, "x-amz-request-id", &request_id);
        set_header(&mut resp, "x-amz-id-2", &request_id);
        resp
    }

    /// Who is calling: derived once per request.
    fn context(&self, cred: Option<&auth::Credential>, host: &str, request_id: &str) -> Context {
        let cfg = &self.inner.config;
        let temporary = cred.and_then(|c| self.inner.services.sts.identity(&c.access_key));
        Context {
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
            request_id: request_id.to_owned(),
        }
    }

    /// Persistence after a request: a successful change bumps the generation; under
    /// ON_REQUEST the answer waits until a snapshot holding the change is durable.
    async fn after(
        &self,
        resp: Response<Body>,
        effect: &Effect,
        request_id: &str,
    ) -> Response<Body> {
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
            Err(e) => {
                let e = AwsError::client(
                    "InternalError",
                    format!("the change could not be made durable: {e}"),
                )
                .status(500)
                .receiver();
                effect.wire.error(&e, request_id)
            }
        }
    }

    /// Notes the service a request goes to (loading it first under lazy loading) and whether
    /// the operation changes state.
    fn enter(&self, effect: &mut Effect, def: &ServiceDef, mutating: bool) {
        if self.persistence().config.enabled {
            self.ensure_loaded(def.name);
        }
        effect.mutating = mutating;
    }

    async fn aws(
        &self,
        parts: Parts,
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
        let cx = self.context(cred.as_ref(), &host, request_id);
        let target = header("x-amz-target").map(str::to_owned);
        let form_body = parts.method == "POST"
            && header("content-type")
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        let head = Head {
            target: target.as_deref(),
            scope: cred.as_ref().and_then(|c| c.service.as_deref()),
            host: &host,
            form: form_body || query.has("Action"),
        };
        let route = registry::route(&head);
        effect.wire = match route {
            Route::Service(def, p) => Wire::of(def, p),
            Route::ByAction => Wire::unknown(Protocol::Query, None),
            Route::Unknown(u) => Wire::unknown(u.protocol, u.known),
        };
        match route {
            Route::Unknown(u) => effect.wire.error(&not_emulated(&u), request_id),
            Route::Service(def, Protocol::RestXml) if *def == s3::SERVICE => {
                self.s3_request(parts, query, host, body, cx, effect).await
            }
            Route::Service(def, Protocol::Json) => {
                let op = target
                    .as_deref()
                    .and_then(|t| t.split_once('.'))
                    .map_or("", |(_, o)| o);
                let wire = effect.wire;
                let answer = self.json_request(def, op, body, &cx, effect).await;
                answer.map_or_else(|e| wire.error(&e, request_id), |v| wire.json_ok(&v))
            }
            Route::Service(def, Protocol::Query) => {
                self.query_request(Some(def), query, form_body, body, &cx, effect)
                    .await
            }
            Route::ByAction => {
                self.query_request(None, query, form_body, body, &cx, effect)
                    .await
            }
            Route::Service(def, protocol) => {
                let e = AwsError::client(
                    "NotImplemented",
                    format!(
                        "podstack does not speak the {} protocol of {} yet",
                        protocol.name(),
                        def.name
                    ),
                )
                .status(501);
                effect.wire.error(&e, request_id)
            }
        }
    }

    async fn s3_request(
        &self,
        parts: Parts,
        query: Query,
        host: String,
        body: Incoming,
        cx: Context,
        effect: &mut Effect,
    ) -> Response<Body> {
        let (bucket, key) = split_s3_path(&host, parts.uri.path());
        let ctx = s3::Ctx {
            method: parts.method.as_str().to_owned(),
            bucket,
            key,
            query,
            headers: parts.headers,
            account: cx.account,
            region: cx.region,
            request_id: cx.request_id,
            resource: parts.uri.path().to_owned(),
        };
        let op = S3::route(&ctx);
        let def = &s3::SERVICE;
        let mutating = op.and_then(|o| def.op(o.name())).is_some_and(|o| o.mutates);
        self.enter(effect, def, mutating);
        self.inner.services.s3.handle(ctx, op, body).await
    }

    /// A JSON-protocol request: `X-Amz-Target: <prefix>.<op>` and a JSON body.
    async fn json_request(
        &self,
        def: &'static ServiceDef,
        op: &str,
        body: Incoming,
        cx: &Context,
        effect: &mut Effect,
    ) -> AwsResult<Value> {
        let model_op = def
            .model_op(op)
            .ok_or_else(|| unknown_operation(def, op, Protocol::Json))?;
        let bytes = protocol::read_body(body, def.body_limit).await?;
        let input = protocol::parse_json(&bytes)?;
        let provider = self.provider(def, model_op)?;
        self.invoke(provider, model_op, input, cx, effect).await
    }

    /// A query-protocol request: parameters from the query string and a form body, with
    /// `Action`; `def` is `None` when only the action can tell the service.
    async fn query_request(
        &self,
        def: Option<&'static ServiceDef>,
        query: Query,
        form_body: bool,
        body: Incoming,
        cx: &Context,
        effect: &mut Effect,
    ) -> Response<Body> {
        let rid = cx.request_id.as_str();
        let limit = def.map_or(1 << 20, |d| d.body_limit);
        let mut params = query.0;
        if form_body {
            match protocol::read_body(body, limit).await {
                Ok(b) => params.extend(Query::parse(Some(&String::from_utf8_lossy(&b))).0),
                Err(e) => return effect.wire.error(&e, rid),
            }
        }
        let action = params
            .iter()
            .find(|(k, _)| k == "Action")
            .map_or("", |(_, v)| v.as_str())
            .to_owned();
        let Some(def) = def.or_else(|| registry::by_action(&action)) else {
            return effect.wire.error(&no_action_service(&action), rid);
        };
        effect.wire = Wire::of(def, Protocol::Query);
        let wire = effect.wire;
        let answer = match def.model_op(&action) {
            None if action.is_empty() => Err(AwsError::client(
                "MissingAction",
                "The request must contain the parameter Action.",
            )),
            None => Err(unknown_operation(def, &action, Protocol::Query)),
            Some(op) => self.query_call(def, op, &params, cx, effect).await,
        };
        match answer {
            Ok(xml) => protocol::query_ok(&action, wire.xmlns, &xml, rid),
            Err(e) => wire.error(&e, rid),
        }
    }

    async fn query_call(
        &self,
        def: &'static ServiceDef,
        op: &'static O,
        params: &[(String, String)],
        cx: &Context,
        effect: &mut Effect,
    ) -> AwsResult<String> {
        let provider = self.provider(def, op)?;
        let input = provider.query_input(op, params)?;
        let output = self.invoke(provider, op, input, cx, effect).await?;
        Ok(provider.query_output(op, &output))
    }

    fn provider(
        &self,
        def: &'static ServiceDef,
        op: &O,
    ) -> AwsResult<&dyn crate::service::Provider> {
        self.inner
            .services
            .provider(def)
            .ok_or_else(|| crate::service::not_implemented(def, op.name))
    }

    /// Calls an operation of the model: `NotImplemented` unless the service declares it.
    async fn invoke(
        &self,
        provider: &dyn crate::service::Provider,
        op: &'static O,
        input: Value,
        cx: &Context,
        effect: &mut Effect,
    ) -> AwsResult<Value> {
        let def = provider.def();
        let declared = def
            .op(op.name)
            .ok_or_else(|| crate::service::not_implemented(def, op.name))?;
        if def.validate
            && let Some(shape) = op.input
        {
            validate(def.model, shape, &input, effect.wire.protocol)?;
        }
        self.enter(effect, def, declared.mutates);
        provider.call(cx, op.name, input).await
    }
}

/// What a request did, for persistence, and how to answer it.
#[derive(Debug)]
struct Effect {
    /// Whether the operation changes state.
    mutating: bool,
    /// The protocol of the answer.
    wire: Wire,
}

impl Default for Effect {
    fn default() -> Self {
        Self {
            mutating: false,
            wire: Wire::unknown(Protocol::Json, None),
        }
    }
}

/// A request for a service podstack does not emulate.
fn not_emulated(u: &registry::Unknown<'_>) -> AwsError {
    AwsError::client(
        "NotImplemented",
        format!(
            "podstack does not emulate {} yet; it emulates {}",
            u.describe(),
            registry::names().join(", ")
        ),
    )
    .status(501)
}

/// An operation the service's model does not have: AWS's code for each protocol.
fn unknown_operation(def: &ServiceDef, op: &str, protocol: Protocol) -> AwsError {
    match protocol {
        Protocol::Query | Protocol::Ec2 => AwsError::client(
            "InvalidAction",
            format!(
                "The action {op} is not valid for this web service ({}).",
                def.full_name()
            ),
        ),
        _ => AwsError::client(
            "UnknownOperationException",
            format!(
                "The operation {op:?} is not an operation of {}.",
                def.full_name()
            ),
        ),
    }
}

/// A form request whose action belongs to no emulated service.
fn no_action_service(action: &str) -> AwsError {
    if action.is_empty() {
        return AwsError::client(
            "MissingAction",
            "The request must contain the parameter Action.",
        );
    }
    AwsError::client(
        "InvalidAction",
        format!(
            "The action {action} is not valid for any service podstack emulates ({}).",
            registry::names().join(", ")
        ),
    )
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
