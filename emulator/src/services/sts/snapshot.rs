//! STS state (the temporary credentials it issued) as resource documents, and back.
//!
//! # Layout
//! - `<account>/global/sts/credential/<access key id>` → `sts.credential/1`:
//!   `{account, arn, user_id, expires}` (`expires` in Unix milliseconds). Only what maps a
//!   credential to its identity is kept: signatures are not verified, so secret keys and
//!   session tokens are not stored.
//!
//! Export writes every credential issued (expired ones too, so that an incremental snapshot
//! equals a full one); expired credentials are dropped at load.
//!
//! # Rules at load (`now_ms` is the emulator clock at load)
//! - Credentials past their expiry are not loaded; the others keep their absolute expiry.
//! - An access key id names one credential, whatever the account.

use std::collections::HashMap;

use podstore::{Document, StatePath};
use serde_json::{Value, json};

use super::{Identity, SERVICE, Sts};
use crate::persist::snapshot::decode::{
    DecodeError, DecodeResult, Fields, check_schema, document, path, split,
};
use crate::persist::snapshot::{Delta, Leaves, ServiceSnapshot, Staged, Taken, staged};

/// `sts.credential/1`.
pub const CREDENTIAL: (&str, u32) = ("sts.credential", 1);

/// The staged form: access key id → identity.
type Issued = HashMap<String, Identity>;

impl ServiceSnapshot for Sts {
    fn name(&self) -> &'static str {
        SERVICE.name
    }

    fn schemas(&self) -> Vec<(&'static str, u32)> {
        vec![CREDENTIAL]
    }

    fn export(&self, _now_ms: i64) -> Result<Leaves, String> {
        encode(&self.copy_state())
    }

    fn stage(&self, leaves: Leaves, now_ms: i64) -> Result<Staged<'_>, DecodeError> {
        let state: Issued = decode(&leaves, now_ms)?;
        Ok(staged(self, state, |s, state| {
            s.replace_state(state);
        }))
    }

    fn reset(&self) {
        self.replace_state(Issued::new());
    }

    fn export_changes(&self, _now_ms: i64) -> Result<Delta, String> {
        let copies: Vec<(String, Identity)> = {
            let issued = self.issued.write().unwrap_or_else(|p| p.into_inner());
            match self.marks().take() {
                Taken::All => {
                    let copy = issued.clone();
                    drop(issued);
                    return Ok(Delta::Full(encode(&copy)?));
                }
                Taken::Some { keys, .. } => keys
                    .into_iter()
                    .filter_map(|k| issued.get(&k).cloned().map(|id| (k, id)))
                    .collect(),
            }
        };
        let set = copies
            .iter()
            .map(|(k, id)| credential_leaf(k, id))
            .collect::<Result<Leaves, String>>()?;
        Ok(Delta::Changes {
            deleted: Vec::new(),
            set,
        })
    }

    fn mark_all(&self) {
        let _issued = self.issued.write().unwrap_or_else(|p| p.into_inner());
        self.marks().set_all();
    }

    fn mark_clean(&self) {
        let _issued = self.issued.write().unwrap_or_else(|p| p.into_inner());
        self.marks().clear();
    }
}

fn credential_leaf(key: &str, id: &Identity) -> Result<(StatePath, Document), String> {
    let p = path([
        id.account.as_str(),
        "global",
        SERVICE.name,
        "credential",
        key,
    ])?;
    let d = document(&p.to_string(), identity_json(id))?;
    Ok((p, d))
}

