//! The HTTP/JSON API between `podstack` and `podstack-remote`, as types both sides share.
//!
//! Every call but `GET /healthz` carries `Authorization: Bearer <token>`.
//!
//! | call | role | body → answer |
//! |---|---|---|
//! | `GET /v1/whoami` | read | → [`WhoAmI`] |
//! | `GET /v1/pods` | read | → [`PodList`] |
//! | `GET /v1/pods/{name}/versions` | read | → [`VersionList`] (404: no such pod) |
//! | `GET /v1/pods/{name}/versions/{n}/objects` | read | → [`ObjectListing`]: every object the version reaches, a block's objects together, each chunk list after its chunks |
//! | `POST /v1/objects/missing` | write | [`IdList`] → [`IdList`] of those the remote lacks |
//! | `POST /v1/objects/get` | read | [`IdList`] → an object stream (`docs/formats.md`) |
//! | `POST /v1/packs` | write | an object stream → [`PackReceipt`]; 422 when any object is bad (nothing stored) |
//! | `POST /v1/pods/{name}/versions` | write | [`CreateVersion`] → 201 [`RemoteVersion`]; 409 when the latest is not the expected one; 422 when objects are missing |
//! | `DELETE /v1/pods/{name}/versions/{n}`, `DELETE /v1/pods/{name}` | admin | → 204 |
//!
//! Errors answer [`ErrorBody`]: 400 malformed, 401 no or unknown token, 403 role too low,
//! 404, 409, 413 too large, 422 invalid content, 500/503 storage failures.

use std::collections::BTreeMap;

use podstore::{CommitId, ObjectId, ServiceInfo};
use serde::{Deserialize, Serialize};

/// What a token may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// List and pull.
    Read,
    /// Also push.
    Write,
    /// Also delete.
    Admin,
}

impl Role {
    /// Parses `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// `GET /v1/whoami`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// A pod on the remote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEntry {
    /// Its name.
    pub name: String,
    /// The latest live version.
    pub latest: u64,
    /// How many live versions.
    pub versions: usize,
    /// When the latest version was pushed (Unix seconds).
    pub updated: i64,
}

/// `GET /v1/pods`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodList {
    /// By name.
    pub pods: Vec<PodEntry>,
}

/// One version of a pod on the remote (a record in `pods/<name>/<n>.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteVersion {
    /// The number.
    pub version: u64,
    /// The commit (absent once deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitId>,
    /// When it was pushed (Unix seconds).
    pub created: i64,
    /// Deleted versions keep their number, so it is never reused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The token name that pushed it.
    #[serde(default)]
    pub pushed_by: String,
    /// The commit's message.
    #[serde(default)]
    pub message: String,
    /// The commit's per-service counts.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceInfo>,
}

/// `GET /v1/pods/{name}/versions`: live versions, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionList {
    /// The pod.
    pub name: String,
    /// Live versions.
    pub versions: Vec<RemoteVersion>,
    /// The highest number ever used, deleted ones included (a push must go above it).
    pub highest: u64,
}

/// Object ids, both ways.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdList {
    /// The ids.
    pub ids: Vec<ObjectId>,
}

/// One object of a listing: id, kind (`podstore::ObjectKind` as a number) and size in the
/// remote's storage (for batching and progress).
pub type ListedObject = (ObjectId, u8, u64);

/// `GET /v1/pods/{name}/versions/{n}/objects`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectListing {
    /// The version.
    pub version: u64,
    /// Its commit.
    pub commit: CommitId,
    /// Every object reachable from the commit, children before parents.
    pub objects: Vec<ListedObject>,
}

/// `POST /v1/packs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackReceipt {
    /// Objects in the pack.
    pub objects: u64,
    /// Of those, how many the remote did not have.
    pub new_objects: u64,
    /// Bytes received.
    pub bytes: u64,
}

/// `POST /v1/pods/{name}/versions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateVersion {
    /// The number to create (it must be above every number used so far).
    pub version: u64,
    /// The commit; it and everything it reaches must be on the remote.
    pub commit: CommitId,
    /// The latest live version the pusher saw (`None`: the pod must have none).
    pub expected_latest: Option<u64>,
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// Details of an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `too_large`, `invalid`, `storage`.
    pub code: String,
    /// For people.
    pub message: String,
    /// For conflicts: the remote's latest live version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<u64>,
}

/// Largest JSON request body.
pub const MAX_JSON_BODY: u64 = 32 << 20;
/// Largest pack upload, in bytes on the wire.
pub const MAX_PACK_BODY: u64 = 512 << 20;
/// Most ids in one `missing` or `get` request.
pub const MAX_IDS: usize = 200_000;
/// Most bytes one `get` request may ask for.
pub const MAX_GET_BYTES: u64 = 512 << 20;
