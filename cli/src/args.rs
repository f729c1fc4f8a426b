//! The first stage of parsing: clap structures, exactly as typed. Nothing here reads the
//! environment or the configuration; [`crate::plan`] turns these into a resolved plan.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// A local AWS emulator with git-like state: commit, version, diff, merge and restore the
/// state of S3, SQS, Secrets Manager and STS as pods.
#[derive(Debug, Parser)]
#[command(
    name = "podstack",
    version,
    about,
    after_help = crate::error::EXIT_CODES,
    max_term_width = 100
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args, Default)]
pub struct Global {
    /// The emulator's URL [env: PODSTACK_ENDPOINT] [config: endpoint] [default:
    /// http://127.0.0.1:4566].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The data directory: pod store, log and pid file [env: PODSTACK_HOME] [default:
    /// $XDG_DATA_HOME/podstack or ~/.local/share/podstack].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Output format for commands that print data; json is stable for scripts (`tree` is
    /// for `pod inspect`).
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Only errors on stderr (no progress, no notes).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail (paths, fallbacks, timings); repeat for more.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts (stable keys).
    Json,
    /// An indented tree (`pod inspect`).
    Tree,
}

/// A merge strategy, as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// The state becomes exactly the pod.
    Overwrite,
    /// Per (account, region, service) in the pod, the pod's part replaces the running one.
    AccountRegionMerge,
    /// Union of resources; on the same resource the pod wins.
    ServiceMerge,
    /// Against the pod loaded last: local edits survive, conflicts are reported.
    ThreeWay,
}

