//! Commits: a root tree plus metadata, stored as canonical JSON with schema `podstack.commit/1`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::document::canonical_bytes;
use crate::error::{Error, Result};
use crate::id::{CommitId, TreeId};
use crate::object::{ObjectKind, Objects};
use crate::tree::{self, Entry};

/// The commit format this build writes; older ones stay readable.
pub const COMMIT_FORMAT: u32 = 1;
const COMMIT_SCHEMA: &str = "podstack.commit/1";

/// What a commit records about one service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Resource documents of the service across all accounts and regions.
    pub resources: u64,
    /// Bytes of its documents and blobs.
    pub bytes: u64,
    /// Schema versions of its resource types, e.g. `{"sqs.queue": 1}`.
    #[serde(default)]
    pub schemas: BTreeMap<String, u32>,
}

/// A commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Always `podstack.commit/1`.
    pub schema: String,
    /// Format version of the store objects the commit refers to.
    pub format: u32,
    /// The state tree.
    pub root: TreeId,
    /// Earlier commits this one descends from.
    #[serde(default)]
    pub parents: Vec<CommitId>,
    /// What the author said.
    #[serde(default)]
    pub message: String,
    /// Who made it.
    #[serde(default)]
    pub author: String,
    /// Unix seconds.
    pub time: i64,
    /// Per service: counts and schema versions.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceInfo>,
    /// The podstack version that wrote it.
    #[serde(default)]
    pub emulator_version: String,
}

/// What a caller supplies to make a commit; counts are computed from the tree.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// Parents.
    pub parents: Vec<CommitId>,
    /// Message.
    pub message: String,
    /// Author.
    pub author: String,
    /// Unix seconds; `None` = now.
    pub time: Option<i64>,
    /// Schema versions per service (`service → type → version`).
    pub schemas: BTreeMap<String, BTreeMap<String, u32>>,
    /// Version of the writer.
    pub emulator_version: String,
}

impl Commit {
    /// Builds a commit of `root`, counting resources per service from the tree.
    pub fn new<O: Objects + ?Sized>(
        objects: &O,
        root: TreeId,
        opts: CommitOptions,
    ) -> Result<Self> {
        let mut services = service_counts(objects, root)?;
        for (svc, schemas) in opts.schemas {
            services.entry(svc).or_default().schemas = schemas;
        }
        Ok(Self {
            schema: COMMIT_SCHEMA.into(),
            format: COMMIT_FORMAT,
            root,
            parents: opts.parents,
            message: opts.message,
            author: opts.author,
            time: opts.time.unwrap_or_else(crate::fsutil::now_unix),
            services,
            emulator_version: opts.emulator_version,
        })
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).expect("works because Commit has only plain fields");
        canonical_bytes(&v)
    }

    /// Stores the commit; returns its id.
    pub fn store<O: Objects + ?Sized>(&self, objects: &O) -> Result<CommitId> {
        Ok(CommitId(objects.put(ObjectKind::Commit, &self.to_bytes())?))
    }

    /// Reads a commit.
    pub fn load<O: Objects + ?Sized>(objects: &O, id: CommitId) -> Result<Self> {
        let bytes = objects.get_kind(&id.0, ObjectKind::Commit)?;
        Self::parse(id, &bytes)
    }

    /// Parses commit bytes.
    pub fn parse(id: CommitId, bytes: &[u8]) -> Result<Self> {
        let c: Self = serde_json::from_slice(bytes).map_err(|e| Error::CorruptObject {
            id: id.0,
            reason: format!("not a commit: {e}"),
        })?;
        if c.schema != COMMIT_SCHEMA || c.format > COMMIT_FORMAT {
            return Err(Error::CorruptObject {
                id: id.0,
                reason: format!(
                    "commit schema {} format {} is newer than this podstack reads",
                    c.schema, c.format
                ),
            });
        }
        Ok(c)
    }
}

/// Resource and byte counts per service, summed over accounts and regions (levels 1 and 2).
pub fn service_counts<O: Objects + ?Sized>(
    objects: &O,
    root: TreeId,
) -> Result<BTreeMap<String, ServiceInfo>> {
    let mut out: BTreeMap<String, ServiceInfo> = BTreeMap::new();
    for (_, account) in tree::read_dir(objects, root)? {
        let Entry::Tree { id: acc, .. } = account else {
            continue;
        };
        for (_, region) in tree::read_dir(objects, acc)? {
            let Entry::Tree { id: reg, .. } = region else {
                continue;
            };
            for (svc, e) in tree::read_dir(objects, reg)? {
                let info = out.entry(svc).or_default();
                info.resources += e.docs();
                info.bytes += e.bytes();
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Document;
    use crate::object::MemObjects;
    use crate::path::StatePath;
    use serde_json::json;

    #[test]
    fn commit_round_trips_and_counts_services() {
        let o = MemObjects::new();
        let d = Document::new(json!({"schema": "sqs.queue/1", "name": "q"})).expect("doc");
        let e = Entry::store_doc(&o, &d).expect("store");
        let root = tree::build(
            &o,
            vec![
                (
                    StatePath::parse("000000000000/us-east-1/sqs/queue/q").expect("p"),
                    e.clone(),
                ),
                (
                    StatePath::parse("111111111111/eu-west-1/sqs/queue/q").expect("p"),
                    e,
                ),
            ],
        )
        .expect("build");
        let c = Commit::new(
            &o,
            root,
            CommitOptions {
                message: "m".into(),
                time: Some(5),
                ..Default::default()
            },
        )
        .expect("commit");
        assert_eq!(c.services["sqs"].resources, 2);
        let id = c.store(&o).expect("store");
        assert_eq!(Commit::load(&o, id).expect("load"), c);
    }
}
