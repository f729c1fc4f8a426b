//! Secrets Manager (AWS JSON 1.1): secrets with versions moved between the staging labels
//! `AWSCURRENT`, `AWSPREVIOUS` and `AWSPENDING` exactly as AWS moves them, deletion with a
//! recovery window measured on the emulator's clock, and random passwords.

pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

use serde_json::{Value, json};

use crate::checksum::{b64, b64_decode};
use crate::clock::Clock;
use crate::ids;
use crate::protocol::{AwsError, AwsResult, bool_of, int_of, str_of};
use crate::registry::Build;
use crate::service::{BoxFuture, Context, Deps, Provider, ServiceDef, read, write};

/// Secrets Manager in the registry.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "secretsmanager",
    model: &crate::protocol::models::secretsmanager::MODEL,
    body_limit: 1 << 20,
    validate: true,
    error_type_prefix: "",
    ops: &[
        read("BatchGetSecretValue"),
        write("CreateSecret"),
        write("DeleteResourcePolicy"),
        write("DeleteSecret"),
        read("DescribeSecret"),
        read("GetRandomPassword"),
        read("GetResourcePolicy"),
        read("GetSecretValue"),
        read("ListSecretVersionIds"),
        read("ListSecrets"),
        write("PutResourcePolicy"),
        write("PutSecretValue"),
        write("RestoreSecret"),
        write("TagResource"),
        write("UntagResource"),
        write("UpdateSecret"),
        write("UpdateSecretVersionStage"),
    ],
};

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

/// One version of a secret's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// `SecretString`.
    pub string: Option<String>,
    /// `SecretBinary`.
    pub binary: Option<Vec<u8>>,
    /// Creation (ms).
    pub created: i64,
    /// Staging labels.
    pub stages: BTreeSet<String>,
}

/// A secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secret {
    /// Full ARN with the random suffix.
    pub arn: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// KMS key id.
    pub kms_key_id: Option<String>,
    /// Tags in order.
    pub tags: Vec<(String, String)>,
    /// Creation (ms).
    pub created: i64,
    /// Last change (ms).
    pub changed: i64,
    /// Last access (ms, day precision in responses).
    pub accessed: Option<i64>,
    /// Scheduled deletion time (ms).
    pub deletion: Option<i64>,
    /// When deletion was requested (ms).
    pub deleted_at: Option<i64>,
    /// Versions by id.
    pub versions: BTreeMap<String, Version>,
    /// Resource policy JSON.
    pub policy: Option<String>,
}

/// Secrets of one account and region, by name.
pub type Secrets = BTreeMap<String, Secret>;

/// The Secrets Manager service.
#[derive(Debug, Default)]
pub struct SecretsManager {
    /// Per (account, region).
    pub state: RwLock<BTreeMap<(String, String), Secrets>>,
    /// Secrets changed since the last incremental snapshot, as (account, region, name);
    /// locked only while holding `state`.
    pub marks: std::sync::Mutex<crate::persist::snapshot::Marks<(String, String, String)>>,
    /// The clock.
    pub clock: Clock,
}

/// Runs one operation on the secrets of the caller's account and region.
fn run(secrets: &mut Secrets, c: &Context, op: &str, input: &Value, now: i64) -> AwsResult {
    match op {
        "CreateSecret" => create(secrets, c, input, now),
        "GetSecretValue" => get_value(secrets, input, now),
        "BatchGetSecretValue" => batch_get(secrets, input, now),
        "PutSecretValue" => put_value(secrets, input, now),
        "UpdateSecret" => update(secrets, input, now),
        "DescribeSecret" => find(secrets, input).map(|s| describe(s, true)),
        "ListSecrets" => list(secrets, input),
        "ListSecretVersionIds" => list_versions(secrets, input),
        "UpdateSecretVersionStage" => update_stage(secrets, input, now),
        "DeleteSecret" => delete(secrets, input, now),
        "RestoreSecret" => restore(secrets, input, now),
        "TagResource" => tag(secrets, input),
        "UntagResource" => untag(secrets, input),
        "PutResourcePolicy" => put_policy(secrets, input),
        "GetResourcePolicy" => find(secrets, input).map(|s| {
            let mut v = json!({"ARN": s.arn, "Name": s.name});
            if let Some(p) = &s.policy {
                v["ResourcePolicy"] = json!(p);
            }
            v
        }),
        "DeleteResourcePolicy" => find_mut(secrets, input).map(|s| {
            s.policy = None;
            json!({"ARN": s.arn, "Name": s.name})
        }),
        other => Err(crate::service::not_implemented(&SERVICE, other)),
    }
}

