//! `pod inspect` on a large pod: opening, expanding, scrolling and searching 100,000 resources.
//!
//! Builds a synthetic state tree in a temporary pod store — 2 accounts × 3 regions with S3
//! buckets and objects (one bucket of 50,000 objects: the largest directory), SQS queues and
//! Secrets Manager secrets, 100,000 resource documents in all, S3 objects referencing blobs —
//! then reopens the store (a fresh handle, as a new process would) and measures the browser's
//! model, update and view exactly as the terminal loop runs them, drawing on a 200 × 50
//! `TestBackend`:
//! - open: `Tree::open` + `State::new` + the first full draw;
//! - expand: Enter on the 50,000-object bucket + the next draw;
//! - scroll: PgDn (+ draw) through the whole expanded bucket, each step loading the selected
//!   resource's document: mean and max per frame;
//! - search: `/`, a key, Enter (a walk of the whole tree, the match's directories expanded,
//!   the cursor moved) + the next draw;
//! - the non-interactive `--format json` of the whole tree, into a sink.
//!
//! Run with `cargo bench -p podstack --bench inspect`; with `INSPECT_BENCH_WRITE=1` it also
//! replaces the `## cli: pod inspect` section of `docs/performance.md`.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use podstore::tree::{self, Entry};
use podstore::{Document, Objects, StatePath, Store, TreeId, put_blob};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use serde_json::json;

#[path = "../../podstore/benches/support/report.rs"]
mod report;

// The module is compiled into this bench from the binary's sources (a binary has no library
// to link against). Items the bench does not reach are dead here, not in the binary.
#[allow(dead_code, unused_imports)]
#[path = "../src"]
mod cli_src {
    pub mod inspect;
}

use cli_src::inspect::model::Tree;
use cli_src::inspect::state::State;
use cli_src::inspect::update::update;
use cli_src::inspect::view::draw;
use cli_src::inspect::{Output, Source, Title, run};

type BenchResult<T> = Result<T, Box<dyn Error>>;

const RESOURCES: usize = 100_000;
const BIG_BUCKET_OBJECTS: usize = 50_000;
const ACCOUNTS: [&str; 2] = ["000000000000", "111111111111"];
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;
const RUNS: usize = 5;

