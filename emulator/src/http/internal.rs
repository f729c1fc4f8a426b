//! Internal endpoints under `/_localstack/`, compatible with LocalStack's.

use hyper::Response;
use hyper::http::request::Parts;
use serde_json::json;

use crate::http::body::Body;
use crate::http::gateway::Gateway;
use crate::http::util::set_header;

/// Handles `/_localstack/*`.
pub async fn handle(gw: &Gateway, parts: &Parts) -> Response<Body> {
    let path = parts.uri.path().trim_end_matches('/');
    match (parts.method.as_str(), path) {
        ("GET" | "HEAD", "/_localstack/health") => {
            let services: serde_json::Map<String, serde_json::Value> = crate::registry::names()
                .into_iter()
                .map(|s| (s.to_owned(), json!("running")))
                .collect();
            let p = gw.persistence();
            let body = json!({
                "services": services,
                "edition": "podstack",
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_seconds": gw.uptime().as_secs(),
                "persistence": {
                    "enabled": p.config.enabled,
                    "status": p.status(),
                },
                "podstack": {
                    "store": gw.store().root().display().to_string(),
                    "loaded_pods": crate::persist::pods::loaded_pods(gw),
                },
            });
            let mut r = json_response(200, &body);
            if parts.method == "HEAD" {
                *r.body_mut() = Body::Empty;
            }
            r
        }
        ("POST", "/_podstack/clock") if gw.config().clock_control => {
            let q = crate::http::util::Query::parse(parts.uri.query());
            match q.get("advance").and_then(|s| s.parse::<u64>().ok()) {
                Some(secs) => {
                    gw.clock().advance(std::time::Duration::from_secs(secs));
                    json_response(200, &json!({"now_ms": gw.clock().now_ms()}))
                }
                None => json_error(400, "InvalidParameter", "advance=SECONDS is required"),
            }
        }
        _ => json_error(
            404,
            "NotFound",
            &format!("no internal endpoint {} {path}", parts.method),
        ),
    }
}

/// A JSON response.
pub fn json_response(status: u16, v: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::full(v.to_string()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    set_header(&mut r, "content-type", "application/json");
    r
}

/// A JSON error in the shape AWS JSON protocols use.
pub fn json_error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_response(status, &json!({"__type": code, "message": message}))
}
