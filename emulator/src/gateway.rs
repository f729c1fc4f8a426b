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
use crate::config::Config;
use crate::http_util::{Query, percent_decode};
use crate::ids;
use crate::internal;
use crate::s3::{self, S3};

/// The services the gateway can route to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3.
    S3,
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
    s3: S3,
    started: Instant,
}

impl Gateway {
    /// Opens the pod store and builds empty services.
    pub fn new(config: Config) -> Result<Self, podstore::Error> {
        let store = Store::open(&config.store_dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                s3: S3::new(store),
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

    /// Handles one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let request_id = ids::request_id();
        let (parts, body) = req.into_parts();
        let mut resp = if parts.uri.path().starts_with("/_localstack") {
            internal::handle(self, &parts).await
        } else {
            self.aws(parts, body, &request_id).await
        };
        s3::set_header(&mut resp, "x-amz-request-id", &request_id);
        s3::set_header(&mut resp, "x-amz-id-2", &request_id);
        resp
    }

    async fn aws(
        &self,
        parts: hyper::http::request::Parts,
        body: Incoming,
        request_id: &str,
    ) -> Response<Body> {
        let query = Query::parse(parts.uri.query());
        let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
        let cred = auth::credential(header("authorization"), &query);
        let cfg = &self.inner.config;
        let account = cred.as_ref().map_or_else(
            || cfg.default_account.clone(),
            |c| auth::account_of(&c.access_key, &cfg.default_account),
        );
        let region = cred
            .as_ref()
            .and_then(|c| c.region.clone())
            .unwrap_or_else(|| cfg.default_region.clone());
        let host = header("host")
            .or(parts.uri.host())
            .unwrap_or_default()
            .to_owned();
        let scope = cred.as_ref().and_then(|c| c.service.as_deref());
        match service_of(header("x-amz-target"), scope, &host) {
            Service::S3 => {
                let (bucket, key) = split_s3_path(&host, parts.uri.path());
                let ctx = s3::Ctx {
                    method: parts.method.as_str().to_owned(),
                    bucket,
                    key,
                    query,
                    headers: parts.headers,
                    account,
                    region,
                    request_id: request_id.to_owned(),
                    resource: parts.uri.path().to_owned(),
                };
                self.inner.s3.handle(ctx, body).await
            }
            Service::Other(name) => internal::json_error(
                501,
                "NotImplemented",
                &format!("podstack does not emulate the {name} service yet"),
            ),
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
        return Service::Other(k);
    }
    Service::S3
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
        assert_eq!(
            service_of(Some("AmazonSQS.SendMessage"), Some("sqs"), "x"),
            Service::Other("sqs")
        );
        assert_eq!(service_of(None, Some("s3"), "localhost:4566"), Service::S3);
        assert_eq!(
            service_of(None, Some("sts"), "localhost"),
            Service::Other("sts")
        );
        assert_eq!(
            service_of(None, None, "sqs.us-east-1.localhost.localstack.cloud:4566"),
            Service::Other("sqs")
        );
        assert_eq!(service_of(None, None, "127.0.0.1:4566"), Service::S3);
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
