//! SQS operations, in the JSON protocol's shapes.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::queue::{Attr, Deletion, Message, Queue, QueueKey};
use super::{Call, Sqs, invalid, key_from_arn, key_from_url, no_queue, string_map, url_of};
use crate::checksum::{b64, b64_decode};
use crate::ids;
use crate::protocol::{AwsError, AwsResult, int_of, required, str_of};

/// Runs operation `op`.
pub async fn dispatch(sqs: &Sqs, call: &Call, op: &str, input: Value) -> AwsResult {
    match op {
        "CreateQueue" => create_queue(sqs, call, &input),
        "GetQueueUrl" => get_queue_url(sqs, call, &input),
        "ListQueues" => list_queues(sqs, call, &input),
        "DeleteQueue" => delete_queue(sqs, call, &input),
        "GetQueueAttributes" => get_attributes(sqs, call, &input),
        "SetQueueAttributes" => set_attributes(sqs, call, &input),
        "SendMessage" => send_message(sqs, call, &input),
        "SendMessageBatch" => send_batch(sqs, call, &input),
        "ReceiveMessage" => receive_message(sqs, call, &input).await,
        "DeleteMessage" => delete_message(sqs, call, &input),
        "DeleteMessageBatch" => delete_batch(sqs, call, &input),
        "ChangeMessageVisibility" => change_visibility(sqs, call, &input),
        "ChangeMessageVisibilityBatch" => change_visibility_batch(sqs, call, &input),
        "PurgeQueue" => purge(sqs, call, &input),
        "TagQueue" => tag_queue(sqs, call, &input),
        "UntagQueue" => untag_queue(sqs, call, &input),
        "ListQueueTags" => list_tags(sqs, call, &input),
        "ListDeadLetterSourceQueues" => dlq_sources(sqs, call, &input),
        "StartMessageMoveTask" => start_move_task(sqs, call, &input),
        "ListMessageMoveTasks" => Ok(json!({"Results": []})),
        other => Err(crate::service::not_implemented(&super::SERVICE, other)),
    }
}

fn queue_key(call: &Call, input: &Value) -> AwsResult<QueueKey> {
    key_from_url(required(input, "QueueUrl")?, call)
}

/// Runs `f` on the queue named by `QueueUrl`.
fn with_queue<T>(
    sqs: &Sqs,
    call: &Call,
    input: &Value,
    f: impl FnOnce(&mut Queue, &QueueKey) -> AwsResult<T>,
) -> AwsResult<T> {
    let key = queue_key(call, input)?;
    let mut queues = sqs.write();
    let q = queues.get_mut(&key).ok_or_else(no_queue)?;
    f(q, &key)
}

/// Whether `name` is a valid queue name (`.fifo` suffix allowed).
pub(crate) fn valid_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 80
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Validates attributes (names, ranges, JSON policies) and returns them in canonical form.
pub(crate) fn validate_attributes(
    input: Option<&Value>,
    fifo: bool,
    creating: bool,
) -> AwsResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(map) = input.and_then(Value::as_object) else {
        return Ok(out);
    };
    for (k, v) in map {
        if !SETTABLE.contains(&k.as_str()) {
            return Err(AwsError::client(
                "InvalidAttributeName",
                format!("Unknown Attribute {k}."),
            ));
        }
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let bad = || {
            AwsError::client(
                "InvalidAttributeValue",
                format!("Invalid value for the parameter {k}."),
            )
        };
        let range = |lo: i64, hi: i64| {
            s.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .map(|n| n.to_string())
                .ok_or_else(bad)
        };
        let canonical = match k.as_str() {
            "DelaySeconds" => range(0, 900)?,
            "MaximumMessageSize" => range(1024, 1_048_576)?,
            "MessageRetentionPeriod" => range(60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => range(0, 20)?,
            "VisibilityTimeout" => range(0, 43_200)?,
            "KmsDataKeyReusePeriodSeconds" => range(60, 86_400)?,
            "Policy" | "RedrivePolicy" | "RedriveAllowPolicy" if s.is_empty() => s,
            "Policy" | "RedriveAllowPolicy" => {
                serde_json::from_str::<Value>(&s)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(bad)?;
                s
            }
            "RedrivePolicy" => {
                let v: Value = serde_json::from_str(&s).map_err(|_| bad())?;
                let max_ok = match v.get("maxReceiveCount") {
                    Some(Value::Number(n)) => n.as_u64().is_some_and(|n| (1..=1000).contains(&n)),
                    Some(Value::String(t)) => {
                        t.parse::<u64>().is_ok_and(|n| (1..=1000).contains(&n))
                    }
                    _ => false,
                };
                if !max_ok
                    || v.get("deadLetterTargetArn")
                        .and_then(Value::as_str)
                        .and_then(key_from_arn)
                        .is_none()
                {
                    return Err(bad());
                }
                s
            }
            "FifoQueue" if !creating => {
                return Err(AwsError::client(
                    "InvalidAttributeName",
                    "FifoQueue can only be set at creation.",
                ));
            }
            "FifoQueue" | "ContentBasedDeduplication" | "SqsManagedSseEnabled" => {
                match s.as_str() {
                    "true" | "false" => s,
                    _ => return Err(bad()),
                }
            }
            "DeduplicationScope" if ["messageGroup", "queue"].contains(&s.as_str()) => s,
            "FifoThroughputLimit" if ["perQueue", "perMessageGroupId"].contains(&s.as_str()) => s,
            "DeduplicationScope" | "FifoThroughputLimit" => return Err(bad()),
            _ => s,
        };
        let fifo_only = [
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
        ];
        if !fifo && fifo_only.contains(&k.as_str()) {
            if k == "FifoQueue" && canonical == "false" {
                continue;
            }
            return Err(AwsError::client(
                "InvalidAttributeName",
                format!("Unknown Attribute {k}."),
            ));
        }
        out.insert(k.clone(), canonical);
    }
    Ok(out)
}

