//! AWS wire protocols: error values, the model tables (`model`, generated into `models`),
//! the query codec (`query`), XML (`xml`), and one response and error renderer per protocol
//! ([`Wire`]): JSON 1.0/1.1 (with `x-amzn-query-error` for query-compatible services such as
//! SQS), query (XML with `ResponseMetadata/RequestId`), REST-XML and REST-JSON.

pub mod model;
pub mod models;
pub mod query;
pub mod rest;
pub mod shape_xml;
pub mod validate;
pub mod xml;

use hyper::Response;
use serde_json::Value;

use crate::http::body::Body;
use crate::http::util::set_header;
use crate::protocol::xml::XmlWriter;
use crate::service::ServiceDef;
use model::Protocol;

/// An error of a JSON or query protocol service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    /// The error shape name, e.g. `QueueDoesNotExist`, `ResourceNotFoundException`. Where the
    /// model gives the shape another wire code (SQS's `AWS.SimpleQueueService.NonExistentQueue`),
    /// the protocol codecs send that ([`Model::wire_code`](model::Model::wire_code)).
    pub code: String,
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
            sender: true,
            status: 400,
            message: message.into(),
        }
    }

    /// Sets the status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Marks the error as the service's fault (`Receiver`).
    pub fn receiver(mut self) -> Self {
        self.sender = false;
        self
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Result of a service operation.
pub type AwsResult<T = Value> = Result<T, AwsError>;

/// How one service answers in one protocol: what the protocol codecs need beside the
/// output or error itself.
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    /// The protocol of the request.
    pub protocol: Protocol,
    /// `1.0` or `1.1` (JSON protocol).
    pub json_version: &'static str,
    /// Namespace prefix of `__type` in JSON errors, e.g. `com.amazonaws.sqs#`.
    pub type_prefix: &'static str,
    /// Whether JSON errors carry `x-amzn-query-error` (awsQueryCompatible services).
    pub query_compatible: bool,
    /// XML namespace of query-protocol answers.
    pub xmlns: &'static str,
    /// The service's model: the wire codes of its error shapes (query-protocol codes such as
    /// `AWS.SimpleQueueService.NonExistentQueue`).
    pub model: Option<&'static model::Model>,
}

impl Wire {
    /// How `def` answers requests in `protocol`.
    pub fn of(def: &ServiceDef, protocol: Protocol) -> Self {
        let meta = &def.model.meta;
        Self {
            protocol,
            json_version: meta.json_version.unwrap_or("1.0"),
            type_prefix: def.error_type_prefix,
            query_compatible: meta.query_compatible,
            xmlns: meta.xml_namespace.unwrap_or_default(),
            model: Some(def.model),
        }
    }

    /// How to answer a request for a service podstack does not emulate, in `protocol`
    /// (`known`: the catalog's entry for it).
    pub fn unknown(protocol: Protocol, known: Option<&model::Known>) -> Self {
        Self {
            protocol,
            json_version: known.and_then(|k| k.json_version).unwrap_or("1.0"),
            type_prefix: "",
            query_compatible: false,
            xmlns: "https://podstack.dev/doc/unknown/",
            model: None,
        }
    }

    /// A JSON-protocol success.
    pub fn json_ok(&self, v: &Value) -> Response<Body> {
        let mut r = Response::new(Body::full(v.to_string()));
        set_header(&mut r, "content-type", self.json_content_type());
        r
    }

    fn json_content_type(&self) -> &'static str {
        if self.json_version == "1.1" {
            "application/x-amz-json-1.1"
        } else {
            "application/x-amz-json-1.0"
        }
    }

    /// An error in this protocol's shape: the one error renderer every service uses.
    pub fn error(&self, e: &AwsError, request_id: &str) -> Response<Body> {
        let mut r = match self.protocol {
            Protocol::Json => self.json_error(e),
            Protocol::Query | Protocol::Ec2 => query_err(self.xmlns, self.code(e), e, request_id),
            Protocol::RestXml => rest_xml_error(self.code(e), e, request_id),
            Protocol::RestJson => rest_json_error(e),
        };
        *r.status_mut() =
            hyper::StatusCode::from_u16(e.status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
        r
    }

    /// The code a query-protocol client sees: the error shape's code in the model, else the
    /// shape name.
    fn code<'e>(&self, e: &'e AwsError) -> &'e str {
        self.model.map_or(&e.code, |m| m.wire_code(&e.code))
    }

    fn json_error(&self, e: &AwsError) -> Response<Body> {
        let body = serde_json::json!({
            "__type": format!("{}{}", self.type_prefix, e.code),
            "message": e.message,
        });
        let mut r = Response::new(Body::full(body.to_string()));
        set_header(&mut r, "content-type", self.json_content_type());
        if self.query_compatible {
            let fault = if e.sender { "Sender" } else { "Receiver" };
            set_header(
                &mut r,
                "x-amzn-query-error",
                &format!("{};{fault}", self.code(e)),
            );
        }
        r
    }
}

