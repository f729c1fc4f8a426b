//! `podstack`: the command line. `start` runs the emulator in the foreground; the pod
//! commands arrive with the CLI issue.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod paths;

/// Restores persisted state and preseeds pods, reporting what happened; never fails.
fn prepare_state(gateway: &emulator::Gateway, seeds: &[emulator::preseed::Seed]) {
    let persist = &gateway.persistence().config;
    let restored = gateway.restore_at_start();
    if persist.enabled {
        let status = gateway.persistence().status();
        for p in &status.problems {
            eprintln!("podstack: persistence: {p}");
        }
        match &status.last_snapshot {
            Some(s) => eprintln!(
                "restored snapshot {} ({})",
                &s[..12.min(s.len())],
                restored.join(", ")
            ),
            None => eprintln!("no saved state to restore"),
        }
    }
    if seeds.is_empty() {
        return;
    }
    if persist.enabled && gateway.persistence().status().last_snapshot.is_some() {
        eprintln!(
            "pods to preseed are skipped: PERSISTENCE=1 and saved state exists (pods seed only the first start)"
        );
        return;
    }
    for line in gateway.preseed(seeds, emulator::preseed::default_strategy()) {
        match line {
            Ok(l) => eprintln!("{l}"),
            Err(e) => eprintln!("podstack: preseeding failed: {e}"),
        }
    }
}

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
        /// Directory of pod lists (*.txt) and archives (*.tar) loaded at start
        /// [default: <data dir>/init-pods.d].
        #[arg(long)]
        init_pods_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Start {
            listen,
            data_dir,
            init_pods_dir,
        } => match start(listen, data_dir, init_pods_dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("podstack: {e}");
                ExitCode::from(1)
            }
        },
    }
}

fn start(
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    init_dir: Option<PathBuf>,
) -> Result<(), String> {
    let listen: Option<SocketAddr> = listen
        .map(|l| emulator::config::parse_listen(&l))
        .transpose()?;
    let home = data_dir.map_or_else(paths::data_home, Ok)?;
    let config = emulator::Config::from_env(listen, home.join("store"))?;
    let init_dir = init_dir.unwrap_or_else(|| home.join("init-pods.d"));
    let mut seeds = match std::env::var("AUTO_LOAD_POD") {
        Ok(v) => emulator::preseed::parse_auto_load(&v)?,
        Err(_) => Vec::new(),
    };
    seeds.extend(emulator::preseed::scan_init_dir(&init_dir)?);
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
        prepare_state(&gateway, &seeds);
        tokio::spawn(gateway.clone().run_scheduled_saves());
        eprintln!("Ready.");
        emulator::server::run(listener, gateway.clone(), emulator::server::signal()).await;
        match gateway.save_at_shutdown().await {
            Some(Ok(c)) => eprintln!("state saved (snapshot {})", &c.to_string()[..12]),
            Some(Err(e)) => eprintln!("podstack: saving state at shutdown failed: {e}"),
            None => {}
        }
        eprintln!("podstack stopped");
        Ok(())
    })
}