fn create_queue(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let name = required(input, "QueueName")?;
    if !valid_name(name) {
        return Err(invalid(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    let fifo = name.ends_with(".fifo");
    let mut attrs = validate_attributes(input.get("Attributes"), fifo, true)?;
    if attrs.get("FifoQueue").is_some_and(|v| v == "true") != fifo {
        return Err(invalid(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
        ));
    }
    attrs.remove("FifoQueue");
    let key = QueueKey {
        account: call.account.clone(),
        region: call.region.clone(),
        name: name.to_owned(),
    };
    let tags = tag_map(input.get("tags").or_else(|| input.get("Tags")))?;
    let mut queues = sqs.write();
    if let Some(existing) = queues.get(&key) {
        let same = attrs
            .iter()
            .all(|(k, v)| existing.attr(k).as_deref() == Some(v.as_str()));
        if !same {
            return Err(AwsError::client(
                "QueueNameExists",
                "A queue already exists with the same name and a different value for attribute(s).",
            ));
        }
    } else {
        let mut q = Queue::new(name, sqs.clock.now_secs());
        q.attributes = attrs;
        q.tags = tags;
        queues.insert(key.clone(), q);
    }
    Ok(json!({"QueueUrl": url_of(&key, &call.host)}))
}

fn tag_map(v: Option<&Value>) -> AwsResult<BTreeMap<String, String>> {
    let Some(m) = v.and_then(Value::as_object) else {
        return Ok(BTreeMap::new());
    };
    if m.len() > 50 {
        return Err(invalid("Too many tags added for queue."));
    }
    Ok(m.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect())
}

fn get_queue_url(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let name = required(input, "QueueName")?;
    let account = str_of(input, "QueueOwnerAWSAccountId")
        .unwrap_or(&call.account)
        .to_owned();
    let key = QueueKey {
        account,
        region: call.region.clone(),
        name: name.to_owned(),
    };
    if !sqs.read().contains_key(&key) {
        return Err(no_queue());
    }
    Ok(json!({"QueueUrl": url_of(&key, &call.host)}))
}

fn list_queues(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let prefix = str_of(input, "QueueNamePrefix").unwrap_or_default();
    let max = int_of(input, "MaxResults")?;
    if max.is_some_and(|m| !(1..=1000).contains(&m)) {
        return Err(invalid(
            "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.",
        ));
    }
    let after = str_of(input, "NextToken").map(str::to_owned);
    let queues = sqs.read();
    let names: Vec<&QueueKey> = queues
        .keys()
        .filter(|k| {
            k.account == call.account && k.region == call.region && k.name.starts_with(prefix)
        })
        .filter(|k| after.as_deref().is_none_or(|a| k.name.as_str() > a))
        .collect();
    let limit = max.map_or(1000, |m| m as usize);
    let page: Vec<Value> = names
        .iter()
        .take(limit)
        .map(|k| Value::String(url_of(k, &call.host)))
        .collect();
    let mut out = json!({});
    if !page.is_empty() {
        out["QueueUrls"] = Value::Array(page);
    }
    if max.is_some() && names.len() > limit {
        out["NextToken"] = Value::String(names[limit - 1].name.clone());
    }
    Ok(out)
}

fn delete_queue(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let key = queue_key(call, input)?;
    let mut queues = sqs.write();
    queues.remove(&key).ok_or_else(no_queue)?;
    sqs.queue_deleted(&key);
    Ok(json!({}))
}

fn get_attributes(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let names = string_list(input.get("AttributeNames"));
    let now = sqs.clock.now_ms();
    with_queue(sqs, call, input, |q, key| {
        let all = names.iter().any(|n| n == "All");
        let (visible, inflight, delayed) = q.counts(now);
        let mut out = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            if all || names.iter().any(|n| n == k) {
                out.insert(k.to_owned(), v);
            }
        };
        for (k, _) in super::queue::DEFAULTS {
            put(k, q.attr(k).unwrap_or_default());
        }
        for (k, v) in &q.attributes {
            put(k, v.clone());
        }
        put("ApproximateNumberOfMessages", visible.to_string());
        put(
            "ApproximateNumberOfMessagesNotVisible",
            inflight.to_string(),
        );
        put("ApproximateNumberOfMessagesDelayed", delayed.to_string());
        put("CreatedTimestamp", q.created.to_string());
        put("LastModifiedTimestamp", q.last_modified.to_string());
        put("QueueArn", key.arn());
        if q.fifo {
            put("FifoQueue", "true".into());
            put(
                "ContentBasedDeduplication",
                q.attr("ContentBasedDeduplication")
                    .unwrap_or_else(|| "false".into()),
            );
            put(
                "DeduplicationScope",
                q.attr("DeduplicationScope")
                    .unwrap_or_else(|| "queue".into()),
            );
            put(
                "FifoThroughputLimit",
                q.attr("FifoThroughputLimit")
                    .unwrap_or_else(|| "perQueue".into()),
            );
        }
        for n in &names {
            let known = n == "All"
                || SETTABLE.contains(&n.as_str())
                || n.starts_with("Approximate")
                || ["CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"].contains(&n.as_str());
            if !known {
                return Err(AwsError::client(
                    "InvalidAttributeName",
                    format!("Unknown Attribute {n}."),
                ));
            }
        }
        let mut res = json!({});
        if !out.is_empty() {
            res["Attributes"] = string_map(&out);
        }
        Ok(res)
    })
}

fn set_attributes(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let now = sqs.clock.now_secs();
    with_queue(sqs, call, input, |q, _| {
        let attrs = validate_attributes(input.get("Attributes"), q.fifo, false)?;
        for (k, v) in attrs {
            if v.is_empty()
                && ["Policy", "RedrivePolicy", "RedriveAllowPolicy"].contains(&k.as_str())
            {
                q.attributes.remove(&k);
            } else {
                q.attributes.insert(k, v);
            }
        }
        q.last_modified = now;
        q.touch();
        Ok(json!({}))
    })
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses `MessageAttributes` / `MessageSystemAttributes`.
fn parse_attrs(v: Option<&Value>) -> AwsResult<BTreeMap<String, Attr>> {
    let mut out = BTreeMap::new();
    let Some(m) = v.and_then(Value::as_object) else {
        return Ok(out);
    };
    if m.len() > 10 {
        return Err(invalid(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
        ));
    }
    for (name, a) in m {
        let data_type = str_of(a, "DataType").ok_or_else(|| {
            invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            ))
        })?;
        let base = data_type.split('.').next().unwrap_or_default();
        let string = str_of(a, "StringValue").map(str::to_owned);
        let binary = match a.get("BinaryValue") {
            Some(Value::String(s)) => Some(b64_decode(s).ok_or_else(|| {
                invalid(format!(
                    "The message attribute '{name}' has an invalid binary value."
                ))
            })?),
            _ => None,
        };
        let ok = match base {
            "String" | "Number" => string.is_some(),
            "Binary" => binary.is_some(),
            _ => false,
        };
        if !ok {
            return Err(invalid(format!(
                "The message attribute '{name}' with type '{data_type}' must use field '{}'.",
                if base == "Binary" { "Binary" } else { "String" }
            )));
        }
        out.insert(
            name.clone(),
            Attr {
                data_type: data_type.to_owned(),
                string,
                binary,
            },
        );
    }
    Ok(out)
}

fn valid_body(body: &str) -> bool {
    body.chars().all(|c| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}'))
}

/// Sends one message (shared by SendMessage and SendMessageBatch); returns the result entry.
fn send_one(sqs: &Sqs, call: &Call, q: &mut Queue, input: &Value) -> AwsResult {
    let body = required(input, "MessageBody")?;
    if body.is_empty() {
        return Err(invalid(
            "The request must contain the parameter MessageBody.",
        ));
    }
    if !valid_body(body) {
        return Err(AwsError::client(
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        ));
    }
    let attributes = parse_attrs(input.get("MessageAttributes"))?;
    let system_attributes = parse_attrs(input.get("MessageSystemAttributes"))?;
    let size = body.len()
        + attributes
            .iter()
            .map(|(k, a)| {
                k.len()
                    + a.data_type.len()
                    + a.string.as_ref().map_or(0, String::len)
                    + a.binary.as_ref().map_or(0, Vec::len)
            })
            .sum::<usize>();
    let max = q.attr_i64("MaximumMessageSize") as usize;
    if size > max {
        return Err(invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
        )));
    }
    let delay = int_of(input, "DelaySeconds")?;
    if delay.is_some_and(|d| !(0..=900).contains(&d)) {
        return Err(invalid(
            "Value for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.",
        ));
    }
    let group = str_of(input, "MessageGroupId").map(str::to_owned);
    let mut dedup_id = str_of(input, "MessageDeduplicationId").map(str::to_owned);
    if q.fifo {
        if delay.is_some_and(|d| d > 0) {
            return Err(invalid(
                "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
            ));
        }
        if group.is_none() {
            return Err(AwsError::client(
                "MissingParameter",
                "The request must contain the parameter MessageGroupId.",
            ));
        }
        if dedup_id.is_none() {
            if q.attr("ContentBasedDeduplication").as_deref() != Some("true") {
                return Err(invalid(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ));
            }
            dedup_id = Some(crate::checksum::hex(
                &<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()),
            ));
        }
    } else if dedup_id.is_some() {
        return Err(invalid(
            "Value for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.",
        ));
    }
    let now = sqs.clock.now_ms();
    let md5_attrs = super::md5::of_attributes(&attributes);
    let md5_sys = super::md5::of_attributes(&system_attributes);
    let dedup_key = dedup_id
        .as_ref()
        .map(|d| match q.attr("DeduplicationScope").as_deref() {
            Some("messageGroup") => format!("{}\u{0}{d}", group.as_deref().unwrap_or_default()),
            _ => d.clone(),
        });
    q.tick(now);
    let (id, seq) = match dedup_key.as_deref().and_then(|k| q.deduplicated(k, now)) {
        Some(prev) => prev,
        None => {
            let delay_ms = delay.unwrap_or_else(|| q.attr_i64("DelaySeconds")) * 1000;
            let m = Message {
                id: ids::request_id(),
                body: body.to_owned(),
                attributes,
                system_attributes,
                sent: now,
                seq: 0,
                receive_count: 0,
                first_receive: None,
                group,
                dedup_id,
                sequence_number: None,
                visible_at: now,
                receipt: None,
                sender: call.access_key.clone(),
                dlq_source: None,
            };
            let m = q.push(m, now, delay_ms, dedup_key);
            (m.id, m.sequence_number)
        }
    };
    let mut out = json!({"MessageId": id, "MD5OfMessageBody": super::md5::of_body(body)});
    if let Some(m) = md5_attrs {
        out["MD5OfMessageAttributes"] = Value::String(m);
    }
    if let Some(m) = md5_sys {
        out["MD5OfMessageSystemAttributes"] = Value::String(m);
    }
    if let Some(s) = seq {
        out["SequenceNumber"] = Value::String(s);
    }
    Ok(out)
}

