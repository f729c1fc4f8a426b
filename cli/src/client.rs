//! The emulator's API as the CLI uses it: health, native commit and import, archive export
//! and import, reset. Every failure becomes a [`CliError`] that says what to do: an emulator
//! that does not answer is [`Kind::Unreachable`] with "run `podstack start`", a load the
//! emulator refuses is [`Kind::Invalid`] naming the service at fault.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use podstore::{CommitId, Strategy};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CliError, Kind, Result};
use crate::http::{self, Body, Endpoint, HttpError, Response, Timeouts};

/// Largest JSON answer read into memory.
const MAX_JSON: u64 = 64 << 20;

/// A client of one emulator.
#[derive(Clone, Debug)]
pub struct Client {
    /// Where it is.
    pub endpoint: Endpoint,
    /// Inactivity limit for long operations (commit, import, archives).
    pub slow: Duration,
}

/// What `/_localstack/health` says.
#[derive(Clone, Debug)]
pub struct Health {
    /// The whole answer.
    pub raw: Value,
    /// The emulator's pod store directory (podstack only).
    pub store: Option<PathBuf>,
}

impl Health {
    /// The version it reports.
    pub fn version(&self) -> String {
        self.raw["version"].as_str().unwrap_or("?").to_owned()
    }
}

/// What the native commit answers.
#[derive(Clone, Debug, Deserialize)]
pub struct CommitAnswer {
    /// The commit.
    pub commit: CommitId,
    /// The emulator's store directory.
    pub store: PathBuf,
}

/// What the native import answers.
#[derive(Clone, Debug, Deserialize)]
pub struct ImportAnswer {
    /// Per service: added, modified, deleted.
    pub services: std::collections::BTreeMap<String, Counts>,
    /// Conflicts of a three-way merge (resolved by keeping local edits).
    #[serde(default)]
    pub conflicts: Vec<Value>,
}

/// Change counts.
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Added leaves.
    pub added: u64,
    /// Modified leaves.
    pub modified: u64,
    /// Deleted leaves.
    pub deleted: u64,
}

