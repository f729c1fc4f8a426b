//! A queue and its messages. Every operation takes the time as an argument, so the rules
//! (delays, visibility, retention, FIFO groups, deduplication) are plain functions of time.
//!
//! Messages waiting to be received sit in `ready`, keyed by when they become visible (standard
//! queues) or by sequence (FIFO, where order matters and a group blocks while it has a
//! message in flight); received ones sit in `inflight` keyed by when their visibility ends.
//! Both are ordered maps, so send, receive and delete cost O(log n) at any queue depth.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

/// One message attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// `String`, `Number`, `Binary`, optionally with a `.custom` suffix.
    pub data_type: String,
    /// String value (String and Number types).
    pub string: Option<String>,
    /// Binary value.
    pub binary: Option<Vec<u8>>,
}

/// A message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Message id (UUID shape).
    pub id: String,
    /// Body.
    pub body: String,
    /// Message attributes.
    pub attributes: BTreeMap<String, Attr>,
    /// System attributes (`AWSTraceHeader`).
    pub system_attributes: BTreeMap<String, Attr>,
    /// When it was sent (ms).
    pub sent: i64,
    /// Order of arrival in this queue.
    pub seq: u64,
    /// Times received.
    pub receive_count: u32,
    /// First receive (ms).
    pub first_receive: Option<i64>,
    /// FIFO group.
    pub group: Option<String>,
    /// FIFO deduplication id.
    pub dedup_id: Option<String>,
    /// FIFO sequence number.
    pub sequence_number: Option<String>,
    /// When it becomes (or became) visible (ms).
    pub visible_at: i64,
    /// The receipt handle of the current receive.
    pub receipt: Option<String>,
    /// Sender id.
    pub sender: String,
    /// ARN of the queue it was moved from by a redrive policy.
    pub dlq_source: Option<String>,
}

/// A FIFO deduplication entry: within its window, a send with the same key returns the
/// earlier message instead of adding one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DedupEntry {
    /// The deduplication id (prefixed by the group and a NUL under `messageGroup` scope).
    pub key: String,
    /// When the window ends (ms).
    pub expires: i64,
    /// The message the first send created.
    pub message_id: String,
    /// Its FIFO sequence number.
    pub sequence_number: Option<String>,
}

/// Where a queue lives and what it is called.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Name.
    pub name: String,
}

impl QueueKey {
    /// The queue's ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.region, self.account, self.name)
    }
}

/// A queue.
#[derive(Clone, Debug, Default)]
pub struct Queue {
    /// Name.
    pub name: String,
    /// Whether it is FIFO.
    pub fifo: bool,
    /// Creation time (s).
    pub created: i64,
    /// Last attribute change (s).
    pub last_modified: i64,
    /// Attributes set by the user (validated, canonical strings).
    pub attributes: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    messages: HashMap<String, Message>,
    ready: BTreeMap<(i64, u64), String>,
    inflight: BTreeMap<(i64, u64), String>,
    receipts: HashMap<String, String>,
    by_sent: BTreeMap<(i64, u64), String>,
    dedup: HashMap<String, (i64, String, Option<String>)>,
    group_inflight: HashMap<String, u32>,
    next_seq: u64,
    /// Messages created, changed or removed since the last incremental export.
    changed: HashSet<String>,
    /// Whether the queue's own document changed since then.
    dirty: bool,
}

/// Defaults of the settable attributes.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("DelaySeconds", "0"),
    ("MaximumMessageSize", "262144"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("VisibilityTimeout", "30"),
    ("SqsManagedSseEnabled", "true"),
];

/// What a delete by receipt handle did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// The message was deleted.
    Deleted,
    /// The handle is well formed but names no message in flight (already deleted or
    /// received again): SQS accepts this silently.
    Stale,
    /// The handle is not one this queue could have issued.
    Malformed,
}

/// What a receive did besides returning messages.
#[derive(Debug, Default)]
pub struct Received {
    /// Messages delivered (copies; the receipt handle is set).
    pub messages: Vec<Message>,
    /// Messages that exceeded `maxReceiveCount` and must go to the dead-letter queue.
    pub to_dlq: Vec<Message>,
}

