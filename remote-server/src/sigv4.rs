//! AWS Signature Version 4 for requests signed in the `Authorization` header with a signed
//! payload, as the Amazon S3 API reference describes it ("Signature Calculations for the
//! Authorization Header: Transferring Payload in a Single Chunk"): the canonical request, the
//! string to sign, the derived signing key and the header value.
//!
//! HMAC-SHA256 is written here over the `sha2` crate (RFC 2104), so no other crypto crate is
//! needed. Paths are encoded per S3's rules: each segment once, `/` kept, no normalisation.

use podstore::hex;
use sha2::{Digest, Sha256};

/// The algorithm name that opens the header and the string to sign.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Lower-case hex SHA-256 of `data` (the `x-amz-content-sha256` value of a payload).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// S3's `UriEncode`: every byte but `A-Za-z0-9-._~` as `%XY` (upper-case hex); `/` is kept
/// when `keep_slash` (object key paths) and encoded otherwise (query names and values).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string of (unencoded) name/value pairs: each encoded, sorted by name
/// then value, joined by `&`. It is also a valid query to send.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `x-amz-date` value (`20130524T000000Z`) of a Unix time.
pub fn amz_date(unix_secs: i64) -> String {
    podstore::fsutil::format_rfc3339(unix_secs)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect()
}

/// One request as it is signed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// The path exactly as sent, already encoded (see [`uri_encode`]).
    pub path: &'a str,
    /// The query as sent, from [`canonical_query`] (empty for none).
    pub query: &'a str,
    /// Every header to sign with its value as sent: at least `host`, `x-amz-date` and
    /// `x-amz-content-sha256`. Names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The `x-amz-content-sha256` value: hex SHA-256 of the body.
    pub payload_hash: &'a str,
}

/// Who signs, and for which region and service.
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    /// The access key id (`AKIA…`), which is sent in the clear.
    pub access_key_id: &'a str,
    /// The secret access key, which never leaves this process.
    pub secret_access_key: &'a str,
    /// `us-east-1`, …
    pub region: &'a str,
    /// `s3`, …
    pub service: &'a str,
}

impl std::fmt::Debug for Signer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The sorted lower-case names joined by `;`, and the canonical header lines.
fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), value)
        })
        .collect();
    h.sort();
    let names = h
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let lines = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    (names, lines)
}

/// The canonical request (the text whose hash is signed).
pub fn canonical_request(req: &Request<'_>) -> String {
    let (names, lines) = canonical_headers(req.headers);
    format!(
        "{}\n{}\n{}\n{lines}\n{names}\n{}",
        req.method, req.path, req.query, req.payload_hash
    )
}

