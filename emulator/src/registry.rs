//! The service registry: the one place that names the services. Routing, health,
//! `podstack status`, `--services` validation, reserved S3 host labels, coverage and the
//! "changes state" flag all derive from it.
//!
//! Adding a service: a folder with its provider (a type implementing [`Build`] and
//! [`Provider`], whose [`ServiceDef`] lists the operations it implements), its model in
//! `codegen/services.json`, and one line in the `services!` list below.

pub mod coverage;

use crate::protocol::model::{Known, Protocol};
use crate::protocol::models::catalog::CATALOG;
use crate::service::{Deps, Provider, ServiceDef};

/// How a service is built, and its description (for the registry's static list).
pub trait Build: Provider + Sized {
    /// The description.
    const DEF: &'static ServiceDef;
    /// A new, empty service.
    fn build(deps: &Deps) -> Self;
}

macro_rules! services {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// Every service's live state.
        #[derive(Debug)]
        pub struct Services {
            $(
                #[doc = concat!("The `", stringify!($field), "` service.")]
                pub $field: $ty,
            )*
        }

        impl Services {
            /// Empty services.
            pub fn new(deps: &Deps) -> Self {
                Self { $($field: <$ty as Build>::build(deps),)* }
            }

            /// Every service, in state order.
            pub fn all(&self) -> Vec<&dyn Provider> {
                vec![$(&self.$field),*]
            }

            /// The service described by `def`.
            pub fn provider(&self, def: &ServiceDef) -> Option<&dyn Provider> {
                $(if def.name == <$ty as Build>::DEF.name {
                    return Some(&self.$field);
                })*
                None
            }
        }

        /// Every service's description, in state order.
        pub static SERVICES: &[&ServiceDef] = &[$(<$ty as Build>::DEF),*];
    };
}

services! {
    s3: crate::services::s3::S3,
    secretsmanager: crate::services::secretsmanager::SecretsManager,
    sqs: crate::services::sqs::Sqs,
    sts: crate::services::sts::Sts,
}

/// The names of every service, in state order.
pub fn names() -> Vec<&'static str> {
    SERVICES.iter().map(|d| d.name).collect()
}

/// The service named `name` (state-tree name).
#[cfg(test)]
pub fn named(name: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().copied().find(|d| d.name == name)
}

/// Whether `label` is the first host label of some service's endpoint (`sqs.…`), so that S3
/// does not take it for a virtual-hosted bucket.
pub fn is_endpoint_label(label: &str) -> bool {
    SERVICES
        .iter()
        .any(|d| d.model.meta.endpoint_prefix == label)
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// A service of the registry, in one of its protocols.
    Service(&'static ServiceDef, Protocol),
    /// A form-encoded request that names no service: the `Action` decides
    /// ([`by_action`]).
    ByAction,
    /// A service podstack does not emulate.
    Unknown(Unknown<'a>),
}

/// A request for a service podstack does not emulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unknown<'a> {
    /// What the request named: its signing name or `X-Amz-Target` prefix.
    pub name: &'a str,
    /// The service, when the catalog of every AWS service knows it.
    pub known: Option<&'static Known>,
    /// The protocol to answer in.
    pub protocol: Protocol,
}

impl Unknown<'_> {
    /// What to call the service in messages: `Amazon DynamoDB (dynamodb)`, else the name.
    pub fn describe(&self) -> String {
        self.known.map_or_else(
            || self.name.to_owned(),
            |k| format!("{} ({})", k.full_name, k.name),
        )
    }
}

impl PartialEq for Known {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Known {}

/// The catalog's service with `X-Amz-Target` prefix `prefix`.
fn known_by_target(prefix: &str) -> Option<&'static Known> {
    CATALOG.iter().find(|k| k.target_prefix == Some(prefix))
}

/// The catalog's service signing as `scope` (the one named so when several share it).
fn known_by_scope(scope: &str) -> Option<&'static Known> {
    let mut signing = CATALOG.iter().filter(|k| k.signing_name == scope);
    CATALOG
        .iter()
        .find(|k| k.name == scope && k.signing_name == scope)
        .or_else(|| signing.next())
}