impl Build for SecretsManager {
    const DEF: &'static ServiceDef = &SERVICE;

    fn build(deps: &Deps) -> Self {
        Self::new(deps.clock.clone())
    }
}

impl Provider for SecretsManager {
    fn def(&self) -> &'static ServiceDef {
        &SERVICE
    }

    fn call<'a>(&'a self, cx: &'a Context, op: &'a str, input: Value) -> BoxFuture<'a, AwsResult> {
        Box::pin(std::future::ready(self.dispatch(cx, op, &input)))
    }
}

fn not_found() -> AwsError {
    AwsError::client(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn param(msg: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterException", msg)
}

fn request(msg: impl Into<String>) -> AwsError {
    AwsError::client("InvalidRequestException", msg)
}

fn secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

impl SecretsManager {
    /// A service on `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            ..Self::default()
        }
    }

    /// A copy of every secret, taken under the read lock.
    pub fn copy_state(&self) -> BTreeMap<(String, String), Secrets> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces every secret; returns the previous ones.
    pub fn replace_state(
        &self,
        state: BTreeMap<(String, String), Secrets>,
    ) -> BTreeMap<(String, String), Secrets> {
        let mut live = self.state.write().unwrap_or_else(|p| p.into_inner());
        self.marks().set_all();
        std::mem::replace(&mut *live, state)
    }

    fn dispatch(&self, c: &Context, op: &str, input: &Value) -> AwsResult {
        if op == "GetRandomPassword" {
            return random_password(input);
        }
        let now = self.clock.now_ms();
        let mut all = self.state.write().unwrap_or_else(|p| p.into_inner());
        let secrets = all
            .entry((c.account.clone(), c.region.clone()))
            .or_default();
        let mut touched: Vec<String> = Vec::new();
        secrets.retain(|name, s| {
            let keep = s.deletion.is_none_or(|d| d > now);
            if !keep {
                touched.push(name.clone());
            }
            keep
        });
        if op == "CreateSecret" {
            touched.extend(str_of(input, "Name").map(str::to_owned));
        } else if let Some(name) = str_of(input, "SecretId").and_then(|id| resolve(secrets, id)) {
            touched.push(name.clone());
        }
        let accessed_before: Vec<(String, Option<i64>)> = if op == "BatchGetSecretValue" {
            secrets
                .iter()
                .map(|(n, s)| (n.clone(), s.accessed))
                .collect()
        } else {
            Vec::new()
        };
        let result = run(secrets, c, op, input, now);
        for (name, before) in accessed_before {
            if secrets.get(&name).map(|s| s.accessed) != Some(before) {
                touched.push(name);
            }
        }
        let mut marks = self.marks();
        for name in touched {
            marks.touch((c.account.clone(), c.region.clone(), name));
        }
        result
    }

    /// The change marks (take them only while holding the state's write lock).
    pub fn marks(
        &self,
    ) -> std::sync::MutexGuard<'_, crate::persist::snapshot::Marks<(String, String, String)>> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Resolves `SecretId` (name, full ARN or ARN without the random suffix) to a name.
fn resolve<'a>(secrets: &'a Secrets, id: &str) -> Option<&'a String> {
    if secrets.contains_key(id) {
        return secrets.keys().find(|k| *k == id);
    }
    secrets
        .iter()
        .find(|(_, s)| {
            s.arn == id
                || (id.starts_with("arn:") && s.arn.starts_with(id) && s.arn.len() == id.len() + 7)
        })
        .map(|(k, _)| k)
}

fn secret_id(input: &Value) -> AwsResult<&str> {
    str_of(input, "SecretId").ok_or_else(|| param("You must provide a SecretId."))
}

