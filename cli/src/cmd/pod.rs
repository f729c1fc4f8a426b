//! `pod …`: commit, inject, list, versions, delete, diff, export, import, inspect.
//!
//! Commit and inject talk to the running emulator. When it uses the same pod store as the
//! CLI (the default: `podstack start` and the CLI both use `<data dir>/store`), commit asks it
//! to commit into that store and records the commit as a version (no bytes move), and inject
//! asks it to load a commit it can already read. When the stores differ (another data
//! directory, another machine), the state travels as an archive instead: slower, and inject
//! then cannot do a dry run.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use podstore::{Commit, CommitId, Expect, PodRef, PodSummary, Store, Strategy};
use serde_json::{Value, json};

use crate::client::{Client, Counts};
use crate::cmd::store::{self as st, NewVsReused};
use crate::cmd::{AtomicFile, is_dash};
use crate::error::{CliError, Context, Kind, Result};
use crate::output::{self, Ctx, Style};
use crate::plan::{InspectOutput, Target};
use crate::progress;

fn client(ctx: &Ctx<'_>) -> Client {
    Client::new(ctx.settings.endpoint.clone())
}

/// How the emulator's state reaches the local store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// The emulator writes into the CLI's store.
    SharedStore,
    /// An archive over HTTP.
    Archive,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Self::SharedStore => "shared-store",
            Self::Archive => "archive",
        }
    }
}

/// Whether the emulator (per its health answer) uses `store`.
fn via(ctx: &mut Ctx<'_>, client: &Client, store: &Store) -> Result<Via> {
    let health = client.health()?;
    match &health.store {
        Some(s) if st::same(s, store.root()) => Ok(Via::SharedStore),
        other => {
            ctx.detail(format!(
                "the emulator's pod store ({}) is not this CLI's ({}): the state travels as an archive",
                other.as_ref().map_or_else(|| "unknown".to_owned(), |p| p.display().to_string()),
                store.root().display()
            ));
            Ok(Via::Archive)
        }
    }
}

/// Commits the emulator's current state into the local store (not as a pod version):
/// natively when the store is shared, else by fetching an archive. Returns the commit.
fn commit_current(
    ctx: &mut Ctx<'_>,
    client: &Client,
    store: &Store,
    services: Option<&[String]>,
    message: &str,
) -> Result<(CommitId, Via)> {
    if via(ctx, client, store)? == Via::SharedStore {
        let pb = progress::spinner(ctx.settings.progress, "committing the emulator's state");
        let ans = client.commit(services, message);
        pb.finish_and_clear();
        let ans = ans?;
        if st::same(&ans.store, store.root()) {
            return Ok((ans.commit, Via::SharedStore));
        }
        ctx.detail("the emulator answered from another store; fetching an archive instead");
    }
    let tmp_dir = store.root().join("tmp");
    let tmp = tmp_dir.join(format!("state-{}.tar", std::process::id()));
    let result = (|| {
        let mut f = super::create_scratch(&tmp)?;
        let pb = progress::bytes(ctx.settings.progress, None, "fetching the state");
        {
            let mut w = std::io::BufWriter::new(&mut f);
            client.export_archive(services, &mut w, &mut |n| pb.set_length(n), &mut |n| {
                pb.set_position(n);
            })?;
            w.flush()?;
        }
        pb.finish_and_clear();
        use std::io::Seek;
        f.rewind()?;
        let imported = podstore::import_archive(store, BufReader::new(f))?;
        // The archive's commit says "state export"; give it the user's message.
        let mut c = Commit::load(store, imported.commit)?;
        c.message = message.to_owned();
        let id = c.store(store)?;
        store.flush()?;
        Ok::<_, CliError>(id)
    })();
    let _ = std::fs::remove_file(&tmp);
    Ok((result?, Via::Archive))
}

