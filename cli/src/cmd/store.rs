//! `store verify`, `store gc`, and what every command that uses the local store shares:
//! opening it, telling whether the emulator uses the same one, and the statistics of a new
//! version (objects and bytes new versus reused).

use std::collections::HashSet;
use std::path::Path;

use podstore::{CommitId, ObjectId, ObjectKind, Store};
use serde_json::json;

use crate::error::{CliError, Kind, Result};
use crate::output::{self, Ctx};
use crate::plan::Settings;

/// Opens the local pod store (`<data dir>/store`), creating it when absent.
pub fn open(s: &Settings) -> Result<Store> {
    let dir = s.store_dir();
    Store::open(&dir).map_err(|e| {
        CliError::from(e).context(format!("cannot open the pod store at {}", dir.display()))
    })
}

/// Whether two store paths are the same directory.
pub fn same(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Objects and bytes of a commit: all of them, and those not reachable from `previous`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NewVsReused {
    /// Objects reachable from the commit.
    pub objects: u64,
    /// Of those, not reachable from the previous version.
    pub new_objects: u64,
    /// Uncompressed bytes of all.
    pub bytes: u64,
    /// Uncompressed bytes of the new ones.
    pub new_bytes: u64,
}

/// Counts what `commit` shares with `previous` (the pod's version before it, if any).
pub fn new_vs_reused(
    store: &Store,
    commit: CommitId,
    previous: Option<CommitId>,
) -> Result<NewVsReused> {
    let have = match previous {
        Some(p) => podstore::transfer::have_set(store, &[p])?,
        None => HashSet::new(),
    };
    let all = podstore::transfer::reachable(store, &[commit], &HashSet::new(), false)?;
    let mut out = NewVsReused::default();
    let (lists, plain): (Vec<_>, Vec<_>) = all
        .objects
        .iter()
        .copied()
        .partition(|(_, k)| *k == ObjectKind::Chunks);
    let plain: Vec<ObjectId> = plain.into_iter().map(|(id, _)| id).collect();
    let mut count = |id: &ObjectId, n: u64| {
        out.objects += 1;
        out.bytes += n;
        if !have.contains(id) {
            out.new_objects += 1;
            out.new_bytes += n;
        }
    };
    store.read_in_storage_order(&plain, &mut |id, _, bytes| {
        count(id, bytes.len() as u64);
        Ok(())
    })?;
    for (id, _) in lists {
        let n = podstore::Objects::get_raw(store, &id)?.map_or(0, |(_, b)| b.len() as u64);
        count(&id, n);
    }
    Ok(out)
}

/// `store verify`.
pub fn verify(ctx: &mut Ctx<'_>) -> Result<()> {
    let store = open(ctx.settings)?;
    let pb = crate::progress::spinner(ctx.settings.progress, "verifying the store");
    let report = podstore::verify(&store)?;
    pb.finish_and_clear();
    let ok = report.is_ok();
    let versions: Vec<_> = report
        .versions
        .iter()
        .map(|v| {
            json!({"pod": v.pod, "version": v.version, "commit": v.commit.to_string(),
                   "objects": v.objects, "problems": v.problems})
        })
        .collect();
    let js = json!({
        "store": store.root().display().to_string(),
        "ok": ok,
        "objects": report.objects,
        "bytes": report.bytes,
        "versions": versions,
        "store_problems": report.store_problems,
    });
    ctx.emit(&js, |w, st| {
        let rows: Vec<Vec<String>> = report
            .versions
            .iter()
            .map(|v| {
                vec![
                    v.pod.clone(),
                    v.version.map(|n| n.to_string()).unwrap_or_default(),
                    v.objects.to_string(),
                    if v.problems.is_empty() {
                        st.green("ok")
                    } else {
                        st.red(&format!("{} problem(s)", v.problems.len()))
                    },
                ]
            })
            .collect();
        if !rows.is_empty() {
            output::table(w, st, &["POD", "VERSION", "OBJECTS", "STATUS"], &rows)?;
        }
        for v in &report.versions {
            for p in &v.problems {
                writeln!(
                    w,
                    "{} {}: {p}",
                    v.pod,
                    v.version.map(|n| n.to_string()).unwrap_or_default()
                )?;
            }
        }
        for p in &report.store_problems {
            writeln!(w, "store: {p}")?;
        }
        writeln!(
            w,
            "{} objects ({}) checked: {}",
            report.objects,
            output::bytes(report.bytes),
            if ok {
                st.green("the store is sound")
            } else {
                st.red("PROBLEMS FOUND")
            }
        )
    })?;
    if ok {
        Ok(())
    } else {
        Err(CliError::new(Kind::Invalid, format!("the store at {} has problems", store.root().display()))
            .hint("versions listed with problems cannot be injected or exported; delete them (`podstack pod delete NAME:N`) or restore the store from a backup"))
    }
}

/// `store gc`.
pub fn gc(ctx: &mut Ctx<'_>) -> Result<()> {
    let dir = ctx.settings.store_dir();
    if !dir.join("lock").exists() {
        ctx.note(format!(
            "no pod store at {} yet: nothing to collect",
            dir.display()
        ));
        return Ok(());
    }
    let pb = crate::progress::spinner(ctx.settings.progress, "collecting garbage");
    let r = podstore::gc(&dir);
    pb.finish_and_clear();
    let r = r.map_err(|e| match e {
        podstore::Error::Busy { .. } => CliError::new(
            Kind::Conflict,
            format!(
                "the store at {} is in use: an emulator or another podstack command has it open",
                dir.display()
            ),
        )
        .hint("gc needs the store alone: stop the emulator (`podstack stop`) and retry"),
        other => CliError::from(other),
    })?;
    let js = serde_json::to_value(&r).unwrap_or_default();
    ctx.emit(&js, |w, _| {
        writeln!(
            w,
            "removed {} objects, kept {}; packs {} -> {}; {} -> {}",
            r.objects_removed,
            r.objects_kept,
            r.packs_before,
            r.packs_after,
            output::bytes(r.bytes_before),
            output::bytes(r.bytes_after)
        )
    })
}
