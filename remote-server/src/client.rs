//! The client side of a remote: one [`Remote`] trait with two implementations, a
//! `podstack-remote` server over HTTP ([`HttpRemote`]) and a repository used directly
//! ([`Repo`], for `s3://` remotes: the same layout a server keeps in its bucket).

use podstore::ObjectId;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::{self, Body, Endpoint, HttpError, Timeouts};
use crate::protocol::{
    CreateVersion, ErrorBody, IdList, MAX_GET_BYTES, ObjectListing, PackReceipt, PodEntry, PodList,
    RemoteVersion, Role, VersionList, WhoAmI,
};
use crate::repo::{Repo, RepoError};
use crate::storage::StorageError;

/// Why a remote call failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The remote could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// No token, or one the remote does not know.
    #[error("{0}")]
    Unauthorized(String),
    /// The token's role is too low.
    #[error("{0}")]
    Forbidden(String),
    /// No such pod or version.
    #[error("{0}")]
    NotFound(String),
    /// The pod moved on meanwhile.
    #[error("{message}")]
    Conflict {
        /// For people.
        message: String,
        /// The remote's latest live version.
        latest: Option<u64>,
    },
    /// The remote refused what was sent (a bad object, an incomplete commit).
    #[error("{0}")]
    Invalid(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// Results of remote calls.
pub type RemoteResult<T> = std::result::Result<T, RemoteError>;

/// What push and pull need of a remote.
pub trait Remote: Send + Sync {
    /// For messages.
    fn describe(&self) -> String;
    /// Who the credentials are.
    fn whoami(&self) -> RemoteResult<WhoAmI>;
    /// Every pod.
    fn pods(&self) -> RemoteResult<Vec<PodEntry>>;
    /// A pod's live versions ([`RemoteError::NotFound`] when it has none).
    fn versions(&self, name: &str) -> RemoteResult<VersionList>;
    /// Which of `ids` the remote lacks.
    fn missing(&self, ids: &[ObjectId]) -> RemoteResult<Vec<ObjectId>>;
    /// Uploads one object stream.
    fn upload(&self, pack: &[u8]) -> RemoteResult<PackReceipt>;
    /// Every object of a version.
    fn listing(&self, name: &str, version: u64) -> RemoteResult<ObjectListing>;
    /// The objects `ids` as an object stream.
    fn download(&self, ids: &[ObjectId]) -> RemoteResult<Vec<u8>>;
    /// Creates a version (compare-and-swap on the expected latest).
    fn create_version(&self, name: &str, req: &CreateVersion) -> RemoteResult<RemoteVersion>;
    /// Deletes a version, or the whole pod.
    fn delete(&self, name: &str, version: Option<u64>) -> RemoteResult<()>;
}

/// A `podstack-remote` server.
#[derive(Debug)]
pub struct HttpRemote {
    url: String,
    endpoint: Endpoint,
    token: Option<String>,
}

impl HttpRemote {
    /// A server at `url` (`http(s)://host:port[/prefix]`), with an optional bearer token.
    pub fn new(url: &str, token: Option<String>) -> RemoteResult<Self> {
        let endpoint = Endpoint::parse(url).map_err(RemoteError::Failed)?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            endpoint,
            token,
        })
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
        limit: u64,
    ) -> RemoteResult<Vec<u8>> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", content_type)];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let body = if body.is_empty() {
            Body::Empty
        } else {
            Body::Bytes(body)
        };
        let timeouts = Timeouts {
            connect: std::time::Duration::from_secs(5),
            read: std::time::Duration::from_secs(300),
        };
        let resp = http::send(&self.endpoint, method, path, &headers, body, timeouts)
            .map_err(|e| self.http_failure(&e))?;
        let status = resp.status;
        let bytes = resp
            .bytes(if (200..300).contains(&status) {
                limit
            } else {
                1 << 20
            })
            .map_err(|e| self.http_failure(&e))?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let (message, latest) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.error.message, b.error.latest),
            Err(_) => (
                format!(
                    "{} answered {status}: {}",
                    self.url,
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
                None,
            ),
        };
        Err(match status {
            401 => RemoteError::Unauthorized(format!(
                "{}: {message} (podstack login, or set PODSTACK_TOKEN)",
                self.url
            )),
            403 => RemoteError::Forbidden(format!("{}: {message}", self.url)),
            404 => RemoteError::NotFound(message),
            409 => RemoteError::Conflict { message, latest },
            400 | 413 | 422 => RemoteError::Invalid(message),
            503 => RemoteError::Unreachable(message),
            _ => RemoteError::Failed(format!("{} answered {status}: {message}", self.url)),
        })
    }

    fn http_failure(&self, e: &HttpError) -> RemoteError {
        match e {
            HttpError::Connect(_) => {
                RemoteError::Unreachable(format!("cannot reach the remote {}: {e}", self.url))
            }
            _ => RemoteError::Unreachable(format!("the remote {} failed: {e}", self.url)),
        }
    }

    fn get_json<T: DeserializeOwned>(&self, path: &str) -> RemoteResult<T> {
        let b = self.call("GET", path, &[], "application/json", 256 << 20)?;
        self.decode(&b)
    }

    fn post_json<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> RemoteResult<T> {
        let body = serde_json::to_vec(body).map_err(|e| RemoteError::Failed(e.to_string()))?;
        let b = self.call("POST", path, &body, "application/json", 256 << 20)?;
        self.decode(&b)
    }

    fn decode<T: DeserializeOwned>(&self, b: &[u8]) -> RemoteResult<T> {
        serde_json::from_slice(b).map_err(|e| {
            RemoteError::Failed(format!(
                "{} sent an answer this podstack does not understand: {e}",
                self.url
            ))
        })
    }
}

