//! The state endpoints: LocalStack's `/_localstack/state/*` and `/_localstack/pods*`, and the
//! native pair the CLI uses (`/_podstack/state/commit`, `/_podstack/state/import`).

use std::io::Write;

use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use podstore::{CommitId, CommitOptions, Overlay, PodRef, Strategy, TreeId};
use serde_json::{Value, json};

use crate::http::body::Body;
use crate::http::gateway::Gateway;
use crate::http::internal::{json_error, json_response};
use crate::http::util::Query;
use crate::http::util::set_header;
use crate::persist::state::{self, StateError};

/// Largest archive accepted by `POST /_localstack/pods` (it is spooled to disk first).
const MAX_ARCHIVE: u64 = 64 << 30;

/// A pod loaded into the running emulator, as `podstack status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LoadedPod {
    /// `name:N`, or the archive file when it names no pod.
    pub pod: String,
    /// The strategy it was loaded with.
    pub strategy: String,
    /// Its commit.
    pub commit: String,
    /// When (Unix seconds, the emulator's clock).
    pub at: i64,
}

/// The pods loaded into this emulator since it started, oldest first. An `overwrite` load
/// and a reset of every service start the list afresh.
pub fn loaded_pods(gw: &Gateway) -> Vec<LoadedPod> {
    gw.persistence()
        .loaded_pods
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default()
}

/// The pod an archive says it holds: `name:N`, or `name`.
pub fn archive_name(imported: &podstore::ImportedArchive) -> Option<String> {
    let pod = imported.pod.as_ref()?;
    Some(match imported.version {
        Some(v) => format!("{pod}:{v}"),
        None => pod.clone(),
    })
}

/// Records that `pod` (commit `commit`) was loaded with `strategy`.
pub fn note_loaded(gw: &Gateway, pod: String, strategy: Strategy, commit: CommitId) {
    if let Ok(mut list) = gw.persistence().loaded_pods.lock() {
        if strategy == Strategy::Overwrite {
            list.clear();
        }
        list.push(LoadedPod {
            pod,
            strategy: strategy.to_string(),
            commit: commit.to_string(),
            at: gw.clock().now_secs(),
        });
    }
}

fn note_reset_all(gw: &Gateway) {
    if let Ok(mut list) = gw.persistence().loaded_pods.lock() {
        list.clear();
    }
}

/// Routes a state or pods endpoint; `None` when the path is not one.
pub async fn handle(gw: &Gateway, parts: &Parts, body: Incoming) -> Option<Response<Body>> {
    let path = parts.uri.path().trim_end_matches('/');
    let q = Query::parse(parts.uri.query());
    let method = parts.method.as_str();
    if let Some(rest) = path.strip_prefix("/_localstack/state") {
        return Some(state_endpoint(gw, method, rest).await);
    }
    Some(match (method, path) {
        ("GET", "/_localstack/pods/state") => export_archive(gw, &q).await,
        ("POST", "/_localstack/pods") => import_archive(gw, &q, body).await,
        ("GET", "/_localstack/pods/state/metamodel") => metamodel(gw),
        ("POST", "/_podstack/state/commit") => native_commit(gw, body).await,
        ("POST", "/_podstack/state/import") => native_import(gw, &q).await,
        ("POST", "/_podstack/state/verify") => verify_snapshot(gw).await,
        _ => return None,
    })
}

/// One NDJSON line per service.
fn ndjson(status: u16, lines: &[Value]) -> Response<Body> {
    let mut text = String::new();
    for l in lines {
        text.push_str(&l.to_string());
        text.push('\n');
    }
    let mut r = Response::new(Body::full(text));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    set_header(&mut r, "content-type", "application/x-ndjson");
    r
}

fn error_line(e: &StateError) -> Value {
    json!({"service": e.service, "status": "error", "message": e.message})
}

