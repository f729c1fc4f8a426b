//! `pod push`, `pod pull`, and `pod list|versions|delete --remote`: the local store against a
//! remote (a `podstack-remote` server, or an S3 bucket used directly), through
//! `remote_server::sync`.

use indicatif::ProgressBar;
use podstore::{PodRef, PodSummary, Strategy};
use remote_server::client::{HttpRemote, Remote as RemoteApi, RemoteError};
use remote_server::repo::Repo;
use remote_server::storage::S3Storage;
use remote_server::sync::{self, Progress, SyncError};
use serde_json::{Value, json};

use crate::cmd::store as st;
use crate::credentials;
use crate::error::{CliError, Kind, Result};
use crate::output::{self, Ctx};
use crate::remote::{Remote, RemoteUrl, resolve_remote};

impl From<RemoteError> for CliError {
    fn from(e: RemoteError) -> Self {
        let kind = match &e {
            RemoteError::Unreachable(_) => Kind::Unreachable,
            RemoteError::Unauthorized(_) | RemoteError::Forbidden(_) => Kind::Refused,
            RemoteError::NotFound(_) => Kind::NotFound,
            RemoteError::Conflict { .. } => Kind::Conflict,
            RemoteError::Invalid(_) => Kind::Invalid,
            RemoteError::Failed(_) => Kind::General,
        };
        let err = Self::new(kind, e.to_string());
        match e {
            RemoteError::Unauthorized(_) => {
                err.hint("`podstack login REMOTE` stores a token; CI jobs set PODSTACK_TOKEN")
            }
            RemoteError::Forbidden(_) => {
                err.hint("ask the remote's admin for a token with the needed role")
            }
            _ => err,
        }
    }
}

impl From<SyncError> for CliError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Remote(r) => r.into(),
            SyncError::Local(l) => l.into(),
            SyncError::Behind(m) => Self::new(Kind::Conflict, m),
            SyncError::Diverged {
                message,
                suggestion,
            } => Self::new(Kind::Conflict, message).hint(format!(
                "keep both: pull the remote's pod under another name (--as {suggestion}), or commit yours under a new pod name and push that"
            )),
        }
    }
}

/// Connects to a configured remote (by name, or the default).
fn connect(ctx: &mut Ctx<'_>, name: Option<&str>) -> Result<(Remote, Box<dyn RemoteApi>)> {
    let remote = resolve_remote(ctx.settings, name)?;
    let api: Box<dyn RemoteApi> = match &remote.url {
        RemoteUrl::Http { base } => {
            let token = credentials::token_for(ctx, &remote)?.map(|(t, _)| t);
            Box::new(HttpRemote::new(base, token)?)
        }
        RemoteUrl::S3 { bucket, prefix } => {
            let spec = if prefix.is_empty() {
                bucket.clone()
            } else {
                format!("{bucket}/{prefix}")
            };
            let storage = S3Storage::from_url(&spec, None).map_err(|e| {
                CliError::new(Kind::Unreachable, format!("remote {}: {e}", remote.name))
            })?;
            // Pack indexes are immutable and named by their checksum: a local copy spares
            // one GET per pack on every command.
            Box::new(
                Repo::open_with_index_cache(
                    Box::new(storage),
                    Some(ctx.settings.pack_index_cache()),
                )
                .map_err(RemoteError::from)?,
            )
        }
    };
    Ok((remote, api))
}