impl From<StrategyArg> for podstore::Strategy {
    fn from(s: StrategyArg) -> Self {
        match s {
            StrategyArg::Overwrite => Self::Overwrite,
            StrategyArg::AccountRegionMerge => Self::AccountRegionMerge,
            StrategyArg::ServiceMerge => Self::ServiceMerge,
            StrategyArg::ThreeWay => Self::ThreeWay,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the emulator (foreground; -d for background). LocalStack's variables apply
    /// (GATEWAY_LISTEN, PERSISTENCE, SNAPSHOT_*, AUTO_LOAD_POD, MERGE_STRATEGY).
    Start(StartArgs),
    /// Stop the emulator started with `start -d` (SIGTERM, waiting for it to save and exit).
    Stop {
        /// Seconds to wait for it to exit.
        #[arg(long, default_value_t = 30.0, value_name = "SECS")]
        timeout: f64,
    },
    /// Is the emulator up? Endpoint, version, services, loaded pods, persistence.
    Status,
    /// Show the log of the emulator started with `start -d`.
    Logs {
        /// Keep printing what is appended (Ctrl-C to end).
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Wait until the emulator answers.
    Wait {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60.0, value_name = "SECS")]
        timeout: f64,
    },
    /// Pods: commit, inject, list, diff, export, import, inspect.
    #[command(subcommand)]
    Pod(PodCommand),
    /// The running emulator's state as a file: export, import, reset.
    #[command(subcommand)]
    State(StateCommand),
    /// The local pod store: verify, gc.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Remotes to push pods to and pull them from: add, list, remove.
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Store the token of a podstack-remote server (checked with the server first).
    ///
    /// The token goes to the OS keyring (Secret Service) when there is one, else to
    /// credentials.json in the configuration directory (mode 0600). PODSTACK_KEYRING
    /// (auto, secret-service, file) forces the choice; PODSTACK_TOKEN overrides stored tokens.
    Login {
        /// The remote [default: default_remote, or the only remote].
        name: Option<String>,
        /// Read the token from stdin instead of asking on the terminal.
        #[arg(long)]
        token_stdin: bool,
    },
    /// Remove a remote's stored token (from the OS keyring and credentials.json).
    Logout {
        /// The remote [default: default_remote, or the only remote].
        name: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Run in the background: pid in <data dir>/podstack.pid, output appended to
    /// <data dir>/podstack.log; returns once the emulator answers.
    #[arg(short, long)]
    pub detach: bool,
    /// Address to listen on [env: GATEWAY_LISTEN] [default: 127.0.0.1:4566].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory of pod lists (*.txt) and archives (*.tar) loaded at start [default: <data
    /// dir>/init-pods.d].
    #[arg(long, value_name = "DIR")]
    pub init_pods_dir: Option<PathBuf>,
    /// With -d: seconds to wait for the emulator to answer.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub timeout: f64,
    /// The pid file this process removes when it exits (set by `start -d`).
    #[arg(long, hide = true)]
    pub pid_file: Option<PathBuf>,
}

/// `pod …`.
#[derive(Debug, Subcommand)]
pub enum PodCommand {
    /// Snapshot the running emulator into a new version of a pod in the local store.
    #[command(visible_alias = "save")]
    Commit {
        /// The pod.
        name: String,
        /// What this version is.
        #[arg(short, long, value_name = "MSG")]
        message: Option<String>,
        /// Only these services (comma separated: s3,sqs,secretsmanager,sts).
        #[arg(short, long, value_delimiter = ',', value_name = "SERVICES")]
        services: Vec<String>,
    },
    /// Load a pod version into the running emulator.
    #[command(visible_alias = "load")]
    Inject {
        /// `name` (latest version) or `name:N`.
        #[arg(value_name = "REF")]
        reference: String,
        /// How to merge with the running state [env: MERGE_STRATEGY] [config:
        /// merge_strategy] [default: account-region-merge].
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Only report, per service, what would be added, modified and deleted.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// List the pods of the local store (or of a remote).
    #[command(visible_alias = "ls")]
    List {
        /// Act on this remote instead of the local store (no NAME: the default remote).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
        remote: Option<String>,
    },
    /// List the versions of a pod (in the local store, or on a remote).
    Versions {
        /// The pod.
        name: String,
        /// Act on this remote instead of the local store (no NAME: the default remote).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
        remote: Option<String>,
    },
    /// Delete a pod (all versions) or one version (`name:N`), locally or on a remote.
    #[command(visible_alias = "rm")]
    Delete {
        /// `name` (every version) or `name:N`.
        #[arg(value_name = "REF")]
        reference: String,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(short, long)]
        yes: bool,
        /// Act on this remote instead of the local store (no NAME: the default remote).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
        remote: Option<String>,
    },
    /// Send a pod version, and the local versions between the remote's latest and it, to a
    /// remote: only objects the remote lacks travel.
    Push {
        /// `name` (latest version) or `name:N`.
        #[arg(value_name = "REF")]
        reference: String,
        /// The remote [default: config default_remote, or the only remote].
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
    },
    /// Fetch a pod version from a remote into the local store (same version number); only
    /// objects the store lacks travel.
    Pull {
        /// `name` (latest version) or `name:N`.
        #[arg(value_name = "REF")]
        reference: String,
        /// The remote [default: config default_remote, or the only remote].
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
        /// Store it as this local pod (when the local pod of the same name diverged).
        #[arg(long = "as", value_name = "NAME")]
        into: Option<String>,
        /// Then load it into the running emulator.
        #[arg(long)]
        inject: bool,
        /// How --inject merges [env: MERGE_STRATEGY] [config: merge_strategy] [default:
        /// account-region-merge].
        #[arg(long, value_enum, requires = "inject")]
        strategy: Option<StrategyArg>,
    },
    /// What changed from REF to REF2, or to the running emulator when REF2 is omitted.
    Diff {
        /// The older side.
        #[arg(value_name = "REF")]
        from: String,
        /// The newer side [default: the running emulator].
        #[arg(value_name = "REF2")]
        to: Option<String>,
    },
    /// Write a pod version to a single archive file.
    Export {
        /// `name` or `name:N`.
        #[arg(value_name = "REF")]
        reference: String,
        /// The archive to write (`-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Add an archive to the local store as a new version.
    Import {
        /// The archive (`-` for stdin).
        file: PathBuf,
        /// The pod to add it to [default: the pod named in the archive].
        #[arg(long)]
        name: Option<String>,
    },
    /// Browse a pod version or an archive file without loading it (interactive on a
    /// terminal; --format tree|json otherwise).
    Inspect {
        /// `name`, `name:N` or an archive file.
        #[arg(value_name = "REF|FILE")]
        target: String,
        /// Mark what changed since this older pod version or archive.
        #[arg(long, value_name = "REF|FILE")]
        diff: Option<String>,
    },
}

/// `state …`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Write the running emulator's state to an archive file.
    Export {
        /// The file to write (`-` for stdout).
        file: PathBuf,
        /// Only these services (comma separated).
        #[arg(short, long, value_delimiter = ',', value_name = "SERVICES")]
        services: Vec<String>,
    },
    /// Load an archive file into the running emulator.
    Import {
        /// The archive.
        file: PathBuf,
        /// How to merge [env: MERGE_STRATEGY] [config: merge_strategy] [default:
        /// account-region-merge].
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
    },
    /// Empty the running emulator (all services, or some).
    Reset {
        /// Only these services (comma separated).
        #[arg(short, long, value_delimiter = ',', value_name = "SERVICES")]
        services: Vec<String>,
    },
}

/// `store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Check every object of every pod version: present, intact, matching its id.
    Verify,
    /// Remove objects no pod version or snapshot needs (needs the store alone).
    Gc,
}

/// `remote …`.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: http(s)://HOST[:PORT][/PATH] (a podstack-remote server) or
    /// s3://BUCKET[/PREFIX] (a bucket used directly, with the AWS credentials).
    Add {
        /// Its name (the rules of pod names).
        name: String,
        /// Where it is (no credentials in the URL: use `podstack login`).
        url: String,
    },
    /// List the remotes and where each token comes from (env, keyring, file, none).
    #[command(visible_alias = "ls")]
    List,
    /// Remove a remote (and its stored token).
    #[command(visible_alias = "rm")]
    Remove {
        /// The remote.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn aliases_and_globals_parse() {
        let c = Cli::try_parse_from([
            "podstack", "pod", "save", "p1", "-m", "hi", "-s", "s3,sqs", "--format", "json",
        ])
        .expect("parse");
        assert_eq!(c.global.format, Some(Format::Json));
        match c.command {
            Command::Pod(PodCommand::Commit {
                name,
                message,
                services,
            }) => {
                assert_eq!((name.as_str(), message.as_deref()), ("p1", Some("hi")));
                assert_eq!(services, ["s3", "sqs"]);
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from([
            "podstack",
            "-v",
            "-v",
            "pod",
            "load",
            "p1:2",
            "--strategy",
            "three-way",
            "--dry-run",
        ])
        .expect("parse");
        assert_eq!(c.global.verbose, 2);
        assert!(matches!(
            c.command,
            Command::Pod(PodCommand::Inject {
                strategy: Some(StrategyArg::ThreeWay),
                dry_run: true,
                ..
            })
        ));
        let e = Cli::try_parse_from(["podstack", "pod", "inject", "p1", "--strategy", "x"])
            .expect_err("bad");
        assert_eq!(e.exit_code(), 2);
    }
}