/// The latest live version of a pod, if it has one.
fn latest(store: &Store, name: &str) -> Result<Option<(u64, CommitId)>> {
    match store.versions(name) {
        Ok(v) => Ok(v.last().and_then(|v| v.commit.map(|c| (v.version, c)))),
        Err(podstore::Error::PodNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records `commit` as the next version of `name`, computing new-versus-reused against the
/// version it follows; a concurrent commit to the same pod makes it recompute and retry.
fn record_version(store: &Store, name: &str, commit: CommitId) -> Result<(u64, NewVsReused)> {
    let mut expect_head: Option<u64> = None;
    for _ in 0..8 {
        let prev = latest(store, name)?;
        let stats = st::new_vs_reused(store, commit, prev.map(|p| p.1))?;
        let head = expect_head.or(prev.map(|p| p.0));
        match store.create_version(name, commit, Expect::Latest(head)) {
            Ok(v) => return Ok((v, stats)),
            Err(podstore::Error::VersionConflict { found, .. }) => {
                // Either a deleted version sits above the live one (its number is never
                // reused), or someone committed meanwhile: recompute against what is there.
                let live = latest(store, name)?.map(|p| p.0);
                expect_head = if live == prev.map(|p| p.0) {
                    found
                } else {
                    None
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(CliError::new(
        Kind::Conflict,
        format!("pod {name:?} keeps changing under this commit (other commits race with it)"),
    )
    .hint("retry when the other commits are done"))
}

fn services_json(c: &Commit) -> Value {
    Value::Object(
        c.services
            .iter()
            .map(|(s, i)| {
                (
                    s.clone(),
                    json!({"resources": i.resources, "bytes": i.bytes}),
                )
            })
            .collect(),
    )
}

/// `s3 (2), sqs (1)`: the services that have resources, with their counts.
fn services_text(c: &Commit) -> String {
    let parts: Vec<String> = c
        .services
        .iter()
        .filter(|(_, i)| i.resources > 0)
        .map(|(s, i)| format!("{s} ({})", i.resources))
        .collect();
    if parts.is_empty() {
        "(no resources)".into()
    } else {
        parts.join(", ")
    }
}

/// `pod commit NAME [-m MSG] [-s SERVICES]`.
pub fn commit(
    ctx: &mut Ctx<'_>,
    name: &str,
    message: &str,
    services: Option<&[String]>,
) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let client = client(ctx);
    let (id, via) = commit_current(ctx, &client, &store, services, message)?;
    let (version, stats) = record_version(&store, name, id)?;
    let c = Commit::load(&store, id)?;
    let js = json!({
        "pod": name,
        "version": version,
        "ref": format!("{name}:{version}"),
        "commit": id.to_string(),
        "message": c.message,
        "services": services_json(&c),
        "objects": {"total": stats.objects, "new": stats.new_objects, "reused": stats.objects - stats.new_objects},
        "bytes": {"total": stats.bytes, "new": stats.new_bytes, "reused": stats.bytes - stats.new_bytes},
        "via": via.name(),
    });
    ctx.emit(&js, |w, s| {
        writeln!(
            w,
            "{} {} (commit {})",
            s.green("committed"),
            s.bold(&format!("{name}:{version}")),
            id.0.short()
        )?;
        writeln!(w, "  services: {}", services_text(&c))?;
        writeln!(
            w,
            "  objects:  {} new, {} reused; {} new, {} reused",
            stats.new_objects,
            stats.objects - stats.new_objects,
            output::bytes(stats.new_bytes),
            output::bytes(stats.bytes - stats.new_bytes)
        )
    })
}

/// `pod inject REF [--strategy S] [--dry-run] [-y]`.
pub fn inject(
    ctx: &mut Ctx<'_>,
    pod: &PodRef,
    strategy: Strategy,
    dry_run: bool,
    yes: bool,
) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let (version, commit) = store.resolve(pod)?;
    let full = format!("{}:{version}", pod.name);
    let c = Commit::load(&store, commit)?;
    let client = client(ctx);
    let health = client.health()?;
    let ours = format!("podstack {}", health.version());
    if !c.emulator_version.is_empty() && c.emulator_version != ours {
        ctx.warn(format!(
            "{full} was made by {}; the emulator is {ours} (older pods load through schema migrations)",
            c.emulator_version
        ));
    }
    if strategy == Strategy::Overwrite
        && !dry_run
        && !yes
        && ctx.settings.interactive
        && !ctx.confirm(&format!(
            "replace the emulator's whole state with {full} (overwrite)?"
        ))?
    {
        return Err(CliError::general("aborted; nothing was changed"));
    }
    let via = match &health.store {
        Some(s) if st::same(s, store.root()) => Via::SharedStore,
        _ => Via::Archive,
    };
    let (services, conflicts): (BTreeMap<String, Option<Counts>>, Vec<Value>) = match via {
        Via::SharedStore => {
            let pb = progress::spinner(
                ctx.settings.progress,
                &format!("{} {full}", if dry_run { "comparing" } else { "loading" }),
            );
            let ans = client.import(commit, strategy, dry_run, Some(&full));
            pb.finish_and_clear();
            let ans = ans?;
            (
                ans.services
                    .into_iter()
                    .map(|(k, v)| (k, Some(v)))
                    .collect(),
                ans.conflicts,
            )
        }
        Via::Archive => {
            if dry_run {
                return Err(CliError::usage(format!(
                    "--dry-run needs the emulator to use this pod store ({}); it uses {}",
                    store.root().display(),
                    health
                        .store
                        .as_ref()
                        .map_or_else(|| "another one".to_owned(), |p| p.display().to_string())
                ))
                .hint("run the emulator with the same data directory (--data-dir / PODSTACK_HOME), or inject without --dry-run (the pod is then sent as an archive)"));
            }
            ctx.detail(format!(
                "the emulator uses another pod store ({}): sending {full} as an archive",
                health
                    .store
                    .as_ref()
                    .map_or_else(|| "unknown".into(), |p| p.display().to_string())
            ));
            let lines = send_archive(ctx, &client, &store, commit, (&pod.name, version), strategy)?;
            (
                lines
                    .iter()
                    .filter_map(|l| l["service"].as_str())
                    .map(|s| (s.to_owned(), None))
                    .collect(),
                Vec::new(),
            )
        }
    };
    let js = json!({
        "pod": full,
        "commit": commit.to_string(),
        "strategy": strategy.to_string(),
        "dry_run": dry_run,
        "services": services,
        "conflicts": conflicts,
        "via": via.name(),
    });
    let changed = services
        .values()
        .any(|c| c.is_none_or(|c| c.added + c.modified + c.deleted > 0));
    ctx.emit(&js, |w, s| {
        if dry_run {
            writeln!(w, "dry run: loading {full} with {strategy} would change:")?;
        } else {
            writeln!(w, "{} {} ({strategy})", s.green("injected"), s.bold(&full))?;
        }
        if !changed {
            writeln!(w, "  nothing: the emulator already has this state")?;
        } else if services.values().all(Option::is_some) {
            let rows = services
                .iter()
                .filter_map(|(k, v)| v.map(|c| counts_row(vec![k.clone()], c, s)))
                .collect::<Vec<_>>();
            output::table(w, s, &["SERVICE", "ADDED", "MODIFIED", "DELETED"], &rows)?;
        } else {
            writeln!(
                w,
                "  services: {}",
                services.keys().cloned().collect::<Vec<_>>().join(", ")
            )?;
        }
        for c in &conflicts {
            writeln!(
                w,
                "{} {} ({}): {}",
                s.yellow("conflict:"),
                c["path"].as_str().unwrap_or("?"),
                c["kind"].as_str().unwrap_or("?"),
                c["resolution"].as_str().unwrap_or("?")
            )?;
        }
        Ok(())
    })?;
    if !conflicts.is_empty() {
        ctx.warn(format!(
            "{} conflict(s): local edits were kept for them",
            conflicts.len()
        ));
    }
    Ok(())
}

fn counts_row(mut first: Vec<String>, c: Counts, s: &Style) -> Vec<String> {
    let n = |v: u64, f: &dyn Fn(&str) -> String| {
        if v == 0 {
            "0".to_owned()
        } else {
            f(&v.to_string())
        }
    };
    first.push(n(c.added, &|t| s.green(&format!("+{t}"))));
    first.push(n(c.modified, &|t| s.yellow(&format!("~{t}"))));
    first.push(n(c.deleted, &|t| s.red(&format!("-{t}"))));
    first
}

/// Exports `commit` to a temporary archive and posts it to the emulator.
fn send_archive(
    ctx: &mut Ctx<'_>,
    client: &Client,
    store: &Store,
    commit: CommitId,
    pod: (&str, u64),
    strategy: Strategy,
) -> Result<Vec<Value>> {
    let tmp = store
        .root()
        .join("tmp")
        .join(format!("inject-{}.tar", std::process::id()));
    let result = (|| {
        let mut f = super::create_scratch(&tmp)?;
        let pb = progress::bytes(ctx.settings.progress, None, "packing");
        let stats = podstore::export_archive(
            store,
            commit,
            Some(pod),
            pb.wrap_write(std::io::BufWriter::new(&mut f)),
        )?;
        pb.finish_and_clear();
        use std::io::Seek;
        f.rewind()?;
        let pb = progress::bytes(ctx.settings.progress, Some(stats.archive_bytes), "sending");
        let lines = client.import_archive(
            &mut BufReader::new(&mut f),
            stats.archive_bytes,
            strategy,
            &mut |n| pb.set_position(n),
        );
        pb.finish_and_clear();
        lines
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// `pod list`.
pub fn list(ctx: &mut Ctx<'_>) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let pods = store.pods()?;
    if pods.is_empty() && !ctx.settings.json {
        ctx.note(format!(
            "no pods in {} yet; `podstack pod commit NAME` makes one",
            store.root().display()
        ));
        return Ok(());
    }
    emit_pods(ctx, &pods, "LAST CHANGE")
}

/// Prints pods as JSON or a table whose time column is headed `when`.
pub fn emit_pods(ctx: &mut Ctx<'_>, pods: &[PodSummary], when: &str) -> Result<()> {
    let js: Vec<Value> = pods
        .iter()
        .map(|p| {
            json!({"name": p.name, "latest": p.latest, "versions": p.versions,
                   "last_change": p.last_change, "last_change_time": output::time(p.last_change)})
        })
        .collect();
    ctx.emit(&Value::Array(js), |w, s| {
        let rows: Vec<Vec<String>> = pods
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.latest.to_string(),
                    p.versions.to_string(),
                    output::time(p.last_change),
                ]
            })
            .collect();
        output::table(w, s, &["NAME", "LATEST", "VERSIONS", when], &rows)
    })
}

/// `pod versions NAME`.
pub fn versions(ctx: &mut Ctx<'_>, name: &str) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let mut rows = Vec::new();
    let mut js = Vec::new();
    for v in store.versions(name)? {
        let Some(id) = v.commit else { continue };
        let c = Commit::load(&store, id).ok();
        let services = c
            .as_ref()
            .map_or_else(|| "(unreadable)".to_owned(), services_text);
        let message = c.as_ref().map(|c| c.message.clone()).unwrap_or_default();
        js.push(json!({
            "version": v.version,
            "ref": format!("{name}:{}", v.version),
            "commit": id.to_string(),
            "created": v.created,
            "created_time": output::time(v.created),
            "message": message,
            "services": c.as_ref().map(services_json),
            "emulator_version": c.as_ref().map(|c| c.emulator_version.clone()),
        }));
        rows.push(vec![
            v.version.to_string(),
            output::time(v.created),
            services,
            message,
        ]);
    }
    ctx.emit(&Value::Array(js), |w, s| {
        output::table(w, s, &["VERSION", "CREATED", "SERVICES", "MESSAGE"], &rows)
    })
}

/// `pod delete REF [-y]`.
pub fn delete(ctx: &mut Ctx<'_>, pod: &PodRef, yes: bool) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let versions: Vec<u64> = match pod.version {
        Some(n) => {
            store.resolve(pod)?;
            vec![n]
        }
        None => store
            .versions(&pod.name)?
            .iter()
            .map(|v| v.version)
            .collect(),
    };
    let what = match pod.version {
        Some(n) => format!("version {n} of pod {:?}", pod.name),
        None => format!("pod {:?} and its {} version(s)", pod.name, versions.len()),
    };
    confirm_delete(ctx, &what, yes)?;
    match pod.version {
        Some(n) => store.delete_version(&pod.name, n)?,
        None => store.delete_pod(&pod.name)?,
    }
    let js = json!({"pod": pod.name, "deleted_versions": versions});
    ctx.emit(&js, |w, _| writeln!(w, "deleted {what}"))
}

/// Asks before deleting `what` unless `yes`; refuses without a terminal to ask on.
pub fn confirm_delete(ctx: &mut Ctx<'_>, what: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !ctx.settings.interactive {
        return Err(
            CliError::usage(format!("refusing to delete {what} without confirmation"))
                .hint("pass -y (--yes) to delete without a question"),
        );
    }
    if !ctx.confirm(&format!("delete {what}? This cannot be undone"))? {
        return Err(CliError::general("aborted; nothing was deleted"));
    }
    Ok(())
}

/// `pod diff REF [REF2]`.
pub fn diff(ctx: &mut Ctx<'_>, from: &PodRef, to: Option<&PodRef>) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let (fv, fc) = store.resolve(from)?;
    let from_label = format!("{}:{fv}", from.name);
    let (to_label, tc) = match to {
        Some(r) => {
            let (v, c) = store.resolve(r)?;
            (format!("{}:{v}", r.name), c)
        }
        None => {
            let client = client(ctx);
            let (c, _) = commit_current(ctx, &client, &store, None, "pod diff")?;
            (format!("emulator at {}", ctx.settings.endpoint), c)
        }
    };
    let changes = podstore::diff_commits(&store, fc, tc)?;
    let summary = podstore::summarize(&changes);
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    for ((_, _, svc), c) in &summary.scopes {
        let e = per.entry(svc.clone()).or_default();
        e.added += c.added;
        e.modified += c.modified;
        e.deleted += c.deleted;
    }
    let scopes: Vec<Value> = summary
        .scopes
        .iter()
        .map(|((a, r, s), c)| {
            json!({"account": a, "region": r, "service": s,
                   "added": c.added, "modified": c.modified, "deleted": c.deleted})
        })
        .collect();
    let paths: Vec<Value> = changes
        .iter()
        .map(|c| json!({"path": c.path.to_string(), "kind": c.kind}))
        .collect();
    let js = json!({
        "from": {"ref": from_label, "commit": fc.to_string()},
        "to": {"ref": to_label, "commit": tc.to_string()},
        "services": per,
        "scopes": scopes,
        "changes": paths,
    });
    let verbose = ctx.settings.verbosity >= crate::plan::Verbosity::Verbose;
    ctx.emit(&js, |w, s| {
        writeln!(w, "{from_label} -> {to_label}")?;
        if changes.is_empty() {
            return writeln!(w, "no differences");
        }
        let rows: Vec<Vec<String>> = summary
            .scopes
            .iter()
            .map(|((a, r, svc), c)| {
                counts_row(
                    vec![svc.clone(), a.clone(), r.clone()],
                    Counts {
                        added: c.added,
                        modified: c.modified,
                        deleted: c.deleted,
                    },
                    s,
                )
            })
            .collect();
        output::table(
            w,
            s,
            &[
                "SERVICE", "ACCOUNT", "REGION", "ADDED", "MODIFIED", "DELETED",
            ],
            &rows,
        )?;
        if verbose {
            writeln!(w)?;
            for c in &changes {
                let line = match c.kind {
                    podstore::ChangeKind::Added => s.green(&format!("+ {}", c.path)),
                    podstore::ChangeKind::Modified => s.yellow(&format!("~ {}", c.path)),
                    podstore::ChangeKind::Deleted => s.red(&format!("- {}", c.path)),
                };
                writeln!(w, "{line}")?;
            }
        }
        Ok(())
    })
}

/// `pod export REF -o FILE`.
pub fn export(ctx: &mut Ctx<'_>, pod: &PodRef, output: &Path) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let (version, commit) = store.resolve(pod)?;
    let full = format!("{}:{version}", pod.name);
    let pb = progress::bytes(ctx.settings.progress, None, &format!("exporting {full}"));
    let stats = if is_dash(output) {
        if ctx.settings.stdout_tty {
            return Err(CliError::usage("will not write an archive to a terminal")
                .hint("redirect stdout (`-o - > pod.tar`) or name a file with -o"));
        }
        let mut w = pb.wrap_write(std::io::BufWriter::new(&mut *ctx.out));
        let stats = podstore::export_archive(&store, commit, Some((&pod.name, version)), &mut w)
            .map_err(|e| export_error(e, output))?;
        w.flush()?;
        stats
    } else {
        let mut f = AtomicFile::create(output)?;
        let stats = {
            let mut w = pb.wrap_write(std::io::BufWriter::new(f.file()));
            let stats =
                podstore::export_archive(&store, commit, Some((&pod.name, version)), &mut w)
                    .map_err(|e| export_error(e, output))?;
            w.flush().context(Kind::General, || {
                format!("cannot write {}", output.display())
            })?;
            stats
        };
        f.commit()?;
        stats
    };
    pb.finish_and_clear();
    let js = json!({"pod": full, "commit": commit.to_string(), "file": output.display().to_string(),
                    "objects": stats.objects, "bytes": stats.bytes, "archive_bytes": stats.archive_bytes});
    if is_dash(output) {
        ctx.note(format!(
            "exported {full}: {} objects, {}",
            stats.objects,
            output::bytes(stats.archive_bytes)
        ));
        return Ok(());
    }
    ctx.emit(&js, |w, _| {
        writeln!(
            w,
            "exported {full} to {} ({} objects, {})",
            output.display(),
            stats.objects,
            output::bytes(stats.archive_bytes)
        )
    })
}

fn export_error(e: podstore::Error, output: &Path) -> CliError {
    match e {
        podstore::Error::Io { ref source, .. }
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            CliError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        other => CliError::from(other).context(format!("cannot export to {}", output.display())),
    }
}

/// `pod import FILE [--name NAME]`.
pub fn import(ctx: &mut Ctx<'_>, file: &Path, name: Option<&str>) -> Result<()> {
    let store = st::open(ctx.settings)?;
    let (reader, len): (Box<dyn Read>, Option<u64>) = if is_dash(file) {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = super::open_input(file)?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let pb = progress::bytes(
        ctx.settings.progress,
        len,
        &format!("importing {}", file.display()),
    );
    let imported = podstore::import_archive(&store, BufReader::new(pb.wrap_read(reader)));
    pb.finish_and_clear();
    let imported = imported
        .map_err(|e| CliError::from(e).context(format!("cannot import {}", file.display())))?;
    let Some(name) = name.map(str::to_owned).or_else(|| imported.pod.clone()) else {
        return Err(CliError::usage(format!(
            "{} names no pod (it was made by `state export`?)",
            file.display()
        ))
        .hint("pass --name NAME to add it to a pod"));
    };
    podstore::validate_name(&name)?;
    let prev = latest(&store, &name)?;
    let (version, created) = match prev {
        Some((v, c)) if c == imported.commit => (v, false),
        _ => (record_version(&store, &name, imported.commit)?.0, true),
    };
    let js = json!({
        "pod": name, "version": version, "ref": format!("{name}:{version}"),
        "commit": imported.commit.to_string(), "created": created,
        "objects": imported.objects, "new_objects": imported.new_objects, "bytes": imported.bytes,
    });
    ctx.emit(&js, |w, s| {
        if created {
            writeln!(
                w,
                "{} {} from {} ({} objects, {} new)",
                s.green("imported"),
                s.bold(&format!("{name}:{version}")),
                file.display(),
                imported.objects,
                imported.new_objects
            )
        } else {
            writeln!(
                w,
                "{name}:{version} already is this archive; no new version"
            )
        }
    })
}

/// `pod inspect REF|FILE [--diff REF|FILE]`.
pub fn inspect(
    ctx: &mut Ctx<'_>,
    target: &Target,
    diff: Option<&Target>,
    output: InspectOutput,
) -> Result<()> {
    let opened = Opened::open(ctx, target)?;
    let other = diff.map(|t| Opened::open(ctx, t)).transpose()?;
    let src = opened.source();
    let diff_src = other.as_ref().map(Opened::source);
    let out = match output {
        InspectOutput::Interactive => crate::inspect::Output::Interactive,
        InspectOutput::Tree => crate::inspect::Output::Tree,
        InspectOutput::Json => crate::inspect::Output::Json,
    };
    crate::inspect::run(src, diff_src, out, &mut *ctx.out)
        .map_err(|e| CliError::general(format!("inspect failed: {e}")))?;
    ctx.out.flush()?;
    Ok(())
}

/// A pod version or an archive opened for reading. An archive is imported into a
/// temporary store that is removed afterwards: the user's store is never changed.
struct Opened {
    store: Store,
    _tmp: Option<TempDir>,
    root: podstore::TreeId,
    title: (String, Option<u64>, String, String),
}

impl Opened {
    fn open(ctx: &mut Ctx<'_>, t: &Target) -> Result<Self> {
        match t {
            Target::Pod(r) => {
                let store = st::open(ctx.settings)?;
                let (version, commit) = store.resolve(r)?;
                let c = Commit::load(&store, commit)?;
                Ok(Self {
                    root: c.root,
                    title: title(&r.name, Some(version), &c),
                    store,
                    _tmp: None,
                })
            }
            Target::File(p) => {
                let tmp = TempDir::new(&ctx.settings.data_dir)?;
                let store = Store::open(tmp.path.join("store"))?;
                let reader: Box<dyn Read> = if is_dash(p) {
                    Box::new(std::io::stdin().lock())
                } else {
                    Box::new(std::fs::File::open(p).map_err(|e| {
                        let kind = if e.kind() == std::io::ErrorKind::NotFound {
                            Kind::NotFound
                        } else {
                            Kind::General
                        };
                        CliError::new(kind, format!("cannot open {}", p.display())).cause(&e)
                    })?)
                };
                let imported =
                    podstore::import_archive(&store, BufReader::new(reader)).map_err(|e| {
                        CliError::from(e).context(format!("cannot read {}", p.display()))
                    })?;
                let c = Commit::load(&store, imported.commit)?;
                let name = imported
                    .pod
                    .clone()
                    .unwrap_or_else(|| p.display().to_string());
                Ok(Self {
                    root: c.root,
                    title: title(&name, imported.version, &c),
                    store,
                    _tmp: Some(tmp),
                })
            }
        }
    }

    fn source(&self) -> crate::inspect::Source<'_> {
        crate::inspect::Source {
            objects: &self.store,
            root: self.root,
            title: crate::inspect::Title {
                pod: self.title.0.clone(),
                version: self.title.1,
                message: self.title.2.clone(),
                date: self.title.3.clone(),
            },
        }
    }
}

fn title(pod: &str, version: Option<u64>, c: &Commit) -> (String, Option<u64>, String, String) {
    (
        pod.to_owned(),
        version,
        c.message.clone(),
        output::time(c.time),
    )
}

/// A directory removed when dropped (for archives opened by inspect).
struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    fn new(data_dir: &Path) -> Result<Self> {
        let base = std::env::temp_dir();
        let base = if base.is_dir() {
            base
        } else {
            data_dir.to_owned()
        };
        for i in 0..100u32 {
            let path = base.join(format!("podstack-inspect-{}-{i}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(
                        CliError::general(format!("cannot create {}", path.display())).cause(&e),
                    );
                }
            }
        }
        Err(CliError::general("cannot create a temporary directory"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::run_with;
    use crate::plan::{Action, Settings};
    use podstore::{CommitOptions, Document, Entry, StatePath};

    /// Commits a state of `queues` (SQS queue documents) as the next version of `pod`.
    fn seed(store: &Store, pod: &str, queues: &[&str]) -> CommitId {
        let entries = queues
            .iter()
            .map(|q| {
                let doc = Document::new(json!({"schema": "sqs.queue/1", "name": q})).expect("doc");
                let path = StatePath::parse(&format!("000000000000/us-east-1/sqs/queue/{q}"))
                    .expect("path");
                (path, Entry::store_doc(store, &doc).expect("store"))
            })
            .collect();
        let root = podstore::tree::build(store, entries).expect("tree");
        let opts = CommitOptions {
            message: format!("queues {}", queues.join(",")),
            ..CommitOptions::default()
        };
        let id = Commit::new(store, root, opts)
            .expect("commit")
            .store(store)
            .expect("store");
        store.flush().expect("flush");
        store.create_version(pod, id, Expect::Any).expect("version");
        id
    }

    fn pod(s: &str) -> PodRef {
        PodRef::parse(s).expect("ref")
    }

    #[test]
    fn list_versions_diff_delete_without_a_server() {
        let dir = tempfile::tempdir().expect("dir");
        let text = Settings::for_tests(dir.path(), false);
        let js = Settings::for_tests(dir.path(), true);
        let r = run_with(&text, Action::List);
        assert!(r.result.is_ok() && r.out.is_empty(), "{}", r.out);
        assert!(r.err.contains("no pods"), "{}", r.err);
        assert_eq!(run_with(&js, Action::List).json(), json!([]));

        let store = st::open(&text).expect("store");
        seed(&store, "p1", &["a"]);
        let c2 = seed(&store, "p1", &["a", "b"]);
        drop(store);

        let l = run_with(&js, Action::List).json();
        assert_eq!(
            (l[0]["name"].as_str(), l[0]["latest"].as_u64()),
            (Some("p1"), Some(2))
        );
        let r = run_with(&text, Action::List);
        assert!(r.out.starts_with("NAME"), "{}", r.out);
        let v = run_with(&js, Action::Versions { name: "p1".into() }).json();
        assert_eq!(v[1]["commit"], c2.to_string());
        assert_eq!(v[1]["services"]["sqs"]["resources"], 2);

        let d = run_with(
            &js,
            Action::Diff {
                from: pod("p1:1"),
                to: Some(pod("p1")),
            },
        )
        .json();
        assert_eq!(
            d["services"]["sqs"],
            json!({"added": 1, "modified": 0, "deleted": 0})
        );
        assert_eq!(
            d["changes"][0]["path"],
            "000000000000/us-east-1/sqs/queue/b"
        );
        let r = run_with(
            &text,
            Action::Diff {
                from: pod("p1:2"),
                to: Some(pod("p1:2")),
            },
        );
        assert!(r.out.contains("no differences"), "{}", r.out);

        let r = run_with(&text, Action::Versions { name: "p2".into() });
        let e = r.result.expect_err("missing");
        assert_eq!(e.kind, Kind::NotFound);
        assert!(e.message.contains("did you mean \"p1\""), "{}", e.message);

        // Without a terminal, deleting needs -y.
        let e = run_with(
            &text,
            Action::Delete {
                pod: pod("p1:1"),
                yes: false,
            },
        )
        .result
        .expect_err("refused");
        assert_eq!(e.kind, Kind::Usage);
        let r = run_with(
            &js,
            Action::Delete {
                pod: pod("p1:1"),
                yes: true,
            },
        );
        assert_eq!(r.json()["deleted_versions"], json!([1]));
        run_with(
            &js,
            Action::Delete {
                pod: pod("p1"),
                yes: true,
            },
        )
        .result
        .expect("delete");
        assert_eq!(run_with(&js, Action::List).json(), json!([]));
    }

    #[test]
    fn export_import_round_trip_and_verify() {
        let a = tempfile::tempdir().expect("dir");
        let b = tempfile::tempdir().expect("dir");
        let sa = Settings::for_tests(a.path(), true);
        let sb = Settings::for_tests(b.path(), true);
        let c = seed(&st::open(&sa).expect("store"), "p1", &["a", "b"]);
        let tar = a.path().join("p1.tar");
        let r = run_with(
            &sa,
            Action::Export {
                pod: pod("p1"),
                output: tar.clone(),
            },
        );
        assert_eq!(r.json()["pod"], "p1:1");

        let r = run_with(
            &sb,
            Action::Import {
                file: tar.clone(),
                name: None,
            },
        )
        .json();
        assert_eq!(
            (r["ref"].as_str(), r["created"].as_bool()),
            (Some("p1:1"), Some(true))
        );
        assert_eq!(r["commit"], c.to_string());
        let r = run_with(
            &sb,
            Action::Import {
                file: tar.clone(),
                name: None,
            },
        )
        .json();
        assert_eq!(r["created"], false);
        let r = run_with(
            &sb,
            Action::Import {
                file: tar.clone(),
                name: Some("other".into()),
            },
        )
        .json();
        assert_eq!(r["ref"], "other:1");

        let v = run_with(&sb, Action::Verify).json();
        assert_eq!(v["ok"], true);

        std::fs::write(&tar, b"not a tar").expect("write");
        let e = run_with(
            &sb,
            Action::Import {
                file: tar,
                name: None,
            },
        )
        .result
        .expect_err("junk");
        assert_eq!(e.kind, Kind::Invalid);
    }

    #[test]
    fn commands_that_need_the_emulator_say_how_to_start_it() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Settings::for_tests(dir.path(), false);
        seed(&st::open(&s).expect("store"), "p1", &["a"]);
        for action in [
            Action::Commit {
                name: "p1".into(),
                message: String::new(),
                services: None,
            },
            Action::Inject {
                pod: pod("p1"),
                strategy: Strategy::default(),
                dry_run: true,
                yes: false,
            },
            Action::Diff {
                from: pod("p1"),
                to: None,
            },
            Action::Status,
        ] {
            let e = run_with(&s, action).result.expect_err("unreachable");
            assert_eq!(e.kind, Kind::Unreachable, "{}", e.message);
            assert!(
                e.hint
                    .as_deref()
                    .is_some_and(|h| h.contains("podstack start"))
            );
        }
    }
}