/// An indicatif bar as transfer progress.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn begin(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// `pod push REF [--remote NAME]`.
pub fn push(ctx: &mut Ctx<'_>, remote: Option<&str>, pod: &PodRef) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let (remote, api) = connect(ctx, remote)?;
    let bar = Bar(crate::progress::bytes(
        ctx.settings.progress,
        Some(0),
        &format!("pushing {} to {}", pod, remote.name),
    ));
    let result = sync::push(&store, api.as_ref(), pod, ctx.settings.transfer, &bar);
    bar.0.finish_and_clear();
    let s = result?;
    let js = serde_json::to_value(&s).map_err(|e| CliError::general(e.to_string()))?;
    ctx.emit(&js, |w, _| {
        if s.up_to_date {
            return writeln!(w, "{} is up to date on {}", s.pod, remote.name);
        }
        let versions: Vec<String> = s.versions.iter().map(u64::to_string).collect();
        writeln!(
            w,
            "pushed {} to {} (version {}): {} of {} objects sent, {} ({} on the wire)",
            pod.name,
            remote.name,
            versions.join(", "),
            s.objects_sent,
            s.objects_considered,
            output::bytes(s.bytes_sent),
            output::bytes(s.wire_bytes)
        )
    })
}

/// `pod pull REF [--remote NAME] [--as NAME] [--inject [--strategy S]]`.
pub fn pull(
    ctx: &mut Ctx<'_>,
    remote: Option<&str>,
    pod: &PodRef,
    into: Option<&str>,
    inject: Option<Strategy>,
) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let (remote, api) = connect(ctx, remote)?;
    let bar = Bar(crate::progress::bytes(
        ctx.settings.progress,
        Some(0),
        &format!("pulling {} from {}", pod, remote.name),
    ));
    let result = sync::pull(&store, api.as_ref(), pod, into, ctx.settings.transfer, &bar);
    bar.0.finish_and_clear();
    let s = result?;
    let mut js = serde_json::to_value(&s).map_err(|e| CliError::general(e.to_string()))?;
    if let Some(strategy) = inject {
        let local = PodRef::parse(&s.local_pod)?;
        // The pull's own summary goes first (as a note in text mode, inside the JSON else).
        if !ctx.settings.json {
            ctx.note(pull_line(&s, &remote.name));
        }
        let mut captured = Vec::new();
        {
            let settings = ctx.settings;
            let mut sub = Ctx {
                settings,
                out: if settings.json {
                    &mut captured
                } else {
                    &mut *ctx.out
                },
                err: &mut *ctx.err,
                input: &mut *ctx.input,
            };
            crate::cmd::pod::inject(&mut sub, &local, strategy, false, true)?;
        }
        if ctx.settings.json {
            js["inject"] = serde_json::from_slice(&captured).unwrap_or(Value::Null);
            serde_json::to_writer_pretty(&mut *ctx.out, &js).map_err(std::io::Error::from)?;
            writeln!(ctx.out)?;
        }
        return Ok(());
    }
    ctx.emit(&js, |w, _| writeln!(w, "{}", pull_line(&s, &remote.name)))
}

fn pull_line(s: &sync::PullSummary, remote: &str) -> String {
    if s.up_to_date {
        format!("{} is up to date with {remote}", s.local_pod)
    } else {
        format!(
            "pulled {} from {remote} into {}: {} of {} objects received, {}",
            s.pod,
            s.local_pod,
            s.objects_received,
            s.objects_total,
            output::bytes(s.bytes_received)
        )
    }
}

/// Pulls the remote seeds of `AUTO_LOAD_POD` and the init directory into the local store,
/// turning each into a local pod seed. A seed that cannot be pulled is dropped with a line
/// saying why in the returned messages: the emulator starts anyway.
pub fn pull_seeds(
    ctx: &mut Ctx<'_>,
    seeds: Vec<emulator::Seed>,
) -> (Vec<emulator::Seed>, Vec<String>) {
    use emulator::Seed;
    let mut out = Vec::with_capacity(seeds.len());
    let mut lines = Vec::new();
    for seed in seeds {
        let Seed::Remote { remote, pod } = seed else {
            out.push(seed);
            continue;
        };
        let pulled = st::open(ctx.settings).and_then(|store| {
            let (_, api) = connect(ctx, Some(&remote))?;
            Ok(sync::pull(
                &store,
                api.as_ref(),
                &pod,
                None,
                ctx.settings.transfer,
                &sync::Quiet,
            )?)
        });
        match pulled {
            Ok(s) => {
                lines.push(format!(
                    "pulled {} from {remote}: {} objects, {}",
                    s.pod,
                    s.objects_received,
                    output::bytes(s.bytes_received)
                ));
                out.push(Seed::Pod(PodRef {
                    name: pod.name,
                    version: Some(s.version),
                }));
            }
            Err(e) => lines.push(format!(
                "podstack: preseeding: cannot pull {pod} from remote {remote}: {}",
                e.message
            )),
        }
    }
    (out, lines)
}