impl Remote for HttpRemote {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn whoami(&self) -> RemoteResult<WhoAmI> {
        self.get_json("/v1/whoami")
    }

    fn pods(&self) -> RemoteResult<Vec<PodEntry>> {
        Ok(self.get_json::<PodList>("/v1/pods")?.pods)
    }

    fn versions(&self, name: &str) -> RemoteResult<VersionList> {
        self.get_json(&format!("/v1/pods/{}/versions", http::encode(name)))
    }

    fn missing(&self, ids: &[ObjectId]) -> RemoteResult<Vec<ObjectId>> {
        let got: IdList = self.post_json("/v1/objects/missing", &IdList { ids: ids.to_vec() })?;
        Ok(got.ids)
    }

    fn upload(&self, pack: &[u8]) -> RemoteResult<PackReceipt> {
        let b = self.call(
            "POST",
            "/v1/packs",
            pack,
            "application/octet-stream",
            1 << 20,
        )?;
        self.decode(&b)
    }

    fn listing(&self, name: &str, version: u64) -> RemoteResult<ObjectListing> {
        self.get_json(&format!(
            "/v1/pods/{}/versions/{version}/objects",
            http::encode(name)
        ))
    }

    fn download(&self, ids: &[ObjectId]) -> RemoteResult<Vec<u8>> {
        let body = serde_json::to_vec(&IdList { ids: ids.to_vec() })
            .map_err(|e| RemoteError::Failed(e.to_string()))?;
        self.call(
            "POST",
            "/v1/objects/get",
            &body,
            "application/json",
            MAX_GET_BYTES,
        )
    }

    fn create_version(&self, name: &str, req: &CreateVersion) -> RemoteResult<RemoteVersion> {
        self.post_json(&format!("/v1/pods/{}/versions", http::encode(name)), req)
    }

    fn delete(&self, name: &str, version: Option<u64>) -> RemoteResult<()> {
        let path = match version {
            Some(n) => format!("/v1/pods/{}/versions/{n}", http::encode(name)),
            None => format!("/v1/pods/{}", http::encode(name)),
        };
        self.call("DELETE", &path, &[], "application/json", 1 << 20)?;
        Ok(())
    }
}

impl From<RepoError> for RemoteError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Storage(StorageError::Unreachable(m)) => Self::Unreachable(m),
            RepoError::Storage(StorageError::Denied(m)) => Self::Forbidden(m),
            RepoError::Invalid(m) => Self::Invalid(m),
            RepoError::NotFound(m) => Self::NotFound(m),
            RepoError::Conflict { message, latest } => Self::Conflict { message, latest },
            other => Self::Failed(other.to_string()),
        }
    }
}

/// A repository used directly (an `s3://` remote): the caller's AWS credentials decide what
/// it may do, so it acts as an admin named after the storage.
impl Remote for Repo {
    fn describe(&self) -> String {
        self.storage().describe()
    }

    fn whoami(&self) -> RemoteResult<WhoAmI> {
        Ok(WhoAmI {
            name: "aws-credentials".into(),
            role: Role::Admin,
        })
    }

    fn pods(&self) -> RemoteResult<Vec<PodEntry>> {
        Ok(Repo::pods(self)?)
    }

    fn versions(&self, name: &str) -> RemoteResult<VersionList> {
        Ok(Repo::versions(self, name)?)
    }

    fn missing(&self, ids: &[ObjectId]) -> RemoteResult<Vec<ObjectId>> {
        Ok(Repo::missing(self, ids)?)
    }

    fn upload(&self, pack: &[u8]) -> RemoteResult<PackReceipt> {
        Ok(self.receive_pack(pack)?)
    }

    fn listing(&self, name: &str, version: u64) -> RemoteResult<ObjectListing> {
        let v = self.version(name, version)?;
        let commit = v.commit.ok_or_else(|| {
            RemoteError::NotFound(format!("version {version} of {name:?} was deleted"))
        })?;
        Ok(ObjectListing {
            version,
            commit,
            objects: Repo::listing(self, commit)?,
        })
    }

    fn download(&self, ids: &[ObjectId]) -> RemoteResult<Vec<u8>> {
        let mut out = Vec::new();
        self.write_objects(ids, &mut out)?;
        Ok(out)
    }

    fn create_version(&self, name: &str, req: &CreateVersion) -> RemoteResult<RemoteVersion> {
        let user = std::env::var("USER").unwrap_or_else(|_| "aws-credentials".into());
        Ok(Repo::create_version(
            self,
            name,
            req.version,
            req.commit,
            req.expected_latest,
            &user,
        )?)
    }

    fn delete(&self, name: &str, version: Option<u64>) -> RemoteResult<()> {
        Repo::delete(self, name, version)?;
        Ok(())
    }
}