impl Queue {
    /// A new queue.
    pub fn new(name: &str, now_s: i64) -> Self {
        Self {
            name: name.to_owned(),
            fifo: name.ends_with(".fifo"),
            created: now_s,
            last_modified: now_s,
            dirty: true,
            ..Self::default()
        }
    }

    /// An attribute's value, user-set or default.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.attributes.get(name).cloned().or_else(|| {
            DEFAULTS
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// A numeric attribute.
    pub fn attr_i64(&self, name: &str) -> i64 {
        self.attr(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// `(deadLetterTargetArn, maxReceiveCount)` of the redrive policy.
    pub fn redrive(&self) -> Option<(String, u32)> {
        let v: Value = serde_json::from_str(&self.attr("RedrivePolicy")?).ok()?;
        let arn = v.get("deadLetterTargetArn")?.as_str()?.to_owned();
        let max = match v.get("maxReceiveCount")? {
            Value::Number(n) => n.as_u64()? as u32,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some((arn, max))
    }

    /// Moves messages whose visibility ended back to `ready` and drops expired ones.
    pub fn tick(&mut self, now: i64) {
        while let Some((&(until, seq), _)) = self.inflight.first_key_value() {
            if until > now {
                break;
            }
            let Some((_, id)) = self.inflight.pop_first() else {
                break;
            };
            if let Some(m) = self.messages.get_mut(&id) {
                if let Some(r) = m.receipt.take() {
                    self.receipts.remove(&r);
                }
                if let Some(g) = &m.group
                    && let Some(n) = self.group_inflight.get_mut(g)
                {
                    *n = n.saturating_sub(1);
                }
                m.visible_at = until;
                let key = if self.fifo { (0, seq) } else { (until, seq) };
                self.changed.insert(id.clone());
                self.ready.insert(key, id);
            }
        }
        let retention = self.attr_i64("MessageRetentionPeriod") * 1000;
        while let Some((&(sent, _), _)) = self.by_sent.first_key_value() {
            if sent + retention > now {
                break;
            }
            if let Some((_, id)) = self.by_sent.pop_first() {
                self.remove(&id);
            }
        }
        let before = self.dedup.len();
        self.dedup.retain(|_, (expires, _, _)| *expires > now);
        self.dirty |= self.dedup.len() != before;
    }

    /// Marks the queue's own document (attributes, tags) as changed.
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    /// Takes the change marks: whether the queue's document changed, and the ids of the
    /// messages changed (each with its current copy, or `None` when it is gone).
    pub fn take_changes(&mut self) -> Option<Vec<(String, Option<Message>)>> {
        if !self.dirty && self.changed.is_empty() {
            return None;
        }
        self.dirty = false;
        let ids = std::mem::take(&mut self.changed);
        Some(
            ids.into_iter()
                .map(|id| {
                    let m = self.messages.get(&id).cloned();
                    (id, m)
                })
                .collect(),
        )
    }

    /// Removes a message wherever it is.
    fn remove(&mut self, id: &str) -> Option<Message> {
        let m = self.messages.remove(id)?;
        self.changed.insert(m.id.clone());
        if m.receipt.is_some() {
            self.inflight.remove(&(m.visible_at, m.seq));
        } else {
            let ready_key = if self.fifo {
                (0, m.seq)
            } else {
                (m.visible_at, m.seq)
            };
            self.ready.remove(&ready_key);
        }
        if let Some(r) = &m.receipt {
            self.receipts.remove(r);
            if let Some(g) = &m.group
                && let Some(n) = self.group_inflight.get_mut(g)
            {
                *n = n.saturating_sub(1);
            }
        }
        self.by_sent.remove(&(m.sent, m.seq));
        Some(m)
    }

    /// Looks up an earlier send with the same deduplication id within the 5-minute window:
    /// returns its (message id, sequence number).
    pub fn deduplicated(&self, dedup_key: &str, now: i64) -> Option<(String, Option<String>)> {
        self.dedup
            .get(dedup_key)
            .filter(|(expires, _, _)| *expires > now)
            .map(|(_, id, seq)| (id.clone(), seq.clone()))
    }

    /// Adds a message sent at `now`, visible after `delay_ms`.
    pub fn push(
        &mut self,
        mut m: Message,
        now: i64,
        delay_ms: i64,
        dedup_key: Option<String>,
    ) -> Message {
        self.next_seq += 1;
        m.seq = self.next_seq;
        m.sent = now;
        m.visible_at = now + delay_ms;
        if self.fifo {
            m.sequence_number = Some(format!("{:020}", self.next_seq));
        }
        if let Some(k) = dedup_key {
            self.dedup
                .insert(k, (now + 300_000, m.id.clone(), m.sequence_number.clone()));
        }
        let key = if self.fifo {
            (0, m.seq)
        } else {
            (m.visible_at, m.seq)
        };
        self.ready.insert(key, m.id.clone());
        self.by_sent.insert((m.sent, m.seq), m.id.clone());
        self.changed.insert(m.id.clone());
        self.dirty = true;
        self.messages.insert(m.id.clone(), m.clone());
        m
    }

    /// Receives up to `max` messages at `now`, hiding them for `visibility_ms`.
    pub fn receive(
        &mut self,
        now: i64,
        max: usize,
        visibility_ms: i64,
        mut receipt: impl FnMut() -> String,
    ) -> Received {
        self.tick(now);
        let redrive = self.redrive();
        let mut out = Received::default();
        let mut blocked: HashSet<String> = self
            .group_inflight
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(g, _)| g.clone())
            .collect();
        let mut candidates: Vec<((i64, u64), String)> = self
            .ready
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .take_while(|(k, _)| self.fifo || k.0 <= now)
            .take(if self.fifo { usize::MAX } else { max * 2 + 16 })
            .collect();
        if self.fifo {
            // SQS returns as many messages of one group as it can before the next group.
            let first_seen: HashMap<String, usize> = candidates
                .iter()
                .enumerate()
                .rev()
                .filter_map(|(i, (_, id))| {
                    self.messages
                        .get(id)
                        .and_then(|m| m.group.clone())
                        .map(|g| (g, i))
                })
                .collect();
            candidates.sort_by_key(|(k, id)| {
                let g = self
                    .messages
                    .get(id)
                    .and_then(|m| m.group.clone())
                    .unwrap_or_default();
                (first_seen.get(&g).copied().unwrap_or(usize::MAX), k.1)
            });
        }
        for (key, id) in candidates {
            if out.messages.len() >= max {
                break;
            }
            let Some(m) = self.messages.get(&id) else {
                continue;
            };
            if let Some(g) = &m.group {
                if blocked.contains(g) {
                    continue;
                }
                if m.visible_at > now {
                    blocked.insert(g.clone());
                    continue;
                }
            }
            if let Some((_, limit)) = &redrive
                && m.receive_count >= *limit
            {
                if let Some(moved) = self.remove(&id) {
                    out.to_dlq.push(moved);
                }
                continue;
            }
            self.ready.remove(&key);
            let r = receipt();
            let m = self
                .messages
                .get_mut(&id)
                .expect("works because it was found above");
            m.receive_count += 1;
            m.first_receive.get_or_insert(now);
            m.receipt = Some(r.clone());
            m.visible_at = now + visibility_ms;
            if let Some(g) = &m.group {
                *self.group_inflight.entry(g.clone()).or_default() += 1;
            }
            self.inflight
                .insert((now + visibility_ms, m.seq), id.clone());
            self.changed.insert(id.clone());
            self.receipts.insert(r, id);
            out.messages.push(m.clone());
        }
        out
    }

    /// Deletes the message a receipt handle names.
    pub fn delete(&mut self, receipt: &str) -> Deletion {
        match self.receipts.get(receipt).cloned() {
            Some(id) => {
                self.remove(&id);
                Deletion::Deleted
            }
            None if looks_like_receipt(receipt) => Deletion::Stale,
            None => Deletion::Malformed,
        }
    }

    /// Changes the visibility of an in-flight message. `Err(true)`: the handle is valid but
    /// the message is not in flight; `Err(false)`: the handle is malformed.
    pub fn change_visibility(
        &mut self,
        receipt: &str,
        now: i64,
        visibility_ms: i64,
    ) -> Result<(), bool> {
        self.tick(now);
        let Some(id) = self.receipts.get(receipt).cloned() else {
            return Err(looks_like_receipt(receipt));
        };
        let m = self.messages.get_mut(&id).ok_or(true)?;
        self.changed.insert(id.clone());
        let old = (m.visible_at, m.seq);
        m.visible_at = now + visibility_ms;
        let new = (m.visible_at, m.seq);
        self.inflight.remove(&old);
        if visibility_ms == 0 {
            if let Some(r) = m.receipt.take() {
                self.receipts.remove(&r);
            }
            if let Some(g) = &m.group
                && let Some(n) = self.group_inflight.get_mut(g)
            {
                *n = n.saturating_sub(1);
            }
            let key = if self.fifo { (0, m.seq) } else { (now, m.seq) };
            self.ready.insert(key, id);
        } else {
            self.inflight.insert(new, id);
        }
        Ok(())
    }

    /// Drops every message.
    pub fn purge(&mut self) {
        self.changed.extend(self.messages.drain().map(|(id, _)| id));
        self.ready.clear();
        self.inflight.clear();
        self.receipts.clear();
        self.by_sent.clear();
        self.group_inflight.clear();
    }

    /// (visible now, in flight, delayed) counts.
    pub fn counts(&mut self, now: i64) -> (usize, usize, usize) {
        self.tick(now);
        let delayed = self.ready.iter().filter(|(k, v)| {
            if self.fifo {
                self.messages.get(*v).is_some_and(|m| m.visible_at > now)
            } else {
                k.0 > now
            }
        });
        let delayed = delayed.count();
        (self.ready.len() - delayed, self.inflight.len(), delayed)
    }

    /// When the next delayed or in-flight message becomes visible, if any.
    pub fn next_visible(&self) -> Option<i64> {
        let a = self.inflight.first_key_value().map(|(k, _)| k.0);
        let b = if self.fifo {
            None
        } else {
            self.ready.first_key_value().map(|(k, _)| k.0)
        };
        a.into_iter().chain(b).min()
    }

    /// Every message, for export.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.values()
    }

    /// The deduplication entries, sorted by key, for export.
    pub fn dedup_entries(&self) -> Vec<DedupEntry> {
        let mut out: Vec<DedupEntry> = self
            .dedup
            .iter()
            .map(|(key, (expires, id, seq))| DedupEntry {
                key: key.clone(),
                expires: *expires,
                message_id: id.clone(),
                sequence_number: seq.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// The sequence number of the last message added.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Rebuilds the runtime state of a queue loaded from a snapshot: `self` carries the
    /// queue's own fields (name, times, attributes, tags) and no messages. Messages that were
    /// in flight become visible (at `now`, or earlier if their visibility had already
    /// ended); their receipt handles are forgotten and their receive counts kept. Then the
    /// usual rules run at `now`: messages past retention and expired deduplication entries
    /// are dropped. Message ids and `seq` values must be distinct (the caller checks); the
    /// sequence counter is at least the highest `seq`.
    pub fn restore(
        mut self,
        messages: Vec<Message>,
        dedup: Vec<DedupEntry>,
        next_seq: u64,
        now: i64,
    ) -> Self {
        self.purge();
        self.dedup.clear();
        self.next_seq = next_seq;
        for mut m in messages {
            if m.receipt.take().is_some() {
                m.visible_at = m.visible_at.min(now);
            }
            let key = if self.fifo {
                (0, m.seq)
            } else {
                (m.visible_at, m.seq)
            };
            self.next_seq = self.next_seq.max(m.seq);
            self.ready.insert(key, m.id.clone());
            self.by_sent.insert((m.sent, m.seq), m.id.clone());
            self.messages.insert(m.id.clone(), m);
        }
        for d in dedup {
            self.dedup
                .insert(d.key, (d.expires, d.message_id, d.sequence_number));
        }
        self.tick(now);
        self.changed.clear();
        self.dirty = false;
        self
    }
}

/// Receipt handles this emulator issues are long base64-ish strings; anything shorter or
/// with other characters is malformed.
fn looks_like_receipt(r: &str) -> bool {
    r.len() >= 20
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, group: Option<&str>) -> Message {
        Message {
            id: id.into(),
            body: id.into(),
            attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            sent: 0,
            seq: 0,
            receive_count: 0,
            first_receive: None,
            group: group.map(Into::into),
            dedup_id: None,
            sequence_number: None,
            visible_at: 0,
            receipt: None,
            sender: "s".into(),
            dlq_source: None,
        }
    }

    fn receipts() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("receipt-handle-number-{n:08}")
        }
    }

    #[test]
    fn visibility_timeout_hides_then_returns_a_message() {
        let mut q = Queue::new("q", 0);
        q.push(msg("a", None), 1000, 0, None);
        let mut r = receipts();
        assert_eq!(q.receive(1000, 10, 30_000, &mut r).messages.len(), 1);
        assert!(q.receive(20_000, 10, 30_000, &mut r).messages.is_empty());
        let again = q.receive(31_000, 10, 30_000, &mut r).messages;
        assert_eq!(again[0].receive_count, 2);
        assert_eq!(
            q.delete(again[0].receipt.as_deref().expect("receipt")),
            Deletion::Deleted
        );
        assert_eq!(q.counts(40_000), (0, 0, 0));
    }

    #[test]
    fn delays_hold_messages_back() {
        let mut q = Queue::new("q", 0);
        q.push(msg("late", None), 0, 10_000, None);
        assert_eq!(q.counts(5_000), (0, 0, 1));
        assert!(q.receive(5_000, 10, 1, receipts()).messages.is_empty());
        assert_eq!(q.receive(10_000, 10, 1, receipts()).messages.len(), 1);
    }

    #[test]
    fn fifo_keeps_group_order_and_blocks_groups_in_flight() {
        let mut q = Queue::new("q.fifo", 0);
        for (id, g) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")] {
            q.push(msg(id, Some(g)), 0, 0, None);
        }
        let mut r = receipts();
        let first: Vec<String> = q
            .receive(0, 1, 30_000, &mut r)
            .messages
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(first, ["a1"]);
        let next: Vec<String> = q
            .receive(0, 10, 30_000, &mut r)
            .messages
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(
            next,
            ["b1", "b2"],
            "group a is blocked while a1 is in flight"
        );
        let after_timeout: Vec<String> = q
            .receive(31_000, 10, 30_000, &mut r)
            .messages
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(
            after_timeout,
            ["a1", "a2", "b1", "b2"],
            "order is kept when messages come back"
        );
    }