/// Encodes every credential, sorted by path.
pub fn encode(issued: &Issued) -> Result<Leaves, String> {
    let mut out = Vec::new();
    for (key, id) in issued {
        out.push(credential_leaf(key, id)?);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn identity_json(id: &Identity) -> Value {
    json!({
        "schema": format!("{}/{}", CREDENTIAL.0, CREDENTIAL.1),
        "account": id.account,
        "arn": id.arn,
        "user_id": id.user_id,
        "expires": id.expires,
    })
}

/// Decodes STS leaves, dropping credentials expired at `now`; errors name the path and the
/// problem.
pub fn decode(leaves: &Leaves, now: i64) -> DecodeResult<Issued> {
    let mut seen: HashMap<&str, &StatePath> = HashMap::new();
    let mut out = Issued::new();
    for (p, d) in leaves {
        let (key, id) = decode_leaf(p, d)?;
        if let Some(first) = seen.insert(key, p) {
            return Err(DecodeError::new(
                p,
                format!("access key {key:?} is also defined at {first}"),
            ));
        }
        if id.expires > now {
            out.insert(key.to_owned(), id);
        }
    }
    Ok(out)
}

fn decode_leaf<'a>(p: &'a StatePath, d: &Document) -> DecodeResult<(&'a str, Identity)> {
    let leaf = split(p, SERVICE.name)?;
    if leaf.region != "global" {
        return Err(DecodeError::new(
            p,
            format!("STS credentials are global, not in {}", leaf.region),
        ));
    }
    if leaf.kind != "credential" {
        return Err(DecodeError::new(
            p,
            format!("unknown STS resource type {:?}", leaf.kind),
        ));
    }
    let [key] = leaf.ids(p, "<account>/global/sts/credential/<access key id>")?;
    check_schema(p, d, CREDENTIAL.0, CREDENTIAL.1)?;
    let at = p.to_string();
    let f = Fields::new(&at, d.value())?;
    f.matches("account", leaf.account)?;
    let id = Identity {
        account: leaf.account.to_owned(),
        arn: f.str("arn")?.to_owned(),
        user_id: f.str("user_id")?.to_owned(),
        expires: f.time("expires")?,
    };
    Ok((key, id))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::persist::snapshot::decode::testing::mutations;
    use crate::service::Context;

    fn caller() -> Context {
        Context::test("000000000000", "us-east-1")
    }

    /// Issues credentials for a role of `account` lasting `seconds`; returns the access key.
    fn assume(sts: &Sts, account: &str, seconds: u32) -> String {
        let p = serde_json::json!({
            "RoleArn": format!("arn:aws:iam::{account}:role/admin"),
            "RoleSessionName": "s1",
            "DurationSeconds": seconds,
        });
        let out = sts.dispatch(&caller(), "AssumeRole", p).expect("assume");
        out["Credentials"]["AccessKeyId"]
            .as_str()
            .expect("key")
            .to_owned()
    }

    fn rich() -> (Sts, String, String) {
        let sts = Sts::default();
        let short = assume(&sts, "111122223333", 900);
        let long = assume(&sts, "444455556666", 7200);
        assume(&sts, "111122223333", 3600);
        (sts, short, long)
    }

    fn refused(sts: &Sts, leaves: Leaves, now: i64) -> String {
        match sts.stage(leaves, now) {
            Ok(_) => panic!("staging should have failed"),
            Err(e) => e.to_string(),
        }
    }

    fn reload(sts: &Sts, leaves: Leaves, now: i64) {
        let staged = sts.stage(leaves, now).expect("stage");
        staged.install();
    }

    #[test]
    fn credentials_round_trip_exactly() {
        let (sts, short, _) = rich();
        let now = sts.clock.now_ms();
        let first = sts.export(now).expect("export");
        assert_eq!(first.len(), 3);
        assert!(
            first.iter().any(
                |(p, _)| p.to_string() == format!("111122223333/global/sts/credential/{short}")
            )
        );
        let original = sts.copy_state();
        sts.reset();
        assert!(sts.identity(&short).is_none());
        reload(&sts, first.clone(), now);
        assert_eq!(sts.copy_state(), original);
        assert_eq!(sts.export(now).expect("export"), first);
        assert_eq!(
            sts.identity(&short).expect("remembered").account,
            "111122223333"
        );
    }

    #[test]
    fn expired_credentials_are_not_loaded() {
        let (sts, short, long) = rich();
        let now = sts.clock.now_ms();
        let leaves = sts.export(now).expect("export");
        reload(&sts, leaves, now + 1_000_000);
        assert!(!sts.copy_state().contains_key(&short), "900 s have passed");
        assert!(sts.copy_state().contains_key(&long));
        sts.clock.advance(Duration::from_secs(7201));
        assert!(sts.identity(&long).is_none(), "it expires at its own time");
        // Export writes it as it is; the load drops it.
        let later = sts.clock.now_ms();
        let leaves = sts.export(later).expect("export");
        assert_eq!(leaves.len(), 2, "both left are expired now");
        reload(&sts, leaves, later);
        assert!(sts.copy_state().is_empty());
    }

    #[test]
    fn bad_documents_are_refused_and_no_mutation_panics() {
        let (sts, _, _) = rich();
        let now = sts.clock.now_ms();
        let leaves = sts.export(now).expect("export");
        let edit = |f: &dyn Fn(&mut Value)| -> String {
            let mut bad = leaves.clone();
            let mut v = bad[0].1.value().clone();
            f(&mut v);
            bad[0].1 = Document::new(v).expect("doc");
            refused(&sts, bad, now)
        };
        let at = leaves[0].0.to_string();
        assert_eq!(
            edit(&|v| v["schema"] = json!("sts.credential/2")),
            format!(
                "{at}: sts.credential/2 is newer than this podstack understands (it reads up to sts.credential/1)"
            )
        );
        assert!(
            edit(&|v| v["account"] = json!("999999999999"))
                .contains("account is \"999999999999\" but the path says")
        );
        assert!(edit(&|v| v["expires"] = json!("soon")).contains("expires must be an integer"));
        let mut moved = leaves.clone();
        let mut segs = moved[0].0.segments().to_vec();
        segs[1] = "us-east-1".into();
        moved[0].0 = StatePath::new(segs.clone()).expect("path");
        assert!(refused(&sts, moved, now).contains("STS credentials are global"));
        let mut twice = leaves.clone();
        segs[1] = "global".into();
        segs[0] = "999999999999".into();
        let mut v = leaves[0].1.value().clone();
        v["account"] = json!("999999999999");
        twice.push((
            StatePath::new(segs).expect("path"),
            Document::new(v).expect("doc"),
        ));
        assert!(refused(&sts, twice, now).contains("is also defined at"));
        for variant in mutations(&leaves) {
            let _ = sts.stage(variant, now);
        }
    }
}