/// What routing looks at: all from the request head.
#[derive(Clone, Copy, Debug, Default)]
pub struct Head<'a> {
    /// `X-Amz-Target`.
    pub target: Option<&'a str>,
    /// The credential scope's service (signing name).
    pub scope: Option<&'a str>,
    /// `Host`.
    pub host: &'a str,
    /// A form-encoded body (`application/x-www-form-urlencoded`), or `Action` in the query.
    pub form: bool,
}

/// Picks the service of a request: by `X-Amz-Target` prefix, else by the credential scope's
/// signing name, else by the host's first label, else (form requests) by `Action`, else S3.
pub fn route<'a>(h: &Head<'a>) -> Route<'a> {
    if let Some(t) = h.target {
        let prefix = t.split_once('.').map_or(t, |(p, _)| p);
        return SERVICES
            .iter()
            .find(|d| d.model.meta.target_prefix == Some(prefix))
            .map_or_else(
                || {
                    Route::Unknown(Unknown {
                        name: prefix,
                        known: known_by_target(prefix),
                        protocol: Protocol::Json,
                    })
                },
                |d| Route::Service(d, Protocol::Json),
            );
    }
    if let Some(scope) = h.scope {
        return SERVICES
            .iter()
            .find(|d| d.model.meta.signing_name == scope)
            .map_or_else(
                || unknown_scope(scope, h.form),
                |d| Route::Service(d, protocol_for(d, h.form)),
            );
    }
    let label = h.host.split('.').next().unwrap_or_default();
    if h.host.contains('.')
        && let Some(d) = SERVICES
            .iter()
            .find(|d| d.model.meta.endpoint_prefix == label)
    {
        return Route::Service(d, protocol_for(d, h.form));
    }
    if h.form {
        return Route::ByAction;
    }
    Route::Service(crate::services::s3::S3::DEF, Protocol::RestXml)
}

/// A signed request for a service podstack does not emulate: answered in the protocol the
/// catalog gives it (the query protocol for form requests to a query service).
fn unknown_scope(scope: &str, form: bool) -> Route<'_> {
    let known = known_by_scope(scope);
    let protocol = match known.map(|k| k.protocol) {
        Some(Protocol::Query | Protocol::Ec2) if form => Protocol::Query,
        Some(p) => p,
        None if form => Protocol::Query,
        None => Protocol::RestJson,
    };
    Route::Unknown(Unknown {
        name: scope,
        known,
        protocol,
    })
}

/// The protocol to answer `def` in: the query protocol for form requests when it speaks it,
/// else its first protocol.
fn protocol_for(def: &ServiceDef, form: bool) -> Protocol {
    let protocols = def.model.meta.protocols;
    if form && protocols.contains(&Protocol::Query) {
        return Protocol::Query;
    }
    protocols.first().copied().unwrap_or(Protocol::Json)
}

