//! SQS state as resource documents, and back.
//!
//! # Layout
//! - `<account>/<region>/sqs/queue/<name>` → `sqs.queue/1`:
//!   `{name, created, last_modified, attributes {name: value}, tags {key: value}, next_seq,
//!   dedup: [[key, expires_ms, message_id, sequence_number | null], …]}` (dedup sorted by key;
//!   `created` and `last_modified` in Unix seconds, as the API shows them).
//! - `<account>/<region>/sqs/message/<queue>/<message id>` → `sqs.message/1`:
//!   `{queue, id, body, attributes {name: attr}, system_attributes {name: attr}, sent, seq,
//!   receive_count, first_receive, group, dedup_id, sequence_number, visible_at, receipt,
//!   sender, dlq_source}` where an attr is `{data_type, string, binary (base64)}`; times in
//!   Unix milliseconds; `receipt` is set while the message is in flight.
//!
//! Export writes the state as of each resource's last change (so that an incremental
//! snapshot, which re-encodes only changed queues and messages, equals a full one): a
//! message whose visibility has ended since may still show its receipt, and messages past
//! retention and expired deduplication entries may still be there; the rules at load below
//! apply time to them.
//!
//! # Rules at load (`now_ms` is the emulator clock at load)
//! - Messages that were in flight become visible again at load: their receipt handles are no
//!   longer valid; their receive counts and first-receive times are kept.
//! - Delayed messages keep their absolute visible-at time.
//! - Deduplication entries keep their absolute expiry; expired ones are dropped.
//! - Messages past the queue's retention period are dropped.
//! - A message needs its queue's document; ids and `seq` values are unique within a queue.
//! - Attributes are validated as `SetQueueAttributes` validates them.
//! - Long polls waiting when a state is installed are woken and see the new state.

use std::collections::{BTreeMap, HashMap};

use podstore::{Document, FieldWriter, StatePath};
use serde_json::{Value, json};

use super::ops::{valid_name, validate_attributes};
use super::queue::{Attr, DedupEntry, Message, Queue, QueueKey};
use super::{SERVICE, Sqs};
use crate::checksum::b64;
use crate::persist::snapshot::decode::{
    DecodeError, DecodeResult, Fields, MAX_COUNT, built_leaf, check_schema, map_json, split,
};
use crate::persist::snapshot::{Delta, Leaves, ServiceSnapshot, Staged, Taken, staged};

/// `sqs.queue/1`.
pub const QUEUE: (&str, u32) = ("sqs.queue", 1);
/// `sqs.message/1`.
pub const MESSAGE: (&str, u32) = ("sqs.message", 1);

/// A changed queue copied under the lock: its document and its changed messages (`None`:
/// gone).
type ChangedQueue = (
    QueueKey,
    (StatePath, Document),
    Vec<(String, Option<Message>)>,
);

/// The staged form: every queue by key.
type Queues = BTreeMap<QueueKey, Queue>;

