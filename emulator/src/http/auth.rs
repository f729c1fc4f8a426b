//! Request credentials: the SigV4 (and SigV2) credential parsed from the Authorization header
//! or a presigned URL's query. Signatures are parsed, not enforced.

use crate::config::is_account_id;
use crate::http::util::Query;

/// Who is calling and where: derived from the credential scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credential {
    /// Access key id as sent.
    pub access_key: String,
    /// Region of the credential scope (SigV4 only).
    pub region: Option<String>,
    /// Service of the credential scope (SigV4 only), e.g. `s3`, `sqs`.
    pub service: Option<String>,
}

/// Parses the credential of a request; `None` for anonymous requests.
pub fn credential(authorization: Option<&str>, query: &Query) -> Option<Credential> {
    if let Some(h) = authorization {
        if let Some(rest) = h.strip_prefix("AWS4-HMAC-SHA256") {
            let cred = rest
                .split(',')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("Credential="))?;
            return Some(scope(cred));
        }
        if let Some(rest) = h.strip_prefix("AWS ") {
            let key = rest.split(':').next().unwrap_or_default();
            return Some(Credential {
                access_key: key.to_owned(),
                ..Credential::default()
            });
        }
        return None;
    }
    if let Some(cred) = query.get("X-Amz-Credential") {
        return Some(scope(cred));
    }
    query.get("AWSAccessKeyId").map(|k| Credential {
        access_key: k.to_owned(),
        ..Credential::default()
    })
}

/// `AKID/20260101/us-east-1/s3/aws4_request`.
fn scope(cred: &str) -> Credential {
    let mut parts = cred.split('/');
    let access_key = parts.next().unwrap_or_default().to_owned();
    let _date = parts.next();
    let region = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    let service = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    Credential {
        access_key,
        region,
        service,
    }
}

/// The account of an access key: the key itself when it is a 12-digit account id, else the
/// default account.
pub fn account_of(access_key: &str, default_account: &str) -> String {
    if is_account_id(access_key) {
        access_key.to_owned()
    } else {
        default_account.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_presigned_and_v2() {
        let h = "AWS4-HMAC-SHA256 Credential=111122223333/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=abc";
        let c = credential(Some(h), &Query::default()).expect("v4");
        assert_eq!(c.access_key, "111122223333");
        assert_eq!(
            (c.region.as_deref(), c.service.as_deref()),
            (Some("eu-west-1"), Some("s3"))
        );
        let q = Query::parse(Some(
            "X-Amz-Credential=test%2F20260101%2Fus-west-2%2Fs3%2Faws4_request",
        ));
        assert_eq!(
            credential(None, &q).expect("presigned").region.as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            credential(Some("AWS key:sig"), &Query::default())
                .expect("v2")
                .access_key,
            "key"
        );
        assert_eq!(account_of("111122223333", "000000000000"), "111122223333");
        assert_eq!(account_of("test", "000000000000"), "000000000000");
    }
}