impl Signer<'_> {
    /// `DATE/REGION/SERVICE/aws4_request` of an `x-amz-date`.
    fn scope(&self, amz_date: &str) -> String {
        let day = amz_date.get(..8).unwrap_or(amz_date);
        format!("{day}/{}/{}/aws4_request", self.region, self.service)
    }

    /// The string to sign of `req` at `amz_date` (the request's `x-amz-date`).
    pub fn string_to_sign(&self, req: &Request<'_>, amz_date: &str) -> String {
        format!(
            "{ALGORITHM}\n{amz_date}\n{}\n{}",
            self.scope(amz_date),
            sha256_hex(canonical_request(req).as_bytes())
        )
    }

    /// The hex signature of `req` at `amz_date`.
    pub fn signature(&self, req: &Request<'_>, amz_date: &str) -> String {
        let day = amz_date.get(..8).unwrap_or(amz_date);
        let mut key = hmac_sha256(
            format!("AWS4{}", self.secret_access_key).as_bytes(),
            day.as_bytes(),
        );
        for part in [self.region, self.service, "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        hex(&hmac_sha256(
            &key,
            self.string_to_sign(req, amz_date).as_bytes(),
        ))
    }

    /// The `Authorization` header value of `req` at `amz_date`.
    pub fn authorization(&self, req: &Request<'_>, amz_date: &str) -> String {
        let (names, _) = canonical_headers(req.headers);
        format!(
            "{ALGORITHM} Credential={}/{},SignedHeaders={names},Signature={}",
            self.access_key_id,
            self.scope(amz_date),
            self.signature(req, amz_date)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const DATE: &str = "20130524T000000Z";
    const HOST: &str = "examplebucket.s3.amazonaws.com";
    /// The credentials of the S3 API reference's SigV4 examples.
    const DOC: Signer<'static> = Signer {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
        service: "s3",
    };

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 2 and 6 (a key longer than the block is hashed first).
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(sha256_hex(b""), EMPTY);
    }

    #[test]
    fn encodes_like_s3() {
        assert_eq!(uri_encode("a b/c$d~e", true), "a%20b/c%24d~e");
        assert_eq!(uri_encode("a/b=é", false), "a%2Fb%3D%C3%A9");
        assert_eq!(
            canonical_query(&[("prefix", "J"), ("max-keys", "2"), ("a", "x/y")]),
            "a=x%2Fy&max-keys=2&prefix=J"
        );
        assert_eq!(canonical_query(&[]), "");
        assert_eq!(amz_date(1_369_353_600), DATE);
    }

    /// The published "Example: GET Object" (first 10 bytes of `test.txt`).
    #[test]
    fn aws_example_get_object_with_range() {
        let headers = [
            ("Host", HOST),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", DATE),
        ];
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &headers,
            payload_hash: EMPTY,
        };
        assert_eq!(
            canonical_request(&req),
            format!(
                "GET\n/test.txt\n\nhost:{HOST}\nrange:bytes=0-9\nx-amz-content-sha256:{EMPTY}\n\
                 x-amz-date:{DATE}\n\nhost;range;x-amz-content-sha256;x-amz-date\n{EMPTY}"
            )
        );
        assert_eq!(
            DOC.string_to_sign(&req, DATE),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        assert_eq!(
            DOC.authorization(&req, DATE),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The published "Example: PUT Object" (`test$file.text`, an encoded path, extra headers).
    #[test]
    fn aws_example_put_object() {
        let body = b"Welcome to Amazon S3.";
        let hash = sha256_hex(body);
        assert_eq!(
            hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let path = format!("/{}", uri_encode("test$file.text", true));
        let headers = [
            ("Host", HOST),
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", DATE),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", hash.as_str()),
        ];
        let req = Request {
            method: "PUT",
            path: &path,
            query: "",
            headers: &headers,
            payload_hash: &hash,
        };
        assert_eq!(
            DOC.signature(&req, DATE),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    /// The published "Example: GET Bucket Lifecycle" and "Example: Get Bucket (List Objects)"
    /// (query strings, one with an empty value).
    #[test]
    fn aws_examples_with_queries() {
        let headers = [
            ("host", HOST),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", DATE),
        ];
        let sign = |query: &str| {
            DOC.signature(
                &Request {
                    method: "GET",
                    path: "/",
                    query,
                    headers: &headers,
                    payload_hash: EMPTY,
                },
                DATE,
            )
        };
        assert_eq!(
            sign(&canonical_query(&[("lifecycle", "")])),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
        assert_eq!(
            sign(&canonical_query(&[("prefix", "J"), ("max-keys", "2")])),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    /// A path-style request with a port, a session token and `If-None-Match`, checked against
    /// botocore's `S3SigV4Auth` (1.x) computing the same request independently.
    #[test]
    fn matches_botocore_with_session_token() {
        let hash = sha256_hex(b"one");
        let path = format!("/my-bucket/{}", uri_encode("team x/pods/a$b.json", true));
        let query = canonical_query(&[("x-id", "PutObject"), ("a", "b/c")]);
        let headers = [
            ("host", "127.0.0.1:4566"),
            ("if-none-match", "*"),
            ("x-amz-content-sha256", hash.as_str()),
            ("x-amz-date", "20261122T153000Z"),
            ("x-amz-security-token", "FQoGZXIvYXdzEXAMPLETOKEN"),
        ];
        let req = Request {
            method: "PUT",
            path: &path,
            query: &query,
            headers: &headers,
            payload_hash: &hash,
        };
        let signer = Signer {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            region: "eu-west-1",
            service: "s3",
        };
        assert_eq!(
            signer.signature(&req, "20261122T153000Z"),
            "592a1bd0c4503c531da98a5a0b5ea487876bc1941cbc9706ec08bf4e426f3952"
        );
        assert!(!format!("{signer:?}").contains("EXAMPLEKEY"));
    }
}
