//! `podstack`: the command line. The emulator's lifecycle (`start`, `stop`, `status`,
//! `logs`, `wait`), pods (`pod …`), the running state (`state …`), the local store
//! (`store …`), and remotes (`remote …`, `login`, `logout`: [`remote`], [`credentials`]).
//!
//! Parsing happens in two stages: clap structures ([`args`]), then a resolved [`plan`] that
//! folds in the environment, the configuration file ([`config`]) and the terminal. Handlers
//! ([`cmd`]) take the plan and an output context ([`output`]); they talk to the emulator
//! through [`client`] over a small blocking HTTP client ([`http`]). One error type
//! ([`error`]) decides the message and the exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod args;
mod client;
mod cmd;
mod config;
mod credentials;
mod error;
use remote_server::http;
mod inspect;
mod output;
mod plan;
mod progress;
mod remote;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout (exit 0); usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let env = plan::Env::from_process();
    let term = plan::Terminal::detect();
    let code = match plan::resolve(cli, &env, term) {
        Ok(p) => {
            // stdout and stderr stay unlocked (each write takes the lock): `start` runs the
            // emulator in this process, and a thread of it that wrote to stderr while this
            // one held the lock for the whole run would block for good.
            let mut out = std::io::stdout();
            let mut err = std::io::stderr();
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut ctx = output::Ctx {
                settings: &p.settings,
                out: &mut out,
                err: &mut err,
                input: &mut input,
            };
            match cmd::run(&mut ctx, p.action) {
                Ok(()) => 0,
                Err(e) => report(&e),
            }
        }
        Err(e) => report(&e),
    };
    ExitCode::from(code)
}

/// Prints an error (unless it is a closed stdout, which is success) and returns its code.
fn report(e: &error::CliError) -> u8 {
    if e.is_broken_pipe() {
        return 0;
    }
    let mut err = std::io::stderr().lock();
    let _ = e.render(&mut err);
    let _ = err.flush();
    e.kind.exit_code()
}