impl ServiceSnapshot for Sqs {
    fn name(&self) -> &'static str {
        SERVICE.name
    }

    fn schemas(&self) -> Vec<(&'static str, u32)> {
        vec![QUEUE, MESSAGE]
    }

    fn export(&self, now_ms: i64) -> Result<Leaves, String> {
        let queues = self.copy_state();
        encode(queues, now_ms)
    }

    fn stage(&self, leaves: Leaves, now_ms: i64) -> Result<Staged<'_>, DecodeError> {
        let state: Queues = decode(&leaves, now_ms)?;
        Ok(staged(self, state, |s, state| {
            s.replace_state(state);
        }))
    }

    fn reset(&self) {
        self.replace_state(Queues::new());
    }

    fn export_changes(&self, now_ms: i64) -> Result<Delta, String> {
        let mut changed: Vec<ChangedQueue> = Vec::new();
        let deleted = {
            let mut queues = self.write();
            let deleted = match self.marks().take() {
                Taken::All => None,
                Taken::Some { deleted, .. } => Some(deleted),
            };
            let Some(deleted) = deleted else {
                let copy = queues.clone();
                queues.values_mut().for_each(|q| drop(q.take_changes()));
                drop(queues);
                return Ok(Delta::Full(encode(copy, now_ms)?));
            };
            for (key, q) in queues.iter_mut() {
                if let Some(messages) = q.take_changes() {
                    changed.push((key.clone(), queue_leaf(key, q)?, messages));
                }
            }
            deleted
        };
        let mut gone = deleted;
        let mut set = Vec::new();
        for (key, queue_doc, messages) in changed {
            set.push(queue_doc);
            for (id, m) in messages {
                match m {
                    Some(m) => set.push(message_leaf(&key, &m)?),
                    None => gone.push(crate::persist::snapshot::decode::path([
                        key.account.as_str(),
                        &key.region,
                        SERVICE.name,
                        "message",
                        &key.name,
                        &id,
                    ])?),
                }
            }
        }
        Ok(Delta::Changes { deleted: gone, set })
    }

    fn mark_all(&self) {
        let _queues = self.write();
        self.marks().set_all();
    }

    fn mark_clean(&self) {
        let mut queues = self.write();
        self.marks().clear();
        queues.values_mut().for_each(|q| drop(q.take_changes()));
    }
}

