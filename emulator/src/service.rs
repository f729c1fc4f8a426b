//! What a service is to the rest of the emulator: its description ([`ServiceDef`]: name,
//! model, operations and whether each changes state), the neutral call context a handler sees
//! ([`Context`]), and the [`Provider`] trait through which the gateway calls it.
//!
//! A provider sees typed input in the JSON shape of its model (the protocol codec has decoded
//! the request already) and returns output in the same shape; it never sees HTTP types. S3
//! keeps a streaming entry point of its own for bodies.

use std::future::Future;
use std::pin::Pin;

use podstore::Store;
use serde_json::Value;

use crate::clock::Clock;
use crate::persist::snapshot::ServiceSnapshot;
use crate::protocol::model::{Model, O, Protocol};
use crate::protocol::{AwsError, AwsResult};

/// One implemented operation and whether it changes state (under `ON_REQUEST` persistence a
/// changing operation is answered only once its change is durable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// The operation's name in the model.
    pub name: &'static str,
    /// Whether it changes state.
    pub mutates: bool,
}

/// An operation that only reads.
pub const fn read(name: &'static str) -> Op {
    Op {
        name,
        mutates: false,
    }
}

/// An operation that changes state (SQS `ReceiveMessage` counts: it moves visibility).
pub const fn write(name: &'static str) -> Op {
    Op {
        name,
        mutates: true,
    }
}

/// The description of a service: everything routing, health, coverage and persistence need
/// to know of it. Signing name, endpoint prefix, `X-Amz-Target` prefix and protocols come
/// from its model.
#[derive(Debug)]
pub struct ServiceDef {
    /// The service's name in the state tree, health, `--services` and pods (`secretsmanager`).
    pub name: &'static str,
    /// Its AWS model.
    pub model: &'static Model,
    /// Largest request body it reads whole (JSON and query protocols).
    pub body_limit: usize,
    /// `__type` prefix of JSON errors (`com.amazonaws.sqs#`), empty for plain codes.
    pub error_type_prefix: &'static str,
    /// Whether the gateway validates input against the model (required members, lengths,
    /// ranges, enums, types) before the handler runs.
    pub validate: bool,
    /// The operations it implements; every other operation of the model answers
    /// `NotImplemented`.
    pub ops: &'static [Op],
}

/// Services are equal when their names are: the registry holds each name once.
impl PartialEq for ServiceDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ServiceDef {}

impl ServiceDef {
    /// The implemented operation named `name`.
    pub fn op(&self, name: &str) -> Option<&'static Op> {
        self.ops.iter().find(|o| o.name == name)
    }

    /// The model's operation named `name`.
    pub fn model_op(&self, name: &str) -> Option<&'static O> {
        self.model.operation(name)
    }

    /// Whether the service answers `protocol`.
    pub fn speaks(&self, protocol: Protocol) -> bool {
        self.model.meta.protocols.contains(&protocol)
    }

    /// Its full name, for messages.
    pub fn full_name(&self) -> &'static str {
        self.model.meta.full_name
    }
}

/// Who is calling, as every handler sees it: no HTTP types.
#[derive(Clone, Debug)]
pub struct Context {
    /// Account derived from the access key (or the temporary credentials STS issued).
    pub account: String,
    /// Region from the credential scope, else the default region.
    pub region: String,
    /// The `Host` the client used, for URLs the service hands out (queue URLs).
    pub host: String,
    /// Access key id.
    pub access_key: String,
    /// The request id echoed in answers.
    pub request_id: String,
}

#[cfg(test)]
impl Context {
    /// A caller with the test access key, talking to `localhost:4566`.
    pub fn test(account: &str, region: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            host: "localhost:4566".into(),
            access_key: "test".into(),
            request_id: "00000000-0000-4000-8000-000000000000".into(),
        }
    }
}

/// What a service is built from.
#[derive(Clone, Debug)]
pub struct Deps {
    /// The pod store (S3 bodies).
    pub store: Store,
    /// The emulator's clock.
    pub clock: Clock,
}

/// A boxed future, for the object-safe [`Provider::call`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service as the gateway calls it.
pub trait Provider: ServiceSnapshot {
    /// Its description.
    fn def(&self) -> &'static ServiceDef;

    /// Runs an implemented operation on input in the JSON shape of its model, returning output
    /// in the same shape.
    fn call<'a>(
        &'a self,
        cx: &'a Context,
        op: &'a str,
        input: Value,
    ) -> BoxFuture<'a, AwsResult<Value>>;

    /// Decodes query-protocol parameters into the operation's input (the model's shapes by
    /// default; SQS, whose JSON model lacks the query names, brings its own).
    fn query_input(&self, op: &O, params: &[(String, String)]) -> AwsResult<Value> {
        crate::protocol::query::decode(self.def().model, op, params)
    }

    /// Encodes an output as the inner XML of `<{Op}Result>` (the model's shapes by default).
    fn query_output(&self, op: &O, output: &Value) -> String {
        crate::protocol::query::encode(self.def().model, op, output)
    }
}

/// Runs a handler with typed input and output: the input (already validated against the
/// model by the gateway) is decoded into the handler's own serde struct, a mismatch being a
/// `SerializationException`, and the output is encoded back into the JSON shape.
pub fn typed<I, O>(input: Value, handler: impl FnOnce(I) -> AwsResult<O>) -> AwsResult<Value>
where
    I: serde::de::DeserializeOwned,
    O: serde::Serialize,
{
    let input = serde_json::from_value(input)
        .map_err(|e| AwsError::client("SerializationException", e.to_string()))?;
    serde_json::to_value(handler(input)?).map_err(|e| {
        AwsError::client("InternalError", format!("the output does not encode: {e}"))
            .status(500)
            .receiver()
    })
}

/// The error an operation of the model that a service does not implement answers with, the
/// same in every protocol: `NotImplemented`, HTTP 501.
pub fn not_implemented(def: &ServiceDef, op: &str) -> AwsError {
    AwsError::client(
        "NotImplemented",
        format!(
            "The operation {op} of {} ({}) is not implemented by podstack yet",
            def.full_name(),
            def.name
        ),
    )
    .status(501)
    .receiver()
}
