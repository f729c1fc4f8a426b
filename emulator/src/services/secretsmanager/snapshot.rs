//! Secrets Manager state as resource documents, and back.
//!
//! # Layout
//! - `<account>/<region>/secretsmanager/secret/<name>` → `secretsmanager.secret/1`:
//!   `{arn, name, description, kms_key_id, tags: [[k, v], …], created, changed, accessed,
//!   deletion, deleted_at, policy, versions: {id: {string, binary (base64), created,
//!   stages: [label, …]}}}`. A name is one path segment, whatever `/` it contains. Times are
//!   Unix milliseconds; `deletion` is when a scheduled deletion takes effect.
//!
//! Export writes every secret as it is, as of its last change (so that an incremental
//! snapshot, which re-encodes only changed secrets, equals a full one); a secret whose
//! deletion window has passed is dropped at load.
//!
//! # Rules at load (`now_ms` is the emulator clock at load)
//! - Deletion windows keep their absolute times: a secret scheduled for deletion stays
//!   restorable until then; a secret whose window has passed is not loaded.
//! - The ARN must name the path's account, region and secret; a version holds exactly one
//!   of `string` and `binary`; a staging label is attached to at most one version.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Value, json};

use super::{SERVICE, Secret, Secrets, SecretsManager, Version};
use crate::persist::snapshot::decode::{
    DecodeError, DecodeResult, Fields, check_schema, document, opt_b64, pairs_json, path, split,
};
use crate::persist::snapshot::{Delta, Leaves, ServiceSnapshot, Staged, Taken, staged};

/// `secretsmanager.secret/1`.
pub const SECRET: (&str, u32) = ("secretsmanager.secret", 1);

/// The staged form: secrets per (account, region).
type State = BTreeMap<(String, String), Secrets>;

impl ServiceSnapshot for SecretsManager {
    fn name(&self) -> &'static str {
        SERVICE.name
    }

    fn schemas(&self) -> Vec<(&'static str, u32)> {
        vec![SECRET]
    }

    fn export(&self, _now_ms: i64) -> Result<Leaves, String> {
        encode(&self.copy_state())
    }

    fn stage(&self, leaves: Leaves, now_ms: i64) -> Result<Staged<'_>, DecodeError> {
        let state: State = decode(&leaves, now_ms)?;
        Ok(staged(self, state, |s, state| {
            s.replace_state(state);
        }))
    }

    fn reset(&self) {
        self.replace_state(State::new());
    }

    fn export_changes(&self, _now_ms: i64) -> Result<Delta, String> {
        let (copies, deleted) = {
            let state = self.state.write().unwrap_or_else(|p| p.into_inner());
            match self.marks().take() {
                Taken::All => {
                    let copy = state.clone();
                    drop(state);
                    return Ok(Delta::Full(encode(&copy)?));
                }
                Taken::Some { keys, deleted } => {
                    let copies: Vec<((String, String, String), Option<Secret>)> = keys
                        .into_iter()
                        .map(|k| {
                            let s = state
                                .get(&(k.0.clone(), k.1.clone()))
                                .and_then(|m| m.get(&k.2))
                                .cloned();
                            (k, s)
                        })
                        .collect();
                    (copies, deleted)
                }
            }
        };
        let mut gone = deleted;
        let mut set = Vec::new();
        for ((account, region, name), s) in copies {
            match s {
                Some(s) => set.push(secret_leaf(&account, &region, &s)?),
                None => gone.push(path([
                    account.as_str(),
                    &region,
                    SERVICE.name,
                    "secret",
                    &name,
                ])?),
            }
        }
        Ok(Delta::Changes { deleted: gone, set })
    }

    fn mark_all(&self) {
        let _state = self.state.write().unwrap_or_else(|p| p.into_inner());
        self.marks().set_all();
    }

    fn mark_clean(&self) {
        let _state = self.state.write().unwrap_or_else(|p| p.into_inner());
        self.marks().clear();
    }
}

/// Whether a secret still exists at `now` (its deletion window, if any, has not passed).
fn alive(s: &Secret, now: i64) -> bool {
    s.deletion.is_none_or(|d| d > now)
}

/// One secret's leaf.
fn secret_leaf(
    account: &str,
    region: &str,
    s: &Secret,
) -> Result<(podstore::StatePath, podstore::Document), String> {
    let p = path([account, region, SERVICE.name, "secret", &s.name])?;
    let d = document(&p.to_string(), secret_json(s))?;
    Ok((p, d))
}