/// `pod list --remote NAME`.
pub fn list(ctx: &mut Ctx<'_>, remote: Option<&str>) -> Result<()> {
    let (remote, api) = connect(ctx, remote)?;
    let pods = api.pods()?;
    if pods.is_empty() && !ctx.settings.json {
        ctx.note(format!(
            "no pods on {} yet; `podstack pod push NAME` sends one",
            remote.name
        ));
        return Ok(());
    }
    let pods: Vec<PodSummary> = pods
        .into_iter()
        .map(|p| PodSummary {
            name: p.name,
            latest: p.latest,
            versions: p.versions,
            last_change: p.updated,
        })
        .collect();
    crate::cmd::pod::emit_pods(ctx, &pods, "LAST PUSH")
}

/// `pod versions NAME --remote NAME`.
pub fn versions(ctx: &mut Ctx<'_>, remote: Option<&str>, name: &str) -> Result<()> {
    let (_, api) = connect(ctx, remote)?;
    let list = api.versions(name)?;
    let js: Vec<Value> = list
        .versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "ref": format!("{name}:{}", v.version),
                "commit": v.commit.map(|c| c.to_string()),
                "created": v.created,
                "created_time": output::time(v.created),
                "pushed_by": v.pushed_by,
                "message": v.message,
                "services": v.services.iter().map(|(k, i)| (k.clone(), json!({"resources": i.resources, "bytes": i.bytes}))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    ctx.emit(&Value::Array(js), |w, s| {
        let rows: Vec<Vec<String>> = list
            .versions
            .iter()
            .map(|v| {
                let services: Vec<String> = v
                    .services
                    .iter()
                    .map(|(k, i)| format!("{k}:{}", i.resources))
                    .collect();
                vec![
                    v.version.to_string(),
                    output::time(v.created),
                    v.pushed_by.clone(),
                    services.join(" "),
                    v.message.clone(),
                ]
            })
            .collect();
        output::table(
            w,
            s,
            &["VERSION", "PUSHED", "BY", "SERVICES", "MESSAGE"],
            &rows,
        )
    })
}

/// `pod delete REF --remote NAME [-y]`.
pub fn delete(ctx: &mut Ctx<'_>, remote: Option<&str>, pod: &PodRef, yes: bool) -> Result<()> {
    let (remote, api) = connect(ctx, remote)?;
    let live = api.versions(&pod.name)?;
    let versions: Vec<u64> = match pod.version {
        Some(n) if live.versions.iter().any(|v| v.version == n) => vec![n],
        Some(n) => {
            return Err(CliError::new(
                Kind::NotFound,
                format!("pod {:?} has no version {n} on {}", pod.name, remote.name),
            ));
        }
        None => live.versions.iter().map(|v| v.version).collect(),
    };
    let what = match pod.version {
        Some(n) => format!("version {n} of pod {:?} on {}", pod.name, remote.name),
        None => format!(
            "pod {:?} and its {} version(s) on {}",
            pod.name,
            versions.len(),
            remote.name
        ),
    };
    crate::cmd::pod::confirm_delete(ctx, &what, yes)?;
    api.delete(&pod.name, pod.version)?;
    let js = json!({"pod": pod.name, "remote": remote.name, "deleted_versions": versions});
    ctx.emit(&js, |w, _| writeln!(w, "deleted {what}"))
}