/// Where the documents go: the resource paths of the synthetic pod, with a document each.
fn synthetic(store: &Store) -> BenchResult<TreeId> {
    let mut entries: Vec<(StatePath, Entry)> = Vec::with_capacity(RESOURCES);
    // A few hundred distinct bodies, shared by many objects (as blobs dedup in real pods).
    let bodies: Vec<podstore::BlobInfo> = (0..256u32)
        .map(|i| {
            let body: Vec<u8> = (0..(512 + i * 61))
                .map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8 ^ i as u8)
                .collect();
            put_blob(store, &body).map(|w| w.blob)
        })
        .collect::<Result<_, _>>()?;
    let mut add = |segs: &[&str], v: serde_json::Value| -> BenchResult<()> {
        let d = Document::new(v)?;
        entries.push((
            StatePath::new(segs.iter().copied())?,
            Entry::store_doc(store, &d)?,
        ));
        Ok(())
    };
    let scopes: Vec<(&str, &str)> = ACCOUNTS
        .iter()
        .flat_map(|a| REGIONS.iter().map(move |r| (*a, *r)))
        .collect();
    let mut n = 0usize;
    let object = |bucket: &str, key: &str, i: usize| {
        let body = &bodies[i % bodies.len()];
        json!({
            "schema": "s3.object/1",
            "bucket": bucket,
            "key": key,
            "versions": [{
                "version_id": "null",
                "etag": format!("\"{:032x}\"", i * 7919),
                "content_type": "application/octet-stream",
                "last_modified": 1_760_000_000 + i as u64,
                "metadata": {"owner": "bench", "batch": (i / 1000).to_string()},
                "body": podstore::blob_ref(body),
            }],
        })
    };
    // The largest directory: one bucket of 50,000 objects.
    let (a0, r0) = scopes[0];
    add(
        &[a0, r0, "s3", "bucket", "big-bucket"],
        json!({"schema": "s3.bucket/1", "name": "big-bucket", "region": r0, "versioning": "Enabled"}),
    )?;
    n += 1;
    for i in 0..BIG_BUCKET_OBJECTS {
        let key = format!("data/{:04}/part-{i:06}.parquet", i / 1000);
        add(
            &[a0, r0, "s3", "object", "big-bucket", &key],
            object("big-bucket", &key, i),
        )?;
        n += 1;
    }
    // The rest spread over the six scopes: buckets with objects, queues, secrets.
    let per_scope = (RESOURCES - n) / scopes.len();
    for (s, &(account, region)) in scopes.iter().enumerate() {
        let budget = if s + 1 == scopes.len() {
            RESOURCES - n
        } else {
            per_scope
        };
        let queues = budget / 4;
        let secrets = budget / 4;
        let buckets = 10;
        let objects = budget - queues - secrets - buckets;
        for q in 0..queues {
            let name = format!("orders-{q:05}");
            add(
                &[account, region, "sqs", "queue", &name],
                json!({
                    "schema": "sqs.queue/1", "name": name, "account": account, "region": region,
                    "attributes": {"VisibilityTimeout": "30", "MessageRetentionPeriod": "345600",
                                   "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0"},
                    "tags": {"team": format!("t{}", q % 17)}, "created": 1_760_000_000 + q,
                }),
            )?;
        }
        for k in 0..secrets {
            let name = format!("app/{}/db-{k:05}", ["prod", "staging", "dev"][k % 3]);
            add(
                &[account, region, "secretsmanager", "secret", &name],
                json!({
                    "schema": "secretsmanager.secret/1", "name": name,
                    "arn": format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf"),
                    "versions": [{"id": format!("{k:08x}-0000-4000-8000-000000000000"),
                                  "stages": ["AWSCURRENT"], "string": format!("s3cr3t-{k}")}],
                }),
            )?;
        }
        for b in 0..buckets {
            let bucket = format!("assets-{s}-{b:02}");
            add(
                &[account, region, "s3", "bucket", &bucket],
                json!({"schema": "s3.bucket/1", "name": bucket, "region": region}),
            )?;
        }
        for o in 0..objects {
            let bucket = format!("assets-{s}-{:02}", o % buckets);
            let key = format!("img/{o:06}.png");
            add(
                &[account, region, "s3", "object", &bucket, &key],
                object(&bucket, &key, o),
            )?;
        }
        n += budget;
    }
    assert_eq!(entries.len(), RESOURCES);
    let root = tree::build(store, entries)?;
    store.flush()?;
    Ok(root)
}

/// Another version of `root`: 1,000 objects of the big bucket modified, 100 deleted, 100 added
/// (1.2% of the resources changed).
fn changed(store: &Store, root: TreeId) -> BenchResult<TreeId> {
    let mut updates = Vec::new();
    let (a0, r0) = (ACCOUNTS[0], REGIONS[0]);
    for i in 0..1_200usize {
        let key = format!("data/{:04}/part-{:06}.parquet", (i * 41) / 1000, i * 41);
        let path = StatePath::new([a0, r0, "s3", "object", "big-bucket", key.as_str()])?;
        let entry = if i < 1_000 {
            let d = Document::new(json!({"schema": "s3.object/1", "key": key, "old": true}))?;
            Some(Entry::store_doc(store, &d)?)
        } else if i < 1_100 {
            None
        } else {
            continue;
        };
        updates.push((path, entry));
    }
    for i in 0..100 {
        let name = format!("gone-{i:03}");
        let path = StatePath::new([a0, r0, "sqs", "queue", name.as_str()])?;
        let d = Document::new(json!({"schema": "sqs.queue/1", "name": name}))?;
        updates.push((path, Some(Entry::store_doc(store, &d)?)));
    }
    let old = tree::update(store, Some(root), updates)?;
    store.flush()?;
    Ok(old)
}

fn title() -> Title {
    Title {
        pod: "bench".into(),
        version: Some(1),
        message: "100,000 resources".into(),
        date: "2026-01-01 00:00".into(),
    }
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn frame(term: &mut Terminal<TestBackend>, s: &State<'_>) -> BenchResult<()> {
    term.draw(|f| draw(f, s))?;
    Ok(())
}

/// Sorted durations: median and max.
fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() - 1])
}