fn services_param(
    gw: &Gateway,
    raw: Option<&str>,
) -> Result<Option<Vec<String>>, Box<Response<Body>>> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let known: Vec<&str> = gw.services().iter().map(|s| s.name()).collect();
    let list: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = list.iter().find(|s| !known.contains(&s.as_str())) {
        return Err(Box::new(json_error(
            400,
            "InvalidParameter",
            &format!("unknown service {bad:?}; podstack has {}", known.join(", ")),
        )));
    }
    Ok(Some(list))
}

/// `POST /_localstack/state[/<service>]/{save,load,reset}`.
async fn state_endpoint(gw: &Gateway, method: &str, rest: &str) -> Response<Body> {
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let (only, action) = match segs.as_slice() {
        [action] => (None, *action),
        [svc, action] => match services_param(gw, Some(svc)) {
            Ok(o) => (o, *action),
            Err(r) => return *r,
        },
        _ => {
            return json_error(
                404,
                "NotFound",
                "expected /_localstack/state[/<service>]/{save,load,reset}",
            );
        }
    };
    if method != "POST" {
        return json_error(405, "MethodNotAllowed", "use POST");
    }
    let names: Vec<String> = match &only {
        Some(o) => o.clone(),
        None => gw.services().iter().map(|s| s.name().to_owned()).collect(),
    };
    let ok = |names: &[String]| {
        names
            .iter()
            .map(|s| json!({"service": s, "status": "ok"}))
            .collect::<Vec<_>>()
    };
    match action {
        "save" => match gw.save_snapshot(only).await {
            Ok(_) => ndjson(200, &ok(&names)),
            Err(e) => ndjson(500, &[error_line(&e)]),
        },
        "load" => match gw.load_snapshot(only.as_deref()) {
            Ok(_) => ndjson(200, &ok(&names)),
            Err(e) => ndjson(422, &[error_line(&e)]),
        },
        "reset" => {
            for s in gw
                .services()
                .into_iter()
                .filter(|s| names.iter().any(|n| n == s.name()))
            {
                s.reset();
            }
            if only.is_none() {
                note_reset_all(gw);
            }
            gw.persistence().mutated();
            ndjson(200, &ok(&names))
        }
        other => json_error(404, "NotFound", &format!("unknown state action {other:?}")),
    }
}

/// Exports the selected services into the store and commits; the work runs off the async
/// threads.
async fn commit_state(
    gw: &Gateway,
    only: Option<Vec<String>>,
    message: String,
) -> Result<(CommitId, TreeId), StateError> {
    let gw = gw.clone();
    tokio::task::spawn_blocking(move || {
        let services = gw.services();
        let root = state::export_tree(
            &services,
            gw.store(),
            gw.clock().now_ms(),
            only.as_deref(),
            None,
        )?;
        let opts = CommitOptions {
            message,
            author: "podstack".into(),
            time: Some(gw.clock().now_secs()),
            ..CommitOptions::default()
        };
        Ok((state::commit_tree(gw.store(), root, &services, opts)?, root))
    })
    .await
    .map_err(|e| StateError {
        service: None,
        message: e.to_string(),
    })?
}

/// `GET /_localstack/pods/state?services=…`: the state as one archive.
async fn export_archive(gw: &Gateway, q: &Query) -> Response<Body> {
    let only = match services_param(gw, q.get("services")) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let names = only
        .clone()
        .unwrap_or_else(|| gw.services().iter().map(|s| s.name().to_owned()).collect());
    let (commit, _) = match commit_state(gw, only, "state export".into()).await {
        Ok(c) => c,
        Err(e) => return json_error(500, "ExportFailed", &e.to_string()),
    };
    let store = gw.store().clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        podstore::export_archive(&store, commit, None, &mut out).map(|_| out)
    })
    .await;
    match bytes {
        Ok(Ok(bytes)) => {
            let size = bytes.len();
            let mut r = Response::new(Body::full(bytes));
            set_header(&mut r, "content-type", "application/x-tar");
            set_header(&mut r, "x-localstack-pod-services", &names.join(","));
            set_header(&mut r, "x-localstack-pod-size", &size.to_string());
            set_header(&mut r, "x-podstack-commit", &commit.to_string());
            r
        }
        Ok(Err(e)) => json_error(500, "ExportFailed", &e.to_string()),
        Err(e) => json_error(500, "ExportFailed", &e.to_string()),
    }
}

