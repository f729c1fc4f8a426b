//! STS (query protocol): GetCallerIdentity, AssumeRole, AssumeRoleWithWebIdentity and
//! GetSessionToken. Temporary credentials are remembered, so requests signed with them later
//! map to the account of the role they came from.

pub mod snapshot;

use std::collections::HashMap;
use std::sync::RwLock;

use hyper::Response;

use crate::body::Body;
use crate::clock::Clock;
use crate::gateway::Caller;
use crate::http_util::iso8601_ms;
use crate::ids;
use crate::protocol::{self, AwsError, AwsResult};
use crate::s3::xml::XmlWriter;

/// The query protocol namespace.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Who a set of temporary credentials belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Account.
    pub account: String,
    /// ARN shown by GetCallerIdentity.
    pub arn: String,
    /// User id shown by GetCallerIdentity.
    pub user_id: String,
    /// Expiry (ms).
    pub expires: i64,
}

/// The STS service and the temporary credentials it issued.
#[derive(Debug, Default)]
pub struct Sts {
    /// Access key id → identity.
    pub issued: RwLock<HashMap<String, Identity>>,
    /// Credentials issued since the last incremental snapshot; locked only while holding
    /// `issued`.
    marks: std::sync::Mutex<crate::snapshot::Marks<String>>,
    /// The clock.
    pub clock: Clock,
}