fn find<'a>(secrets: &'a Secrets, input: &Value) -> AwsResult<&'a Secret> {
    let id = secret_id(input)?;
    let name = resolve(secrets, id).ok_or_else(not_found)?;
    secrets.get(name).ok_or_else(not_found)
}

fn find_mut<'a>(secrets: &'a mut Secrets, input: &Value) -> AwsResult<&'a mut Secret> {
    let id = secret_id(input)?;
    let name = resolve(secrets, id).cloned().ok_or_else(not_found)?;
    secrets.get_mut(&name).ok_or_else(not_found)
}

fn live_mut<'a>(secrets: &'a mut Secrets, input: &Value) -> AwsResult<&'a mut Secret> {
    let s = find_mut(secrets, input)?;
    if s.deletion.is_some() {
        return Err(request(
            "You can't perform this operation on the secret because it was marked for deletion.",
        ));
    }
    Ok(s)
}

/// A secret value: `SecretString` or `SecretBinary`.
type SecretValue = (Option<String>, Option<Vec<u8>>);

/// The value given in `SecretString` or `SecretBinary` (base64 in JSON), if any.
fn value_of(input: &Value) -> AwsResult<Option<SecretValue>> {
    let string = str_of(input, "SecretString").map(str::to_owned);
    let binary = match str_of(input, "SecretBinary") {
        Some(b) => Some(b64_decode(b).ok_or_else(|| param("SecretBinary is not valid base64."))?),
        None => None,
    };
    match (string, binary) {
        (Some(_), Some(_)) => Err(param(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (None, None) => Ok(None),
        (s, b) => Ok(Some((s, b))),
    }
}

fn tags_of(input: &Value) -> AwsResult<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in input
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let k = str_of(t, "Key").ok_or_else(|| param("A tag must have a Key."))?;
        let v = str_of(t, "Value").unwrap_or_default();
        out.retain(|(x, _)| x != k);
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

fn token(input: &Value) -> AwsResult<String> {
    match str_of(input, "ClientRequestToken") {
        Some(t) if (32..=64).contains(&t.len()) => Ok(t.to_owned()),
        Some(_) => Err(param("ClientRequestToken must be 32-64 characters long.")),
        None => Ok(ids::request_id()),
    }
}

/// Adds a version with `stages`, moving the labels as AWS does: a label moves off the version
/// that had it; when `AWSCURRENT` moves, the old current version becomes `AWSPREVIOUS`.
fn add_version(
    s: &mut Secret,
    id: String,
    value: (Option<String>, Option<Vec<u8>>),
    stages: BTreeSet<String>,
    now: i64,
) -> AwsResult<()> {
    if let Some(existing) = s.versions.get(&id) {
        if (existing.string.clone(), existing.binary.clone()) == value {
            return Ok(());
        }
        return Err(AwsError::client(
            "ResourceExistsException",
            format!(
                "You can't modify an existing version, you can only create a new version. VersionId: {id}"
            ),
        ));
    }
    s.versions.insert(
        id.clone(),
        Version {
            string: value.0,
            binary: value.1,
            created: now,
            stages: BTreeSet::new(),
        },
    );
    for stage in stages {
        move_stage(s, &stage, &id);
    }
    s.changed = now;
    prune_versions(s);
    Ok(())
}

/// Moves `stage` to version `to`.
fn move_stage(s: &mut Secret, stage: &str, to: &str) {
    let from: Vec<String> = s
        .versions
        .iter()
        .filter(|(vid, v)| v.stages.contains(stage) && vid.as_str() != to)
        .map(|(k, _)| k.clone())
        .collect();
    for f in &from {
        if let Some(v) = s.versions.get_mut(f) {
            v.stages.remove(stage);
        }
    }
    if stage == CURRENT
        && let Some(old) = from.first()
    {
        for v in s.versions.values_mut() {
            v.stages.remove(PREVIOUS);
        }
        if let Some(v) = s.versions.get_mut(old) {
            v.stages.insert(PREVIOUS.to_owned());
        }
    }
    if let Some(v) = s.versions.get_mut(to) {
        v.stages.insert(stage.to_owned());
    }
}

/// Keeps at most 100 versions, dropping the oldest without labels.
fn prune_versions(s: &mut Secret) {
    while s.versions.len() > 100 {
        let oldest = s
            .versions
            .iter()
            .filter(|(_, v)| v.stages.is_empty())
            .min_by_key(|(_, v)| v.created)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => s.versions.remove(&k),
            None => break,
        };
    }
}

fn create(secrets: &mut Secrets, c: &Context, input: &Value, now: i64) -> AwsResult {
    let name = str_of(input, "Name").ok_or_else(|| param("You must provide a Name."))?;
    if name.is_empty()
        || name.len() > 512
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
    {
        return Err(param(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    if let Some(s) = secrets.get(name) {
        return Err(if s.deletion.is_some() {
            request(
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            )
        } else {
            AwsError::client(
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            )
        });
    }
    let value = value_of(input)?;
    let mut s = Secret {
        arn: format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-{}",
            c.region,
            c.account,
            ids::alnum(6)
        ),
        name: name.to_owned(),
        description: str_of(input, "Description").map(str::to_owned),
        kms_key_id: str_of(input, "KmsKeyId").map(str::to_owned),
        tags: tags_of(input)?,
        created: now,
        changed: now,
        ..Secret::default()
    };
    let mut out = json!({"ARN": s.arn, "Name": name});
    if let Some(v) = value {
        let vid = token(input)?;
        add_version(
            &mut s,
            vid.clone(),
            v,
            BTreeSet::from([CURRENT.to_owned()]),
            now,
        )?;
        out["VersionId"] = json!(vid);
    }
    secrets.insert(name.to_owned(), s);
    Ok(out)
}

/// The version a read names: `VersionId`, `VersionStage`, or `AWSCURRENT`.
fn pick<'a>(s: &'a Secret, input: &Value) -> AwsResult<(&'a String, &'a Version)> {
    let vid = str_of(input, "VersionId");
    let stage = str_of(input, "VersionStage");
    let found = match vid {
        Some(id) => s
            .versions
            .get_key_value(id)
            .filter(|(_, v)| stage.is_none_or(|st| v.stages.contains(st))),
        None => {
            let st = stage.unwrap_or(CURRENT);
            s.versions.iter().find(|(_, v)| v.stages.contains(st))
        }
    };
    found.ok_or_else(|| {
        AwsError::client(
            "ResourceNotFoundException",
            format!(
                "Secrets Manager can't find the specified secret value for {}",
                match vid {
                    Some(id) => format!("VersionId: {id}"),
                    None => format!("staging label: {}", stage.unwrap_or(CURRENT)),
                }
            ),
        )
    })
}

fn value_json(s: &Secret, vid: &str, v: &Version) -> Value {
    let mut out = json!({
        "ARN": s.arn,
        "Name": s.name,
        "VersionId": vid,
        "VersionStages": v.stages.iter().collect::<Vec<_>>(),
        "CreatedDate": secs(v.created),
    });
    if let Some(st) = &v.string {
        out["SecretString"] = json!(st);
    }
    if let Some(b) = &v.binary {
        out["SecretBinary"] = json!(b64(b));
    }
    out
}

fn get_value(secrets: &mut Secrets, input: &Value, now: i64) -> AwsResult {
    let s = live_mut(secrets, input)?;
    s.accessed = Some(now - now.rem_euclid(86_400_000));
    let (vid, v) = pick(s, input)?;
    Ok(value_json(s, vid, v))
}

fn batch_get(secrets: &mut Secrets, input: &Value, now: i64) -> AwsResult {
    let ids: Vec<String> = input
        .get("SecretIdList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let filters = input
        .get("Filters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ids.is_empty() == filters.is_empty() {
        return Err(param(
            "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
        ));
    }
    let ids: Vec<String> = if ids.is_empty() {
        secrets
            .values()
            .filter(|s| s.deletion.is_none() && matches_filters(s, &filters))
            .map(|s| s.name.clone())
            .collect()
    } else {
        ids
    };
    let (mut values, mut errors) = (Vec::new(), Vec::new());
    for id in ids {
        let one = json!({"SecretId": id});
        match get_value(secrets, &one, now) {
            Ok(v) => values.push(v),
            Err(e) => {
                errors.push(json!({"SecretId": id, "ErrorCode": e.code, "Message": e.message}))
            }
        }
    }
    Ok(json!({"SecretValues": values, "Errors": errors}))
}

fn put_value(secrets: &mut Secrets, input: &Value, now: i64) -> AwsResult {
    let value = value_of(input)?
        .ok_or_else(|| param("You must provide either SecretString or SecretBinary."))?;
    let stages: BTreeSet<String> = match input.get("VersionStages").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        None => BTreeSet::from([CURRENT.to_owned()]),
    };
    let vid = token(input)?;
    let s = live_mut(secrets, input)?;
    add_version(s, vid.clone(), value, stages, now)?;
    let stages = &s.versions[&vid].stages;
    Ok(
        json!({"ARN": s.arn, "Name": s.name, "VersionId": vid, "VersionStages": stages.iter().collect::<Vec<_>>()}),
    )
}

fn update(secrets: &mut Secrets, input: &Value, now: i64) -> AwsResult {
    let value = value_of(input)?;
    let vid = token(input)?;
    let s = live_mut(secrets, input)?;
    if let Some(d) = str_of(input, "Description") {
        s.description = Some(d.to_owned());
    }
    if let Some(k) = str_of(input, "KmsKeyId") {
        s.kms_key_id = Some(k.to_owned());
    }
    s.changed = now;
    let mut out = json!({"ARN": s.arn, "Name": s.name});
    if let Some(v) = value {
        add_version(s, vid.clone(), v, BTreeSet::from([CURRENT.to_owned()]), now)?;
        out["VersionId"] = json!(vid);
    }
    Ok(out)
}

fn describe(s: &Secret, versions: bool) -> Value {
    let mut out = json!({
        "ARN": s.arn,
        "Name": s.name,
        "RotationEnabled": false,
        "LastChangedDate": secs(s.changed),
        "CreatedDate": secs(s.created),
    });
    if let Some(d) = &s.description {
        out["Description"] = json!(d);
    }
    if let Some(k) = &s.kms_key_id {
        out["KmsKeyId"] = json!(k);
    }
    if let Some(a) = s.accessed {
        out["LastAccessedDate"] = secs(a);
    }
    if let Some(d) = s.deleted_at {
        out["DeletedDate"] = secs(d);
    }
    if !s.tags.is_empty() {
        out["Tags"] = Value::Array(
            s.tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect(),
        );
    }
    let stages: serde_json::Map<String, Value> = s
        .versions
        .iter()
        .filter(|(_, v)| !v.stages.is_empty())
        .map(|(k, v)| (k.clone(), json!(v.stages.iter().collect::<Vec<_>>())))
        .collect();
    if !stages.is_empty() {
        out[if versions {
            "VersionIdsToStages"
        } else {
            "SecretVersionsToStages"
        }] = Value::Object(stages);
    }
    out
}

fn matches_filters(s: &Secret, filters: &[Value]) -> bool {
    filters.iter().all(|f| {
        let key = str_of(f, "Key").unwrap_or_default();
        let values: Vec<&str> = f
            .get("Values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.iter().any(|raw| {
            let (negate, v) = raw.strip_prefix('!').map_or((false, *raw), |r| (true, r));
            let hit = match key {
                "name" => s.name.starts_with(v),
                "description" => s.description.as_deref().is_some_and(|d| d.starts_with(v)),
                "tag-key" => s.tags.iter().any(|(k, _)| k.starts_with(v)),
                "tag-value" => s.tags.iter().any(|(_, t)| t.starts_with(v)),
                "all" => {
                    s.name.contains(v)
                        || s.description.as_deref().is_some_and(|d| d.contains(v))
                        || s.tags.iter().any(|(k, t)| k.contains(v) || t.contains(v))
                }
                _ => false,
            };
            hit != negate
        })
    })
}

fn list(secrets: &Secrets, input: &Value) -> AwsResult {
    let max = int_of(input, "MaxResults")?.unwrap_or(100);
    if !(1..=100).contains(&max) {
        return Err(param("MaxResults must be between 1 and 100."));
    }
    let filters = input
        .get("Filters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for f in &filters {
        let k = str_of(f, "Key").unwrap_or_default();
        if ![
            "name",
            "description",
            "tag-key",
            "tag-value",
            "all",
            "primary-region",
            "owning-service",
        ]
        .contains(&k)
        {
            return Err(param(format!("Invalid filter key: {k}")));
        }
    }
    let include_deleted = bool_of(input, "IncludePlannedDeletion")?.unwrap_or(false);
    let mut all: Vec<&Secret> = secrets
        .values()
        .filter(|s| (include_deleted || s.deletion.is_none()) && matches_filters(s, &filters))
        .collect();
    all.sort_by_key(|s| (s.created, s.name.clone()));
    if str_of(input, "SortOrder") == Some("desc") {
        all.reverse();
    }
    let start: usize = match str_of(input, "NextToken") {
        Some(t) => t.parse().map_err(|_| param("Invalid NextToken."))?,
        None => 0,
    };
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max as usize)
        .map(|s| describe(s, false))
        .collect();
    let mut out = json!({"SecretList": page});
    if start + (max as usize) < all.len() {
        out["NextToken"] = json!((start + max as usize).to_string());
    }
    Ok(out)
}

