//! The types of the generated model tables (`protocol/models/*.rs`, written by
//! `codegen/models.py` from the botocore models): a service's metadata, its operations and
//! its shapes, as compact static data. Shapes refer to each other by index into
//! [`Model::shapes`]; operations and shapes are sorted by name.

/// An AWS wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// AWS JSON 1.0 / 1.1: `POST /`, `X-Amz-Target`, a JSON body.
    Json,
    /// The query protocol: form parameters with `Action`, XML answers.
    Query,
    /// REST with XML bodies (S3).
    RestXml,
    /// REST with JSON bodies (Lambda).
    RestJson,
    /// EC2's variant of the query protocol.
    Ec2,
}

impl Protocol {
    /// The name the botocore models use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Query => "query",
            Self::RestXml => "rest-xml",
            Self::RestJson => "rest-json",
            Self::Ec2 => "ec2",
        }
    }
}

/// A service's metadata.
#[derive(Debug)]
pub struct Meta {
    /// The model's service name (`data/<name>/` in botocore).
    pub name: &'static str,
    /// API version.
    pub api_version: &'static str,
    /// Full name, e.g. "Amazon Simple Queue Service".
    pub full_name: &'static str,
    /// The protocols the service answers, preferred first.
    pub protocols: &'static [Protocol],
    /// `1.0` or `1.1` for JSON services.
    pub json_version: Option<&'static str>,
    /// The `X-Amz-Target` prefix of JSON services (`AmazonSQS`).
    pub target_prefix: Option<&'static str>,
    /// The SigV4 signing name (credential scope service).
    pub signing_name: &'static str,
    /// The endpoint prefix (first host label on AWS).
    pub endpoint_prefix: &'static str,
    /// The XML namespace of query and REST-XML answers.
    pub xml_namespace: Option<&'static str>,
    /// `awsQueryCompatible`: JSON errors also carry the query-protocol code.
    pub query_compatible: bool,
}

/// Operation flags.
pub mod op_flags {
    /// Marked read-only in the model (few models mark it).
    pub const READONLY: u8 = 1;
    /// Idempotent.
    pub const IDEMPOTENT: u8 = 2;
    /// Deprecated.
    pub const DEPRECATED: u8 = 4;
}

/// Shape flags.
pub mod shape_flags {
    /// A flattened XML list or map.
    pub const FLATTENED: u16 = 1;
    /// Sensitive (never logged).
    pub const SENSITIVE: u16 = 2;
    /// A streaming blob.
    pub const STREAMING: u16 = 4;
    /// A union: exactly one member is set.
    pub const UNION: u16 = 8;
    /// An error shape.
    pub const EXCEPTION: u16 = 16;
    /// An error that is the service's fault.
    pub const FAULT: u16 = 32;
    /// An event stream.
    pub const EVENTSTREAM: u16 = 64;
    /// A document (free-form JSON).
    pub const DOCUMENT: u16 = 128;
    /// An event of an event stream.
    pub const EVENT: u16 = 256;
    /// A streaming blob whose length must be known.
    pub const REQUIRES_LENGTH: u16 = 512;
}

/// Member flags.
pub mod member_flags {
    /// A flattened XML list or map.
    pub const FLATTENED: u8 = 1;
    /// An XML attribute rather than an element.
    pub const XML_ATTRIBUTE: u8 = 2;
    /// Filled with a UUID by SDKs when absent.
    pub const IDEMPOTENCY_TOKEN: u8 = 4;
    /// A JSON document carried in a string (header).
    pub const JSON_VALUE: u8 = 8;
    /// Part of the host name.
    pub const HOST_LABEL: u8 = 16;
    /// A streaming member.
    pub const STREAMING: u8 = 32;
    /// The payload of an event.
    pub const EVENT_PAYLOAD: u8 = 64;
    /// Deprecated.
    pub const DEPRECATED: u8 = 128;
}

/// An operation.
#[derive(Debug)]
pub struct O {
    /// Name, e.g. `CreateQueue`.
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Request URI pattern (`/{Bucket}/{Key+}?uploads`).
    pub uri: &'static str,
    /// HTTP status of a success.
    pub code: u16,
    /// Input shape.
    pub input: Option<u16>,
    /// The input's XML element name (REST-XML bodies).
    pub input_wire: Option<&'static str>,
    /// The input's XML namespace.
    pub input_ns: Option<&'static str>,
    /// Output shape.
    pub output: Option<u16>,
    /// The root element of a REST-XML answer (`Tagging`), from `codegen/services.json`.
    pub output_wire: Option<&'static str>,
    /// The query protocol's `<{Action}Result>` wrapper.
    pub result_wrapper: Option<&'static str>,
    /// Error shapes the operation names.
    pub errors: &'static [u16],
    /// A checksum of the request body is required.
    pub checksum_required: bool,
    /// Host prefix (`{AccountId}.` for S3 Control).
    pub host_prefix: Option<&'static str>,
    /// [`op_flags`].
    pub flags: u8,
}