impl Client {
    /// A client of `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            slow: Duration::from_secs(600),
        }
    }

    fn timeouts(&self, slow: bool) -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            read: if slow {
                self.slow
            } else {
                Duration::from_secs(30)
            },
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        slow: bool,
    ) -> Result<Response> {
        http::send(
            &self.endpoint,
            method,
            path,
            headers,
            body,
            self.timeouts(slow),
        )
        .map_err(|e| self.transport_error(&e))
    }

    fn transport_error(&self, e: &HttpError) -> CliError {
        match e {
            HttpError::Connect(_) => CliError::new(
                Kind::Unreachable,
                format!("emulator not reachable at {}", self.endpoint),
            )
            .cause(e)
            .hint("run `podstack start` (or `podstack start -d`), or point --endpoint / PODSTACK_ENDPOINT at it"),
            _ => CliError::general(format!("the emulator at {} failed to answer", self.endpoint))
                .cause(e)
                .hint("`podstack logs` shows what it said"),
        }
    }

    /// Whether it answers health at all (for `wait`).
    pub fn ping(&self) -> bool {
        http::send(
            &self.endpoint,
            "GET",
            "/_localstack/health",
            &[],
            Body::Empty,
            Timeouts {
                connect: Duration::from_millis(500),
                read: Duration::from_secs(5),
            },
        )
        .is_ok_and(|r| r.status == 200)
    }

    /// `GET /_localstack/health`.
    pub fn health(&self) -> Result<Health> {
        let r = self.send("GET", "/_localstack/health", &[], Body::Empty, false)?;
        let raw = self.json(r, "health")?;
        let store = raw["podstack"]["store"].as_str().map(PathBuf::from);
        Ok(Health { raw, store })
    }

    /// `POST /_podstack/state/commit`: commits the state into the emulator's store.
    pub fn commit(&self, services: Option<&[String]>, message: &str) -> Result<CommitAnswer> {
        let body = serde_json::json!({"services": services, "message": message}).to_string();
        let r = self.send(
            "POST",
            "/_podstack/state/commit",
            &[("content-type", "application/json")],
            Body::Bytes(body.as_bytes()),
            true,
        )?;
        let v = self.json(r, "commit")?;
        serde_json::from_value(v).map_err(|e| {
            CliError::general(format!(
                "the emulator at {} answered the commit without a commit id",
                self.endpoint
            ))
            .cause(&e)
        })
    }

    /// `POST /_podstack/state/import`: loads a commit of the emulator's store.
    pub fn import(
        &self,
        commit: CommitId,
        strategy: Strategy,
        dry_run: bool,
        pod: Option<&str>,
    ) -> Result<ImportAnswer> {
        let mut path = format!(
            "/_podstack/state/import?commit={commit}&strategy={strategy}&dry_run={dry_run}"
        );
        if let Some(p) = pod {
            path.push_str(&format!("&pod={}", http::encode(p)));
        }
        let r = self.send("POST", &path, &[], Body::Empty, true)?;
        let v = self.json(r, "import")?;
        serde_json::from_value(v).map_err(|e| {
            CliError::general(format!(
                "unexpected answer to the import from {}",
                self.endpoint
            ))
            .cause(&e)
        })
    }

    /// `GET /_localstack/pods/state`: the state as an archive, streamed into `w`.
    pub fn export_archive(
        &self,
        services: Option<&[String]>,
        w: &mut dyn Write,
        on_length: &mut dyn FnMut(u64),
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let path = match services {
            Some(s) => format!("/_localstack/pods/state?services={}", s.join(",")),
            None => "/_localstack/pods/state".to_owned(),
        };
        let r = self.send("GET", &path, &[], Body::Empty, true)?;
        if r.status != 200 {
            return Err(self.status_error(r, "export"));
        }
        if let Some(n) = r.content_length() {
            on_length(n);
        }
        r.copy_to(w, progress).map_err(|e| match e {
            HttpError::Sink(io) => CliError::from(io).context("cannot write the archive"),
            other => self.transport_error(&other),
        })
    }

    /// `POST /_localstack/pods?merge=…` with an archive of `len` bytes.
    pub fn import_archive(
        &self,
        reader: &mut dyn Read,
        len: u64,
        strategy: Strategy,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<Value>> {
        let r = self.send(
            "POST",
            &format!("/_localstack/pods?merge={strategy}"),
            &[("content-type", "application/x-tar")],
            Body::Reader {
                reader,
                len,
                progress,
            },
            true,
        )?;
        if r.status != 201 && r.status != 200 {
            return Err(self.status_error(r, "import"));
        }
        self.ndjson(r)
    }

    /// `POST /_localstack/state[/<service>]/reset`.
    pub fn reset(&self, services: Option<&[String]>) -> Result<Vec<Value>> {
        let paths: Vec<String> = match services {
            None => vec!["/_localstack/state/reset".into()],
            Some(s) => s
                .iter()
                .map(|s| format!("/_localstack/state/{s}/reset"))
                .collect(),
        };
        let mut lines = Vec::new();
        for p in paths {
            let r = self.send("POST", &p, &[], Body::Empty, true)?;
            if r.status != 200 {
                return Err(self.status_error(r, "reset"));
            }
            lines.extend(self.ndjson(r)?);
        }
        Ok(lines)
    }

    fn json(&self, r: Response, what: &str) -> Result<Value> {
        if r.status != 200 {
            return Err(self.status_error(r, what));
        }
        let bytes = r.bytes(MAX_JSON).map_err(|e| self.transport_error(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::general(format!(
                "the server at {} answered {what} with something that is not JSON; is it podstack?",
                self.endpoint
            ))
            .cause(&e)
        })
    }

    fn ndjson(&self, r: Response) -> Result<Vec<Value>> {
        let bytes = r.bytes(MAX_JSON).map_err(|e| self.transport_error(&e))?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// An error answer as a [`CliError`]: the kind from the status, the message from the
    /// JSON (or NDJSON) body.
    fn status_error(&self, r: Response, what: &str) -> CliError {
        let status = r.status;
        let text = r
            .bytes(1 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let first = text.lines().next().unwrap_or_default();
        let v: Value = serde_json::from_str(first).unwrap_or(Value::Null);
        let msg = v["message"].as_str().map(str::to_owned);
        let service = v["service"].as_str().map(str::to_owned);
        let detail = match (&service, &msg) {
            (Some(s), Some(m)) => format!("{s}: {m}"),
            (None, Some(m)) => m.clone(),
            _ => text.chars().take(300).collect::<String>().trim().to_owned(),
        };
        let kind = match status {
            400 => Kind::Usage,
            404 => Kind::NotFound,
            409 => Kind::Conflict,
            422 => Kind::Invalid,
            _ => Kind::General,
        };
        let mut e = CliError::new(
            kind,
            format!("the emulator refused the {what} (HTTP {status}): {detail}"),
        );
        if status == 404 {
            e = e.hint(format!(
                "the server at {} does not have podstack's endpoints; is it podstack (not LocalStack)?",
                self.endpoint
            ));
        } else if status == 422 {
            e = e.hint("nothing was changed: loads are atomic");
        }
        e
    }
}
