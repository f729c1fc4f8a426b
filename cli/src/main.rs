//! `podstack`: the command line. `start` runs the emulator in the foreground; the pod
//! commands arrive with the CLI issue.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod paths;

/// A local AWS emulator with git-like state.
#[derive(Debug, Parser)]
#[command(name = "podstack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the emulator in the foreground (stop with Ctrl-C or SIGTERM).
    Start {
        /// Address to listen on [env: GATEWAY_LISTEN] [default: 127.0.0.1:4566].
        #[arg(long)]
        listen: Option<String>,
        /// Directory for the pod store and state [env: PODSTACK_HOME].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Start { listen, data_dir } => match start(listen, data_dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("podstack: {e}");
                ExitCode::from(1)
            }
        },
    }
}

fn start(listen: Option<String>, data_dir: Option<PathBuf>) -> Result<(), String> {
    let listen: Option<SocketAddr> = listen
        .map(|l| emulator::config::parse_listen(&l))
        .transpose()?;
    let home = data_dir.map_or_else(paths::data_home, Ok)?;
    let config = emulator::Config::from_env(listen, home.join("store"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "{} is already in use; is podstack (or LocalStack) already running? Choose another address with --listen or GATEWAY_LISTEN",
                    config.listen
                )
            } else {
                format!("cannot listen on {}: {e}", config.listen)
            }
        })?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let gateway = emulator::Gateway::new(config.clone())
            .map_err(|e| format!("cannot open the pod store at {}: {e}", config.store_dir.display()))?;
        eprintln!(
            "podstack {} listening on http://{addr} (store: {})",
            env!("CARGO_PKG_VERSION"),
            config.store_dir.display()
        );
        eprintln!("Ready.");
        emulator::server::run(listener, gateway, emulator::server::signal()).await;
        eprintln!("podstack stopped");
        Ok(())
    })
}