impl O {
    /// Defaults for the generated literals.
    pub const DEFAULT: Self = Self {
        name: "",
        method: "POST",
        uri: "/",
        code: 200,
        input: None,
        input_wire: None,
        input_ns: None,
        output: None,
        output_wire: None,
        result_wrapper: None,
        errors: &[],
        checksum_required: false,
        host_prefix: None,
        flags: 0,
    };
}

/// The kind of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum K {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Boolean,
    Timestamp,
    Blob,
    Float,
    Double,
    BigDecimal,
    BigInteger,
}

/// Where a member travels in an HTTP request or response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// In the body (JSON member, XML element, query parameter of the query protocol).
    Body,
    /// One header.
    Header,
    /// Every header with a prefix (`x-amz-meta-`), as a map.
    Headers,
    /// A label of the URI.
    Uri,
    /// A query-string parameter (REST protocols).
    Query,
    /// The HTTP status code.
    Status,
}

/// A member of a structure, or the member of a list (`member`), or a map's `key`/`value`.
#[derive(Debug)]
pub struct M {
    /// Member name.
    pub name: &'static str,
    /// Target shape.
    pub shape: u16,
    /// Location.
    pub loc: Loc,
    /// `locationName`: header, query or URI label name, or XML / query element name.
    pub wire: Option<&'static str>,
    /// `queryName` (EC2).
    pub query_name: Option<&'static str>,
    /// XML namespace of the element.
    pub xml_ns: Option<&'static str>,
    /// Required in its structure.
    pub required: bool,
    /// [`member_flags`].
    pub flags: u8,
}

impl M {
    /// Defaults for the generated literals.
    pub const DEFAULT: Self = Self {
        name: "",
        shape: 0,
        loc: Loc::Body,
        wire: None,
        query_name: None,
        xml_ns: None,
        required: false,
        flags: 0,
    };

    /// The name on the wire: `locationName`, else the member name.
    pub fn wire_name(&self) -> &'static str {
        self.wire.unwrap_or(self.name)
    }
}

/// How an error shape appears on the wire.
#[derive(Debug)]
pub struct E {
    /// The code (`awsQueryError` code where the service has one, else the shape name).
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// The caller's fault (`Sender`) rather than the service's (`Receiver`).
    pub sender: bool,
}

/// A shape.
#[derive(Debug)]
pub struct S {
    /// Name.
    pub name: &'static str,
    /// Kind.
    pub kind: K,
    /// Structure members; a list's `member`; a map's `key` and `value`.
    pub members: &'static [M],
    /// The member that is the HTTP payload (REST protocols).
    pub payload: Option<u8>,
    /// Minimum (length of strings, blobs, lists and maps; value of numbers).
    pub min: Option<f64>,
    /// Maximum, likewise.
    pub max: Option<f64>,
    /// Regular expression strings must match.
    pub pattern: Option<&'static str>,
    /// Allowed values of an enum string.
    pub enums: &'static [&'static str],
    /// Timestamp format (`iso8601`, `rfc822`, `unixTimestamp`).
    pub timestamp: Option<&'static str>,
    /// XML element name of the shape.
    pub wire: Option<&'static str>,
    /// XML namespace.
    pub xml_ns: Option<&'static str>,
    /// Error code and status of an error shape.
    pub error: Option<E>,
    /// [`shape_flags`].
    pub flags: u16,
}

