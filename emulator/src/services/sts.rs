//! STS (query protocol): GetCallerIdentity, AssumeRole, AssumeRoleWithWebIdentity and
//! GetSessionToken. Temporary credentials are remembered, so requests signed with them later
//! map to the account of the role they came from.

pub mod snapshot;

use std::collections::HashMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Clock;
use crate::ids;
use crate::protocol::{AwsError, AwsResult};
use crate::registry::Build;
use crate::service::{BoxFuture, Context, Deps, Provider, ServiceDef, read, typed, write};

/// STS in the registry.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "sts",
    model: &crate::protocol::models::sts::MODEL,
    body_limit: 1 << 20,
    validate: true,
    error_type_prefix: "",
    ops: &[
        write("AssumeRole"),
        write("AssumeRoleWithSAML"),
        write("AssumeRoleWithWebIdentity"),
        read("GetCallerIdentity"),
        write("GetSessionToken"),
    ],
};

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
    marks: std::sync::Mutex<crate::persist::snapshot::Marks<String>>,
    /// The clock.
    pub clock: Clock,
}

fn validation(msg: impl Into<String>) -> AwsError {
    AwsError::client("ValidationError", msg)
}

impl Build for Sts {
    const DEF: &'static ServiceDef = &SERVICE;

    fn build(deps: &Deps) -> Self {
        Self::new(deps.clock.clone())
    }
}

impl Provider for Sts {
    fn def(&self) -> &'static ServiceDef {
        &SERVICE
    }

    fn call<'a>(&'a self, cx: &'a Context, op: &'a str, input: Value) -> BoxFuture<'a, AwsResult> {
        Box::pin(std::future::ready(self.dispatch(cx, op, input)))
    }
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
    pub fn marks(&self) -> std::sync::MutexGuard<'_, crate::persist::snapshot::Marks<String>> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one operation (input and output in the model's JSON shape, handled typed).
    pub fn dispatch(&self, c: &Context, op: &str, input: Value) -> AwsResult {
        match op {
            "GetCallerIdentity" => typed(input, |_: Empty| Ok(self.caller_identity(c))),
            "AssumeRole" | "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML" => {
                typed(input, |i| self.assume_role(i))
            }
            "GetSessionToken" => typed(input, |i| self.session_token(c, i)),
            other => Err(crate::service::not_implemented(&SERVICE, other)),
        }
    }

    fn caller_identity(&self, c: &Context) -> CallerIdentity {
        let (arn, user_id) = match self.identity(&c.access_key) {
            Some(i) => (i.arn, i.user_id),
            None => (
                format!("arn:aws:iam::{}:root", c.account),
                c.access_key.clone(),
            ),
        };
        CallerIdentity {
            arn,
            user_id,
            account: c.account.clone(),
        }
    }

    /// Issues credentials for `identity`, remembering them.
    fn issue(&self, mut identity: Identity, seconds: i64) -> Credentials {
        let key = format!("ASIA{}", ids::alnum(16).to_ascii_uppercase());
        identity.expires = self.clock.now_ms() + seconds * 1000;
        let credentials = Credentials {
            access_key_id: key.clone(),
            secret_access_key: ids::alnum(40),
            session_token: format!("FQoGZXIvYXdzE{}", ids::alnum(300)),
            expiration: identity.expires as f64 / 1000.0,
        };
        let mut issued = self.issued.write().unwrap_or_else(|p| p.into_inner());
        self.marks().touch(key.clone());
        issued.insert(key, identity);
        credentials
    }

    /// `AssumeRole`, `AssumeRoleWithWebIdentity` and `AssumeRoleWithSAML` (whose session
    /// name would come from the assertion: `session`).
    fn assume_role(&self, input: AssumeRoleInput) -> AwsResult<AssumeRoleOutput> {
        let role = input.role_arn;
        let session = input.role_session_name.as_deref().unwrap_or("session");
        let parts: Vec<&str> = role.split(':').collect();
        let (account, role_name) = match parts.as_slice() {
            ["arn", _, "iam", "", account, res] if crate::config::is_account_id(account) => (
                (*account).to_owned(),
                res.rsplit('/').next().unwrap_or_default().to_owned(),
            ),
            _ => return Err(validation(format!("{role} is invalid"))),
        };
        let seconds = input.duration_seconds.unwrap_or(3600);
        let role_id = format!("AROA{}", ids::alnum(17).to_ascii_uppercase());
        let arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
        let credentials = self.issue(
            Identity {
                account,
                arn: arn.clone(),
                user_id: format!("{role_id}:{session}"),
                expires: 0,
            },
            seconds,
        );
        Ok(AssumeRoleOutput {
            credentials,
            assumed_role_user: AssumedRoleUser {
                assumed_role_id: format!("{role_id}:{session}"),
                arn,
            },
            packed_policy_size: 6,
        })
    }

    fn session_token(&self, c: &Context, input: SessionTokenInput) -> AwsResult<SessionToken> {
        let seconds = input.duration_seconds.unwrap_or(43_200);
        let identity = self.identity(&c.access_key).unwrap_or_else(|| Identity {
            account: c.account.clone(),
            arn: format!("arn:aws:iam::{}:root", c.account),
            user_id: c.access_key.clone(),
            expires: 0,
        });
        Ok(SessionToken {
            credentials: self.issue(identity, seconds),
        })
    }
}

/// An input with no member this emulation reads.
#[derive(Debug, Deserialize)]
struct Empty {}

/// The input of the `AssumeRole*` operations, as far as they are read (the gateway has
/// checked `DurationSeconds` against the model's range, 900 to 43,200).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleInput {
    role_arn: String,
    role_session_name: Option<String>,
    duration_seconds: Option<i64>,
}

/// The input of `GetSessionToken`, as far as it is read (`DurationSeconds` checked against
/// the model's range, 900 to 129,600).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SessionTokenInput {
    duration_seconds: Option<i64>,
}

/// `GetCallerIdentity`'s output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CallerIdentity {
    arn: String,
    user_id: String,
    account: String,
}

/// Temporary credentials (`Expiration` in epoch seconds, as the JSON shape has it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: f64,
}

/// Who the credentials of an `AssumeRole*` act as.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumedRoleUser {
    assumed_role_id: String,
    arn: String,
}

/// The output of the `AssumeRole*` operations.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleOutput {
    credentials: Credentials,
    assumed_role_user: AssumedRoleUser,
    packed_policy_size: i64,
}

/// `GetSessionToken`'s output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SessionToken {
    credentials: Credentials,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assumed_role_credentials_map_to_the_role_account() {
        let sts = Sts::default();
        let caller = Context::test("000000000000", "us-east-1");
        let p = json!({"RoleArn": "arn:aws:iam::111122223333:role/admin", "RoleSessionName": "s1"});
        let out = sts.dispatch(&caller, "AssumeRole", p).expect("assume");
        let key = out["Credentials"]["AccessKeyId"].as_str().expect("key");
        let id = sts.identity(key).expect("remembered");
        assert_eq!(id.account, "111122223333");
        assert_eq!(id.arn, "arn:aws:sts::111122223333:assumed-role/admin/s1");
        sts.clock.advance(std::time::Duration::from_secs(3601));
        assert!(sts.identity(key).is_none(), "expired");
        assert!(
            sts.dispatch(&caller, "AssumeRole", json!({"RoleArn": "nope"}))
                .is_err()
        );
    }
}
