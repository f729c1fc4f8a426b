//! `podstack-remote`: serve a pod repository to a team, and manage its tokens.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use remote_server::protocol::Role;
use remote_server::repo::Repo;
use remote_server::{auth, server, storage};

/// The podstack team server: pods pushed and pulled over HTTP, stored in a directory or an
/// S3-compatible bucket.
#[derive(Debug, Parser)]
#[command(name = "podstack-remote", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the repository lives.
#[derive(Debug, clap::Args)]
struct StorageArgs {
    /// A directory, or s3://bucket/prefix (credentials from the standard AWS environment and
    /// profiles).
    #[arg(
        long,
        env = "PODSTACK_REMOTE_STORAGE",
        value_name = "DIR|s3://BUCKET/PREFIX"
    )]
    storage: String,
    /// The S3 endpoint for s3:// storage [default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL].
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the repository until SIGINT or SIGTERM.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PODSTACK_REMOTE_LISTEN", default_value = "127.0.0.1:4567")]
        listen: String,
        #[command(flatten)]
        storage: StorageArgs,
        /// At most this many MiB of pack uploads and object downloads are held in memory at
        /// once; further ones wait (uploads with their bodies unread) until earlier ones end.
        #[arg(long, env = "PODSTACK_REMOTE_TRANSFER_BUFFER_MIB", value_name = "MIB",
              default_value_t = server::DEFAULT_TRANSFER_BUDGET >> 20,
              value_parser = clap::value_parser!(u64).range(1..=(1 << 22)))]
        transfer_buffer_mib: u64,
        /// Keep a copy of every pack index read from the storage in this directory and read
        /// it from there at the next start (one GET per pack not seen before, instead of one
        /// per pack). Copies are checked against the pack's name; the directory may be
        /// deleted at any time.
        #[arg(long, env = "PODSTACK_REMOTE_INDEX_CACHE", value_name = "DIR")]
        index_cache: Option<std::path::PathBuf>,
    },
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, on the last line, and stored only hashed.
    Create {
        /// Its name (shown as the pusher of versions).
        name: String,
        /// read: list and pull; write: also push; admin: also delete.
        #[arg(long, value_parser = ["read", "write", "admin"])]
        role: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List tokens (names and roles, never the tokens).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a token; servers stop accepting it within seconds.
    Revoke {
        /// Its name.
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

fn open_storage(a: &StorageArgs) -> Result<Box<dyn storage::Storage>, String> {
    storage::open(&a.storage, a.s3_endpoint.as_deref()).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            listen,
            storage,
            transfer_buffer_mib,
            index_cache,
        } => {
            let repo = Repo::open_with_index_cache(open_storage(&storage)?, index_cache)
                .map_err(|e| e.to_string())?;
            let described = repo.storage().describe();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                eprintln!("podstack-remote: serving {described} on http://{addr}");
                let shared = server::Shared::with_transfer_budget(repo, transfer_buffer_mib << 20);
                server::run(listener, shared, shutdown_signal()).await;
                eprintln!("podstack-remote: stopped");
                Ok(())
            })
        }
        Command::Token(TokenCommand::Create {
            name,
            role,
            storage,
        }) => {
            let role = Role::parse(&role).ok_or_else(|| format!("unknown role {role:?}"))?;
            let s = open_storage(&storage)?;
            let token = auth::create(s.as_ref(), &name, role)?;
            println!(
                "created token {name:?} with role {}; it is shown only now:",
                role.name()
            );
            println!("{token}");
            Ok(())
        }
        Command::Token(TokenCommand::List { storage }) => {
            let s = open_storage(&storage)?;
            let recs = auth::list(s.as_ref()).map_err(|e| e.to_string())?;
            println!("{:<24} {:<6} CREATED", "NAME", "ROLE");
            for r in recs {
                println!(
                    "{:<24} {:<6} {}",
                    r.name,
                    r.role.name(),
                    podstore::format_rfc3339(r.created)
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { name, storage }) => {
            let s = open_storage(&storage)?;
            if auth::revoke(s.as_ref(), &name).map_err(|e| e.to_string())? {
                println!("revoked token {name:?}");
                Ok(())
            } else {
                Err(format!("no token named {name:?}"))
            }
        }
    }
}

/// Completes on SIGINT or SIGTERM (never, when the handlers cannot be installed).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podstack-remote: error: {e}");
            ExitCode::FAILURE
        }
    }
}
