//! S3 errors: every code defined once with its HTTP status, rendered as S3's XML error body.

use super::xml::XmlWriter;

/// An S3 error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Error {
    /// The S3 error code, e.g. `NoSuchBucket`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// HTTP status.
    pub status: u16,
    /// Extra elements (`BucketName`, `Key`, `Condition`, …).
    pub extra: Vec<(&'static str, String)>,
}

impl S3Error {
    /// An error with a code, status and message.
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status,
            extra: Vec::new(),
        }
    }

    /// Adds an extra element to the body.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// Renders the XML body.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let mut w = XmlWriter::new();
        w.open("Error", None);
        w.elem("Code", self.code);
        w.elem("Message", &self.message);
        for (k, v) in &self.extra {
            w.elem(k, v);
        }
        w.elem("Resource", resource);
        w.elem("RequestId", request_id);
        w.elem("HostId", request_id);
        w.close("Error");
        w.finish()
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Result of an S3 handler.
pub type S3Result<T> = Result<T, S3Error>;

/// Constructors for the codes S3 uses, each with AWS's status and wording.
pub mod codes {
    use super::S3Error;

    /// 404 NoSuchBucket.
    pub fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error::new("NoSuchBucket", 404, "The specified bucket does not exist")
            .with("BucketName", bucket)
    }
    /// 404 NoSuchKey.
    pub fn no_such_key(key: &str) -> S3Error {
        S3Error::new("NoSuchKey", 404, "The specified key does not exist.").with("Key", key)
    }
    /// 404 NoSuchVersion.
    pub fn no_such_version(key: &str, version: &str) -> S3Error {
        S3Error::new(
            "NoSuchVersion",
            404,
            "The specified version does not exist.",
        )
        .with("Key", key)
        .with("VersionId", version)
    }
    /// 404 NoSuchUpload.
    pub fn no_such_upload(id: &str) -> S3Error {
        S3Error::new(
            "NoSuchUpload",
            404,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", id)
    }
    /// 409 BucketAlreadyOwnedByYou.
    pub fn bucket_owned(bucket: &str) -> S3Error {
        S3Error::new(
            "BucketAlreadyOwnedByYou",
            409,
            "Your previous request to create the named bucket succeeded and you already own it.",
        )
        .with("BucketName", bucket)
    }
    /// 409 BucketAlreadyExists.
    pub fn bucket_exists(bucket: &str) -> S3Error {
        S3Error::new(
            "BucketAlreadyExists",
            409,
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
        )
        .with("BucketName", bucket)
    }
    /// 409 BucketNotEmpty.
    pub fn bucket_not_empty(bucket: &str) -> S3Error {
        S3Error::new(
            "BucketNotEmpty",
            409,
            "The bucket you tried to delete is not empty",
        )
        .with("BucketName", bucket)
    }
    /// 400 InvalidBucketName.
    pub fn invalid_bucket_name(bucket: &str) -> S3Error {
        S3Error::new(
            "InvalidBucketName",
            400,
            "The specified bucket is not valid.",
        )
        .with("BucketName", bucket)
    }
    /// 400 InvalidArgument.
    pub fn invalid_argument(msg: impl Into<String>, name: &str, value: &str) -> S3Error {
        S3Error::new("InvalidArgument", 400, msg)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }
    /// 400 InvalidRequest.
    pub fn invalid_request(msg: impl Into<String>) -> S3Error {
        S3Error::new("InvalidRequest", 400, msg)
    }
    /// 400 MalformedXML.
    pub fn malformed_xml() -> S3Error {
        S3Error::new(
            "MalformedXML",
            400,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }
    /// 400 BadDigest.
    pub fn bad_digest(what: &str) -> S3Error {
        S3Error::new(
            "BadDigest",
            400,
            format!("The {what} you specified did not match the calculated checksum."),
        )
    }
    /// 400 InvalidDigest.
    pub fn invalid_digest() -> S3Error {
        S3Error::new(
            "InvalidDigest",
            400,
            "The Content-MD5 you specified was invalid.",
        )
    }
    /// 412 PreconditionFailed.
    pub fn precondition_failed(condition: &str) -> S3Error {
        S3Error::new(
            "PreconditionFailed",
            412,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", condition)
    }
    /// 416 InvalidRange.
    pub fn invalid_range(size: u64) -> S3Error {
        S3Error::new(
            "InvalidRange",
            416,
            "The requested range is not satisfiable",
        )
        .with("ActualObjectSize", size.to_string())
    }
    /// 400 EntityTooSmall.
    pub fn entity_too_small() -> S3Error {
        S3Error::new(
            "EntityTooSmall",
            400,
            "Your proposed upload is smaller than the minimum allowed object size.",
        )
    }
    /// 400 InvalidPart.
    pub fn invalid_part(part: u32) -> S3Error {
        S3Error::new(
            "InvalidPart",
            400,
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        )
        .with("PartNumber", part.to_string())
    }
    /// 400 InvalidPartOrder.
    pub fn invalid_part_order() -> S3Error {
        S3Error::new(
            "InvalidPartOrder",
            400,
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        )
    }
    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str) -> S3Error {
        S3Error::new(
            "MethodNotAllowed",
            405,
            "The specified method is not allowed against this resource.",
        )
        .with("Method", method)
    }
    /// 501 NotImplemented naming the operation.
    pub fn not_implemented(op: &str) -> S3Error {
        let e = crate::service::not_implemented(&crate::services::s3::SERVICE, op);
        S3Error::new("NotImplemented", 501, e.message)
    }
    /// 404 for configuration subresources that were never set.
    pub fn no_such_config(code: &'static str, what: &str, bucket: &str) -> S3Error {
        S3Error::new(code, 404, format!("The {what} does not exist")).with("BucketName", bucket)
    }
    /// 400 KeyTooLongError.
    pub fn key_too_long() -> S3Error {
        S3Error::new("KeyTooLongError", 400, "Your key is too long")
    }
    /// 400 InvalidTag.
    pub fn invalid_tag(msg: impl Into<String>) -> S3Error {
        S3Error::new("InvalidTag", 400, msg)
    }
    /// 400 IncompleteBody.
    pub fn incomplete_body(msg: impl Into<String>) -> S3Error {
        S3Error::new("IncompleteBody", 400, msg)
    }
    /// 500 InternalError.
    pub fn internal(msg: impl Into<String>) -> S3Error {
        S3Error::new("InternalError", 500, msg)
    }
}