fn list_versions(secrets: &Secrets, input: &Value) -> AwsResult {
    let s = find(secrets, input)?;
    let deprecated = bool_of(input, "IncludeDeprecated")?.unwrap_or(false);
    let mut vs: Vec<(&String, &Version)> = s
        .versions
        .iter()
        .filter(|(_, v)| deprecated || !v.stages.is_empty())
        .collect();
    vs.sort_by_key(|(_, v)| std::cmp::Reverse(v.created));
    let versions: Vec<Value> = vs
        .into_iter()
        .map(|(k, v)| json!({"VersionId": k, "VersionStages": v.stages.iter().collect::<Vec<_>>(), "CreatedDate": secs(v.created)}))
        .collect();
    Ok(json!({"ARN": s.arn, "Name": s.name, "Versions": versions}))
}

fn update_stage(secrets: &mut Secrets, input: &Value, now: i64) -> AwsResult {
    let stage = str_of(input, "VersionStage")
        .ok_or_else(|| param("You must provide a VersionStage."))?
        .to_owned();
    let remove = str_of(input, "RemoveFromVersionId").map(str::to_owned);
    let to = str_of(input, "MoveToVersionId").map(str::to_owned);
    let s = live_mut(secrets, input)?;
    let holder = s
        .versions
        .iter()
        .find(|(_, v)| v.stages.contains(&stage))
        .map(|(k, _)| k.clone());
    if let Some(to) = &to
        && !s.versions.contains_key(to)
    {
        return Err(AwsError::client(
            "ResourceNotFoundException",
            format!("Secrets Manager can't find the specified secret version: {to}"),
        ));
    }
    match (&holder, &remove) {
        (Some(h), None) if to.as_ref() != Some(h) => {
            return Err(param(format!(
                "The staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
            )));
        }
        (h, Some(r)) if h.as_ref() != Some(r) => {
            return Err(param(format!(
                "The staging label {stage} is not attached to version {r}."
            )));
        }
        _ => {}
    }
    match to {
        Some(to) => move_stage(s, &stage, &to),
        None => {
            if let Some(v) = remove.as_ref().and_then(|r| s.versions.get_mut(r)) {
                v.stages.remove(&stage);
            }
        }
    }
    s.changed = now;
    Ok(json!({"ARN": s.arn, "Name": s.name}))
}

