//! Command handlers. Each takes a [`Ctx`] and the resolved values of its [`Action`]; none
//! reads the process environment or clap structures, so they run in tests against temporary
//! stores and in-memory output.
//!
//! - `daemon`: start (foreground and `-d`), stop, status, logs, wait.
//! - `pod`: commit, inject, list, versions, delete, diff, export, import, inspect.
//! - `state`: export, import, reset of the running emulator.
//! - `store`: verify, gc, and the helpers every store-using command shares.
//! - `remote`: remote add, list, remove; login and logout.

use std::path::{Path, PathBuf};

use crate::error::{CliError, Result};
use crate::output::Ctx;
use crate::plan::Action;

pub mod daemon;
pub mod pod;
pub mod remote;
pub mod share;
pub mod state;
pub mod store;

/// Runs the action.
pub fn run(ctx: &mut Ctx<'_>, action: Action) -> Result<()> {
    match action {
        Action::Start(p) => daemon::start(ctx, &p),
        Action::Stop { timeout } => daemon::stop(ctx, timeout),
        Action::Status => daemon::status(ctx),
        Action::Logs { follow, tail } => daemon::logs(ctx, follow, tail),
        Action::Wait { timeout } => daemon::wait(ctx, timeout),
        Action::Commit {
            name,
            message,
            services,
        } => pod::commit(ctx, &name, &message, services.as_deref()),
        Action::Inject {
            pod,
            strategy,
            dry_run,
            yes,
        } => pod::inject(ctx, &pod, strategy, dry_run, yes),
        Action::List => pod::list(ctx),
        Action::Versions { name } => pod::versions(ctx, &name),
        Action::Delete { pod, yes } => pod::delete(ctx, &pod, yes),
        Action::RemotePods { remote } => share::list(ctx, remote.as_deref()),
        Action::RemoteVersions { remote, name } => share::versions(ctx, remote.as_deref(), &name),
        Action::RemoteDelete { remote, pod, yes } => {
            share::delete(ctx, remote.as_deref(), &pod, yes)
        }
        Action::Push { remote, pod } => share::push(ctx, remote.as_deref(), &pod),
        Action::Pull {
            remote,
            pod,
            into,
            inject,
        } => share::pull(ctx, remote.as_deref(), &pod, into.as_deref(), inject),
        Action::Diff { from, to } => pod::diff(ctx, &from, to.as_ref()),
        Action::Export { pod, output } => pod::export(ctx, &pod, &output),
        Action::Import { file, name } => pod::import(ctx, &file, name.as_deref()),
        Action::Inspect {
            target,
            diff,
            output,
        } => pod::inspect(ctx, &target, diff.as_ref(), output),
        Action::StateExport { file, services } => state::export(ctx, &file, services.as_deref()),
        Action::StateImport { file, strategy } => state::import(ctx, &file, strategy),
        Action::StateReset { services } => state::reset(ctx, services.as_deref()),
        Action::Verify => store::verify(ctx),
        Action::Gc => store::gc(ctx),
        Action::RemoteAdd { name, url } => remote::add(ctx, &name, &url),
        Action::RemoteList => remote::list(ctx),
        Action::RemoteRemove { name } => remote::remove(ctx, &name),
        Action::Login { name, token_stdin } => remote::login(ctx, name.as_deref(), token_stdin),
        Action::Logout { name } => remote::logout(ctx, name.as_deref()),
        Action::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = crate::args::Cli::command();
            // `generate` panics when its writer fails (a closed pipe): render into memory.
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "podstack", &mut buf);
            ctx.out.write_all(&buf)?;
            ctx.out.flush()?;
            Ok(())
        }
    }
}

/// A file written atomically: to a temporary name beside the target, renamed over it on
/// [`AtomicFile::commit`], removed when dropped uncommitted.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<std::fs::File>,
}

impl AtomicFile {
    /// Creates the temporary file beside `dest`.
    pub fn create(dest: &Path) -> Result<Self> {
        Self::create_with_mode(dest, 0o666)
    }

    /// Like [`AtomicFile::create`], with these permission bits (before the umask) from the
    /// start: `0o600` for a file only its owner may read.
    pub fn create_with_mode(dest: &Path, mode: u32) -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| CliError::usage(format!("{} is not a file name", dest.display())))?;
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        // A leftover of a crashed run would keep its old permission bits.
        let _ = std::fs::remove_file(&tmp);
        let file = std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::NotFound {
                    crate::error::Kind::NotFound
                } else {
                    crate::error::Kind::General
                };
                CliError::new(kind, format!("cannot create {}", dest.display())).cause(&e)
            })?;
        Ok(Self {
            tmp,
            dest: dest.to_owned(),
            file: Some(file),
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.file
            .as_mut()
            .unwrap_or_else(|| unreachable!("the file is open until commit"))
    }

    /// Makes the file durable and gives it its name.
    pub fn commit(mut self) -> Result<()> {
        let write_err = |e: std::io::Error, d: &Path| {
            CliError::general(format!("cannot write {}", d.display())).cause(&e)
        };
        if let Some(f) = self.file.take() {
            f.sync_all().map_err(|e| write_err(e, &self.dest))?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| write_err(e, &self.dest))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Opens an input file; a missing file is a not-found error naming it.
pub fn open_input(file: &Path) -> Result<std::fs::File> {
    std::fs::File::open(file).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            crate::error::Kind::NotFound
        } else {
            crate::error::Kind::General
        };
        CliError::new(kind, format!("cannot open {}", file.display())).cause(&e)
    })
}

/// Creates (or empties) a scratch file for reading and writing.
pub fn create_scratch(path: &Path) -> Result<std::fs::File> {
    use crate::error::Context as _;
    std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .context(crate::error::Kind::General, || {
            format!("cannot create {}", path.display())
        })
}

/// Whether `p` is `-` (stdin or stdout).
pub fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::plan::Settings;

    /// What a handler printed and returned.
    pub struct Ran {
        pub result: Result<()>,
        pub out: String,
        pub err: String,
    }

    impl Ran {
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("{e}: {}", self.out))
        }
    }

    /// Runs `action` with in-memory streams and no terminal.
    pub fn run_with(settings: &Settings, action: Action) -> Ran {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut input: &[u8] = b"";
        let result = {
            let mut ctx = Ctx {
                settings,
                out: &mut out,
                err: &mut err,
                input: &mut input,
            };
            run(&mut ctx, action)
        };
        Ran {
            result,
            out: String::from_utf8_lossy(&out).into_owned(),
            err: String::from_utf8_lossy(&err).into_owned(),
        }
    }

    #[test]
    fn atomic_files_appear_only_when_committed() {
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("out.tar");
        {
            let mut f = AtomicFile::create(&dest).expect("create");
            std::io::Write::write_all(f.file(), b"half").expect("write");
        }
        assert!(!dest.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            0,
            "temp removed"
        );
        let mut f = AtomicFile::create(&dest).expect("create");
        std::io::Write::write_all(f.file(), b"whole").expect("write");
        f.commit().expect("commit");
        assert_eq!(std::fs::read(&dest).expect("read"), b"whole");
        let e = AtomicFile::create(&dir.path().join("missing/x.tar")).expect_err("no dir");
        assert_eq!(e.kind, crate::error::Kind::NotFound);
    }

    #[test]
    fn completions_are_generated() {
        let dir = tempfile::tempdir().expect("dir");
        let r = run_with(
            &Settings::for_tests(dir.path(), false),
            Action::Completions {
                shell: clap_complete::Shell::Bash,
            },
        );
        assert!(r.result.is_ok());
        assert!(r.out.contains("podstack"), "{}", r.out);
    }
}
