//! The synthetic emulator state of the benchmarks: about 1 GiB of S3, DynamoDB and SQS
//! objects generated deterministically, and its "1% change". Included by path (`#[path]`)
//! from the benchmarks of podstore (`store`, which writes the state as files) and
//! remote-server (`transfer`, which builds it straight into a store).
//!
//! The state is 20,000 objects of 1–16 KiB (half JSON-like DynamoDB/SQS records, half random
//! bytes) plus 200 objects of 4 MiB (half log/CSV text, half random). The 1% change is the one
//! of `shared/notes/storage.md` §1: 200 small objects rewritten, a 100-byte insert at the front
//! of one 4 MiB object and a 64 KiB overwrite in the middle of another.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use podstore::{BlobInfo, Document, StatePath, blob_ref};

/// Objects of 1–16 KiB.
pub const SMALL_OBJECTS: usize = 20_000;
pub const SMALL_MIN: usize = 1024;
pub const SMALL_MAX: usize = 16 * 1024;
/// Objects of 4 MiB.
pub const LARGE_OBJECTS: usize = 200;
pub const LARGE_SIZE: usize = 4 << 20;
/// Small objects rewritten by the 1% change.
pub const CHANGED_SMALL: usize = 200;
/// The large object that gets 100 bytes inserted at its front (a log file).
pub const INSERT_TARGET: usize = SMALL_OBJECTS + 4;
/// The large object that gets 64 KiB overwritten in its middle (random bytes).
pub const OVERWRITE_TARGET: usize = SMALL_OBJECTS + 1;
pub const INSERT_LEN: usize = 100;
pub const OVERWRITE_LEN: usize = 64 * 1024;
/// Where the overwrite starts in [`OVERWRITE_TARGET`].
pub const OVERWRITE_AT: usize = LARGE_SIZE / 2 - OVERWRITE_LEN / 2;
pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";