/// Encodes every secret as it is (as of its last change; secrets whose deletion window has
/// passed are dropped at load), sorted by path.
pub fn encode(state: &State) -> Result<Leaves, String> {
    let mut out = Vec::new();
    for ((account, region), secrets) in state {
        for s in secrets.values() {
            out.push(secret_leaf(account, region, s)?);
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn secret_json(s: &Secret) -> Value {
    let versions: serde_json::Map<String, Value> = s
        .versions
        .iter()
        .map(|(id, v)| (id.clone(), version_json(v)))
        .collect();
    json!({
        "schema": format!("{}/{}", SECRET.0, SECRET.1),
        "arn": s.arn,
        "name": s.name,
        "description": s.description,
        "kms_key_id": s.kms_key_id,
        "tags": pairs_json(&s.tags),
        "created": s.created,
        "changed": s.changed,
        "accessed": s.accessed,
        "deletion": s.deletion,
        "deleted_at": s.deleted_at,
        "policy": s.policy,
        "versions": versions,
    })
}

fn version_json(v: &Version) -> Value {
    json!({
        "string": v.string,
        "binary": opt_b64(v.binary.as_deref()),
        "created": v.created,
        "stages": v.stages,
    })
}

/// Decodes Secrets Manager leaves, dropping secrets whose deletion window has passed at
/// `now`; errors name the path and the problem.
pub fn decode(leaves: &Leaves, now: i64) -> DecodeResult<State> {
    let mut state = State::new();
    let mut seen = HashSet::new();
    for (p, d) in leaves {
        let leaf = split(p, SERVICE.name)?;
        leaf.regional(p)?;
        if leaf.kind != "secret" {
            return Err(DecodeError::new(
                p,
                format!("unknown Secrets Manager resource type {:?}", leaf.kind),
            ));
        }
        let [name] = leaf.ids(p, "<account>/<region>/secretsmanager/secret/<name>")?;
        check_schema(p, d, SECRET.0, SECRET.1)?;
        let at = p.to_string();
        let secret = decode_secret(
            &Fields::new(&at, d.value())?,
            leaf.account,
            leaf.region,
            name,
        )?;
        if !seen.insert(p) {
            return Err(DecodeError::new(
                &at,
                format!("secret {name:?} is defined twice"),
            ));
        }
        if alive(&secret, now) {
            let scope = (leaf.account.to_owned(), leaf.region.to_owned());
            state
                .entry(scope)
                .or_default()
                .insert(name.to_owned(), secret);
        }
    }
    Ok(state)
}

fn decode_secret(f: &Fields<'_>, account: &str, region: &str, name: &str) -> DecodeResult<Secret> {
    f.matches("name", name)?;
    let arn = f.str("arn")?;
    check_arn(f, arn, account, region, name)?;
    let versions = decode_versions(f)?;
    Ok(Secret {
        arn: arn.to_owned(),
        name: name.to_owned(),
        description: f.opt_string("description")?,
        kms_key_id: f.opt_string("kms_key_id")?,
        tags: f.opt_pairs("tags")?.unwrap_or_default(),
        created: f.time("created")?,
        changed: f.time("changed")?,
        accessed: f.opt_time("accessed")?,
        deletion: f.opt_time("deletion")?,
        deleted_at: f.opt_time("deleted_at")?,
        versions,
        policy: f.opt_string("policy")?,
    })
}

/// The ARN is `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<suffix>`.
fn check_arn(
    f: &Fields<'_>,
    arn: &str,
    account: &str,
    region: &str,
    name: &str,
) -> DecodeResult<()> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let ok = match parts.as_slice() {
        ["arn", _, "secretsmanager", r, a, "secret", rest] => {
            *r == region
                && *a == account
                && rest.strip_prefix(name).is_some_and(|s| s.starts_with('-'))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(f.err(
            "arn",
            &format!("{arn:?} does not name secret {name:?} of account {account} in {region}"),
        ))
    }
}

fn decode_versions(f: &Fields<'_>) -> DecodeResult<BTreeMap<String, Version>> {
    let mut out = BTreeMap::new();
    let mut holders: HashMap<String, String> = HashMap::new();
    for (id, v) in f.entries("versions")? {
        let v = decode_version(&f.nested(&format!("versions.{id}"), v)?)?;
        for stage in &v.stages {
            if let Some(other) = holders.insert(stage.clone(), id.clone()) {
                return Err(f.err(
                    &format!("versions.{id}.stages"),
                    &format!("has {stage:?}, which version {other:?} has too"),
                ));
            }
        }
        out.insert(id.clone(), v);
    }
    Ok(out)
}

fn decode_version(f: &Fields<'_>) -> DecodeResult<Version> {
    let string = f.opt_string("string")?;
    let binary = f.opt_base64("binary")?;
    if string.is_some() == binary.is_some() {
        return Err(f.fail("a version holds exactly one of string and binary"));
    }
    let mut stages = BTreeSet::new();
    for (i, s) in f.opt_array("stages")?.iter().enumerate() {
        let s = s
            .as_str()
            .ok_or_else(|| f.err(&format!("stages[{i}]"), "must be a string"))?;
        stages.insert(s.to_owned());
    }
    Ok(Version {
        string,
        binary,
        created: f.time("created")?,
        stages,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::persist::snapshot::decode::testing::{self, edited, mutations};
    use crate::protocol::AwsResult;
    use crate::service::Context;
    use podstore::{Document, StatePath};

    const A: &str = "000000000000";
    const B: &str = "111111111111";
    const DAY: i64 = 86_400_000;

    fn caller(account: &str, region: &str) -> Context {
        Context::test(account, region)
    }

    fn try_call(sm: &SecretsManager, op: &str, input: Value) -> AwsResult {
        sm.dispatch(&caller(A, "us-east-1"), op, &input)
    }

    fn call(sm: &SecretsManager, op: &str, input: Value) -> Value {
        try_call(sm, op, input).unwrap_or_else(|e| panic!("{op}: {e:?}"))
    }

    /// A secret with three versions and all three labels, tags, a description and a policy; a
    /// binary secret; a secret scheduled for deletion in 7 days; a secret in another account
    /// and region.
    fn rich() -> SecretsManager {
        let sm = SecretsManager::default();
        call(
            &sm,
            "CreateSecret",
            json!({"Name": "app/db", "SecretString": "v1", "Description": "db", "Tags": [{"Key": "team", "Value": "a"}]}),
        );
        call(
            &sm,
            "PutSecretValue",
            json!({"SecretId": "app/db", "SecretString": "v2"}),
        );
        call(
            &sm,
            "PutSecretValue",
            json!({"SecretId": "app/db", "SecretString": "v3", "VersionStages": ["AWSPENDING"]}),
        );
        call(
            &sm,
            "PutResourcePolicy",
            json!({"SecretId": "app/db", "ResourcePolicy": "{\"Version\":\"2012-10-17\"}"}),
        );
        call(&sm, "GetSecretValue", json!({"SecretId": "app/db"}));
        call(
            &sm,
            "CreateSecret",
            json!({"Name": "bin", "SecretBinary": "AAEC/w==", "KmsKeyId": "alias/k"}),
        );
        call(
            &sm,
            "CreateSecret",
            json!({"Name": "doomed", "SecretString": "x"}),
        );
        call(
            &sm,
            "DeleteSecret",
            json!({"SecretId": "doomed", "RecoveryWindowInDays": 7}),
        );
        sm.dispatch(
            &caller(B, "eu-west-1"),
            "CreateSecret",
            &json!({"Name": "other", "SecretString": "y"}),
        )
        .expect("create in B");
        sm
    }

    fn reload(sm: &SecretsManager, leaves: Leaves, now: i64) {
        let staged = sm.stage(leaves, now).expect("stage");
        staged.install();
    }

    fn names(leaves: &Leaves) -> Vec<String> {
        leaves.iter().map(|(p, _)| p.to_string()).collect()
    }

    fn stage_err(sm: &SecretsManager, leaves: Leaves) -> String {
        testing::stage_err(sm, leaves, sm.clock.now_ms())
    }

    #[test]
    fn a_rich_state_round_trips_exactly() {
        let sm = rich();
        let now = sm.clock.now_ms();
        let first = sm.export(now).expect("export");
        assert_eq!(
            names(&first),
            [
                "000000000000/us-east-1/secretsmanager/secret/app%2Fdb",
                "000000000000/us-east-1/secretsmanager/secret/bin",
                "000000000000/us-east-1/secretsmanager/secret/doomed",
                "111111111111/eu-west-1/secretsmanager/secret/other",
            ]
        );
        let db = first[0].1.value();
        assert_eq!(db["versions"].as_object().expect("versions").len(), 3);
        assert_eq!(
            first[1].1.value()["versions"]
                .as_object()
                .expect("one")
                .values()
                .next()
                .expect("v")["binary"],
            "AAEC/w=="
        );
        let original = sm.copy_state();
        sm.reset();
        assert!(sm.export(now).expect("export").is_empty());
        reload(&sm, first.clone(), now);
        assert_eq!(sm.copy_state(), original);
        assert_eq!(sm.export(now).expect("export"), first);
        let v = call(
            &sm,
            "GetSecretValue",
            json!({"SecretId": "app/db", "VersionStage": "AWSPENDING"}),
        );
        assert_eq!(v["SecretString"], "v3");
        let v = call(&sm, "GetSecretValue", json!({"SecretId": "bin"}));
        assert_eq!(v["SecretBinary"], "AAEC/w==");
    }

    #[test]
    fn deletion_windows_keep_their_absolute_times() {
        let sm = rich();
        let now = sm.clock.now_ms();
        let leaves = sm.export(now).expect("export");
        reload(&sm, leaves.clone(), now + 8 * DAY);
        let after = sm.export(now + 8 * DAY).expect("export");
        assert_eq!(after.len(), 3, "the passed window dropped the secret");
        assert!(!names(&after).iter().any(|n| n.ends_with("doomed")));
        reload(&sm, leaves, now + 6 * DAY);
        assert_eq!(sm.export(now + 6 * DAY).expect("export").len(), 4);
        sm.clock
            .advance(Duration::from_millis((7 * DAY + 1_000) as u64));
        let e = try_call(&sm, "RestoreSecret", json!({"SecretId": "doomed"})).expect_err("gone");
        assert_eq!(
            e.code, "ResourceNotFoundException",
            "the window ran out at its own time"
        );
    }

    fn current_of(v: &Value) -> String {
        v["versions"]
            .as_object()
            .and_then(|m| {
                m.iter().find(|(_, x)| {
                    x["stages"]
                        .as_array()
                        .is_some_and(|s| s.contains(&json!("AWSCURRENT")))
                })
            })
            .map(|(k, _)| k.clone())
            .expect("a current version")
    }

    #[test]
    fn bad_documents_are_refused_with_the_path_and_the_problem() {
        let sm = rich();
        let leaves = sm.export(sm.clock.now_ms()).expect("export");
        let db = "000000000000/us-east-1/secretsmanager/secret/app%2Fdb";
        let current = current_of(leaves[0].1.value());
        let other_version = leaves[0].1.value()["versions"]
            .as_object()
            .and_then(|m| m.keys().find(|k| **k != current).cloned())
            .expect("another version");
        let cases: Vec<(Leaves, String)> = vec![
            (
                edited(&leaves, 0, |v| {
                    v["schema"] = json!("secretsmanager.secret/2")
                }),
                format!("{db}: secretsmanager.secret/2 is newer than this podstack understands"),
            ),
            (
                edited(&leaves, 0, |v| v["name"] = json!("app/other")),
                "name is \"app/other\" but the path says \"app/db\"".into(),
            ),
            (
                edited(&leaves, 0, |v| {
                    let arn = v["arn"].as_str().expect("arn").replace(A, B);
                    v["arn"] = json!(arn);
                }),
                "does not name secret \"app/db\" of account 000000000000 in us-east-1".into(),
            ),
            (
                edited(&leaves, 0, |v| {
                    v["versions"][&current]["binary"] = json!("AAAA")
                }),
                format!(
                    "{db}: versions.{current}: a version holds exactly one of string and binary"
                ),
            ),
            (
                edited(&leaves, 1, |v| {
                    if let Some(m) = v["versions"].as_object_mut() {
                        m.values_mut().for_each(|x| x["binary"] = json!("***"));
                    }
                }),
                "binary is not valid base64".into(),
            ),
            (
                edited(&leaves, 0, |v| {
                    v["versions"][&other_version]["stages"] = json!(["AWSCURRENT"])
                }),
                "which version".into(),
            ),
            (
                edited(&leaves, 0, |v| v["created"] = json!("today")),
                format!("{db}: created must be an integer"),
            ),
            (
                edited(&leaves, 0, |v| v["tags"] = json!([["only-key"]])),
                "tags[0] must be a pair of strings".into(),
            ),
        ];
        for (bad, expected) in cases {
            let e = stage_err(&sm, bad);
            assert!(e.contains(&expected), "{e:?} should contain {expected:?}");
        }
        let mut twice = leaves.clone();
        twice.push(leaves[2].clone());
        assert!(stage_err(&sm, twice).contains("is defined twice"));
        let mut wrong_kind = leaves.clone();
        let mut segs = wrong_kind[0].0.segments().to_vec();
        segs[3] = "rotation".into();
        wrong_kind[0].0 = StatePath::new(segs).expect("path");
        assert!(stage_err(&sm, wrong_kind).contains("unknown Secrets Manager resource type"));
    }

    #[test]
    fn unknown_fields_are_ignored_and_no_mutation_panics() {
        let sm = rich();
        let now = sm.clock.now_ms();
        let leaves = sm.export(now).expect("export");
        let extended: Leaves = leaves
            .iter()
            .map(|(p, d)| {
                let mut v = d.value().clone();
                v["rotation"] = json!({"enabled": false});
                (p.clone(), Document::new(v).expect("doc"))
            })
            .collect();
        reload(&sm, extended, now);
        assert_eq!(sm.export(now).expect("export"), leaves);
        let variants = mutations(&leaves);
        assert!(variants.len() > 200, "{}", variants.len());
        let refused = variants
            .into_iter()
            .filter(|v| sm.stage(v.clone(), now).is_err())
            .count();
        assert!(refused > 50, "{refused}");
    }
}
