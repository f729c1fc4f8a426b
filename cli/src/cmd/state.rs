//! `state export FILE`, `state import FILE`, `state reset`: the running emulator's state as
//! an archive file, without the pod store's versions.

use std::io::{BufReader, Write};
use std::path::Path;

use podstore::Strategy;
use serde_json::json;

use crate::client::Client;
use crate::cmd::{AtomicFile, is_dash};
use crate::error::{CliError, Result};
use crate::output::{self, Ctx};
use crate::progress;

/// `state export FILE [-s SERVICES]`: written to a temporary file, renamed when complete.
pub fn export(ctx: &mut Ctx<'_>, file: &Path, services: Option<&[String]>) -> Result<()> {
    let client = Client::new(ctx.settings.endpoint.clone());
    let pb = progress::bytes(ctx.settings.progress, None, "exporting the state");
    let n = if is_dash(file) {
        if ctx.settings.stdout_tty {
            return Err(CliError::usage("will not write an archive to a terminal")
                .hint("redirect stdout (`state export - > state.tar`) or name a file"));
        }
        let mut w = std::io::BufWriter::new(&mut *ctx.out);
        let n = client.export_archive(services, &mut w, &mut |n| pb.set_length(n), &mut |n| {
            pb.set_position(n);
        })?;
        w.flush()?;
        n
    } else {
        let mut f = AtomicFile::create(file)?;
        let n = {
            let mut w = std::io::BufWriter::new(f.file());
            let n =
                client.export_archive(services, &mut w, &mut |n| pb.set_length(n), &mut |n| {
                    pb.set_position(n);
                })?;
            w.flush().map_err(|e| {
                CliError::general(format!("cannot write {}", file.display())).cause(&e)
            })?;
            n
        };
        f.commit()?;
        n
    };
    pb.finish_and_clear();
    let names: Vec<&str> = match services {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => emulator::service_names(),
    };
    if is_dash(file) {
        ctx.note(format!("exported the state ({})", output::bytes(n)));
        return Ok(());
    }
    let js = json!({"file": file.display().to_string(), "bytes": n, "services": names});
    ctx.emit(&js, |w, _| {
        writeln!(
            w,
            "exported {} to {} ({})",
            names.join(", "),
            file.display(),
            output::bytes(n)
        )
    })
}

/// `state import FILE [--strategy S]`.
pub fn import(ctx: &mut Ctx<'_>, file: &Path, strategy: Strategy) -> Result<()> {
    let client = Client::new(ctx.settings.endpoint.clone());
    let f = super::open_input(file)?;
    let len = f
        .metadata()
        .map_err(|e| CliError::general(format!("cannot read {}", file.display())).cause(&e))?
        .len();
    let pb = progress::bytes(ctx.settings.progress, Some(len), "importing");
    let lines = client.import_archive(&mut BufReader::new(f), len, strategy, &mut |n| {
        pb.set_position(n);
    });
    pb.finish_and_clear();
    let lines = lines.map_err(|e| e.context(format!("cannot import {}", file.display())))?;
    let services: Vec<String> = lines
        .iter()
        .filter_map(|l| l["service"].as_str().map(str::to_owned))
        .collect();
    let js = json!({"file": file.display().to_string(), "strategy": strategy.to_string(), "services": services});
    ctx.emit(&js, |w, _| {
        writeln!(
            w,
            "imported {} ({strategy}): {}",
            file.display(),
            if services.is_empty() {
                "nothing changed".to_owned()
            } else {
                services.join(", ")
            }
        )
    })
}

/// `state reset [-s SERVICES]`.
pub fn reset(ctx: &mut Ctx<'_>, services: Option<&[String]>) -> Result<()> {
    let client = Client::new(ctx.settings.endpoint.clone());
    let lines = client.reset(services)?;
    let names: Vec<String> = lines
        .iter()
        .filter_map(|l| l["service"].as_str().map(str::to_owned))
        .collect();
    let js = json!({"reset": names});
    ctx.emit(&js, |w, _| writeln!(w, "reset {}", names.join(", ")))
}