fn validation(msg: impl Into<String>) -> AwsError {
    AwsError::client("ValidationError", msg)
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

impl Sts {
    /// An STS on `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            ..Self::default()
        }
    }

    /// The identity of temporary credentials this STS issued (and that have not expired).
    pub fn identity(&self, access_key: &str) -> Option<Identity> {
        let now = self.clock.now_ms();
        self.issued
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(access_key)
            .filter(|i| i.expires > now)
            .cloned()
    }

    /// A copy of every issued credential, taken under the read lock.
    pub fn copy_state(&self) -> HashMap<String, Identity> {
        self.issued
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces every issued credential; returns the previous ones.
    pub fn replace_state(&self, issued: HashMap<String, Identity>) -> HashMap<String, Identity> {
        let mut live = self.issued.write().unwrap_or_else(|p| p.into_inner());
        self.marks().set_all();
        std::mem::replace(&mut *live, issued)
    }

    /// The change marks: access keys issued since the last incremental snapshot (take them
    /// only while holding the write lock of the issued credentials).
    pub fn marks(&self) -> std::sync::MutexGuard<'_, crate::snapshot::Marks<String>> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles a query-protocol request.
    pub fn handle(
        &self,
        caller: &Caller,
        params: &[(String, String)],
        request_id: &str,
    ) -> Response<Body> {
        let action = param(params, "Action").unwrap_or_default().to_owned();
        match self.dispatch(caller, &action, params) {
            Ok(xml) => protocol::query_ok(&action, XMLNS, &xml, request_id),
            Err(e) => protocol::query_err(XMLNS, &e, request_id),
        }
    }

    fn dispatch(&self, c: &Caller, action: &str, p: &[(String, String)]) -> AwsResult<String> {
        match action {
            "GetCallerIdentity" => Ok(self.caller_identity(c)),
            "AssumeRole" | "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML" => {
                self.assume_role(p)
            }
            "GetSessionToken" => self.session_token(c, p),
            "" => Err(AwsError::client("MissingAction", "Missing Action")),
            other => Err(AwsError::client(
                "InvalidAction",
                format!("podstack does not implement the STS action {other}"),
            )),
        }
    }

    fn caller_identity(&self, c: &Caller) -> String {
        let (arn, user) = match self.identity(&c.access_key) {
            Some(i) => (i.arn, i.user_id),
            None => (
                format!("arn:aws:iam::{}:root", c.account),
                c.access_key.clone(),
            ),
        };
        let mut w = XmlWriter::default();
        w.elem("Arn", &arn);
        w.elem("UserId", &user);
        w.elem("Account", &c.account);
        w.finish()
    }

    fn duration(p: &[(String, String)], default: i64, max: i64) -> AwsResult<i64> {
        match param(p, "DurationSeconds") {
            None => Ok(default),
            Some(d) => d
                .parse::<i64>()
                .ok()
                .filter(|d| (900..=max).contains(d))
                .ok_or_else(|| validation(format!("1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and {max}"))),
        }
    }

    /// Issues credentials for `identity`, remembering them; returns the `<Credentials>` XML.
    fn issue(&self, w: &mut XmlWriter, mut identity: Identity, seconds: i64) {
        let key = format!("ASIA{}", ids::alnum(16).to_ascii_uppercase());
        identity.expires = self.clock.now_ms() + seconds * 1000;
        w.open("Credentials", None);
        w.elem("AccessKeyId", &key);
        w.elem("SecretAccessKey", &ids::alnum(40));
        w.elem("SessionToken", &format!("FQoGZXIvYXdzE{}", ids::alnum(300)));
        w.elem("Expiration", &iso8601_ms(identity.expires));
        w.close("Credentials");
        let mut issued = self.issued.write().unwrap_or_else(|p| p.into_inner());
        self.marks().touch(key.clone());
        issued.insert(key, identity);
    }

    fn assume_role(&self, p: &[(String, String)]) -> AwsResult<String> {
        let role = param(p, "RoleArn").ok_or_else(|| validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))?;
        let session = param(p, "RoleSessionName").unwrap_or("session");
        let parts: Vec<&str> = role.split(':').collect();
        let (account, role_name) = match parts.as_slice() {
            ["arn", _, "iam", "", account, res] if crate::config::is_account_id(account) => (
                (*account).to_owned(),
                res.rsplit('/').next().unwrap_or_default().to_owned(),
            ),
            _ => return Err(validation(format!("{role} is invalid"))),
        };
        let seconds = Self::duration(p, 3600, 43_200)?;
        let role_id = format!("AROA{}", ids::alnum(17).to_ascii_uppercase());
        let arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
        let mut w = XmlWriter::default();
        self.issue(
            &mut w,
            Identity {
                account,
                arn: arn.clone(),
                user_id: format!("{role_id}:{session}"),
                expires: 0,
            },
            seconds,
        );
        w.open("AssumedRoleUser", None);
        w.elem("AssumedRoleId", &format!("{role_id}:{session}"));
        w.elem("Arn", &arn);
        w.close("AssumedRoleUser");
        w.elem("PackedPolicySize", "6");
        Ok(w.finish())
    }

    fn session_token(&self, c: &Caller, p: &[(String, String)]) -> AwsResult<String> {
        let seconds = Self::duration(p, 43_200, 129_600)?;
        let identity = self.identity(&c.access_key).unwrap_or_else(|| Identity {
            account: c.account.clone(),
            arn: format!("arn:aws:iam::{}:root", c.account),
            user_id: c.access_key.clone(),
            expires: 0,
        });
        let mut w = XmlWriter::default();
        self.issue(&mut w, identity, seconds);
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_credentials_map_to_the_role_account() {
        let sts = Sts::default();
        let caller = Caller::test("000000000000", "us-east-1");
        let p = vec![
            (
                "RoleArn".to_owned(),
                "arn:aws:iam::111122223333:role/admin".to_owned(),
            ),
            ("RoleSessionName".to_owned(), "s1".to_owned()),
        ];
        let xml = sts.dispatch(&caller, "AssumeRole", &p).expect("assume");
        let key = xml
            .split("<AccessKeyId>")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .expect("key");
        let id = sts.identity(key).expect("remembered");
        assert_eq!(id.account, "111122223333");
        assert_eq!(id.arn, "arn:aws:sts::111122223333:assumed-role/admin/s1");
        sts.clock.advance(std::time::Duration::from_secs(3601));
        assert!(sts.identity(key).is_none(), "expired");
        assert!(
            sts.dispatch(&caller, "AssumeRole", &[("RoleArn".into(), "nope".into())])
                .is_err()
        );
    }
}