/// Encodes every queue as it is (as of its last change; the rules of time run at load),
/// sorted by path.
pub fn encode(queues: Queues, _now: i64) -> Result<Leaves, String> {
    let mut out = Vec::new();
    for (key, q) in queues {
        out.push(queue_leaf(&key, &q)?);
        for m in q.messages() {
            out.push(message_leaf(&key, m)?);
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A queue's document, written field by field: under ON_REQUEST every journal append that
/// carries a send writes it again (`next_seq` changed).
fn queue_leaf(key: &QueueKey, q: &Queue) -> Result<(StatePath, Document), String> {
    let dedup: Vec<Value> = q
        .dedup_entries()
        .into_iter()
        .map(|d| json!([d.key, d.expires, d.message_id, d.sequence_number]))
        .collect();
    let segments = [
        key.account.as_str(),
        &key.region,
        SERVICE.name,
        "queue",
        &key.name,
    ];
    built_leaf(segments, QUEUE, |w| {
        w.object("attributes", |o| write_strings(o, &q.attributes));
        w.i64("created", q.created);
        w.value("dedup", &Value::Array(dedup));
        w.i64("last_modified", q.last_modified);
        w.str("name", &q.name);
        w.u64("next_seq", q.next_seq());
        w.object("tags", |o| write_strings(o, &q.tags));
    })
}

/// `{name: value}` of a string map, names in map (byte) order.
fn write_strings(w: &mut FieldWriter<'_>, map: &BTreeMap<String, String>) {
    for (k, v) in map {
        w.str(k, v);
    }
}

/// A message's document, written field by field (queues hold many messages, and every save
/// writes the changed ones): no JSON value is built.
fn message_leaf(key: &QueueKey, m: &Message) -> Result<(StatePath, Document), String> {
    let segments = [
        key.account.as_str(),
        &key.region,
        SERVICE.name,
        "message",
        &key.name,
        &m.id,
    ];
    built_leaf(segments, MESSAGE, |w| {
        // Keys in canonical (byte) order; the builder puts `schema` in its place.
        w.object("attributes", |o| write_attrs(o, &m.attributes));
        w.str("body", &m.body);
        w.opt_str("dedup_id", m.dedup_id.as_deref());
        w.opt_str("dlq_source", m.dlq_source.as_deref());
        w.opt_i64("first_receive", m.first_receive);
        w.opt_str("group", m.group.as_deref());
        w.str("id", &m.id);
        w.str("queue", &key.name);
        w.opt_str("receipt", m.receipt.as_deref());
        w.u64("receive_count", m.receive_count.into());
        w.str("sender", &m.sender);
        w.i64("sent", m.sent);
        w.u64("seq", m.seq);
        w.opt_str("sequence_number", m.sequence_number.as_deref());
        w.object("system_attributes", |o| {
            write_attrs(o, &m.system_attributes)
        });
        w.i64("visible_at", m.visible_at);
    })
}

/// `{name: {binary (base64) | null, data_type, string | null}}`, names in map (byte) order.
fn write_attrs(w: &mut FieldWriter<'_>, attrs: &BTreeMap<String, Attr>) {
    for (name, a) in attrs {
        w.object(name, |o| {
            o.opt_str("binary", a.binary.as_deref().map(b64).as_deref());
            o.str("data_type", &a.data_type);
            o.opt_str("string", a.string.as_deref());
        });
    }
}

/// A decoded queue document.
#[derive(Debug)]
struct QueueDoc {
    queue: Queue,
    next_seq: u64,
    dedup: Vec<DedupEntry>,
}

/// Decoded documents before they are put together.
#[derive(Debug, Default)]
struct Assembly {
    queues: BTreeMap<QueueKey, QueueDoc>,
    messages: BTreeMap<QueueKey, Vec<(String, Message)>>,
}

/// Decodes SQS leaves into every queue, rebuilt at `now`; errors name the path and the
/// problem.
pub fn decode(leaves: &Leaves, now: i64) -> DecodeResult<Queues> {
    let mut a = Assembly::default();
    for (p, d) in leaves {
        a.add(p, d)?;
    }
    a.finish(now)
}

impl Assembly {
    fn add(&mut self, p: &StatePath, d: &Document) -> DecodeResult<()> {
        let leaf = split(p, SERVICE.name)?;
        leaf.regional(p)?;
        let at = p.to_string();
        let f = Fields::new(&at, d.value())?;
        let key = |name: &str| QueueKey {
            account: leaf.account.to_owned(),
            region: leaf.region.to_owned(),
            name: name.to_owned(),
        };
        match leaf.kind {
            "queue" => {
                let [name] = leaf.ids(p, "<account>/<region>/sqs/queue/<name>")?;
                check_schema(p, d, QUEUE.0, QUEUE.1)?;
                let doc = decode_queue(&f, name)?;
                if self.queues.insert(key(name), doc).is_some() {
                    return Err(DecodeError::new(
                        &at,
                        format!("queue {name:?} is defined twice"),
                    ));
                }
                Ok(())
            }
            "message" => {
                let [queue, id] = leaf.ids(p, "<account>/<region>/sqs/message/<queue>/<id>")?;
                check_schema(p, d, MESSAGE.0, MESSAGE.1)?;
                let m = decode_message(&f, queue, id)?;
                self.messages.entry(key(queue)).or_default().push((at, m));
                Ok(())
            }
            other => Err(DecodeError::new(
                &at,
                format!("unknown SQS resource type {other:?}"),
            )),
        }
    }

    fn finish(mut self, now: i64) -> DecodeResult<Queues> {
        let mut out = Queues::new();
        for (key, messages) in std::mem::take(&mut self.messages) {
            let Some((at, _)) = messages.first() else {
                continue;
            };
            if !self.queues.contains_key(&key) {
                return Err(DecodeError::new(
                    at,
                    format!(
                        "queue {:?} of account {} in {} is not in the state",
                        key.name, key.account, key.region
                    ),
                ));
            }
            check_unique(&messages)?;
            if let Some(doc) = self.queues.remove(&key) {
                let list = messages.into_iter().map(|(_, m)| m).collect();
                out.insert(key, doc.queue.restore(list, doc.dedup, doc.next_seq, now));
            }
        }
        for (key, doc) in self.queues {
            let q = doc.queue.restore(Vec::new(), doc.dedup, doc.next_seq, now);
            out.insert(key, q);
        }
        Ok(out)
    }
}

/// Message ids and sequence numbers are unique within a queue.
fn check_unique(messages: &[(String, Message)]) -> DecodeResult<()> {
    let mut ids = HashMap::new();
    let mut seqs = HashMap::new();
    for (at, m) in messages {
        if ids.insert(m.id.as_str(), at).is_some() {
            return Err(DecodeError::new(
                at,
                format!("message {:?} is defined twice", m.id),
            ));
        }
        if let Some(other) = seqs.insert(m.seq, m.id.as_str()) {
            return Err(DecodeError::new(
                at,
                format!("seq {} is also the seq of message {other:?}", m.seq),
            ));
        }
    }
    Ok(())
}

fn decode_queue(f: &Fields<'_>, name: &str) -> DecodeResult<QueueDoc> {
    f.matches("name", name)?;
    if !valid_name(name) {
        return Err(f.err("name", &format!("{name:?} is not a valid queue name")));
    }
    let mut queue = Queue::new(name, f.time_s("created")?);
    queue.last_modified = f.time_s("last_modified")?;
    queue.attributes = decode_attributes(f, queue.fifo)?;
    queue.tags = f.string_map("tags")?;
    Ok(QueueDoc {
        queue,
        next_seq: f.count("next_seq", MAX_COUNT)?,
        dedup: decode_dedup(f)?,
    })
}

/// Attributes, validated and canonicalized as `SetQueueAttributes` does.
fn decode_attributes(f: &Fields<'_>, fifo: bool) -> DecodeResult<BTreeMap<String, String>> {
    let given = f.string_map("attributes")?;
    let as_json = map_json(&given);
    let mut attrs = validate_attributes(Some(&as_json), fifo, true)
        .map_err(|e| f.err("attributes", &format!("are invalid: {}", e.message)))?;
    attrs.remove("FifoQueue");
    Ok(attrs)
}

fn decode_dedup(f: &Fields<'_>) -> DecodeResult<Vec<DedupEntry>> {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for (i, e) in f.opt_array("dedup")?.iter().enumerate() {
        let name = format!("dedup[{i}]");
        let entry = dedup_entry(e).ok_or_else(|| {
            f.err(
                &name,
                "must be [key, expires_ms, message_id, sequence_number | null]",
            )
        })?;
        if seen.insert(entry.key.clone(), i).is_some() {
            return Err(f.err(&name, &format!("repeats the key {:?}", entry.key)));
        }
        out.push(entry);
    }
    Ok(out)
}

fn dedup_entry(v: &Value) -> Option<DedupEntry> {
    let [key, expires, id, seq] = v.as_array()?.as_slice() else {
        return None;
    };
    let expires = expires
        .as_i64()
        .filter(|t| (0..=crate::persist::snapshot::decode::MAX_TIME_MS).contains(t))?;
    let sequence_number = match seq {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        _ => return None,
    };
    Some(DedupEntry {
        key: key.as_str()?.to_owned(),
        expires,
        message_id: id.as_str()?.to_owned(),
        sequence_number,
    })
}

fn decode_message(f: &Fields<'_>, queue: &str, id: &str) -> DecodeResult<Message> {
    f.matches("queue", queue)?;
    f.matches("id", id)?;
    let receive_count = f.u32("receive_count")?;
    if receive_count > i32::MAX as u32 {
        return Err(f.err("receive_count", "is too large"));
    }
    Ok(Message {
        id: id.to_owned(),
        body: f.str("body")?.to_owned(),
        attributes: decode_attrs(f, "attributes")?,
        system_attributes: decode_attrs(f, "system_attributes")?,
        sent: f.time("sent")?,
        seq: f.count("seq", MAX_COUNT)?,
        receive_count,
        first_receive: f.opt_time("first_receive")?,
        group: f.opt_string("group")?,
        dedup_id: f.opt_string("dedup_id")?,
        sequence_number: f.opt_string("sequence_number")?,
        visible_at: f.time("visible_at")?,
        receipt: f.opt_string("receipt")?,
        sender: f.str("sender")?.to_owned(),
        dlq_source: f.opt_string("dlq_source")?,
    })
}

fn decode_attrs(f: &Fields<'_>, k: &str) -> DecodeResult<BTreeMap<String, Attr>> {
    let mut out = BTreeMap::new();
    for (name, v) in f.entries(k)? {
        let a = f.nested(&format!("{k}.{name}"), v)?;
        let attr = Attr {
            data_type: a.str("data_type")?.to_owned(),
            string: a.opt_string("string")?,
            binary: a.opt_base64("binary")?,
        };
        out.insert(name.clone(), attr);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;
    use crate::persist::snapshot::decode::testing::{self, edited_at as edited, mutations};
    use crate::service::Context;

    const A: &str = "000000000000";
    const B: &str = "111111111111";

    fn caller(account: &str, region: &str) -> Context {
        Context::test(account, region)
    }

    async fn call(sqs: &Sqs, c: &Context, op: &str, input: Value) -> Value {
        super::super::ops::dispatch(sqs, c, op, input)
            .await
            .unwrap_or_else(|e| panic!("{op}: {e:?}"))
    }

    async fn send(sqs: &Sqs, url: &str, extra: Value) -> String {
        let mut input = json!({"QueueUrl": url, "MessageBody": "hello"});
        if let (Some(i), Some(e)) = (input.as_object_mut(), extra.as_object()) {
            i.extend(e.clone());
        }
        let out = call(sqs, &caller(A, "us-east-1"), "SendMessage", input).await;
        out["MessageId"].as_str().expect("id").to_owned()
    }

    async fn receive(sqs: &Sqs, url: &str) -> Vec<Value> {
        let input = json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "AttributeNames": ["All"], "MessageAttributeNames": ["All"]});
        let out = call(sqs, &caller(A, "us-east-1"), "ReceiveMessage", input).await;
        out["Messages"].as_array().cloned().unwrap_or_default()
    }

    /// A standard queue with a DLQ policy, attributes (binary too), a delayed and an in-flight
    /// message; a FIFO queue with deduplication entries and a message in flight; a queue in
    /// another account and region. Returns (sqs, main url, fifo url).
    async fn rich() -> (Sqs, String, String) {
        let sqs = Sqs::new(Clock::default());
        let c = caller(A, "us-east-1");
        call(&sqs, &c, "CreateQueue", json!({"QueueName": "dlq"})).await;
        let policy = json!({"deadLetterTargetArn": format!("arn:aws:sqs:us-east-1:{A}:dlq"), "maxReceiveCount": 3}).to_string();
        let main = call(&sqs, &c, "CreateQueue", json!({"QueueName": "main", "Attributes": {"RedrivePolicy": policy, "VisibilityTimeout": "60"}, "tags": {"team": "a"}})).await;
        let main = main["QueueUrl"].as_str().expect("url").to_owned();
        let attrs = json!({"MessageAttributes": {
            "bin": {"DataType": "Binary", "BinaryValue": "AAEC/w=="},
            "n": {"DataType": "Number", "StringValue": "42"},
            "s": {"DataType": "String.custom", "StringValue": "x"}},
            "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}}});
        send(&sqs, &main, attrs).await;
        send(
            &sqs,
            &main,
            json!({"DelaySeconds": 600, "MessageBody": "later"}),
        )
        .await;
        assert_eq!(
            receive(&sqs, &main).await.len(),
            1,
            "the first is now in flight"
        );
        send(&sqs, &main, json!({"MessageBody": "visible"})).await;
        let fifo = call(&sqs, &c, "CreateQueue", json!({"QueueName": "orders.fifo", "Attributes": {"FifoQueue": "true", "ContentBasedDeduplication": "true"}})).await;
        let fifo = fifo["QueueUrl"].as_str().expect("url").to_owned();
        send(
            &sqs,
            &fifo,
            json!({"MessageGroupId": "g1", "MessageBody": "one"}),
        )
        .await;
        send(
            &sqs,
            &fifo,
            json!({"MessageGroupId": "g1", "MessageBody": "two"}),
        )
        .await;
        send(
            &sqs,
            &fifo,
            json!({"MessageGroupId": "g2", "MessageDeduplicationId": "d-1"}),
        )
        .await;
        let got = receive(&sqs, &fifo).await;
        assert_eq!(got.len(), 3, "both groups are now in flight");
        call(
            &sqs,
            &c,
            "DeleteMessage",
            json!({"QueueUrl": fifo, "ReceiptHandle": got[2]["ReceiptHandle"]}),
        )
        .await;
        call(
            &sqs,
            &caller(B, "eu-west-1"),
            "CreateQueue",
            json!({"QueueName": "elsewhere"}),
        )
        .await;
        (sqs, main, fifo)
    }

    fn find<'a>(leaves: &'a Leaves, path: &str) -> &'a Value {
        leaves
            .iter()
            .find(|(p, _)| p.to_string() == path)
            .map(|(_, d)| d.value())
            .unwrap_or_else(|| panic!("no leaf {path}"))
    }

    fn in_flight(leaves: &Leaves) -> usize {
        leaves
            .iter()
            .filter(|(_, d)| !d.value()["receipt"].is_null() && d.value().get("receipt").is_some())
            .count()
    }

    /// What a load at `now` does to exported documents: in-flight messages become visible.
    fn loaded(leaves: &Leaves, now: i64) -> Leaves {
        leaves
            .iter()
            .map(|(p, d)| {
                let mut v = d.value().clone();
                if v.get("receipt").is_some_and(|r| !r.is_null()) {
                    let until = v["visible_at"].as_i64().expect("time");
                    v["receipt"] = Value::Null;
                    v["visible_at"] = json!(until.min(now));
                }
                (p.clone(), Document::new(v).expect("doc"))
            })
            .collect()
    }

    fn reload(sqs: &Sqs, leaves: Leaves, now: i64) {
        let staged = sqs.stage(leaves, now).expect("stage");
        staged.install();
    }

    fn stage_err(sqs: &Sqs, leaves: Leaves) -> String {
        testing::stage_err(sqs, leaves, sqs.clock.now_ms())
    }

    #[tokio::test]
    async fn a_rich_state_round_trips() {
        let (sqs, _, _) = rich().await;
        let now = sqs.clock.now_ms();
        let first = sqs.export(now).expect("export");
        assert_eq!(first.len(), 4 + 5, "4 queues, 5 messages");
        assert_eq!(in_flight(&first), 3);
        // Queues and messages are written field by field: their bytes must be the canonical form.
        for (p, d) in &first {
            let canonical = Document::new(d.value().clone()).expect("doc");
            assert_eq!(d.bytes(), canonical.bytes(), "{p}");
        }
        let fifo = find(&first, "000000000000/us-east-1/sqs/queue/orders.fifo");
        assert_eq!(fifo["dedup"].as_array().expect("dedup").len(), 3);
        assert_eq!(fifo["next_seq"], 3);
        sqs.reset();
        assert!(sqs.export(now).expect("empty").is_empty());
        reload(&sqs, first.clone(), now);
        let second = sqs.export(now).expect("export");
        assert_eq!(
            second,
            loaded(&first, now),
            "equal but for in-flight messages"
        );
        assert_eq!(in_flight(&second), 0);
        reload(&sqs, second.clone(), now);
        assert_eq!(sqs.export(now).expect("export"), second, "a fixed point");
    }

    #[tokio::test]
    async fn in_flight_messages_become_visible_and_delays_keep_their_time() {
        let (sqs, main, fifo) = rich().await;
        let now = sqs.clock.now_ms();
        let leaves = sqs.export(now).expect("export");
        reload(&sqs, leaves, now);
        let got = receive(&sqs, &main).await;
        // A standard queue does not promise an order: compare as a set.
        let mut bodies: Vec<&str> = got.iter().filter_map(|m| m["Body"].as_str()).collect();
        bodies.sort_unstable();
        assert_eq!(
            bodies,
            ["hello", "visible"],
            "the in-flight message is back, the delayed one is not"
        );
        let first = got.iter().find(|m| m["Body"] == "hello").expect("hello");
        assert_eq!(first["Attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(first["MessageAttributes"]["bin"]["BinaryValue"], "AAEC/w==");
        assert_eq!(first["Attributes"]["AWSTraceHeader"], "Root=1");
        let fifo_bodies: Vec<Value> = receive(&sqs, &fifo)
            .await
            .iter()
            .map(|m| m["Body"].clone())
            .collect();
        assert_eq!(
            fifo_bodies,
            [json!("one"), json!("two")],
            "group order is kept"
        );
        sqs.clock.advance(Duration::from_secs(601));
        let later = receive(&sqs, &main).await;
        assert!(
            later.iter().any(|m| m["Body"] == "later"),
            "visible at its own time"
        );
    }

    #[tokio::test]
    async fn expired_dedup_entries_and_messages_are_dropped_at_load() {
        let (sqs, _, fifo) = rich().await;
        let now = sqs.clock.now_ms();
        let leaves = sqs.export(now).expect("export");
        let later = now + 301_000;
        reload(&sqs, leaves.clone(), later);
        let out = sqs.export(later).expect("export");
        let q = find(&out, "000000000000/us-east-1/sqs/queue/orders.fifo");
        assert_eq!(q["dedup"], json!([]), "the 5-minute window has passed");
        sqs.clock.advance(Duration::from_secs(301));
        let again = send(
            &sqs,
            &fifo,
            json!({"MessageGroupId": "g1", "MessageBody": "one"}),
        )
        .await;
        assert!(
            !leaves
                .iter()
                .any(|(p, _)| p.segments().last() == Some(&again)),
            "a new message"
        );
        // Past the 4-day default retention every message is gone.
        let much_later = now + 345_600_000 + 1;
        reload(&sqs, leaves.clone(), much_later);
        let out = sqs.export(much_later).expect("export");
        assert_eq!(out.len(), 4, "only the queues are left");
    }

    #[tokio::test]
    async fn install_wakes_long_polls() {
        let (sqs, main, _) = rich().await;
        let now = sqs.clock.now_ms();
        let leaves = sqs.export(now).expect("export");
        call(
            &sqs,
            &caller(A, "us-east-1"),
            "PurgeQueue",
            json!({"QueueUrl": main}),
        )
        .await;
        let sqs = std::sync::Arc::new(sqs);
        let poller = {
            let (sqs, main) = (sqs.clone(), main.clone());
            tokio::spawn(async move {
                let input = json!({"QueueUrl": main, "WaitTimeSeconds": 20});
                super::super::ops::dispatch(&sqs, &caller(A, "us-east-1"), "ReceiveMessage", input)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        reload(&sqs, leaves, now);
        let got = tokio::time::timeout(Duration::from_secs(5), poller)
            .await
            .expect("woken, not timed out")
            .expect("join")
            .expect("receive");
        assert!(!got["Messages"].as_array().expect("messages").is_empty());
    }

    #[tokio::test]
    async fn bad_documents_are_refused_with_the_path_and_the_problem() {
        let (sqs, _, _) = rich().await;
        let leaves = sqs.export(sqs.clock.now_ms()).expect("export");
        let queue = "000000000000/us-east-1/sqs/queue/main";
        let message = leaves
            .iter()
            .find(|(p, d)| p.segments()[4] == "main" && d.value()["body"] == "hello")
            .map(|(p, _)| p.to_string())
            .expect("the message with attributes");
        let message = message.as_str();
        let cases: Vec<(Leaves, String)> = vec![
            (
                edited(&leaves, queue, |v| v["schema"] = json!("sqs.queue/2")),
                format!("{queue}: sqs.queue/2 is newer than this podstack understands"),
            ),
            (
                edited(&leaves, queue, |v| v["name"] = json!("other")),
                "name is \"other\" but the path says \"main\"".into(),
            ),
            (
                edited(&leaves, queue, |v| {
                    v["attributes"]["VisibilityTimeout"] = json!("forever")
                }),
                format!(
                    "{queue}: attributes are invalid: Invalid value for the parameter VisibilityTimeout."
                ),
            ),
            (
                edited(&leaves, queue, |v| v["dedup"] = json!([["k", 1]])),
                "dedup[0] must be [key, expires_ms".into(),
            ),
            (
                edited(&leaves, queue, |v| v["next_seq"] = json!(-3)),
                "next_seq must be a non-negative integer".into(),
            ),
            (
                edited(&leaves, message, |v| {
                    v["attributes"]["bin"]["binary"] = json!("%%%")
                }),
                format!("{message}: attributes.bin.binary is not valid base64"),
            ),
            (
                edited(&leaves, message, |v| v["seq"] = json!(3)),
                "seq 3 is also the seq of message".into(),
            ),
            (
                edited(&leaves, message, |v| {
                    v.as_object_mut().map(|m| m.remove("body"));
                }),
                format!("{message}: body is missing"),
            ),
            (
                edited(&leaves, message, |v| v["sent"] = json!(-1)),
                "sent is -1, outside the times".into(),
            ),
            (
                edited(&leaves, message, |v| v["queue"] = json!("dlq")),
                "queue is \"dlq\" but the path says \"main\"".into(),
            ),
        ];
        for (bad, expected) in cases {
            let e = stage_err(&sqs, bad);
            assert!(e.contains(&expected), "{e:?} should contain {expected:?}");
        }
        let orphan: Leaves = leaves
            .iter()
            .filter(|(p, _)| p.to_string() != queue)
            .cloned()
            .collect();
        let e = stage_err(&sqs, orphan);
        assert!(
            e.contains("queue \"main\" of account 000000000000 in us-east-1 is not in the state"),
            "{e}"
        );
        let mut twice = leaves.clone();
        let dup = twice
            .iter()
            .find(|(p, _)| p.to_string() == message)
            .cloned()
            .expect("message");
        twice.push(dup);
        assert!(stage_err(&sqs, twice).contains("is defined twice"));
        let mut global = leaves.clone();
        let (p, d) = global[0].clone();
        let mut segs = p.segments().to_vec();
        segs[1] = "global".into();
        global[0] = (StatePath::new(segs).expect("path"), d);
        assert!(stage_err(&sqs, global).contains("cannot be under \"global\""));
    }

    #[tokio::test]
    async fn unknown_fields_are_ignored_and_no_mutation_panics() {
        let (sqs, _, _) = rich().await;
        let now = sqs.clock.now_ms();
        let leaves = sqs.export(now).expect("export");
        let extended: Leaves = leaves
            .iter()
            .map(|(p, d)| {
                let mut v = d.value().clone();
                v["from_the_future"] = json!([1, 2]);
                (p.clone(), Document::new(v).expect("doc"))
            })
            .collect();
        reload(&sqs, extended, now);
        assert_eq!(sqs.export(now).expect("export"), loaded(&leaves, now));
        let variants = mutations(&leaves);
        assert!(variants.len() > 500, "{}", variants.len());
        let refused = variants
            .into_iter()
            .filter(|v| sqs.stage(v.clone(), now).is_err())
            .count();
        assert!(refused > 100, "{refused}");
    }
}
