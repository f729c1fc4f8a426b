//! How a service's state becomes resource documents and back.
//!
//! Each service implements [`ServiceSnapshot`]: `export` copies its state under a short lock
//! and encodes it as `(path, document)` leaves of the state tree
//! (`<account>/<region or "global">/<service>/<type>/<id…>`, DESIGN.md); `stage` decodes leaves
//! into a complete new state, validating everything and rebuilding runtime state, without
//! touching the live one, and returns it typed ([`Staged`]): its `install` swaps it into the
//! service that staged it (no downcast that could silently miss). A load is therefore atomic:
//! every service stages first, and only when all staged successfully are they installed.
//!
//! Documents are the service's own stable description (schema `service.type/N`), never a dump
//! of in-memory structs; blobs (S3 bodies) are referenced with `podstore::blob_ref` and are
//! already in the pod store when `export` runs.

pub mod decode;

use std::collections::BTreeSet;

use podstore::{Document, StatePath};

/// Leaves of one service's part of the state tree.
pub type Leaves = Vec<(StatePath, Document)>;

/// A staged state: decoded and validated, not yet installed. Installing it swaps it into the
/// service that staged it; it is typed, so it cannot reach another service.
pub trait Pending: Send {
    /// Replaces the live state of the service that staged this with it.
    fn install(self: Box<Self>);
}

/// A staged state of one service, from its [`ServiceSnapshot::stage`].
pub type Staged<'a> = Box<dyn Pending + 'a>;

/// The [`Pending`] of a service `S` whose staged state has type `T`.
struct Install<'a, S, T> {
    service: &'a S,
    value: T,
    swap: fn(&S, T),
}

impl<S: Sync, T: Send> Pending for Install<'_, S, T> {
    fn install(self: Box<Self>) {
        (self.swap)(self.service, self.value);
    }
}

/// A staged `value` that `swap` installs into `service`.
pub fn staged<'a, S: Sync, T: Send + 'a>(service: &'a S, value: T, swap: fn(&S, T)) -> Staged<'a> {
    Box::new(Install {
        service,
        value,
        swap,
    })
}

/// What changed in a service since its previous [`ServiceSnapshot::export_changes`].
#[derive(Debug)]
pub enum Delta {
    /// Everything (after an install or a reset, or when asked by `mark_all`): the whole state;
    /// the service's earlier subtrees are to be replaced.
    Full(Leaves),
    /// Paths to delete (leaves, or whole subtrees such as a deleted bucket's objects), applied
    /// first, then leaves to set.
    Changes {
        /// Leaves or subtrees that no longer exist.
        deleted: Vec<StatePath>,
        /// Leaves created or changed, with their current documents.
        set: Leaves,
    },
}

/// Change marks a service keeps beside its state, under the same lock, so that a mutation and
/// its mark are one step: `K` names a resource (a bucket, a key, a message), `deleted` holds
/// paths whose resource is gone and cannot be named from the state any more.
#[derive(Clone, Debug)]
pub struct Marks<K: Ord> {
    all: bool,
    keys: BTreeSet<K>,
    deleted: Vec<StatePath>,
}

impl<K: Ord> Default for Marks<K> {
    fn default() -> Self {
        Self {
            all: false,
            keys: BTreeSet::new(),
            deleted: Vec::new(),
        }
    }
}

/// Marks taken out of a [`Marks`].
#[derive(Debug)]
pub enum Taken<K> {
    /// Everything changed.
    All,
    /// These resources changed (or are gone), and these paths were deleted.
    Some {
        /// Resources to look up again.
        keys: BTreeSet<K>,
        /// Paths deleted.
        deleted: Vec<StatePath>,
    },
}

impl<K: Ord> Marks<K> {
    /// Marks one resource as changed (created, modified or deleted).
    pub fn touch(&mut self, key: K) {
        if !self.all {
            self.keys.insert(key);
        }
    }

    /// Records that `path` (a leaf or a subtree) no longer exists.
    pub fn delete(&mut self, path: StatePath) {
        if !self.all {
            self.deleted.push(path);
        }
    }

    /// Records that the resource `id` of `service` in `account`/`region` is gone: for each
    /// of `kinds`, the path `<account>/<region>/<service>/<kind>/<id>` (its document, or the
    /// subtree of what belonged to it, such as a bucket's objects).
    pub fn delete_resource(
        &mut self,
        [account, region, service]: [&str; 3],
        kinds: &[&str],
        id: &str,
    ) {
        for kind in kinds {
            // A name no path can hold was never exported either.
            if let Ok(p) = StatePath::new([account, region, service, kind, id]) {
                self.delete(p);
            }
        }
    }

    /// Marks everything as changed.
    pub fn set_all(&mut self) {
        self.all = true;
        self.keys.clear();
        self.deleted.clear();
    }

    /// Forgets every mark.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Takes the marks, leaving none.
    pub fn take(&mut self) -> Taken<K> {
        let m = std::mem::take(self);
        if m.all {
            Taken::All
        } else {
            Taken::Some {
                keys: m.keys,
                deleted: m.deleted,
            }
        }
    }
}

/// A service whose state can be exported and loaded.
pub trait ServiceSnapshot: Send + Sync {
    /// The service name used in state paths, health and endpoints: `s3`, `sqs`,
    /// `secretsmanager`, `sts`.
    fn name(&self) -> &'static str;

    /// Schema versions this build writes, e.g. `[("sqs.queue", 1), ("sqs.message", 1)]`.
    fn schemas(&self) -> Vec<(&'static str, u32)>;

    /// Encodes the current state at time `now_ms` (the emulator clock).
    fn export(&self, now_ms: i64) -> Result<Leaves, String>;

    /// Decodes leaves (all of this service, any accounts and regions) into a new state,
    /// ready to install ([`Pending::install`]) and changing nothing until then. Fails with a
    /// message naming the path and what is wrong; never panics on bad input.
    fn stage(&self, leaves: Leaves, now_ms: i64) -> Result<Staged<'_>, decode::DecodeError>;

    /// Empties the state.
    fn reset(&self);

    /// The changes since the previous call, for incremental snapshots: only persistence
    /// calls this (one consumer), and it takes the marks. The changed resources are copied
    /// under the service's lock and encoded after it is released. After `install` or
    /// `reset` the answer is [`Delta::Full`].
    fn export_changes(&self, now_ms: i64) -> Result<Delta, String>;

    /// Makes the next `export_changes` answer [`Delta::Full`] (after a failed save).
    fn mark_all(&self);

    /// Forgets the marks: the live state equals the snapshot just loaded into it.
    fn mark_clean(&self);
}