/// The query-protocol service whose model has the operation `action` (unsigned requests such
/// as `AssumeRoleWithWebIdentity` name no credential scope).
pub fn by_action(action: &str) -> Option<&'static ServiceDef> {
    SERVICES
        .iter()
        .copied()
        .filter(|d| d.speaks(Protocol::Query))
        .find(|d| d.model_op(action).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r<'a>(
        target: Option<&'a str>,
        scope: Option<&'a str>,
        host: &'a str,
        form: bool,
    ) -> Route<'a> {
        route(&Head {
            target,
            scope,
            host,
            form,
        })
    }

    fn unknown(name: &'static str, known: Option<&str>, protocol: Protocol) -> Route<'static> {
        Route::Unknown(Unknown {
            name,
            known: known.map(|k| {
                CATALOG
                    .iter()
                    .find(|c| c.name == k)
                    .expect("in the catalog")
            }),
            protocol,
        })
    }

    fn svc(name: &str, p: Protocol) -> Route<'static> {
        Route::Service(named(name).expect("registered"), p)
    }

    #[test]
    fn routing_table() {
        use Protocol::*;
        let table = [
            (
                r(Some("AmazonSQS.SendMessage"), Some("sqs"), "x", false),
                svc("sqs", Json),
            ),
            (
                r(Some("secretsmanager.GetSecretValue"), None, "x", false),
                svc("secretsmanager", Json),
            ),
            (
                r(
                    Some("DynamoDB_20120810.GetItem"),
                    Some("dynamodb"),
                    "x",
                    false,
                ),
                unknown("DynamoDB_20120810", Some("dynamodb"), Json),
            ),
            (
                r(Some("Nobody_1.Op"), None, "x", false),
                unknown("Nobody_1", None, Json),
            ),
            (
                r(None, Some("s3"), "localhost:4566", false),
                svc("s3", RestXml),
            ),
            (r(None, Some("sts"), "localhost", true), svc("sts", Query)),
            (r(None, Some("sqs"), "localhost", true), svc("sqs", Query)),
            (r(None, Some("sqs"), "localhost", false), svc("sqs", Json)),
            (
                r(None, Some("lambda"), "localhost", false),
                unknown("lambda", Some("lambda"), RestJson),
            ),
            (
                r(None, Some("sns"), "localhost", true),
                unknown("sns", Some("sns"), Query),
            ),
            (
                r(None, Some("route53"), "localhost", false),
                unknown("route53", Some("route53"), RestXml),
            ),
            (
                r(None, Some("nobody"), "localhost", true),
                unknown("nobody", None, Query),
            ),
            (
                r(
                    None,
                    None,
                    "sqs.us-east-1.localhost.localstack.cloud:4566",
                    true,
                ),
                svc("sqs", Query),
            ),
            (r(None, None, "127.0.0.1:4566", true), Route::ByAction),
            (r(None, None, "127.0.0.1:4566", false), svc("s3", RestXml)),
            (
                r(None, None, "bucket.s3.localhost.localstack.cloud", false),
                svc("s3", RestXml),
            ),
        ];
        for (i, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn unsigned_actions_find_their_service() {
        assert_eq!(
            by_action("AssumeRoleWithWebIdentity").map(|d| d.name),
            Some("sts")
        );
        assert_eq!(by_action("AssumeRoleWithSAML").map(|d| d.name), Some("sts"));
        assert_eq!(by_action("AddPermission").map(|d| d.name), Some("sqs"));
        assert_eq!(
            by_action("ListBuckets"),
            None,
            "S3 does not speak the query protocol"
        );
        assert_eq!(by_action("Nothing"), None);
    }

    #[test]
    fn names_and_labels_come_from_the_registry() {
        assert_eq!(names(), ["s3", "secretsmanager", "sqs", "sts"]);
        assert!(is_endpoint_label("sqs") && is_endpoint_label("secretsmanager"));
        assert!(!is_endpoint_label("my-bucket"));
    }

    #[test]
    fn every_declared_operation_is_in_its_model() {
        for d in SERVICES {
            for op in d.ops {
                assert!(d.model_op(op.name).is_some(), "{}: {}", d.name, op.name);
            }
            let mut names: Vec<_> = d.ops.iter().map(|o| o.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                d.ops.len(),
                "{}: an operation listed twice",
                d.name
            );
        }
    }

    #[tokio::test]
    async fn providers_answer_exactly_their_declared_operations() {
        let dir = tempfile::tempdir().expect("dir");
        let deps = Deps {
            store: podstore::Store::open(dir.path().join("store")).expect("store"),
            clock: crate::clock::Clock::default(),
        };
        let services = Services::new(&deps);
        let cx = crate::service::Context::test("000000000000", "us-east-1");
        for def in SERVICES
            .iter()
            .filter(|d| ***d != crate::services::s3::SERVICE)
        {
            let provider = services.provider(def).expect("a provider");
            assert_eq!(provider.def(), *def);
            for op in def.model.operations {
                let answer = provider.call(&cx, op.name, serde_json::json!({})).await;
                let unimplemented = answer.as_ref().is_err_and(|e| e.code == "NotImplemented");
                assert_eq!(
                    unimplemented,
                    def.op(op.name).is_none(),
                    "{} {}: {answer:?}",
                    def.name,
                    op.name
                );
            }
        }
    }

    #[test]
    fn the_s3_table_and_the_s3_declaration_agree() {
        let mut declared: Vec<_> = crate::services::s3::SERVICE
            .ops
            .iter()
            .map(|o| o.name)
            .collect();
        let mut routed = crate::services::s3::router::IMPLEMENTED.to_vec();
        declared.sort_unstable();
        routed.sort_unstable();
        assert_eq!(declared, routed);
    }
}