/// A REST-XML error, as S3 writes it: `<Error><Code/><Message/><RequestId/></Error>`.
fn rest_xml_error(code: &str, e: &AwsError, request_id: &str) -> Response<Body> {
    let mut w = XmlWriter::new();
    w.open("Error", None);
    w.elem("Code", code);
    w.elem("Message", &e.message);
    w.elem("RequestId", request_id);
    w.close("Error");
    let mut r = Response::new(Body::full(w.finish()));
    set_header(&mut r, "content-type", "application/xml");
    r
}

/// A REST-JSON error: the code in `x-amzn-ErrorType` and in the body.
fn rest_json_error(e: &AwsError) -> Response<Body> {
    let body = serde_json::json!({
        "Type": if e.sender { "User" } else { "Service" },
        "__type": e.code,
        "message": e.message,
    });
    let mut r = Response::new(Body::full(body.to_string()));
    set_header(&mut r, "content-type", "application/json");
    set_header(&mut r, "x-amzn-ErrorType", &e.code);
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
fn query_err(xmlns: &str, code: &str, e: &AwsError, request_id: &str) -> Response<Body> {
    let mut w = XmlWriter::new();
    w.open("ErrorResponse", Some(xmlns));
    w.open("Error", None);
    w.elem("Type", if e.sender { "Sender" } else { "Receiver" });
    w.elem("Code", code);
    w.elem("Message", &e.message);
    w.raw("<Detail/>");
    w.close("Error");
    w.elem("RequestId", request_id);
    w.close("ErrorResponse");
    let mut r = Response::new(Body::full(w.finish()));
    set_header(&mut r, "content-type", "text/xml");
    r
}

/// A scalar given as text (a query parameter, a URI label, a header) in the JSON shape of its
/// kind: numbers and booleans parsed (`None` when they do not parse), everything else, and
/// timestamps, as the string itself.
pub fn scalar_from_text(kind: model::K, v: &str) -> Option<Value> {
    use model::K;
    Some(match kind {
        K::Integer | K::Long => Value::from(v.trim().parse::<i64>().ok()?),
        K::Float | K::Double | K::BigDecimal => {
            let f: f64 = v.trim().parse().ok()?;
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        K::Boolean => match v {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return None,
        },
        _ => Value::String(v.to_owned()),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::s3::testutil::body_text;
    use crate::services::sqs::SERVICE as SQS;

    #[test]
    fn each_protocol_renders_the_model_s_wire_code() {
        let e = AwsError::client("QueueDoesNotExist", "The specified queue does not exist.");
        let json = Wire::of(&SQS, Protocol::Json).error(&e, "rid");
        assert_eq!(json.status(), 400);
        let header = |r: &Response<Body>, n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            header(&json, "x-amzn-query-error").as_deref(),
            Some("AWS.SimpleQueueService.NonExistentQueue;Sender")
        );
        assert_eq!(
            header(&json, "content-type").as_deref(),
            Some("application/x-amz-json-1.0")
        );
        assert_eq!(
            body_text(json),
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#
        );
        let query = Wire::of(&SQS, Protocol::Query).error(&e.clone().receiver().status(503), "rid");
        assert_eq!(query.status(), 503);
        assert_eq!(
            body_text(query),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error>\
             <Type>Receiver</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>\
             <Message>The specified queue does not exist.</Message><Detail/></Error>\
             <RequestId>rid</RequestId></ErrorResponse>"
        );
        let rest = Wire::unknown(Protocol::RestJson, None).error(&e, "rid");
        assert_eq!(
            header(&rest, "x-amzn-ErrorType").as_deref(),
            Some("QueueDoesNotExist")
        );
    }
}