fn count(n: usize) -> String {
    cli_src::inspect::state::count(n as u64)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Results {
    build: Duration,
    open: (Duration, Duration),
    expand: (Duration, Duration),
    scroll_mean: Duration,
    scroll_max: Duration,
    scroll_frames: usize,
    search: (Duration, Duration),
    search_matches: usize,
    json: Duration,
    json_bytes: usize,
    diff_open: (Duration, Duration),
    diff_changes: usize,
}

fn measure(dir: &Path) -> BenchResult<Results> {
    let t = Instant::now();
    let root = {
        let store = Store::open(dir)?;
        synthetic(&store)?
    };
    let build = t.elapsed();
    let old_root = {
        let store = Store::open(dir)?;
        changed(&store, root)?
    };
    let big: Vec<String> = [ACCOUNTS[0], REGIONS[0], "s3", "object", "big-bucket"]
        .map(String::from)
        .to_vec();
    let (mut open, mut expand, mut search) = (Vec::new(), Vec::new(), Vec::new());
    let mut diff_open = Vec::new();
    let mut diff_changes = 0;
    let mut scroll = Vec::new();
    let mut search_matches = 0;
    for run_no in 0..RUNS {
        // A fresh handle each run: nothing cached in the process.
        let store = Store::open(dir)?;
        let objects: &dyn Objects = &store;
        let mut term = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;

        let t = Instant::now();
        let tree = Tree::open(objects, root, None)?;
        let mut s = State::new(tree, title(), None, Rect::new(0, 0, WIDTH, HEIGHT));
        frame(&mut term, &s)?;
        open.push(t.elapsed());

        // Walk to the big bucket (its ancestors are small), then time its expansion.
        let parent = s.tree.reveal(&big[..4])?.ok_or("no object dir")?;
        s.tree.set_expanded(parent, true)?;
        let bucket = s.tree.child(parent, "big-bucket").ok_or("no big bucket")?;
        s.rows = s.tree.visible();
        let row = s
            .rows
            .iter()
            .position(|&r| r == bucket)
            .ok_or("bucket row")?;
        s.select(row);
        frame(&mut term, &s)?;
        let t = Instant::now();
        update(&mut s, &key(KeyCode::Enter));
        frame(&mut term, &s)?;
        expand.push(t.elapsed());
        if s.rows.len() < BIG_BUCKET_OBJECTS {
            return Err(format!("expanded to {} rows only", s.rows.len()).into());
        }

        // Page through the bucket (the first run only: ~1,000 frames).
        if run_no == 0 {
            let end = row + BIG_BUCKET_OBJECTS;
            while s.cursor < end {
                let t = Instant::now();
                update(&mut s, &key(KeyCode::PageDown));
                frame(&mut term, &s)?;
                scroll.push(t.elapsed());
            }
        }

        // Open with a diff against the changed state: the diff is computed, the root drawn.
        let t = Instant::now();
        let tree = Tree::open(objects, root, Some((objects, old_root)))?;
        let s2 = State::new(tree, title(), Some(title()), Rect::new(0, 0, WIDTH, HEIGHT));
        frame(&mut term, &s2)?;
        diff_open.push(t.elapsed());
        diff_changes = s2.tree.diff().map_or(0, |d| d.changes().len());

        // Search from a fresh, collapsed state, as a user would.
        let tree = Tree::open(objects, root, None)?;
        let mut s = State::new(tree, title(), None, Rect::new(0, 0, WIDTH, HEIGHT));
        update(&mut s, &key(KeyCode::Char('/')));
        for c in "part-031337".chars() {
            update(&mut s, &key(KeyCode::Char(c)));
        }
        let t = Instant::now();
        update(&mut s, &key(KeyCode::Enter));
        frame(&mut term, &s)?;
        search.push(t.elapsed());
        search_matches = s.search.matches.len();
        let sel = s
            .selected()
            .map(|i| s.tree.path_string(i))
            .unwrap_or_default();
        if !sel.ends_with("part-031337.parquet") {
            return Err(format!("search selected {sel:?}").into());
        }
    }

    let store = Store::open(dir)?;
    let t = Instant::now();
    let mut sink = Counting(0);
    let src = Source {
        objects: &store,
        root,
        title: title(),
    };
    run(src, None, Output::Json, &mut sink)?;
    let json = t.elapsed();

    let scroll_frames = scroll.len();
    let scroll_mean = scroll.iter().sum::<Duration>() / scroll_frames.max(1) as u32;
    let scroll_max = scroll.iter().max().copied().unwrap_or_default();
    Ok(Results {
        build,
        open: stats(open),
        expand: stats(expand),
        scroll_mean,
        scroll_max,
        scroll_frames,
        search: stats(search),
        search_matches,
        json,
        json_bytes: sink.0,
        diff_open: stats(diff_open),
        diff_changes,
    })
}

/// A writer that only counts.
struct Counting(usize);

impl std::io::Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn cpu() -> String {
    let hw = report::hardware();
    format!("{} × {}, {:.0} GiB RAM", hw.cores, hw.model, hw.mem_gib)
}

fn section(r: &Results, load_start: &str, load_end: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## cli: pod inspect\n");
    let _ = writeln!(
        s,
        "Command: `INSPECT_BENCH_WRITE=1 cargo bench -p podstack --bench inspect` (without the \
         variable it only prints; source `cli/benches/inspect.rs`).\n"
    );
    let _ = writeln!(
        s,
        "Run {}: {}; load average {load_start} at the start and {load_end} at the end (the \
         machine is shared, so times are noisy).\n",
        podstore::format_rfc3339(podstore::now_unix()),
        cpu()
    );
    let _ = writeln!(
        s,
        "State: {} resource documents in a temporary pod store (built and flushed in \
         {:.1} s): 2 accounts × 3 regions, S3 buckets and objects (objects reference blobs), SQS \
         queues, Secrets Manager secrets; the largest directory is one bucket of \
         {} objects. Each of {RUNS} runs reopens the store (nothing cached in \
         the process; the files are in the page cache) and drives the browser's model, update \
         and view as the terminal loop does, drawing every frame on a {WIDTH} × {HEIGHT} \
         `TestBackend` (the terminal's own output is not timed). Median and max of the runs.\n",
        count(RESOURCES),
        r.build.as_secs_f64(),
        count(BIG_BUCKET_OBJECTS)
    );
    let _ = writeln!(s, "| measurement | median | max | target | met? |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    let _ = writeln!(
        s,
        "| open: read the root, build the state, first full draw | {} | {} | < 1 s | {} |",
        ms(r.open.0),
        ms(r.open.1),
        report::met(r.open.1 < Duration::from_secs(1))
    );
    let _ = writeln!(
        s,
        "| expand the {}-object bucket (Enter + draw) | {} | {} | < 1 s | {} |",
        count(BIG_BUCKET_OBJECTS),
        ms(r.expand.0),
        ms(r.expand.1),
        report::met(r.expand.1 < Duration::from_secs(1))
    );
    let _ = writeln!(
        s,
        "| scroll: PgDn + draw through the bucket ({} frames, each loading the selected \
         document) | {} (mean) | {} | < 16 ms per frame | {} |",
        r.scroll_frames,
        ms(r.scroll_mean),
        ms(r.scroll_max),
        report::met(r.scroll_max < Duration::from_millis(16))
    );
    let _ = writeln!(
        s,
        "| search `part-031337` from the collapsed tree (walk of all {} paths, {} match, \
         expanded into view, + draw) | {} | {} | < 1 s | {} |",
        count(RESOURCES),
        r.search_matches,
        ms(r.search.0),
        ms(r.search.1),
        report::met(r.search.1 < Duration::from_secs(1))
    );
    let _ = writeln!(
        s,
        "| open with `--diff` against a version with {} changed resources (diff + first \
         draw) | {} | {} | < 1 s | {} |",
        count(r.diff_changes),
        ms(r.diff_open.0),
        ms(r.diff_open.1),
        report::met(r.diff_open.1 < Duration::from_secs(1))
    );
    let _ = writeln!(
        s,
        "| `--format json` of the whole tree ({:.1} MB, one run) | {} | — | — | — |",
        r.json_bytes as f64 / 1e6,
        ms(r.json)
    );
    s
}

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means "not me".
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with("--") && a != "inspect")
    {
        return Ok(());
    }
    let load_start = report::load_average();
    let dir = tempfile::tempdir()?;
    let r = measure(dir.path())?;
    let load_end = report::load_average();
    let text = section(&r, &load_start, &load_end);
    print!("{text}");
    if std::env::var_os("INSPECT_BENCH_WRITE").is_some_and(|v| v == "1") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/performance.md");
        report::write_section(&path, "## cli: pod inspect", &text)?;
        println!("updated {}", path.display());
    }
    Ok(())
}
