//! Push and pull between a local pod store and a [`Remote`].
//!
//! Only missing objects travel: a push walks the versions to send, skipping everything the
//! remote's latest version reaches, and asks the remote which of the rest it lacks; a pull asks
//! for a version's object list and fetches what the local store lacks. Objects move in
//! batches of about [`Options::batch_bytes`], several at once; each batch is verified and
//! stored on arrival, so an interrupted transfer, run again, sends only what did not land.
//! A push first sends the blocks of the local packs made only of objects to send, as they are
//! stored (no decoding, no second compression on either side: the receiver checks each object
//! in them and keeps the block); the rest follow object by object. A pull sets aside a chunk
//! list whose chunks are in a batch still on its way, and checks it once all have landed.
//! A chunked blob's chunks travel in the same batch as their list whenever the blob fits in
//! one, since a chunk list is verified against its chunks; a push's batch refused for want of
//! chunks still in flight is retried once after the others.
//!
//! Version numbers are the same on both sides. A push sends every local version after the
//! remote's latest, which the local store must hold with the same commit (else: pull first);
//! each is created with compare-and-swap on the version before it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use podstore::transfer::{self, StreamLimits, StreamWriter};
use podstore::{CommitId, ObjectId, ObjectKind, Objects, PodRef, Store, VersionInfo, WholeBlock};
use serde::Serialize;

use crate::client::{Remote, RemoteError};
use crate::protocol::{CreateVersion, RemoteVersion};

/// Why a push or pull failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The remote failed or refused.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The local store failed.
    #[error(transparent)]
    Local(#[from] podstore::Error),
    /// The remote has versions the local store lacks: pull first.
    #[error("{0}")]
    Behind(String),
    /// The same version number holds different commits here and there.
    #[error("{message}")]
    Diverged {
        /// For people.
        message: String,
        /// A local name to pull the remote's pod into instead.
        suggestion: String,
    },
}

/// Results of push and pull.
pub type SyncResult<T> = std::result::Result<T, SyncError>;

/// Told how a transfer goes.
pub trait Progress: Sync {
    /// A transfer of `total` bytes begins.
    fn begin(&self, total: u64);
    /// `n` more bytes moved.
    fn advance(&self, n: u64);
}

/// Progress nobody watches.
#[derive(Debug)]
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// How to transfer.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Batches in flight at once.
    pub parallel: usize,
    /// Target bytes per batch (logical; stored for a push's blocks). 16 MiB by default:
    /// buffers stay under glibc's largest mmap threshold, so they are reused instead of being
    /// mapped and zeroed again for every batch (measured: -0.8 CPU-s on a 1 GiB push).
    pub batch_bytes: u64,
    /// zstd level of the local packs a pull writes.
    pub pull_level: i32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            parallel: 4,
            batch_bytes: 16 << 20,
            pull_level: 1,
        }
    }
}

/// What a push did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushSummary {
    /// The pod.
    pub pod: String,
    /// The remote.
    pub remote: String,
    /// Versions created on the remote, in order.
    pub versions: Vec<u64>,
    /// The remote already had the version.
    pub up_to_date: bool,
    /// Objects the pushed versions reach beyond the remote's latest.
    pub objects_considered: u64,
    /// Objects sent.
    pub objects_sent: u64,
    /// Their logical bytes.
    pub bytes_sent: u64,
    /// Bytes on the wire (compressed object streams).
    pub wire_bytes: u64,
}

/// What a pull did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PullSummary {
    /// The pod on the remote.
    pub pod: String,
    /// The local pod it went to.
    pub local_pod: String,
    /// The remote.
    pub remote: String,
    /// The version pulled.
    pub version: u64,
    /// Its commit.
    pub commit: String,
    /// The local store already had it.
    pub up_to_date: bool,
    /// Objects the version reaches.
    pub objects_total: u64,
    /// Objects received.
    pub objects_received: u64,
    /// Their stored bytes on the remote (about the bytes on the wire).
    pub bytes_received: u64,
}

/// The remote's versions of a pod: its live versions and the highest number used (none and 0
/// when the pod is not there).
fn remote_versions(remote: &dyn Remote, name: &str) -> SyncResult<(Vec<RemoteVersion>, u64)> {
    match remote.versions(name) {
        Ok(list) => Ok((list.versions, list.highest)),
        Err(RemoteError::NotFound(_)) => Ok((Vec::new(), 0)),
        Err(e) => Err(e.into()),
    }
}