/// Spools a request body to a temp file (archives can be larger than memory).
async fn spool(gw: &Gateway, body: Incoming) -> Result<std::fs::File, String> {
    let mut file = tempfile_in(gw.store().root())?;
    let mut body = body;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the archive failed: {e}"))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > MAX_ARCHIVE {
                return Err("archive larger than 64 GiB".into());
            }
            file.write_all(&data)
                .map_err(|e| format!("spooling the archive failed: {e}"))?;
        }
    }
    use std::io::Seek;
    file.rewind().map_err(|e| e.to_string())?;
    Ok(file)
}

fn tempfile_in(store_root: &std::path::Path) -> Result<std::fs::File, String> {
    let dir = store_root.join("tmp");
    let path = dir.join(format!("upload-{}.tmp", crate::ids::alnum(16)));
    let f = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

fn strategy(q: &Query, name: &str) -> Result<Strategy, Box<Response<Body>>> {
    match q.get(name).filter(|s| !s.is_empty()) {
        None => Ok(crate::persist::preseed::default_strategy()),
        Some(s) => s.parse().map_err(|e: podstore::Error| {
            Box::new(json_error(400, "InvalidParameter", &e.to_string()))
        }),
    }
}

/// `POST /_localstack/pods?merge=<strategy>`: loads an archive. 201 + NDJSON; 422 when the
/// archive is corrupt or cannot be loaded (nothing changes then).
async fn import_archive(gw: &Gateway, q: &Query, body: Incoming) -> Response<Body> {
    let strategy = match strategy(q, "merge") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let file = match spool(gw, body).await {
        Ok(f) => f,
        Err(e) => return json_error(400, "InvalidArchive", &e),
    };
    let gw2 = gw.clone();
    let result = tokio::task::spawn_blocking(move || {
        let imported = podstore::import_archive(gw2.store(), std::io::BufReader::new(file))
            .map_err(StateError::store)?;
        let name = archive_name(&imported).unwrap_or_else(|| "(archive)".to_owned());
        gw2.import_commit(imported.commit, strategy, false, Some(name))
    })
    .await;
    match result {
        Ok(Ok(report)) => {
            let lines: Vec<Value> = report
                .services
                .iter()
                .map(|s| json!({"service": s, "status": "ok"}))
                .collect();
            gw.persistence().mutated();
            ndjson(201, &lines)
        }
        Ok(Err(e)) => ndjson(422, &[error_line(&e)]),
        Err(e) => json_error(500, "ImportFailed", &e.to_string()),
    }
}

/// `GET /_localstack/pods/state/metamodel`: account → region → service → type → ids.
fn metamodel(gw: &Gateway) -> Response<Body> {
    let overlay = Overlay::new(gw.store());
    let services = gw.services();
    let root = match state::export_tree(&services, &overlay, gw.clock().now_ms(), None, None) {
        Ok(r) => r,
        Err(e) => return json_error(500, "ExportFailed", &e.to_string()),
    };
    let mut model = serde_json::Map::new();
    let walked = podstore::tree::walk(&overlay, root, &mut |path, _| {
        let s = path.segments();
        if let [a, r, svc, ty, rest @ ..] = s {
            let id = rest.join("/");
            let node = model
                .entry(a.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .and_then(|m| {
                    m.entry(r.clone())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                })
                .and_then(|m| {
                    m.entry(svc.clone())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                })
                .and_then(|m| {
                    m.entry(ty.clone())
                        .or_insert_with(|| json!([]))
                        .as_array_mut()
                });
            if let Some(list) = node {
                list.push(Value::String(id));
            }
        }
        Ok(())
    });
    match walked {
        Ok(()) => json_response(200, &Value::Object(model)),
        Err(e) => json_error(500, "ExportFailed", &e.to_string()),
    }
}

/// `POST /_podstack/state/commit` with `{"services": [...], "message": "..."}`: commits the
/// state into the emulator's pod store (the CLI's, by default) and answers the commit id.
async fn native_commit(gw: &Gateway, body: Incoming) -> Response<Body> {
    let bytes = match crate::protocol::read_body(body, 1 << 20).await {
        Ok(b) => b,
        Err(e) => return json_error(400, "InvalidRequest", &e.message),
    };
    let input = crate::protocol::parse_json(&bytes).unwrap_or_else(|_| json!({}));
    let only: Option<Vec<String>> = input.get("services").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    let message = input
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match commit_state(gw, only, message).await {
        Ok((commit, root)) => json_response(
            200,
            &json!({"commit": commit.to_string(), "root": root.to_string(), "store": gw.store().root().display().to_string()}),
        ),
        Err(e) => json_error(500, "CommitFailed", &e.to_string()),
    }
}

/// `POST /_podstack/state/import?commit=ID&strategy=S&dry_run=true[&pod=NAME:N]`: loads a
/// commit of the emulator's store (or reports what it would change); `pod` names it in the
/// list of loaded pods.
async fn native_import(gw: &Gateway, q: &Query) -> Response<Body> {
    let Some(commit) = q.get("commit").and_then(|c| c.parse::<CommitId>().ok()) else {
        return json_error(
            400,
            "InvalidParameter",
            "commit=<64 hex characters> is required",
        );
    };
    let strategy = match strategy(q, "strategy") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let dry_run = q.get("dry_run").is_some_and(|v| v == "true" || v == "1");
    let pod = match q.get("pod").filter(|s| !s.is_empty()).map(PodRef::parse) {
        None => None,
        Some(Ok(r)) => Some(r.to_string()),
        Some(Err(e)) => return json_error(400, "InvalidParameter", &e.to_string()),
    };
    let gw2 = gw.clone();
    let result =
        tokio::task::spawn_blocking(move || gw2.import_commit(commit, strategy, dry_run, pod))
            .await;
    match result {
        Ok(Ok(report)) => {
            let per: serde_json::Map<String, Value> = state::per_service(&report.summary)
                .into_iter()
                .map(|(s, (a, m, d))| (s, json!({"added": a, "modified": m, "deleted": d})))
                .collect();
            if !dry_run {
                gw.persistence().mutated();
            }
            json_response(
                200,
                &json!({"dry_run": dry_run, "strategy": strategy.to_string(), "services": per, "conflicts": report.conflicts}),
            )
        }
        Ok(Err(e)) => json_response(
            422,
            &json!({"__type": "ImportFailed", "service": e.service, "message": e.message}),
        ),
        Err(e) => json_error(500, "ImportFailed", &e.to_string()),
    }
}

/// `POST /_podstack/state/verify` (persistence only): saves an incremental snapshot and
/// compares it with the live state exported whole; 200 `{"equal": true}`, or 409 with the
/// paths that differ. For tests and diagnostics on an idle emulator.
async fn verify_snapshot(gw: &Gateway) -> Response<Body> {
    if !gw.persistence().config.enabled {
        return json_error(400, "PersistenceDisabled", "start with PERSISTENCE=1");
    }
    match gw.verify_snapshot().await {
        Ok(d) if d.is_empty() => json_response(200, &json!({"equal": true})),
        Ok(d) => json_response(409, &json!({"equal": false, "differences": d})),
        Err(e) => json_error(500, "VerifyFailed", &e.to_string()),
    }
}