    #[test]
    fn dedup_window_is_five_minutes() {
        let mut q = Queue::new("q.fifo", 0);
        q.push(msg("m", Some("g")), 0, 0, Some("d".into()));
        assert!(q.deduplicated("d", 299_000).is_some());
        q.tick(300_001);
        assert!(q.deduplicated("d", 300_001).is_none());
    }

    #[test]
    fn max_receive_count_moves_messages_out() {
        let mut q = Queue::new("q", 0);
        q.attributes.insert(
            "RedrivePolicy".into(),
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":2}"#.into(),
        );
        q.push(msg("m", None), 0, 0, None);
        let mut r = receipts();
        assert_eq!(q.receive(0, 1, 1000, &mut r).messages.len(), 1);
        assert_eq!(q.receive(2000, 1, 1000, &mut r).messages.len(), 1);
        let third = q.receive(4000, 1, 1000, &mut r);
        assert!(third.messages.is_empty());
        assert_eq!(third.to_dlq.len(), 1);
        assert_eq!(q.counts(4000), (0, 0, 0));
    }

    #[test]
    fn retention_drops_old_messages() {
        let mut q = Queue::new("q", 0);
        q.attributes
            .insert("MessageRetentionPeriod".into(), "60".into());
        q.push(msg("m", None), 0, 0, None);
        assert_eq!(q.counts(59_000).0, 1);
        assert_eq!(q.counts(60_000).0, 0);
    }

    #[test]
    fn receipts_stale_versus_malformed() {
        let mut q = Queue::new("q", 0);
        assert_eq!(q.delete("receipt-handle-number-00000099"), Deletion::Stale);
        assert_eq!(q.delete("bad"), Deletion::Malformed);
    }
}