impl S {
    /// Defaults for the generated literals.
    pub const DEFAULT: Self = Self {
        name: "",
        kind: K::Structure,
        members: &[],
        payload: None,
        min: None,
        max: None,
        pattern: None,
        enums: &[],
        timestamp: None,
        wire: None,
        xml_ns: None,
        error: None,
        flags: 0,
    };

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&'static M> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Whether a flag of [`shape_flags`] is set.
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

/// An AWS service podstack may not emulate, as the catalog of every botocore service knows
/// it: enough to answer its clients `NotImplemented` in their protocol.
#[derive(Debug)]
pub struct Known {
    /// The model's service name (`dynamodb`).
    pub name: &'static str,
    /// Full name.
    pub full_name: &'static str,
    /// SigV4 signing name.
    pub signing_name: &'static str,
    /// Endpoint prefix.
    pub endpoint_prefix: &'static str,
    /// `X-Amz-Target` prefix (JSON services).
    pub target_prefix: Option<&'static str>,
    /// Its first protocol.
    pub protocol: Protocol,
    /// `1.0` or `1.1` (JSON services).
    pub json_version: Option<&'static str>,
}

/// A service's model.
#[derive(Debug)]
pub struct Model {
    /// Metadata.
    pub meta: Meta,
    /// Operations, sorted by name.
    pub operations: &'static [O],
    /// Shapes, sorted by name.
    pub shapes: &'static [S],
}

impl Model {
    /// The operation named `name`.
    pub fn operation(&self, name: &str) -> Option<&O> {
        let i = self
            .operations
            .binary_search_by(|o| o.name.cmp(name))
            .ok()?;
        Some(&self.operations[i])
    }

    /// The shape at `index` (an index the tables themselves hold).
    pub fn shape(&self, index: u16) -> &S {
        &self.shapes[usize::from(index)]
    }

    /// The shape named `name`.
    pub fn shape_named(&self, name: &str) -> Option<&S> {
        let i = self.shapes.binary_search_by(|s| s.name.cmp(name)).ok()?;
        Some(&self.shapes[i])
    }

    /// The error shape named `name`.
    pub fn error(&self, name: &str) -> Option<&E> {
        self.shape_named(name)?.error.as_ref()
    }

    /// The code on the wire of the error shape `name` (its `awsQueryError` code where the
    /// service has one), else `name` itself.
    pub fn wire_code<'a>(&'a self, name: &'a str) -> &'a str {
        self.error(name).map_or(name, |e| e.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::models;

    const ALL: [&Model; 5] = [
        &models::lambda::MODEL,
        &models::s3::MODEL,
        &models::secretsmanager::MODEL,
        &models::sqs::MODEL,
        &models::sts::MODEL,
    ];

    #[test]
    fn tables_are_sorted_and_their_indexes_in_range() {
        for m in ALL {
            let n = m.meta.name;
            assert!(
                m.operations.windows(2).all(|w| w[0].name < w[1].name),
                "{n}"
            );
            assert!(m.shapes.windows(2).all(|w| w[0].name < w[1].name), "{n}");
            let ok = |i: u16| usize::from(i) < m.shapes.len();
            for o in m.operations {
                assert!(
                    o.input.into_iter().chain(o.output).all(ok),
                    "{n} {}",
                    o.name
                );
                assert!(o.errors.iter().copied().all(ok), "{n} {}", o.name);
                assert!(o.errors.iter().all(|&e| m.shape(e).error.is_some()));
            }
            for s in m.shapes {
                assert!(s.members.iter().all(|mb| ok(mb.shape)), "{n} {}", s.name);
            }
        }
    }

    #[test]
    fn lookups_find_what_the_models_say() {
        let sqs = &models::sqs::MODEL;
        assert_eq!(sqs.meta.target_prefix, Some("AmazonSQS"));
        assert!(sqs.meta.query_compatible);
        let send = sqs.operation("SendMessage").expect("SendMessage");
        let input = sqs.shape(send.input.expect("input"));
        assert_eq!(input.name, "SendMessageRequest");
        assert!(input.member("QueueUrl").expect("QueueUrl").required);
        let e = sqs.error("QueueDoesNotExist").expect("error shape");
        assert_eq!(
            (e.code, e.status),
            ("AWS.SimpleQueueService.NonExistentQueue", 400)
        );
        let s3 = &models::s3::MODEL;
        let put = s3.operation("PutObject").expect("PutObject");
        assert_eq!((put.method, put.uri), ("PUT", "/{Bucket}/{Key+}"));
        let input = s3.shape(put.input.expect("input"));
        let meta = input.member("Metadata").expect("Metadata");
        assert_eq!((meta.loc, meta.wire), (Loc::Headers, Some("x-amz-meta-")));
        assert_eq!(
            input.payload.map(|i| input.members[usize::from(i)].name),
            Some("Body")
        );
        assert_eq!(models::sts::MODEL.meta.protocols, &[Protocol::Query]);
        assert!(sqs.operation("NoSuchThing").is_none());
    }
}
