//! AWS wire protocols shared by the JSON and query services: error values, JSON 1.0/1.1
//! responses (with `x-amzn-query-error` for query-compatible services such as SQS), and query
//! protocol (form in, XML out) responses.

pub mod model;
pub mod models;

use hyper::Response;
use serde_json::Value;

use crate::body::Body;
use crate::s3::set_header;
use crate::s3::xml::XmlWriter;

/// An error of a JSON or query protocol service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    /// The error shape name, e.g. `QueueDoesNotExist`, `ResourceNotFoundException`.
    pub code: String,
    /// The query-protocol code when it differs (`AWS.SimpleQueueService.NonExistentQueue`).
    pub query_code: Option<String>,
    /// Who is at fault: the caller (`Sender`) or us (`Receiver`).
    pub sender: bool,
    /// HTTP status.
    pub status: u16,
    /// Message.
    pub message: String,
}

impl AwsError {
    /// A client error (400 unless changed).
    pub fn client(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            query_code: None,
            sender: true,
            status: 400,
            message: message.into(),
        }
    }

    /// Sets the query-protocol code.
    pub fn query(mut self, code: &str) -> Self {
        self.query_code = Some(code.to_owned());
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The code clients of the query protocol see.
    pub fn wire_code(&self) -> &str {
        self.query_code.as_deref().unwrap_or(&self.code)
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Result of a service operation.
pub type AwsResult<T = Value> = Result<T, AwsError>;

/// How a service speaks JSON.
#[derive(Clone, Copy, Debug)]
pub struct JsonFlavor {
    /// `application/x-amz-json-1.0` or `-1.1`.
    pub content_type: &'static str,
    /// Namespace prefix of `__type`, e.g. `com.amazonaws.sqs#`.
    pub type_prefix: &'static str,
    /// Whether to send `x-amzn-query-error` (awsQueryCompatible services).
    pub query_compatible: bool,
}

/// A JSON success response.
pub fn json_ok(flavor: &JsonFlavor, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::full(v.to_string()));
    set_header(&mut r, "content-type", flavor.content_type);
    r
}

/// A JSON error response.
pub fn json_err(flavor: &JsonFlavor, e: &AwsError) -> Response<Body> {
    let body = serde_json::json!({
        "__type": format!("{}{}", flavor.type_prefix, e.code),
        "message": e.message,
    });
    let mut r = Response::new(Body::full(body.to_string()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(e.status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    set_header(&mut r, "content-type", flavor.content_type);
    if flavor.query_compatible {
        let fault = if e.sender { "Sender" } else { "Receiver" };
        set_header(
            &mut r,
            "x-amzn-query-error",
            &format!("{};{fault}", e.wire_code()),
        );
    }
    r
}

/// A query-protocol success: `<{Action}Response><{Action}Result>…</…><ResponseMetadata>`.
pub fn query_ok(action: &str, xmlns: &str, result: &str, request_id: &str) -> Response<Body> {
    let mut w = XmlWriter::new();
    w.open(&format!("{action}Response"), Some(xmlns));
    w.open(&format!("{action}Result"), None);
    w.raw(result);
    w.close(&format!("{action}Result"));
    w.open("ResponseMetadata", None);
    w.elem("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&format!("{action}Response"));
    let mut r = Response::new(Body::full(w.finish()));
    set_header(&mut r, "content-type", "text/xml");
    r
}

/// A query-protocol error.
pub fn query_err(xmlns: &str, e: &AwsError, request_id: &str) -> Response<Body> {
    let mut w = XmlWriter::new();
    w.open("ErrorResponse", Some(xmlns));
    w.open("Error", None);
    w.elem("Type", if e.sender { "Sender" } else { "Receiver" });
    w.elem("Code", e.wire_code());
    w.elem("Message", &e.message);
    w.raw("<Detail/>");
    w.close("Error");
    w.elem("RequestId", request_id);
    w.close("ErrorResponse");
    let mut r = Response::new(Body::full(w.finish()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(e.status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    set_header(&mut r, "content-type", "text/xml");
    r
}

/// Reads a whole small request body (JSON or form), refusing more than `limit` bytes.
pub async fn read_body(body: hyper::body::Incoming, limit: usize) -> AwsResult<Vec<u8>> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            AwsError::client("IncompleteBody", format!("reading the body failed: {e}"))
        })?;
        if let Ok(d) = frame.into_data() {
            out.extend_from_slice(&d);
            if out.len() > limit {
                return Err(AwsError::client(
                    "RequestEntityTooLarge",
                    format!("request body is over {limit} bytes"),
                )
                .status(413));
            }
        }
    }
    Ok(out)
}

/// Parses a JSON request body (empty means `{}`).
pub fn parse_json(bytes: &[u8]) -> AwsResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        AwsError::client(
            "SerializationException",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(AwsError::client(
            "SerializationException",
            "request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// String member of a JSON input.
pub fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Required string member, or the validation error AWS gives.
pub fn required<'a>(v: &'a Value, k: &str) -> AwsResult<&'a str> {
    str_of(v, k).ok_or_else(|| {
        AwsError::client(
            "MissingParameter",
            format!("The request must contain the parameter {k}."),
        )
    })
}

/// Integer member (number or numeric string, as query-protocol input arrives).
pub fn int_of(v: &Value, k: &str) -> AwsResult<Option<i64>> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid_value(k)),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid_value(k)),
        Some(_) => Err(invalid_value(k)),
    }
}

/// Boolean member (bool or "true"/"false").
pub fn bool_of(v: &Value, k: &str) -> AwsResult<Option<bool>> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(invalid_value(k)),
    }
}

fn invalid_value(k: &str) -> AwsError {
    AwsError::client(
        "InvalidParameterValue",
        format!("Value for parameter {k} is invalid."),
    )
}