/// SplitMix64: a small, fast, deterministic generator (no crate needed).
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi` (the modulo bias is irrelevant here).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for piece in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            piece.copy_from_slice(&v[..piece.len()]);
        }
    }
}

/// What an object's body looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// DynamoDB items or SQS messages as JSON (depends on the service).
    Json,
    /// Random bytes (images, archives, encrypted data).
    Noise,
    /// Application log lines.
    Log,
    /// CSV export rows.
    Csv,
}

/// One emulator object: where it lives and how its body is generated.
#[derive(Clone, Debug)]
pub struct Object {
    pub service: &'static str,
    pub container: String,
    pub key: String,
    pub content: Content,
    pub size: usize,
    pub seed: u64,
}

impl Object {
    /// The file path relative to the state directory: `<service>/<container>/<key>`.
    pub fn rel_path(&self) -> PathBuf {
        Path::new(self.service)
            .join(&self.container)
            .join(&self.key)
    }

    /// The resource type under the service.
    pub fn resource_type(&self) -> &'static str {
        resource_type(self.service)
    }

    /// `000000000000/us-east-1/<service>/<type>/<container>/<key>`; the key is one segment
    /// even when it contains '/'.
    pub fn state_path(&self) -> podstore::Result<StatePath> {
        StatePath::new([
            ACCOUNT,
            REGION,
            self.service,
            self.resource_type(),
            &self.container,
            &self.key,
        ])
    }

    /// The resource document for this object with body `blob`.
    pub fn document(&self, blob: &BlobInfo) -> podstore::Result<Document> {
        let container_field = match self.service {
            "s3" => "bucket",
            "dynamodb" => "table",
            _ => "queue",
        };
        let mut m = serde_json::Map::new();
        m.insert(
            "schema".into(),
            format!("{}.{}/1", self.service, self.resource_type()).into(),
        );
        m.insert(container_field.into(), self.container.clone().into());
        m.insert("key".into(), self.key.clone().into());
        m.insert("size".into(), blob.size.into());
        m.insert("body".into(), blob_ref(blob));
        Document::new(serde_json::Value::Object(m))
    }
}

fn resource_type(service: &str) -> &'static str {
    match service {
        "s3" => "object",
        "dynamodb" => "item",
        _ => "message",
    }
}

/// The deterministic list of objects: small ones first, then the 4 MiB ones.
pub fn plan() -> Vec<Object> {
    let mut rng = Rng(0x706f_6462_656e_6368);
    let mut out = Vec::with_capacity(SMALL_OBJECTS + LARGE_OBJECTS);
    for i in 0..SMALL_OBJECTS {
        let shard = i % 8;
        let (service, container, key, content) = match i % 4 {
            0 => (
                "dynamodb",
                format!("table-{shard}"),
                format!("pk-{i:06}.json"),
                Content::Json,
            ),
            1 => (
                "sqs",
                format!("queue-{shard}"),
                format!("msg-{i:06}.json"),
                Content::Json,
            ),
            _ => (
                "s3",
                format!("assets-{shard}"),
                format!("img/{:02}/obj-{i:06}.bin", i % 50),
                Content::Noise,
            ),
        };
        out.push(Object {
            service,
            container,
            key,
            content,
            size: rng.range(SMALL_MIN, SMALL_MAX),
            seed: rng.next_u64(),
        });
    }
    for j in 0..LARGE_OBJECTS {
        let (container, key, content) = match j % 4 {
            0 => (
                format!("logs-{}", j % 3),
                format!("app/2026/11/22/part-{j:04}.log"),
                Content::Log,
            ),
            2 => (
                format!("exports-{}", j % 3),
                format!("orders/part-{j:04}.csv"),
                Content::Csv,
            ),
            _ => (
                format!("backups-{}", j % 3),
                format!("snapshots/part-{j:04}.bin"),
                Content::Noise,
            ),
        };
        out.push(Object {
            service: "s3",
            container,
            key,
            content,
            size: LARGE_SIZE,
            seed: rng.next_u64(),
        });
    }
    out
}

/// A few hundred made-up words built from syllables.
pub fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "ro", "ta", "vi", "zu", "ber", "con", "dar", "fen", "gil", "hor",
        "jas", "kel", "mor", "nal", "pel", "quo", "ris", "sen", "tor", "wyn",
    ];
    let mut rng = Rng(0x766f_6361_6275_6c61);
    let mut words = HashSet::new();
    while words.len() < 400 {
        let n = rng.range(2, 4);
        let w: String = (0..n).map(|_| *rng.pick(&SYLLABLES)).collect();
        words.insert(w);
    }
    let mut v: Vec<String> = words.into_iter().collect();
    v.sort();
    v
}

/// The body of `obj`.
pub fn body(obj: &Object, vocab: &[String]) -> Vec<u8> {
    let mut rng = Rng(obj.seed);
    match obj.content {
        Content::Json if obj.service == "dynamodb" => json_items(&mut rng, vocab, obj.size),
        Content::Json => json_messages(&mut rng, vocab, obj.size),
        Content::Noise => {
            let mut v = vec![0u8; obj.size];
            rng.fill(&mut v);
            v
        }
        Content::Log => log_text(&mut rng, vocab, obj.size),
        Content::Csv => csv_text(&mut rng, vocab, obj.size),
    }
}

fn push_words(s: &mut String, rng: &mut Rng, vocab: &[String], n: usize) {
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(rng.pick(vocab).as_str());
    }
}

/// A DynamoDB `Query` page of about `size` bytes.
fn json_items(rng: &mut Rng, vocab: &[String], size: usize) -> Vec<u8> {
    let mut s = String::with_capacity(size + 512);
    s.push_str("{\"Items\":[");
    let mut first = true;
    while s.len() + 2 < size {
        if !first {
            s.push(',');
        }
        first = false;
        let _ = write!(
            s,
            "{{\"pk\":{{\"S\":\"USER#{:06}\"}},\"sk\":{{\"S\":\"ORDER#{:08}\"}},\"status\":{{\"S\":\"{}\"}},\"title\":{{\"S\":\"",
            rng.range(0, 99_999),
            rng.range(0, 9_999_999),
            rng.pick(vocab)
        );
        let n = rng.range(2, 8);
        push_words(&mut s, rng, vocab, n);
        let _ = write!(
            s,
            "\"}},\"qty\":{{\"N\":\"{}\"}},\"price\":{{\"N\":\"{}.{:02}\"}},\"tags\":{{\"SS\":[\"{}\",\"{}\"]}}}}",
            rng.range(1, 50),
            rng.range(1, 999),
            rng.range(0, 99),
            rng.pick(vocab),
            rng.pick(vocab)
        );
    }
    s.push_str("]}");
    s.into_bytes()
}

/// An SQS `ReceiveMessage` answer of about `size` bytes.
fn json_messages(rng: &mut Rng, vocab: &[String], size: usize) -> Vec<u8> {
    let mut s = String::with_capacity(size + 512);
    s.push_str("{\"Messages\":[");
    let mut first = true;
    while s.len() + 2 < size {
        if !first {
            s.push(',');
        }
        first = false;
        let id = rng.next_u64();
        let _ = write!(
            s,
            "{{\"MessageId\":\"{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}\",\"Body\":\"",
            id >> 32,
            (id >> 16) & 0xffff,
            id & 0xfff,
            (id >> 20) & 0xfff,
            id & 0xffff_ffff_ffff
        );
        let n = rng.range(5, 20);
        push_words(&mut s, rng, vocab, n);
        let _ = write!(
            s,
            "\",\"Attributes\":{{\"SentTimestamp\":\"{}\",\"ApproximateReceiveCount\":\"{}\",\"SenderId\":\"AIDA{}\"}},\"MD5OfBody\":\"{:016x}\"}}",
            1_795_348_489_000 + rng.range(0, 86_400_000),
            rng.range(1, 5),
            rng.pick(vocab).to_uppercase(),
            rng.next_u64()
        );
    }
    s.push_str("]}");
    s.into_bytes()
}

/// Application log lines, exactly `size` bytes.
fn log_text(rng: &mut Rng, vocab: &[String], size: usize) -> Vec<u8> {
    const LEVELS: [&str; 6] = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
    const STATUS: [u16; 6] = [200, 200, 200, 201, 404, 500];
    let mut s = String::with_capacity(size + 512);
    let mut ms = rng.range(0, 3_600_000) as u64;
    while s.len() < size {
        ms += rng.range(0, 40) as u64;
        let _ = write!(
            s,
            "2026-11-22T{:02}:{:02}:{:02}.{:03}Z {} [{}] request_id={:08x} path=/{}/{} status={} latency_ms={} msg=\"",
            ms / 3_600_000 % 24,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            rng.pick(&LEVELS),
            rng.pick(vocab),
            rng.next_u64() as u32,
            rng.pick(vocab),
            rng.pick(vocab),
            rng.pick(&STATUS),
            rng.range(1, 900)
        );
        let n = rng.range(3, 10);
        push_words(&mut s, rng, vocab, n);
        s.push_str("\"\n");
    }
    s.truncate(size);
    s.into_bytes()
}

/// CSV export rows, exactly `size` bytes.
fn csv_text(rng: &mut Rng, vocab: &[String], size: usize) -> Vec<u8> {
    const STATUS: [&str; 4] = ["shipped", "pending", "cancelled", "delivered"];
    let mut s = String::with_capacity(size + 512);
    s.push_str("id,timestamp,customer,product,quantity,price,status,comment\n");
    let mut id = rng.range(0, 1_000_000);
    while s.len() < size {
        id += 1;
        let _ = write!(
            s,
            "{id},2026-11-{:02}T{:02}:{:02}:{:02}Z,{}-{},{},{},{}.{:02},{},\"",
            rng.range(1, 28),
            rng.range(0, 23),
            rng.range(0, 59),
            rng.range(0, 59),
            rng.pick(vocab),
            rng.range(0, 9999),
            rng.pick(vocab),
            rng.range(1, 20),
            rng.range(1, 500),
            rng.range(0, 99),
            rng.pick(&STATUS)
        );
        let n = rng.range(2, 8);
        push_words(&mut s, rng, vocab, n);
        s.push_str("\"\n");
    }
    s.truncate(size);
    s.into_bytes()
}

/// The 1% change, as edits of the generated bodies.
#[derive(Clone, Debug)]
pub struct Change {
    /// The small objects rewritten: their [`Object`]s now carry a new seed and size, so
    /// [`body`] gives their new body.
    pub rewritten: Vec<usize>,
    /// Bytes inserted at the front of object [`INSERT_TARGET`].
    pub insert: Vec<u8>,
    /// Bytes written over object [`OVERWRITE_TARGET`] from [`OVERWRITE_AT`].
    pub overwrite: Vec<u8>,
}

impl Change {
    /// Every changed object: the rewritten ones, then the insert and overwrite targets.
    pub fn changed(&self) -> Vec<usize> {
        let mut all = self.rewritten.clone();
        all.extend([INSERT_TARGET, OVERWRITE_TARGET]);
        all
    }

    /// The body of object `i` after the change (`objects` as [`change`] left them).
    pub fn body(&self, objects: &[Object], vocab: &[String], i: usize) -> Vec<u8> {
        let mut data = body(&objects[i], vocab);
        if i == INSERT_TARGET {
            data.splice(0..0, self.insert.iter().copied());
        } else if i == OVERWRITE_TARGET {
            data[OVERWRITE_AT..OVERWRITE_AT + self.overwrite.len()]
                .copy_from_slice(&self.overwrite);
        }
        data
    }
}

/// Draws the 1% change: gives the rewritten small objects their new seed and size (in
/// `objects`) and returns the edits; the two large objects keep their `Object`, so [`body`]
/// still gives their body before the change.
pub fn change(objects: &mut [Object], vocab: &[String]) -> Change {
    let mut rng = Rng(0x6368_616e_6765_0001);
    let stride = SMALL_OBJECTS / CHANGED_SMALL;
    let rewritten: Vec<usize> = (0..CHANGED_SMALL).map(|k| k * stride + k % 4).collect();
    for &i in &rewritten {
        let obj = &mut objects[i];
        obj.seed = rng.next_u64();
        obj.size = rng.range(SMALL_MIN, SMALL_MAX);
    }
    let insert = log_text(&mut rng, vocab, INSERT_LEN);
    let mut overwrite = vec![0u8; OVERWRITE_LEN];
    rng.fill(&mut overwrite);
    Change {
        rewritten,
        insert,
        overwrite,
    }
}