fn local_versions(local: &Store, name: &str) -> SyncResult<Vec<VersionInfo>> {
    match local.versions(name) {
        Ok(v) => Ok(v),
        Err(podstore::Error::PodNotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn short(c: Option<CommitId>) -> String {
    c.map_or_else(|| "-".into(), |c| c.0.short())
}

/// The first version number held by both sides with different commits.
fn divergence(local: &[VersionInfo], remote: &[RemoteVersion]) -> Option<(u64, String, String)> {
    let here: HashMap<u64, Option<CommitId>> =
        local.iter().map(|v| (v.version, v.commit)).collect();
    remote.iter().find_map(|r| match here.get(&r.version) {
        Some(c) if *c != r.commit => Some((r.version, short(*c), short(r.commit))),
        _ => None,
    })
}

/// Pushes `pod` (a version, or the latest) and every local version between the remote's
/// latest and it.
pub fn push(
    local: &Store,
    remote: &dyn Remote,
    pod: &PodRef,
    opts: Options,
    progress: &dyn Progress,
) -> SyncResult<PushSummary> {
    let name = pod.name.as_str();
    let (target, target_commit) = local.resolve(pod)?;
    let mine = local_versions(local, name)?;
    let (theirs, highest) = remote_versions(remote, name)?;
    let mut summary = PushSummary {
        pod: format!("{name}:{target}"),
        remote: remote.describe(),
        ..PushSummary::default()
    };
    if let Some((n, here, there)) = divergence(&mine, &theirs) {
        return Err(SyncError::Diverged {
            message: format!(
                "pod {name:?} diverged: version {n} is {here} here and {there} on the remote"
            ),
            suggestion: format!("{name}-local"),
        });
    }
    if theirs
        .iter()
        .any(|r| r.version == target && r.commit == Some(target_commit))
    {
        summary.up_to_date = true;
        return Ok(summary);
    }
    let remote_latest = theirs.last();
    if let Some(l) = remote_latest {
        if !mine.iter().any(|v| v.version == l.version) {
            return Err(SyncError::Behind(format!(
                "the remote has version {} of pod {name:?}, which this store does not: pull first (podstack pod pull {name})",
                l.version
            )));
        }
        if target < l.version {
            return Err(SyncError::Behind(format!(
                "the remote's pod {name:?} is at version {}, past version {target}: pull first (podstack pod pull {name})",
                l.version
            )));
        }
    }
    let base = remote_latest.map(|l| l.version);
    let to_push: Vec<&VersionInfo> = mine
        .iter()
        .filter(|v| v.version > base.unwrap_or(0) && v.version <= target)
        .collect();
    if let Some(first) = to_push.first()
        && first.version <= highest
    {
        return Err(SyncError::Remote(RemoteError::Conflict {
            message: format!(
                "version {} of pod {name:?} was used on the remote before (deleted there); push under another name",
                first.version
            ),
            latest: base,
        }));
    }
    let commits: Vec<CommitId> = to_push.iter().filter_map(|v| v.commit).collect();
    let exclude = match remote_latest.and_then(|l| l.commit) {
        Some(c) if local.contains(&c.0)? => transfer::have_set(local, &[c])?,
        _ => HashSet::new(),
    };
    let reach = transfer::reachable(local, &commits, &exclude, false)?;
    summary.objects_considered = reach.objects.len() as u64;
    let mut lacking: HashSet<ObjectId> = HashSet::new();
    for part in reach.objects.chunks(50_000) {
        let ids: Vec<ObjectId> = part.iter().map(|(id, _)| *id).collect();
        lacking.extend(remote.missing(&ids)?);
    }
    let items: Vec<Item> = reach
        .objects
        .iter()
        .filter(|(id, _)| lacking.contains(id))
        .map(|(id, kind)| {
            Ok(Item::new(
                *id,
                *kind,
                local.object_size(id)?.unwrap_or(4096),
            ))
        })
        .collect::<SyncResult<_>>()?;
    progress.begin(items.iter().map(|i| i.size).sum());
    let sent = AtomicU64::new(0);
    let wire = AtomicU64::new(0);
    let raw = AtomicU64::new(0);
    // Sends one batch's stream; returns its logical bytes.
    let upload = |w: StreamWriter<Vec<u8>>| -> SyncResult<u64> {
        let (stats, pack) = w.finish()?;
        remote.upload(&pack)?;
        sent.fetch_add(stats.objects, Ordering::Relaxed);
        raw.fetch_add(stats.raw_bytes, Ordering::Relaxed);
        wire.fetch_add(pack.len() as u64, Ordering::Relaxed);
        Ok(stats.raw_bytes)
    };
    // First the store's blocks made only of objects to send, as they are stored (neither side
    // decodes and encodes them again), with the chunk lists that fit them.
    let (jobs, read_back) = plan_block_batches(local, &items, opts.batch_bytes.max(1))?;
    let sent_whole: HashSet<ObjectId> = jobs
        .iter()
        .flat_map(|job| {
            job.blocks
                .iter()
                .flat_map(|b| b.members.iter().map(|m| m.id))
                .chain(job.loose.iter().chain(&job.lists).copied())
        })
        .collect();
    let failed_blocks = run_parallel(jobs, opts.parallel, &|job| {
        let mut w = StreamWriter::new(Vec::new())?;
        for b in &job.blocks {
            let stored = local.read_stored_block(b)?;
            w.block(&b.members, b.codec(), b.raw_len(), &stored)?;
        }
        for (kind, ids) in [
            (ObjectKind::Blob, &job.loose),
            (ObjectKind::Chunks, &job.lists),
        ] {
            for id in ids {
                w.object(kind, id, &local.get_kind(id, kind)?)?;
            }
        }
        progress.advance(upload(w)?);
        Ok(())
    })?;
    if let Some(job) = failed_blocks.first() {
        // Everything a block batch needs is in it or on the remote already: nothing another
        // batch brings can make it land.
        let ids: Vec<String> = job
            .blocks
            .iter()
            .flat_map(|b| b.members.iter().map(|m| m.id.short()))
            .take(3)
            .collect();
        return Err(RemoteError::Invalid(format!(
            "the remote refused a batch of stored blocks (objects {}…)",
            ids.join(", ")
        ))
        .into());
    }
    let mut items: Vec<Item> = items
        .into_iter()
        .filter(|i| !sent_whole.contains(&i.id))
        .collect();
    // The remote checks a chunk list whose chunks went before by reading them back and hashing
    // them: count that work, so that such lists spread over the parallel uploads instead of
    // filling one that the remote then checks alone, list after list.
    for it in &mut items {
        it.cost += read_back.get(&it.id).copied().unwrap_or(0);
    }
    run_batches(&items, opts, &|batch: &[Item]| {
        let ids: Vec<ObjectId> = batch.iter().map(|i| i.id).collect();
        // Objects go out in storage order, straight from the store's blocks; chunk lists last,
        // after the chunks of this batch that they list.
        let mut w = StreamWriter::new(Vec::new())?;
        let mut lists: Vec<(ObjectId, Vec<u8>)> = Vec::new();
        local.read_in_storage_order(&ids, &mut |id, kind, bytes| {
            if kind == ObjectKind::Chunks {
                lists.push((*id, bytes.to_vec()));
                Ok(())
            } else {
                w.object(kind, id, bytes)
            }
        })?;
        for (id, bytes) in &lists {
            w.object(ObjectKind::Chunks, id, bytes)?;
        }
        upload(w)?;
        progress.advance(batch.iter().map(|i| i.size).sum());
        Ok(())
    })?;
    summary.objects_sent = sent.into_inner();
    summary.bytes_sent = raw.into_inner();
    summary.wire_bytes = wire.into_inner();
    let mut expected = base;
    for v in to_push {
        let Some(commit) = v.commit else { continue };
        let created = remote.create_version(
            name,
            &CreateVersion {
                version: v.version,
                commit,
                expected_latest: expected,
            },
        );
        match created {
            Ok(_) => {}
            Err(RemoteError::Conflict { message, latest }) => {
                return Err(SyncError::Remote(RemoteError::Conflict {
                    message: format!(
                        "{message} (the objects sent stay on the remote; nothing was overwritten)"
                    ),
                    latest,
                }));
            }
            Err(e) => return Err(e.into()),
        }
        summary.versions.push(v.version);
        expected = Some(v.version);
    }
    Ok(summary)
}

/// Pulls `pod` (a version, or the latest) into the local pod `into` (default: the same name),
/// under the remote's version number.
pub fn pull(
    local: &Store,
    remote: &dyn Remote,
    pod: &PodRef,
    into: Option<&str>,
    opts: Options,
    progress: &dyn Progress,
) -> SyncResult<PullSummary> {
    let name = pod.name.as_str();
    let local_name = into.unwrap_or(name);
    podstore::validate_name(local_name)?;
    let theirs = remote.versions(name)?.versions;
    let wanted = match pod.version {
        None => theirs.last(),
        Some(n) => theirs.iter().find(|v| v.version == n),
    }
    .ok_or_else(|| {
        RemoteError::NotFound(format!(
            "pod {name:?} has no version {} on the remote (it has {})",
            pod.version.unwrap_or(0),
            theirs
                .iter()
                .map(|v| v.version.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let commit = wanted
        .commit
        .ok_or_else(|| RemoteError::NotFound("the version was deleted".into()))?;
    let mine = local_versions(local, local_name)?;
    if let Some((n, here, there)) = divergence(&mine, &theirs) {
        let suggestion = format!("{name}-remote");
        return Err(SyncError::Diverged {
            message: format!(
                "local pod {local_name:?} and the remote's pod {name:?} diverged: version {n} is {here} here and {there} on the remote; pull it under a new name: podstack pod pull {name} --as {suggestion}"
            ),
            suggestion,
        });
    }
    let mut summary = PullSummary {
        pod: format!("{name}:{}", wanted.version),
        local_pod: format!("{local_name}:{}", wanted.version),
        remote: remote.describe(),
        version: wanted.version,
        commit: commit.0.to_hex(),
        ..PullSummary::default()
    };
    if mine
        .iter()
        .any(|v| v.version == wanted.version && v.commit == Some(commit))
    {
        summary.up_to_date = true;
        return Ok(summary);
    }
    let listing = remote.listing(name, wanted.version)?;
    if listing.commit != commit {
        return Err(RemoteError::Failed(format!(
            "the remote changed version {} of {name:?} while pulling",
            wanted.version
        ))
        .into());
    }
    summary.objects_total = listing.objects.len() as u64;
    let mut items = Vec::new();
    for (id, kind, size) in &listing.objects {
        if !local.contains(id)? {
            let kind = ObjectKind::from_u8(*kind).ok_or_else(|| {
                RemoteError::Failed(format!(
                    "the remote listed an object of unknown kind {kind}"
                ))
            })?;
            items.push(Item::new(*id, kind, *size));
        }
    }
    progress.begin(items.iter().map(|i| i.size).sum());
    let received = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    // Chunk lists whose chunks travel in a batch still on its way are set aside and checked
    // once every batch has landed (rather than fetching their whole batch again).
    let deferred: Mutex<transfer::Deferred> = Mutex::new(Vec::new());
    run_batches(&items, opts, &|batch: &[Item]| {
        let ids: Vec<ObjectId> = batch.iter().map(|i| i.id).collect();
        let stream = remote.download(&ids)?;
        let staging = local.stage_with_levels(podstore::Levels::uniform(opts.pull_level));
        let limits = StreamLimits {
            max_objects: ids.len() as u64,
            max_raw_bytes: 4 << 30,
        };
        let (_, got, later) = transfer::read_stream_deferring(&stream[..], &staging, limits)?;
        let want: HashSet<&ObjectId> = ids.iter().collect();
        let arrived = got.iter().chain(later.iter().map(|(id, _)| id));
        if got.len() + later.len() != ids.len() || !arrived.into_iter().all(|id| want.contains(id))
        {
            return Err(RemoteError::Failed(
                "the remote sent other objects than those asked for".into(),
            )
            .into());
        }
        staging.commit()?;
        received.fetch_add((got.len() + later.len()) as u64, Ordering::Relaxed);
        if !later.is_empty() {
            deferred
                .lock()
                .map_err(|_| {
                    SyncError::Local(podstore::Error::InvalidArchive(
                        "a pull worker panicked".into(),
                    ))
                })?
                .extend(later);
        }
        bytes.fetch_add(stream.len() as u64, Ordering::Relaxed);
        progress.advance(batch.iter().map(|i| i.size).sum());
        Ok(())
    })?;
    let deferred = deferred.into_inner().unwrap_or_default();
    if !deferred.is_empty() {
        let staging = local.stage();
        transfer::check_deferred(&staging, &deferred)?;
        staging.commit()?;
    }
    summary.objects_received = received.into_inner();
    summary.bytes_received = bytes.into_inner();
    // Everything the version reaches must now be here before it is recorded.
    let check = transfer::reachable(local, &[commit], &HashSet::new(), false)?;
    for (id, _) in &check.objects {
        if !local.contains(id)? {
            return Err(podstore::Error::MissingObject(*id).into());
        }
    }
    local.import_version(local_name, wanted.version, commit)?;
    Ok(summary)
}

/// One upload of stored blocks: the blocks, then chunks sent loose, then chunk lists.
#[derive(Debug)]
struct BlockJob {
    blocks: Vec<WholeBlock>,
    /// Chunks under [`podstore::chunker::MIN_CHUNK`] (a blob's last) of `lists`: small
    /// objects, stored in blocks of small objects away from the blob's other chunks (often
    /// with chunk lists, which keeps those blocks from travelling whole), so they travel here
    /// loose (a second time, when their block travels whole too), keeping each list with all
    /// its chunks.
    loose: Vec<ObjectId>,
    /// Chunk lists whose chunks to send all travel in this upload.
    lists: Vec<ObjectId>,
}

/// Batches of the local packs' blocks made only of `items` (about `target` stored bytes each),
/// each with the chunk lists of `items` whose chunks to send all travel in it: the remote
/// checks a list by reading its chunks, which it then has at hand. A list whose chunks travel
/// in several batches goes later, and the remote reads its chunks back from storage (for an
/// S3 backend, over the network) and hashes them all again, one list after the other; so a
/// batch is not cut between two blocks holding chunks of one list, unless it has grown to
/// twice `target` (bigger batches keep fewer uploads in flight: on the bench, 4× was no
/// faster than 2×). Blocks hold no chunk lists, so the batches go in any order.
///
/// Also returns, for each list left for later, the bytes of its chunks the remote will have
/// to read back to check it: those on the remote already or sent in these batches.
fn plan_block_batches(
    local: &Store,
    items: &[Item],
    target: u64,
) -> SyncResult<(Vec<BlockJob>, HashMap<ObjectId, u64>)> {
    let ids: Vec<ObjectId> = items.iter().map(|i| i.id).collect();
    let blocks = local.whole_blocks(&ids)?;
    let block_of: HashMap<ObjectId, usize> = blocks
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.members.iter().map(move |m| (m.id, i)))
        .collect();
    let to_send: HashSet<ObjectId> = ids.into_iter().collect();
    // Each list's chunks to send, as the range of blocks holding them (`None`: some chunk to
    // send is in no whole block, so the list cannot travel with its chunks anyway), and its
    // small chunk to send loose.
    type Span = Option<(usize, usize)>;
    let mut spans: Vec<(ObjectId, Span, Option<ObjectId>)> = Vec::new();
    let mut read_back: HashMap<ObjectId, u64> = HashMap::new();
    // `joined[k]`: blocks `k - 1` and `k` hold chunks of one list.
    let mut joined = vec![0i64; blocks.len() + 1];
    for it in items.iter().filter(|i| i.kind == ObjectKind::Chunks) {
        let bytes = local.get_kind(&it.id, ObjectKind::Chunks)?;
        let (_, chunks) = podstore::decode_list(&it.id, &bytes)?;
        let mut span: Span = None;
        let mut whole = true;
        let mut loose = None;
        for (c, len) in chunks.iter().filter(|(c, _)| to_send.contains(c)) {
            if (*len as usize) < podstore::chunker::MIN_CHUNK {
                loose = Some(*c);
                continue;
            }
            match block_of.get(c) {
                Some(&b) => {
                    let (lo, hi) = span.get_or_insert((b, b));
                    *lo = (*lo).min(b);
                    *hi = (*hi).max(b);
                }
                None => whole = false,
            }
        }
        let span = span.filter(|_| whole);
        if let Some((lo, hi)) = span
            && lo < hi
        {
            joined[lo + 1] += 1;
            joined[hi + 1] -= 1;
        }
        spans.push((it.id, span, loose));
        let at_remote: u64 = chunks
            .iter()
            .filter(|(c, _)| !to_send.contains(c) || block_of.contains_key(c))
            .map(|(_, n)| n)
            .sum();
        read_back.insert(it.id, at_remote);
    }
    let mut batches: Vec<Vec<WholeBlock>> = Vec::new();
    let mut batch_of_block = Vec::with_capacity(blocks.len());
    // Growing a batch stays well inside what a server accepts in one upload.
    let limit = (2 * target)
        .min(crate::protocol::MAX_PACK_BODY / 2)
        .max(target);
    let mut size = target;
    let mut open_spans = 0i64;
    for (k, b) in blocks.into_iter().enumerate() {
        open_spans += joined[k];
        if (size >= target && open_spans == 0) || size >= limit {
            batches.push(Vec::new());
            size = 0;
        }
        size += u64::from(b.stored_len());
        batches
            .last_mut()
            .expect("works because the first block opens a batch")
            .push(b);
        batch_of_block.push(batches.len() - 1);
    }
    let mut jobs: Vec<BlockJob> = batches
        .into_iter()
        .map(|blocks| BlockJob {
            blocks,
            loose: Vec::new(),
            lists: Vec::new(),
        })
        .collect();
    for (id, span, loose) in spans {
        if let Some((lo, hi)) = span
            && batch_of_block[lo] == batch_of_block[hi]
        {
            let job = &mut jobs[batch_of_block[lo]];
            job.lists.push(id);
            job.loose.extend(loose);
            read_back.remove(&id);
        }
    }
    Ok((jobs, read_back))
}

/// An object to move.
#[derive(Clone, Copy, Debug)]
struct Item {
    id: ObjectId,
    kind: ObjectKind,
    size: u64,
    /// What batches are cut by: `size`, plus for a chunk list the bytes of its chunks that
    /// the remote has to read back to check it.
    cost: u64,
}

impl Item {
    fn new(id: ObjectId, kind: ObjectKind, size: u64) -> Self {
        Self {
            id,
            kind,
            size,
            cost: size,
        }
    }
}

/// Cuts `items` (children first) into batches of about `target` of [`Item::cost`] without
/// separating a chunk list from the run of blobs just before it (its chunks), unless that run
/// alone is larger than `target`: then the run is cut and the list goes into the returned last
/// batch.
fn plan_batches(items: &[Item], target: u64) -> (Vec<Vec<Item>>, Vec<Item>) {
    let mut batches = Vec::new();
    let mut last = Vec::new();
    let mut cur: Vec<Item> = Vec::new();
    let mut cur_size = 0u64;
    let flush = |cur: &mut Vec<Item>, cur_size: &mut u64, batches: &mut Vec<Vec<Item>>| {
        if !cur.is_empty() {
            batches.push(std::mem::take(cur));
            *cur_size = 0;
        }
    };
    let mut i = 0;
    while i < items.len() {
        let mut j = i;
        while j < items.len() && items[j].kind == ObjectKind::Blob {
            j += 1;
        }
        let unit_end = if j < items.len() && items[j].kind == ObjectKind::Chunks && j > i {
            j + 1
        } else {
            i + 1
        };
        let unit = &items[i..unit_end];
        let size: u64 = unit.iter().map(|it| it.cost).sum();
        if size > target && unit.len() > 1 {
            let (list, chunks) = unit
                .split_last()
                .expect("works because the unit has two items");
            for it in chunks {
                if cur_size >= target {
                    flush(&mut cur, &mut cur_size, &mut batches);
                }
                cur.push(*it);
                cur_size += it.cost;
            }
            last.push(*list);
        } else {
            if cur_size + size > target {
                flush(&mut cur, &mut cur_size, &mut batches);
            }
            cur.extend_from_slice(unit);
            cur_size += size;
        }
        i = unit_end;
    }
    flush(&mut cur, &mut cur_size, &mut batches);
    (batches, last)
}

/// Whether a failed batch may succeed once the other batches have landed: the remote refused
/// a push's chunk list for want of chunks still in flight. (A pull sets such lists aside
/// instead, so a bad stream it receives is just bad.)
fn retryable(e: &SyncError) -> bool {
    matches!(e, SyncError::Remote(RemoteError::Invalid(_)))
}

/// Runs `f` on every batch, `opts.parallel` at a time; then, one by one, the batches that
/// failed for want of objects of other batches, and the chunk lists held back.
fn run_batches(
    items: &[Item],
    opts: Options,
    f: &(dyn Fn(&[Item]) -> SyncResult<()> + Sync),
) -> SyncResult<()> {
    let (batches, last) = plan_batches(items, opts.batch_bytes.max(1));
    let retry = run_parallel(batches, opts.parallel, &|b: &Vec<Item>| f(b))?;
    for batch in retry {
        f(&batch)?;
    }
    if !last.is_empty() {
        f(&last)?;
    }
    Ok(())
}

/// Runs `f` on every job, `parallel` at a time. Stops at the first error that is not
/// [`retryable`]; returns the jobs that failed with a retryable one.
fn run_parallel<T: Send>(
    jobs: Vec<T>,
    parallel: usize,
    f: &(dyn Fn(&T) -> SyncResult<()> + Sync),
) -> SyncResult<Vec<T>> {
    let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
    let retry: Mutex<Vec<T>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<SyncError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| {
                loop {
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let Some(batch) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                        return;
                    };
                    match f(&batch) {
                        Ok(()) => {}
                        Err(e) if retryable(&e) => {
                            if let Ok(mut r) = retry.lock() {
                                r.push(batch);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = failed.lock() {
                                slot.get_or_insert(e);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(retry.into_inner().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8, kind: ObjectKind, size: u64) -> Item {
        Item::new(ObjectId([n; 32]), kind, size)
    }

    use crate::repo::Repo;
    use crate::storage::DirStorage;
    use podstore::{Commit, CommitOptions, Document, Entry, Expect, StatePath, put_blob, tree};
    use serde_json::json;

    /// Commits a state of `n` objects (one of them large), with `seed` changing `changed` of them.
    fn commit_state(store: &Store, pod: &str, seed: u64, changed: usize) -> CommitId {
        let mut entries = Vec::new();
        for i in 0..40usize {
            let tweak = if i >= 40 - changed { seed } else { 0 };
            let len = if i == 0 { 600_000 } else { 3000 };
            let body: Vec<u8> = (0..len)
                .map(|k| ((k * 131 + i * 7) as u64 ^ tweak) as u8)
                .collect();
            let b = put_blob(store, &body).expect("blob").blob;
            let d = Document::new(
                json!({"schema": "s3.object/1", "i": i, "body": podstore::blob_ref(&b)}),
            )
            .expect("doc");
            let path = StatePath::parse(&format!("000000000000/us-east-1/s3/object/b/k{i}"))
                .expect("path");
            entries.push((path, Entry::store_doc(store, &d).expect("doc")));
        }
        let root = tree::build(store, entries).expect("tree");
        let c = Commit::new(store, root, CommitOptions::default())
            .expect("commit")
            .store(store)
            .expect("store");
        store.flush().expect("flush");
        store.create_version(pod, c, Expect::Any).expect("version");
        c
    }

    fn opts() -> Options {
        Options {
            parallel: 3,
            batch_bytes: 64 << 10,
            pull_level: 1,
        }
    }

    #[test]
    fn push_pull_share_a_pod_and_send_only_what_is_missing() {
        let dir = tempfile::tempdir().expect("tmp");
        let remote = Repo::open(Box::new(
            DirStorage::open(dir.path().join("remote")).expect("dir"),
        ))
        .expect("repo");
        let a = Store::open(dir.path().join("a")).expect("a");
        let b = Store::open(dir.path().join("b")).expect("b");
        let c1 = commit_state(&a, "p", 0, 0);
        let p = PodRef::parse("p").expect("ref");
        let first = push(&a, &remote, &p, opts(), &Quiet).expect("push");
        assert_eq!(first.versions, vec![1]);
        assert!(first.objects_sent > 40);
        assert!(
            push(&a, &remote, &p, opts(), &Quiet)
                .expect("again")
                .up_to_date
        );
        let pulled = pull(&b, &remote, &p, None, opts(), &Quiet).expect("pull");
        assert_eq!(pulled.objects_received, pulled.objects_total);
        assert_eq!(b.resolve(&p).expect("b has it"), (1, c1));
        // B changes 2 of 40 objects and pushes: a small part travels.
        let c2 = commit_state(&b, "p", 99, 2);
        let second = push(&b, &remote, &p, opts(), &Quiet).expect("push 2");
        assert_eq!(second.versions, vec![2]);
        assert!(
            second.bytes_sent * 5 < first.bytes_sent,
            "{second:?} vs {first:?}"
        );
        // A is behind now: its own new version is refused until it pulls.
        commit_state(&a, "p", 7, 1);
        let err = push(&a, &remote, &p, opts(), &Quiet).expect_err("diverged");
        assert!(matches!(err, SyncError::Diverged { .. }), "{err}");
        let err = pull(&a, &remote, &p, None, opts(), &Quiet).expect_err("diverged");
        assert!(err.to_string().contains("--as p-remote"), "{err}");
        let into = pull(&a, &remote, &p, Some("p-remote"), opts(), &Quiet).expect("pull as");
        assert_eq!(into.local_pod, "p-remote:2");
        assert_eq!(
            a.resolve(&PodRef::parse("p-remote:2").expect("r"))
                .expect("v")
                .1,
            c2
        );
    }

    #[test]
    fn an_interrupted_push_resumes_without_resending() {
        let dir = tempfile::tempdir().expect("tmp");
        let remote = Repo::open(Box::new(
            DirStorage::open(dir.path().join("remote")).expect("dir"),
        ))
        .expect("repo");
        let a = Store::open(dir.path().join("a")).expect("a");
        commit_state(&a, "p", 0, 0);
        let p = PodRef::parse("p").expect("ref");
        // Land some of the objects as an interrupted push would have.
        let c = a.resolve(&p).expect("resolve").1;
        let all = transfer::reachable(&a, &[c], &HashSet::new(), false).expect("reach");
        let mut w = StreamWriter::new(Vec::new()).expect("w");
        w.objects_from(&a, &all.objects[..20]).expect("objects");
        remote
            .receive_pack(&w.finish().expect("finish").1)
            .expect("pack");
        let done = push(&a, &remote, &p, opts(), &Quiet).expect("push");
        assert_eq!(done.objects_sent, all.objects.len() as u64 - 20);
    }

    #[test]
    fn block_batches_are_not_cut_inside_a_chunked_blob() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path().join("s")).expect("store");
        // Five 3 MiB blobs of noise: stored raw, their chunks fill ~4 MiB blocks one after
        // the other, so blobs straddle block boundaries.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut lists = Vec::new();
        for _ in 0..5 {
            let body: Vec<u8> = (0..3 << 20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let id = put_blob(&store, &body).expect("blob").blob.id;
            lists.push(id.object());
        }
        store.flush().expect("flush");
        let mut items = Vec::new();
        for l in &lists {
            let bytes = store.get_kind(l, ObjectKind::Chunks).expect("list");
            let (_, chunks) = podstore::decode_list(l, &bytes).expect("decode");
            items.extend(
                chunks
                    .iter()
                    .map(|(c, n)| Item::new(*c, ObjectKind::Blob, *n)),
            );
            items.push(Item::new(*l, ObjectKind::Chunks, bytes.len() as u64));
        }
        let target = 8 << 20;
        let (batches, _) = plan_block_batches(&store, &items, target).expect("plan");
        let block_count: usize = batches.iter().map(|j| j.blocks.len()).sum();
        assert!(block_count > 2, "the blobs fill several blocks");
        let all_blocks: Vec<&WholeBlock> = batches.iter().flat_map(|j| &j.blocks).collect();
        let straddling = lists
            .iter()
            .filter(|l| {
                let bytes = store.get_kind(l, ObjectKind::Chunks).expect("list");
                let (_, chunks) = podstore::decode_list(l, &bytes).expect("decode");
                let homes: HashSet<usize> = chunks
                    .iter()
                    .filter_map(|(c, _)| {
                        all_blocks
                            .iter()
                            .position(|b| b.members.iter().any(|m| m.id == *c))
                    })
                    .collect();
                homes.len() > 1
            })
            .count();
        assert!(straddling > 0, "some blob's chunks lie in two blocks");
        let mut placed = 0;
        for BlockJob {
            blocks,
            loose,
            lists: batch_lists,
        } in &batches
        {
            let size: u64 = blocks.iter().map(|b| u64::from(b.stored_len())).sum();
            let biggest = blocks.iter().map(|b| u64::from(b.stored_len())).max();
            assert!(
                size < 2 * target + biggest.unwrap_or(0),
                "a batch of {size} bytes"
            );
            let here: HashSet<ObjectId> = blocks
                .iter()
                .flat_map(|b| b.members.iter().map(|m| m.id))
                .chain(loose.iter().copied())
                .collect();
            for l in batch_lists {
                let bytes = store.get_kind(l, ObjectKind::Chunks).expect("list");
                let (_, chunks) = podstore::decode_list(l, &bytes).expect("decode");
                assert!(chunks.iter().all(|(c, _)| here.contains(c)));
                placed += 1;
            }
        }
        assert_eq!(placed, lists.len(), "every list travels with its chunks");
    }

    #[test]
    fn lists_checked_against_stored_chunks_spread_over_batches() {
        // Eight lists of 100 bytes whose chunks (40 units each to read back) went before.
        let items: Vec<Item> = (1..=8)
            .map(|n| Item {
                cost: 100 + 40,
                ..item(n, ObjectKind::Chunks, 100)
            })
            .collect();
        let (batches, last) = plan_batches(&items, 300);
        assert!(last.is_empty());
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 2, 2], "cut by cost, not by bytes");
        let (by_bytes, _) = plan_batches(
            &items
                .iter()
                .map(|i| item(i.id.0[0], i.kind, i.size))
                .collect::<Vec<_>>(),
            300,
        );
        assert_eq!(by_bytes.len(), 3);
    }

    #[test]
    fn batches_keep_chunks_with_their_list_unless_too_big() {
        use ObjectKind::{Blob, Chunks, Document, Tree};
        let items = vec![
            item(1, Document, 10),
            item(2, Blob, 40),
            item(3, Blob, 40),
            item(4, Chunks, 1),
            item(5, Blob, 200),
            item(6, Blob, 200),
            item(7, Chunks, 1),
            item(8, Tree, 5),
        ];
        let (batches, last) = plan_batches(&items, 100);
        let ids: Vec<Vec<u8>> = batches
            .iter()
            .map(|b| b.iter().map(|i| i.id.0[0]).collect())
            .collect();
        // The small blob (2, 3 + list 4) stays whole; the big one (5, 6) is cut and its list
        // (7) goes last.
        assert!(
            ids.iter()
                .any(|b| b.contains(&2) && b.contains(&3) && b.contains(&4))
        );
        assert_eq!(last.iter().map(|i| i.id.0[0]).collect::<Vec<_>>(), vec![7]);
        assert!(!ids.iter().any(|b| b.contains(&5) && b.contains(&6)));
        let total: usize = batches.iter().map(Vec::len).sum::<usize>() + last.len();
        assert_eq!(total, items.len());
    }
}