fn send_message(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let key = queue_key(call, input)?;
    let out = {
        let mut queues = sqs.write();
        let q = queues.get_mut(&key).ok_or_else(no_queue)?;
        send_one(sqs, call, q, input)?
    };
    sqs.notify(&key).notify_waiters();
    Ok(out)
}

/// Checks batch entries: present, at most 10, ids valid and distinct.
fn batch_entries(input: &Value) -> AwsResult<Vec<Value>> {
    let entries = input
        .get("Entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if entries.is_empty() {
        return Err(AwsError::client(
            "EmptyBatchRequest",
            "There should be at least one SendMessageBatchRequestEntry in the request.",
        ));
    }
    if entries.len() > 10 {
        return Err(AwsError::client(
            "TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for e in &entries {
        let id = str_of(e, "Id").unwrap_or_default();
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AwsError::client(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if !seen.insert(id.to_owned()) {
            return Err(AwsError::client(
                "BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(entries)
}

fn failed(id: &str, e: &AwsError) -> Value {
    let code = super::SERVICE.model.wire_code(&e.code);
    json!({"Id": id, "SenderFault": e.sender, "Code": code, "Message": e.message})
}

fn batch_result(ok: Vec<Value>, bad: Vec<Value>) -> Value {
    json!({"Successful": ok, "Failed": bad})
}

fn send_batch(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let entries = batch_entries(input)?;
    let key = queue_key(call, input)?;
    let total: usize = entries
        .iter()
        .map(|e| str_of(e, "MessageBody").map_or(0, str::len))
        .sum();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    {
        let mut queues = sqs.write();
        let q = queues.get_mut(&key).ok_or_else(no_queue)?;
        let max = q.attr_i64("MaximumMessageSize") as usize;
        if total > max {
            return Err(AwsError::client(
                "BatchRequestTooLong",
                format!("Batch requests cannot be longer than {max} bytes."),
            ));
        }
        for e in &entries {
            let id = str_of(e, "Id").unwrap_or_default();
            match send_one(sqs, call, q, e) {
                Ok(mut r) => {
                    r["Id"] = Value::String(id.to_owned());
                    ok.push(r);
                }
                Err(err) => bad.push(failed(id, &err)),
            }
        }
    }
    sqs.notify(&key).notify_waiters();
    Ok(batch_result(ok, bad))
}

fn wanted(names: &[String], name: &str) -> bool {
    names.iter().any(|n| {
        n == "All"
            || n == ".*"
            || n == name
            || n.strip_suffix(".*").is_some_and(|p| name.starts_with(p))
    })
}

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({"DataType": a.data_type});
    if let Some(s) = &a.string {
        v["StringValue"] = Value::String(s.clone());
    }
    if let Some(b) = &a.binary {
        v["BinaryValue"] = Value::String(b64(b));
    }
    v
}

fn message_json(m: &Message, attr_names: &[String], msg_attr_names: &[String]) -> Value {
    let mut attrs = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|_| wanted(attr_names, k)) {
            attrs.insert(k.to_owned(), v);
        }
    };
    put("SenderId", Some(m.sender.clone()));
    put("SentTimestamp", Some(m.sent.to_string()));
    put("ApproximateReceiveCount", Some(m.receive_count.to_string()));
    put(
        "ApproximateFirstReceiveTimestamp",
        m.first_receive.map(|t| t.to_string()),
    );
    put("MessageGroupId", m.group.clone());
    put("MessageDeduplicationId", m.dedup_id.clone());
    put("SequenceNumber", m.sequence_number.clone());
    put("DeadLetterQueueSourceArn", m.dlq_source.clone());
    put(
        "AWSTraceHeader",
        m.system_attributes
            .get("AWSTraceHeader")
            .and_then(|a| a.string.clone()),
    );
    let selected: BTreeMap<String, Attr> = m
        .attributes
        .iter()
        .filter(|(k, _)| wanted(msg_attr_names, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut v = json!({
        "MessageId": m.id,
        "ReceiptHandle": m.receipt,
        "MD5OfBody": super::md5::of_body(&m.body),
        "Body": m.body,
    });
    if !attrs.is_empty() {
        v["Attributes"] = string_map(&attrs);
    }
    if let Some(md5) = super::md5::of_attributes(&selected) {
        v["MD5OfMessageAttributes"] = Value::String(md5);
        v["MessageAttributes"] = Value::Object(
            selected
                .iter()
                .map(|(k, a)| (k.clone(), attr_json(a)))
                .collect(),
        );
    }
    v
}

fn new_receipt() -> String {
    format!("{}{}", ids::alnum(64), ids::alnum(40))
}

/// Moves messages over their receive limit to the dead-letter queue named by the policy.
fn move_to_dlq(
    sqs: &Sqs,
    queues: &mut std::collections::BTreeMap<QueueKey, Queue>,
    source: &QueueKey,
    dlq_arn: &str,
    msgs: Vec<Message>,
    now: i64,
) {
    let Some(dlq_key) = key_from_arn(dlq_arn) else {
        return;
    };
    let Some(dlq) = queues.get_mut(&dlq_key) else {
        return;
    };
    for mut m in msgs {
        m.receive_count = 0;
        m.first_receive = None;
        m.receipt = None;
        m.dlq_source = Some(source.arn());
        let dedup = m.dedup_id.clone();
        dlq.push(m, now, 0, dedup.filter(|_| dlq.fifo));
    }
    sqs.notify(&dlq_key).notify_waiters();
}

async fn receive_message(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let key = queue_key(call, input)?;
    let max = int_of(input, "MaxNumberOfMessages")?.unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(invalid(format!(
            "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        )));
    }
    let wait = int_of(input, "WaitTimeSeconds")?;
    if wait.is_some_and(|w| !(0..=20).contains(&w)) {
        return Err(invalid(
            "Value for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
        ));
    }
    let visibility = int_of(input, "VisibilityTimeout")?;
    if visibility.is_some_and(|v| !(0..=43_200).contains(&v)) {
        return Err(invalid(
            "Value for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.",
        ));
    }
    let mut attr_names = string_list(input.get("AttributeNames"));
    attr_names.extend(string_list(input.get("MessageSystemAttributeNames")));
    let msg_attr_names = string_list(input.get("MessageAttributeNames"));
    let (wait, queue_vis) = {
        let queues = sqs.read();
        let q = queues.get(&key).ok_or_else(no_queue)?;
        (
            wait.unwrap_or_else(|| q.attr_i64("ReceiveMessageWaitTimeSeconds")),
            q.attr_i64("VisibilityTimeout"),
        )
    };
    let vis_ms = visibility.unwrap_or(queue_vis) * 1000;
    let deadline = sqs.clock.now_ms() + wait * 1000;
    let notify = sqs.notify(&key);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = sqs.clock.now_ms();
        let (got, next) = {
            let mut queues = sqs.write();
            let q = queues.get_mut(&key).ok_or_else(no_queue)?;
            let redrive = q.redrive();
            let r = q.receive(now, max as usize, vis_ms, new_receipt);
            let next = q.next_visible();
            let msgs: Vec<Value> = r
                .messages
                .iter()
                .map(|m| message_json(m, &attr_names, &msg_attr_names))
                .collect();
            if let Some((arn, _)) = redrive
                && !r.to_dlq.is_empty()
            {
                move_to_dlq(sqs, &mut queues, &key, &arn, r.to_dlq, now);
            }
            (msgs, next)
        };
        if !got.is_empty() || now >= deadline {
            let mut out = json!({});
            if !got.is_empty() {
                out["Messages"] = Value::Array(got);
            }
            return Ok(out);
        }
        let until = next.map_or(deadline, |n| n.min(deadline));
        tokio::select! {
            () = sqs.clock.sleep_until(until) => {}
            () = &mut notified => {}
        }
    }
}

fn delete_message(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let receipt = required(input, "ReceiptHandle")?;
    with_queue(sqs, call, input, |q, _| match q.delete(receipt) {
        Deletion::Deleted | Deletion::Stale => Ok(json!({})),
        Deletion::Malformed => Err(invalid_receipt(receipt)),
    })
}

fn invalid_receipt(r: &str) -> AwsError {
    AwsError::client(
        "ReceiptHandleIsInvalid",
        format!("The input receipt handle \"{r}\" is not a valid receipt handle."),
    )
}

fn delete_batch(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let entries = batch_entries(input)?;
    with_queue(sqs, call, input, |q, _| {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for e in &entries {
            let id = str_of(e, "Id").unwrap_or_default();
            let r = str_of(e, "ReceiptHandle").unwrap_or_default();
            match q.delete(r) {
                Deletion::Deleted | Deletion::Stale => ok.push(json!({"Id": id})),
                Deletion::Malformed => bad.push(failed(id, &invalid_receipt(r))),
            }
        }
        Ok(batch_result(ok, bad))
    })
}

fn visibility_one(sqs: &Sqs, q: &mut Queue, e: &Value) -> AwsResult<()> {
    let r = required(e, "ReceiptHandle")?;
    let v = int_of(e, "VisibilityTimeout")?.ok_or_else(|| {
        AwsError::client(
            "MissingParameter",
            "The request must contain the parameter VisibilityTimeout.",
        )
    })?;
    if !(0..=43_200).contains(&v) {
        return Err(invalid(format!(
            "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
        )));
    }
    q.change_visibility(r, sqs.clock.now_ms(), v * 1000)
        .map_err(|in_flight_handle| {
            if in_flight_handle {
                AwsError::client(
                    "MessageNotInflight",
                    "Message does not exist or is not available for visibility timeout change.",
                )
            } else {
                invalid_receipt(r)
            }
        })
}

fn change_visibility(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let key = queue_key(call, input)?;
    with_queue(sqs, call, input, |q, _| visibility_one(sqs, q, input))?;
    sqs.notify(&key).notify_waiters();
    Ok(json!({}))
}

fn change_visibility_batch(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let entries = batch_entries(input)?;
    let key = queue_key(call, input)?;
    let out = with_queue(sqs, call, input, |q, _| {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for e in &entries {
            let id = str_of(e, "Id").unwrap_or_default();
            match visibility_one(sqs, q, e) {
                Ok(()) => ok.push(json!({"Id": id})),
                Err(err) => bad.push(failed(id, &err)),
            }
        }
        Ok(batch_result(ok, bad))
    })?;
    sqs.notify(&key).notify_waiters();
    Ok(out)
}

fn purge(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    with_queue(sqs, call, input, |q, _| {
        q.purge();
        Ok(json!({}))
    })
}

fn tag_queue(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let tags = tag_map(input.get("Tags"))?;
    with_queue(sqs, call, input, |q, _| {
        q.touch();
        q.tags.extend(tags);
        if q.tags.len() > 50 {
            return Err(invalid("Too many tags added for queue."));
        }
        Ok(json!({}))
    })
}

fn untag_queue(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let keys = string_list(input.get("TagKeys"));
    with_queue(sqs, call, input, |q, _| {
        q.touch();
        for k in keys {
            q.tags.remove(&k);
        }
        Ok(json!({}))
    })
}

fn list_tags(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    with_queue(sqs, call, input, |q, _| {
        Ok(if q.tags.is_empty() {
            json!({})
        } else {
            json!({"Tags": string_map(&q.tags)})
        })
    })
}

fn dlq_sources(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let key = queue_key(call, input)?;
    let queues = sqs.read();
    if !queues.contains_key(&key) {
        return Err(no_queue());
    }
    let arn = key.arn();
    let urls: Vec<Value> = queues
        .iter()
        .filter(|(_, q)| q.redrive().is_some_and(|(a, _)| a == arn))
        .map(|(k, _)| Value::String(url_of(k, &call.host)))
        .collect();
    Ok(json!({"queueUrls": urls}))
}

/// Moves every message of a dead-letter queue back to its source (or `DestinationArn`) at
/// once; the task is reported as completed.
fn start_move_task(sqs: &Sqs, call: &Call, input: &Value) -> AwsResult {
    let source_arn = required(input, "SourceArn")?;
    let source = key_from_arn(source_arn).ok_or_else(no_queue)?;
    let now = sqs.clock.now_ms();
    let mut queues = sqs.write();
    let msgs: Vec<Message> = {
        let q = queues.get_mut(&source).ok_or_else(no_queue)?;
        let all: Vec<Message> = q.messages().cloned().collect();
        q.purge();
        all
    };
    let mut moved = 0u64;
    let mut by_dest: BTreeMap<QueueKey, Vec<Message>> = BTreeMap::new();
    for m in msgs {
        let dest = str_of(input, "DestinationArn")
            .map(str::to_owned)
            .or_else(|| m.dlq_source.clone());
        if let Some(k) = dest.as_deref().and_then(key_from_arn) {
            by_dest.entry(k).or_default().push(m);
        }
    }
    for (k, list) in by_dest {
        if let Some(dq) = queues.get_mut(&k) {
            for mut m in list {
                m.receive_count = 0;
                m.receipt = None;
                m.dlq_source = None;
                dq.push(m, now, 0, None);
                moved += 1;
            }
        }
    }
    let _ = call.account.as_str();
    Ok(json!({"TaskHandle": ids::alnum(32), "ApproximateNumberOfMessagesMoved": moved}))
}
