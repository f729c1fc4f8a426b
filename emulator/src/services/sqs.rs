//! SQS: both wire protocols (AWS JSON 1.0, what current SDKs send, and the query protocol)
//! over one implementation written in the JSON shape; `query` converts form input to that
//! shape and results back to XML.

pub mod md5;
pub mod ops;
pub mod query;
pub mod queue;
pub mod snapshot;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::protocol::model::O;
use crate::protocol::{AwsError, AwsResult};
use crate::registry::Build;
use crate::service::{BoxFuture, Deps, Provider, ServiceDef, read, write};
use queue::{Queue, QueueKey};

/// SQS in the registry. Its handlers validate input themselves, with the codes SQS answers
/// (`MissingParameter`, `InvalidParameterValue`, …), rather than the model's generic ones.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "sqs",
    model: &crate::protocol::models::sqs::MODEL,
    body_limit: 4 << 20,
    validate: false,
    error_type_prefix: "com.amazonaws.sqs#",
    ops: &[
        write("ChangeMessageVisibility"),
        write("ChangeMessageVisibilityBatch"),
        write("CreateQueue"),
        write("DeleteMessage"),
        write("DeleteMessageBatch"),
        write("DeleteQueue"),
        read("GetQueueAttributes"),
        read("GetQueueUrl"),
        read("ListDeadLetterSourceQueues"),
        read("ListMessageMoveTasks"),
        read("ListQueueTags"),
        read("ListQueues"),
        write("PurgeQueue"),
        write("ReceiveMessage"),
        write("SendMessage"),
        write("SendMessageBatch"),
        write("SetQueueAttributes"),
        write("StartMessageMoveTask"),
        write("TagQueue"),
        write("UntagQueue"),
    ],
};

/// The SQS service.
#[derive(Debug, Default)]
pub struct Sqs {
    /// Every queue of every account and region.
    pub queues: RwLock<BTreeMap<QueueKey, Queue>>,
    notify: Mutex<HashMap<QueueKey, Arc<Notify>>>,
    /// Deleted queues and "everything changed", for incremental snapshots (changed queues
    /// and messages are marked inside each [`Queue`]). Locked only while holding `queues`.
    marks: Mutex<crate::persist::snapshot::Marks<()>>,
    /// The clock.
    pub clock: Clock,
}

/// Who is calling and from where (account, region, host for queue URLs, access key).
pub type Call = crate::service::Context;

impl Sqs {
    /// An empty SQS using `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            ..Self::default()
        }
    }

    /// The wake-up handle of a queue (long polling).
    pub fn notify(&self, key: &QueueKey) -> Arc<Notify> {
        let mut m = self.notify.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key.clone()).or_default().clone()
    }

    /// Reads the queues.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<QueueKey, Queue>> {
        self.queues.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the queues.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<QueueKey, Queue>> {
        self.queues.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The change marks (take them only while holding the queues' write lock).
    pub fn marks(&self) -> std::sync::MutexGuard<'_, crate::persist::snapshot::Marks<()>> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a queue is gone: its document and its messages' subtree (called while
    /// holding the queues' write lock, so that a queue created again later is not affected).
    pub fn queue_deleted(&self, key: &QueueKey) {
        self.marks().delete_resource(
            [&key.account, &key.region, SERVICE.name],
            &["queue", "message"],
            &key.name,
        );
    }

    /// A copy of every queue, taken under the read lock.
    pub fn copy_state(&self) -> BTreeMap<QueueKey, Queue> {
        self.read().clone()
    }

    /// Replaces every queue, returning the previous ones, and wakes every long poll so that
    /// it looks at the new state. Everything counts as changed for the next snapshot.
    pub fn replace_state(&self, queues: BTreeMap<QueueKey, Queue>) -> BTreeMap<QueueKey, Queue> {
        let mut live = self.write();
        self.marks().set_all();
        let old = std::mem::replace(&mut *live, queues);
        drop(live);
        let waiting = self.notify.lock().unwrap_or_else(|p| p.into_inner());
        waiting.values().for_each(|n| n.notify_waiters());
        old
    }
}

impl Build for Sqs {
    const DEF: &'static ServiceDef = &SERVICE;

    fn build(deps: &Deps) -> Self {
        Self::new(deps.clock.clone())
    }
}

impl Provider for Sqs {
    fn def(&self) -> &'static ServiceDef {
        &SERVICE
    }

    fn call<'a>(&'a self, cx: &'a Call, op: &'a str, input: Value) -> BoxFuture<'a, AwsResult> {
        Box::pin(ops::dispatch(self, cx, op, input))
    }

    fn query_input(&self, _op: &O, params: &[(String, String)]) -> AwsResult {
        Ok(query::to_json(params))
    }

    fn query_output(&self, op: &O, output: &Value) -> String {
        query::to_xml(op.name, output)
    }
}

/// `QueueDoesNotExist` (its query code comes from the model).
pub fn no_queue() -> AwsError {
    AwsError::client("QueueDoesNotExist", "The specified queue does not exist.")
}

/// An invalid parameter value.
pub fn invalid(msg: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterValue", msg)
}

/// Parses a queue URL (or bare name) into its key: `…/<account>/<name>`.
pub fn key_from_url(url: &str, call: &Call) -> Result<QueueKey, AwsError> {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let path = if url.contains("://") {
        path
    } else {
        url.trim_start_matches('/')
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (account, name) = match segs.as_slice() {
        [.., a, n] if crate::config::is_account_id(a) => ((*a).to_owned(), (*n).to_owned()),
        [n] => (call.account.clone(), (*n).to_owned()),
        _ => return Err(no_queue()),
    };
    let region = url
        .split("://")
        .nth(1)
        .and_then(|h| h.split('/').next())
        .and_then(|host| {
            let parts: Vec<&str> = host.split('.').collect();
            (parts.len() > 2 && parts[0] == "sqs").then(|| parts[1].to_owned())
        })
        .filter(|r| r.contains('-'))
        .unwrap_or_else(|| call.region.clone());
    Ok(QueueKey {
        account,
        region,
        name,
    })
}

/// The URL of a queue as this endpoint shows it.
pub fn url_of(key: &QueueKey, host: &str) -> String {
    let port = host
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "http://sqs.{}.localhost.localstack.cloud{port}/{}/{}",
        key.region, key.account, key.name
    )
}

/// Finds a queue by ARN.
pub fn key_from_arn(arn: &str) -> Option<QueueKey> {
    let p: Vec<&str> = arn.split(':').collect();
    match p.as_slice() {
        ["arn", _, "sqs", region, account, name] => Some(QueueKey {
            account: (*account).to_owned(),
            region: (*region).to_owned(),
            name: (*name).to_owned(),
        }),
        _ => None,
    }
}

/// JSON of a string map.
pub fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        crate::service::Context::test("000000000000", "us-east-1")
    }

    #[test]
    fn queue_urls_in_both_styles() {
        let k = key_from_url(
            "http://sqs.eu-west-1.localhost.localstack.cloud:4566/111111111111/q1",
            &call(),
        )
        .expect("vhost");
        assert_eq!(
            (k.account.as_str(), k.region.as_str(), k.name.as_str()),
            ("111111111111", "eu-west-1", "q1")
        );
        let k = key_from_url("http://localhost:4566/000000000000/q2", &call()).expect("path");
        assert_eq!((k.region.as_str(), k.name.as_str()), ("us-east-1", "q2"));
        assert_eq!(
            url_of(&k, "127.0.0.1:4566"),
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q2"
        );
        assert!(key_from_url("http://localhost:4566/", &call()).is_err());
    }
}