fn delete(secrets: &mut Secrets, input: &Value, now: i64) -> AwsResult {
    let force = bool_of(input, "ForceDeleteWithoutRecovery")?.unwrap_or(false);
    let window = int_of(input, "RecoveryWindowInDays")?;
    if force && window.is_some() {
        return Err(param(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let days = window.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(param(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    let s = find_mut(secrets, input)?;
    if s.deletion.is_some() && !force {
        return Err(request(
            "You can't perform this operation on the secret because it was already scheduled for deletion.",
        ));
    }
    let (arn, name) = (s.arn.clone(), s.name.clone());
    let when = if force { now } else { now + days * 86_400_000 };
    if force {
        secrets.remove(&name);
    } else {
        s.deletion = Some(when);
        s.deleted_at = Some(now);
    }
    Ok(json!({"ARN": arn, "Name": name, "DeletionDate": secs(when)}))
}

fn restore(secrets: &mut Secrets, input: &Value, now: i64) -> AwsResult {
    let s = find_mut(secrets, input)?;
    s.deletion = None;
    s.deleted_at = None;
    s.changed = now;
    Ok(json!({"ARN": s.arn, "Name": s.name}))
}

fn tag(secrets: &mut Secrets, input: &Value) -> AwsResult {
    let tags = tags_of(input)?;
    let s = find_mut(secrets, input)?;
    for (k, v) in tags {
        s.tags.retain(|(x, _)| *x != k);
        s.tags.push((k, v));
    }
    Ok(json!({}))
}

fn untag(secrets: &mut Secrets, input: &Value) -> AwsResult {
    let keys: Vec<&str> = input
        .get("TagKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let s = find_mut(secrets, input)?;
    s.tags.retain(|(k, _)| !keys.contains(&k.as_str()));
    Ok(json!({}))
}

fn put_policy(secrets: &mut Secrets, input: &Value) -> AwsResult {
    let p = str_of(input, "ResourcePolicy")
        .ok_or_else(|| param("You must provide a ResourcePolicy."))?;
    serde_json::from_str::<Value>(p)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            AwsError::client(
                "MalformedPolicyDocumentException",
                "The policy is not valid JSON.",
            )
        })?;
    let s = find_mut(secrets, input)?;
    s.policy = Some(p.to_owned());
    Ok(json!({"ARN": s.arn, "Name": s.name}))
}

const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// `GetRandomPassword`.
fn random_password(input: &Value) -> AwsResult {
    let len = int_of(input, "PasswordLength")?.unwrap_or(32);
    if !(1..=4096).contains(&len) {
        return Err(param("PasswordLength must be between 1 and 4096."));
    }
    let flag = |k: &str| bool_of(input, k).map(|b| b.unwrap_or(false));
    let exclude: Vec<char> = str_of(input, "ExcludeCharacters")
        .unwrap_or_default()
        .chars()
        .collect();
    let mut classes: Vec<Vec<char>> = Vec::new();
    let mut add = |skip: bool, chars: &str| {
        if !skip {
            let c: Vec<char> = chars.chars().filter(|c| !exclude.contains(c)).collect();
            if !c.is_empty() {
                classes.push(c);
            }
        }
    };
    add(flag("ExcludeLowercase")?, "abcdefghijklmnopqrstuvwxyz");
    add(flag("ExcludeUppercase")?, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    add(flag("ExcludeNumbers")?, "0123456789");
    add(flag("ExcludePunctuation")?, PUNCTUATION);
    add(!flag("IncludeSpace")?, " ");
    let require_each = bool_of(input, "RequireEachIncludedType")?.unwrap_or(true);
    if classes.is_empty() || (require_each && (len as usize) < classes.len()) {
        return Err(param(
            "The password length is too short to include a character of each required type, or every character is excluded.",
        ));
    }
    let all: Vec<char> = classes.concat();
    let pick = |set: &[char]| set[(ids::random_u64() % set.len() as u64) as usize];
    let mut pw: Vec<char> = (0..len).map(|_| pick(&all)).collect();
    if require_each {
        // Give each required class its own position (distinct slots, so none overwrites another).
        let mut slots: Vec<usize> = (0..pw.len()).collect();
        for class in &classes {
            let i = (ids::random_u64() % slots.len() as u64) as usize;
            let slot = slots.swap_remove(i);
            pw[slot] = pick(class);
        }
    }
    Ok(json!({"RandomPassword": pw.into_iter().collect::<String>()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Context {
        Context::test("000000000000", "us-east-1")
    }

    fn call(sm: &SecretsManager, op: &str, v: Value) -> AwsResult {
        sm.dispatch(&caller(), op, &v)
    }

    #[test]
    fn staging_labels_move_like_aws() {
        let sm = SecretsManager::default();
        let c = call(
            &sm,
            "CreateSecret",
            json!({"Name": "s", "SecretString": "v1"}),
        )
        .expect("create");
        let v1 = c["VersionId"].as_str().expect("v1").to_owned();
        assert!(c["ARN"].as_str().expect("arn").contains(":secret:s-"));
        let v2 = call(
            &sm,
            "PutSecretValue",
            json!({"SecretId": "s", "SecretString": "v2"}),
        )
        .expect("put")["VersionId"]
            .as_str()
            .expect("v2")
            .to_owned();
        let d = call(&sm, "DescribeSecret", json!({"SecretId": "s"})).expect("describe");
        assert_eq!(d["VersionIdsToStages"][&v1], json!(["AWSPREVIOUS"]));
        assert_eq!(d["VersionIdsToStages"][&v2], json!(["AWSCURRENT"]));
        let pending = call(
            &sm,
            "PutSecretValue",
            json!({"SecretId": "s", "SecretString": "v3", "VersionStages": ["AWSPENDING"]}),
        )
        .expect("pending");
        let v3 = pending["VersionId"].as_str().expect("v3").to_owned();
        assert_eq!(
            call(&sm, "GetSecretValue", json!({"SecretId": "s"})).expect("get")["SecretString"],
            "v2"
        );
        let err = call(
            &sm,
            "UpdateSecretVersionStage",
            json!({"SecretId": "s", "VersionStage": "AWSCURRENT", "MoveToVersionId": v3}),
        )
        .expect_err("needs RemoveFromVersionId");
        assert_eq!(err.code, "InvalidParameterException");
        call(&sm, "UpdateSecretVersionStage", json!({"SecretId": "s", "VersionStage": "AWSCURRENT", "MoveToVersionId": v3, "RemoveFromVersionId": v2})).expect("move");
        let d = call(&sm, "DescribeSecret", json!({"SecretId": "s"})).expect("describe");
        assert_eq!(
            d["VersionIdsToStages"][&v3],
            json!(["AWSCURRENT", "AWSPENDING"])
        );
        assert_eq!(d["VersionIdsToStages"][&v2], json!(["AWSPREVIOUS"]));
        assert!(
            d["VersionIdsToStages"].get(&v1).is_none(),
            "v1 lost its labels"
        );
    }

    #[test]
    fn deletion_window_and_restore() {
        let sm = SecretsManager::default();
        call(
            &sm,
            "CreateSecret",
            json!({"Name": "s", "SecretString": "x"}),
        )
        .expect("create");
        call(
            &sm,
            "DeleteSecret",
            json!({"SecretId": "s", "RecoveryWindowInDays": 7}),
        )
        .expect("delete");
        let e = call(&sm, "GetSecretValue", json!({"SecretId": "s"})).expect_err("deleted");
        assert_eq!(e.code, "InvalidRequestException");
        call(&sm, "RestoreSecret", json!({"SecretId": "s"})).expect("restore");
        call(&sm, "GetSecretValue", json!({"SecretId": "s"})).expect("readable again");
        call(
            &sm,
            "DeleteSecret",
            json!({"SecretId": "s", "RecoveryWindowInDays": 7}),
        )
        .expect("delete");
        sm.clock
            .advance(std::time::Duration::from_secs(7 * 86_400 + 1));
        assert_eq!(
            call(&sm, "GetSecretValue", json!({"SecretId": "s"}))
                .expect_err("gone")
                .code,
            "ResourceNotFoundException"
        );
        call(
            &sm,
            "CreateSecret",
            json!({"Name": "s", "SecretString": "y"}),
        )
        .expect("name free again");
    }

    #[test]
    fn random_passwords_follow_the_rules() {
        let v = random_password(&json!({"PasswordLength": 20, "ExcludePunctuation": true}))
            .expect("pw");
        let pw = v["RandomPassword"].as_str().expect("string");
        assert_eq!(pw.chars().count(), 20);
        assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(
            pw.chars().any(|c| c.is_ascii_digit()) && pw.chars().any(|c| c.is_ascii_uppercase())
        );
    }
}
