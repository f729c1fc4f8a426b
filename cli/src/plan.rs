//! The second stage of parsing: the clap structures, the environment and the configuration
//! file become a [`Plan`] of fully resolved values (parsed pod references and strategies,
//! validated service names, the endpoint, the data directory, the output format). Handlers
//! take a plan, so they are testable without a terminal, a process environment or clap.
//!
//! Precedence everywhere: flag > environment > configuration file > default.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use podstore::{PodRef, Strategy};

use crate::args::{
    Cli, Command, Format, PodCommand, RemoteCommand, StartArgs, StateCommand, StoreCommand,
};
use crate::config::{self, Config};
use crate::credentials;
use crate::error::{CliError, Result};
use crate::http::Endpoint;
use crate::remote::{self, RemoteUrl};

/// The default endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";

/// A snapshot of environment variables (the process's, or a test's).
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, OsString>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
                .collect(),
        }
    }

    /// Given variables (tests).
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            vars: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
                .collect(),
        }
    }

    /// A variable's value, when set and not empty.
    pub fn get(&self, k: &str) -> Option<String> {
        self.vars
            .get(k)
            .and_then(|v| v.to_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// A variable as a path, when set and not empty.
    pub fn path(&self, k: &str) -> Option<PathBuf> {
        self.vars
            .get(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }
}

/// Facts about the terminal that decide interactivity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Terminal {
    /// stdout is a terminal.
    pub stdout: bool,
    /// stderr is a terminal (progress bars).
    pub stderr: bool,
    /// stdin is a terminal (prompts).
    pub stdin: bool,
}

impl Terminal {
    /// The process's.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        Self {
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
            stdin: std::io::stdin().is_terminal(),
        }
    }
}

/// How much to say on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Notes and progress.
    Normal,
    /// Details too.
    Verbose,
}

/// Settings every command shares.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The emulator.
    pub endpoint: Endpoint,
    /// The data directory (store, log, pid file).
    pub data_dir: PathBuf,
    /// Table or JSON (for data-printing commands).
    pub json: bool,
    /// How much to say.
    pub verbosity: Verbosity,
    /// Whether to color stdout.
    pub color: bool,
    /// Whether stdout is a terminal.
    pub stdout_tty: bool,
    /// Whether progress bars are drawn (stderr is a terminal, not quiet).
    pub progress: bool,
    /// Whether questions can be asked (stdin and stderr are terminals).
    pub interactive: bool,
    /// The configuration file and what it said.
    pub config_path: Option<PathBuf>,
    /// Its settings.
    pub config: Config,
    /// Tokens: `PODSTACK_TOKEN`, `PODSTACK_KEYRING`, whether there is a D-Bus session.
    pub credentials: credentials::Options,
    /// Push and pull: `PODSTACK_TRANSFER_PARALLEL`, `PODSTACK_TRANSFER_BATCH_BYTES`.
    pub transfer: remote_server::sync::Options,
}

impl Settings {
    /// Plain settings for handler tests: data in `data_dir`, nothing listening on the
    /// endpoint's port, no terminal.
    #[cfg(test)]
    pub fn for_tests(data_dir: &Path, json: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(9, |a| a.port());
        Self {
            endpoint: Endpoint {
                tls: false,
                host: "127.0.0.1".into(),
                port,
                prefix: String::new(),
            },
            data_dir: data_dir.to_owned(),
            json,
            verbosity: Verbosity::Normal,
            color: false,
            stdout_tty: false,
            progress: false,
            interactive: false,
            config_path: Some(data_dir.join("config").join("config.yaml")),
            config: Config::default(),
            credentials: credentials::Options {
                backend: credentials::Backend::File,
                ..credentials::Options::default()
            },
            transfer: remote_server::sync::Options::default(),
        }
    }

    /// The local pod store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// `<data dir>/podstack.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.data_dir.join("podstack.pid")
    }

    /// `<data dir>/podstack.log`.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("podstack.log")
    }

    /// `<data dir>/cache/pack-indexes`: copies of `s3://` remotes' pack indexes.
    pub fn pack_index_cache(&self) -> PathBuf {
        self.data_dir.join("cache").join("pack-indexes")
    }
}

/// What `pod inspect` looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A pod version of the local store.
    Pod(PodRef),
    /// An archive file.
    File(PathBuf),
}

/// How `pod inspect` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InspectOutput {
    /// The terminal browser.
    Interactive,
    /// An indented tree.
    Tree,
    /// JSON.
    Json,
}

/// `start`, resolved.
#[derive(Clone, Debug)]
pub struct StartPlan {
    /// Background.
    pub detach: bool,
    /// `--listen`, parsed.
    pub listen: Option<std::net::SocketAddr>,
    /// Where the emulator will answer (for `-d` to wait on).
    pub health_addr: std::net::SocketAddr,
    /// The init directory.
    pub init_pods_dir: PathBuf,
    /// Seconds to wait with `-d`.
    pub timeout: f64,
    /// The pid file to remove at exit.
    pub pid_file: Option<PathBuf>,
}

/// A resolved command.
#[derive(Clone, Debug)]
pub enum Action {
    /// `start`.
    Start(StartPlan),
    /// `stop`.
    Stop {
        /// Seconds.
        timeout: f64,
    },
    /// `status`.
    Status,
    /// `logs`.
    Logs {
        /// `-f`.
        follow: bool,
        /// `-n`.
        tail: Option<usize>,
    },
    /// `wait`.
    Wait {
        /// Seconds.
        timeout: f64,
    },
    /// `pod commit`.
    Commit {
        /// Pod name (validated).
        name: String,
        /// Message.
        message: String,
        /// Services (None = all).
        services: Option<Vec<String>>,
    },
    /// `pod inject`.
    Inject {
        /// What.
        pod: PodRef,
        /// How.
        strategy: Strategy,
        /// Only report.
        dry_run: bool,
        /// No questions.
        yes: bool,
    },
    /// `pod list`.
    List,
    /// `pod versions`.
    Versions {
        /// Pod name.
        name: String,
    },
    /// `pod delete`.
    Delete {
        /// What.
        pod: PodRef,
        /// No questions.
        yes: bool,
    },
    /// `pod list --remote`.
    RemotePods {
        /// Which remote (None: the default).
        remote: Option<String>,
    },
    /// `pod versions NAME --remote`.
    RemoteVersions {
        /// Which remote (None: the default).
        remote: Option<String>,
        /// The pod.
        name: String,
    },
    /// `pod delete REF --remote`.
    RemoteDelete {
        /// Which remote (None: the default).
        remote: Option<String>,
        /// What.
        pod: PodRef,
        /// No questions.
        yes: bool,
    },
    /// `pod push`.
    Push {
        /// Which remote (None: the default).
        remote: Option<String>,
        /// What.
        pod: PodRef,
    },
    /// `pod pull`.
    Pull {
        /// Which remote (None: the default).
        remote: Option<String>,
        /// What.
        pod: PodRef,
        /// The local pod name (None: the same).
        into: Option<String>,
        /// Inject afterwards with this strategy.
        inject: Option<Strategy>,
    },
    /// `pod diff`.
    Diff {
        /// Old side.
        from: PodRef,
        /// New side (None = the running emulator).
        to: Option<PodRef>,
    },
    /// `pod export`.
    Export {
        /// What.
        pod: PodRef,
        /// Where (`-` = stdout).
        output: PathBuf,
    },
    /// `pod import`.
    Import {
        /// The archive (`-` = stdin).
        file: PathBuf,
        /// The pod to add it to.
        name: Option<String>,
    },
    /// `pod inspect`.
    Inspect {
        /// What.
        target: Target,
        /// Compared with.
        diff: Option<Target>,
        /// How.
        output: InspectOutput,
    },
    /// `state export`.
    StateExport {
        /// Where (`-` = stdout).
        file: PathBuf,
        /// Services.
        services: Option<Vec<String>>,
    },
    /// `state import`.
    StateImport {
        /// The archive.
        file: PathBuf,
        /// How.
        strategy: Strategy,
    },
    /// `state reset`.
    StateReset {
        /// Services.
        services: Option<Vec<String>>,
    },
    /// `store verify`.
    Verify,
    /// `store gc`.
    Gc,
    /// `remote add`.
    RemoteAdd {
        /// Name (validated).
        name: String,
        /// Where (parsed).
        url: RemoteUrl,
    },
    /// `remote list`.
    RemoteList,
    /// `remote remove`.
    RemoteRemove {
        /// Name.
        name: String,
    },
    /// `login`.
    Login {
        /// The remote (None = the default one).
        name: Option<String>,
        /// Read the token from stdin.
        token_stdin: bool,
    },
    /// `logout`.
    Logout {
        /// The remote (None = the default one).
        name: Option<String>,
    },
    /// `completions`.
    Completions {
        /// Which shell.
        shell: clap_complete::Shell,
    },
}

/// Settings plus the command.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Shared settings.
    pub settings: Settings,
    /// The command.
    pub action: Action,
}

/// Resolves the parsed command line against the environment, the configuration and the
/// terminal.
pub fn resolve(cli: Cli, env: &Env, term: Terminal) -> Result<Plan> {
    let g = cli.global;
    let config_path = config::path(env);
    let config = match &config_path {
        Some(p) => config::load(p)?,
        None => Config::default(),
    };
    let endpoint_text = g
        .endpoint
        .clone()
        .or_else(|| env.get("PODSTACK_ENDPOINT"))
        .or_else(|| config.endpoint.clone())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let endpoint = Endpoint::parse(&endpoint_text).map_err(|e| {
        CliError::usage(format!("invalid endpoint: {e}"))
            .hint("pass --endpoint http://HOST:PORT (or set PODSTACK_ENDPOINT)")
    })?;
    let data_dir = match g.data_dir.clone() {
        Some(d) => d,
        None => data_home(env)?,
    };
    let default_strategy = match env
        .get("MERGE_STRATEGY")
        .or_else(|| config.merge_strategy.clone())
    {
        Some(s) => s.parse().map_err(|e: podstore::Error| {
            CliError::usage(format!("MERGE_STRATEGY / merge_strategy: {e}"))
        })?,
        None => Strategy::default(),
    };
    let verbosity = if g.quiet {
        Verbosity::Quiet
    } else if g.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let is_inspect = matches!(cli.command, Command::Pod(PodCommand::Inspect { .. }));
    if g.format == Some(Format::Tree) && !is_inspect {
        return Err(CliError::usage(
            "--format tree is for `pod inspect`; use --format table or --format json",
        ));
    }
    let credentials = credentials::Options {
        env_token: env.get(credentials::TOKEN_VAR),
        backend: match env.get("PODSTACK_KEYRING") {
            Some(v) => v.parse().map_err(|e: String| {
                CliError::usage(e).hint("unset PODSTACK_KEYRING to pick the store automatically")
            })?,
            None => credentials::Backend::Auto,
        },
        session_bus: env.get("DBUS_SESSION_BUS_ADDRESS").is_some(),
    };
    let transfer = transfer_options(env)?;
    let settings = Settings {
        endpoint,
        data_dir,
        json: g.format == Some(Format::Json),
        verbosity,
        color: term.stdout
            && env.get("NO_COLOR").is_none()
            && env.get("TERM").is_none_or(|t| t != "dumb"),
        stdout_tty: term.stdout,
        progress: term.stderr && verbosity != Verbosity::Quiet,
        interactive: term.stdin && term.stderr,
        config_path,
        config,
        credentials,
        transfer,
    };
    let strategy = |s: Option<crate::args::StrategyArg>| s.map_or(default_strategy, Strategy::from);
    let action = match cli.command {
        Command::Start(a) => Action::Start(start_plan(a, env, &settings)?),
        Command::Stop { timeout } => Action::Stop {
            timeout: seconds(timeout)?,
        },
        Command::Status => Action::Status,
        Command::Logs { follow, tail } => Action::Logs { follow, tail },
        Command::Wait { timeout } => Action::Wait {
            timeout: seconds(timeout)?,
        },
        Command::Completions { shell } => Action::Completions { shell },
        Command::Remote(r) => match r {
            RemoteCommand::Add { name, url } => {
                remote::validate_name(&name)?;
                let url = RemoteUrl::parse(&url).map_err(|e| {
                    CliError::usage(e).hint(
                        "a remote is http(s)://HOST[:PORT][/PATH] (a podstack-remote server) \
                         or s3://BUCKET[/PREFIX]",
                    )
                })?;
                Action::RemoteAdd { name, url }
            }
            RemoteCommand::List => Action::RemoteList,
            RemoteCommand::Remove { name } => Action::RemoteRemove { name },
        },
        Command::Login { name, token_stdin } => Action::Login { name, token_stdin },
        Command::Logout { name } => Action::Logout { name },
        Command::Store(StoreCommand::Verify) => Action::Verify,
        Command::Store(StoreCommand::Gc) => Action::Gc,
        Command::State(s) => match s {
            StateCommand::Export { file, services } => Action::StateExport {
                file,
                services: services_list(services)?,
            },
            StateCommand::Import { file, strategy: s } => Action::StateImport {
                file,
                strategy: strategy(s),
            },
            StateCommand::Reset { services } => Action::StateReset {
                services: services_list(services)?,
            },
        },
        Command::Pod(p) => match p {
            PodCommand::Commit {
                name,
                message,
                services,
            } => {
                podstore::validate_name(&name)?;
                Action::Commit {
                    name,
                    message: message.unwrap_or_default(),
                    services: services_list(services)?,
                }
            }
            PodCommand::Inject {
                reference,
                strategy: s,
                dry_run,
                yes,
            } => Action::Inject {
                pod: pod_ref(&reference)?,
                strategy: strategy(s),
                dry_run,
                yes,
            },
            PodCommand::List { remote: None } => Action::List,
            PodCommand::List { remote: Some(r) } => Action::RemotePods {
                remote: remote_name(r)?,
            },
            PodCommand::Versions { name, remote } => {
                if name.contains(':') {
                    return Err(CliError::usage(format!(
                        "`pod versions` takes a pod name, not a version: try `podstack pod versions {}`",
                        name.split(':').next().unwrap_or_default()
                    )));
                }
                podstore::validate_name(&name)?;
                match remote {
                    None => Action::Versions { name },
                    Some(r) => Action::RemoteVersions {
                        remote: remote_name(r)?,
                        name,
                    },
                }
            }
            PodCommand::Delete {
                reference,
                yes,
                remote: None,
            } => Action::Delete {
                pod: pod_ref(&reference)?,
                yes,
            },
            PodCommand::Delete {
                reference,
                yes,
                remote: Some(r),
            } => Action::RemoteDelete {
                remote: remote_name(r)?,
                pod: pod_ref(&reference)?,
                yes,
            },
            PodCommand::Push { reference, remote } => Action::Push {
                remote: remote.map(remote_name).transpose()?.flatten(),
                pod: pod_ref(&reference)?,
            },
            PodCommand::Pull {
                reference,
                remote,
                into,
                inject,
                strategy: s,
            } => {
                if let Some(n) = &into {
                    podstore::validate_name(n)?;
                }
                Action::Pull {
                    remote: remote.map(remote_name).transpose()?.flatten(),
                    pod: pod_ref(&reference)?,
                    into,
                    inject: inject.then(|| strategy(s)),
                }
            }
            PodCommand::Diff { from, to } => Action::Diff {
                from: pod_ref(&from)?,
                to: to.as_deref().map(pod_ref).transpose()?,
            },
            PodCommand::Export { reference, output } => Action::Export {
                pod: pod_ref(&reference)?,
                output,
            },
            PodCommand::Import { file, name } => {
                if let Some(n) = &name {
                    podstore::validate_name(n)?;
                }
                Action::Import { file, name }
            }
            PodCommand::Inspect { target, diff } => Action::Inspect {
                target: inspect_target(&target)?,
                diff: diff.as_deref().map(inspect_target).transpose()?,
                output: match g.format {
                    Some(Format::Json) => InspectOutput::Json,
                    Some(Format::Table | Format::Tree) => InspectOutput::Tree,
                    None if term.stdout && term.stdin => InspectOutput::Interactive,
                    None => InspectOutput::Tree,
                },
            },
        },
    };
    Ok(Plan { settings, action })
}

/// The data directory: `PODSTACK_HOME`, else `$XDG_DATA_HOME/podstack`, else
/// `~/.local/share/podstack`.
pub fn data_home(env: &Env) -> Result<PathBuf> {
    if let Some(p) = env.path("PODSTACK_HOME") {
        return Ok(p);
    }
    if let Some(p) = env.path("XDG_DATA_HOME") {
        return Ok(p.join("podstack"));
    }
    env.path("HOME")
        .map(|h| h.join(".local/share/podstack"))
        .ok_or_else(|| {
            CliError::usage("cannot find a data directory")
                .hint("set PODSTACK_HOME (or HOME), or pass --data-dir")
        })
}

fn start_plan(a: StartArgs, env: &Env, s: &Settings) -> Result<StartPlan> {
    let listen = a
        .listen
        .as_deref()
        .map(emulator::parse_listen)
        .transpose()
        .map_err(|e| CliError::usage(e.replace("GATEWAY_LISTEN=", "--listen ")))?;
    let effective = match (listen, env.get("GATEWAY_LISTEN")) {
        (Some(l), _) => l,
        (None, Some(v)) => emulator::parse_listen(&v).map_err(CliError::usage)?,
        (None, None) => std::net::SocketAddr::from(([127, 0, 0, 1], 4566)),
    };
    let mut health_addr = effective;
    if health_addr.ip().is_unspecified() {
        health_addr.set_ip(std::net::IpAddr::from([127, 0, 0, 1]));
    }
    Ok(StartPlan {
        detach: a.detach,
        listen,
        health_addr,
        init_pods_dir: a
            .init_pods_dir
            .unwrap_or_else(|| s.data_dir.join("init-pods.d")),
        timeout: seconds(a.timeout)?,
        pid_file: a.pid_file,
    })
}

fn seconds(v: f64) -> Result<f64> {
    if (0.0..1e9).contains(&v) {
        Ok(v)
    } else {
        Err(CliError::usage(format!(
            "{v} is not a number of seconds (0 or more)"
        )))
    }
}

/// Parses `name` or `name:N`.
/// Push and pull tuning from the environment; each variable must be a positive number.
fn transfer_options(env: &Env) -> Result<remote_server::sync::Options> {
    let mut o = remote_server::sync::Options::default();
    let num = |var: &str| -> Result<Option<u64>> {
        match env.get(var) {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| CliError::usage(format!("{var}={v:?} is not a positive number"))),
            None => Ok(None),
        }
    };
    if let Some(n) = num("PODSTACK_TRANSFER_PARALLEL")? {
        o.parallel = usize::try_from(n.min(64)).unwrap_or(4);
    }
    if let Some(n) = num("PODSTACK_TRANSFER_BATCH_BYTES")? {
        o.batch_bytes = n;
    }
    Ok(o)
}

/// A `--remote` value: empty (the flag alone) means the default remote.
fn remote_name(r: String) -> Result<Option<String>> {
    if r.is_empty() {
        return Ok(None);
    }
    crate::remote::validate_name(&r)?;
    Ok(Some(r))
}

pub fn pod_ref(s: &str) -> Result<PodRef> {
    PodRef::parse(s).map_err(|e| {
        CliError::from(e).hint("a pod reference is NAME (the latest version) or NAME:N (version N)")
    })
}

/// Validates service names; an empty list means all.
pub fn services_list(list: Vec<String>) -> Result<Option<Vec<String>>> {
    let list: Vec<String> = list
        .into_iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Ok(None);
    }
    let names = emulator::service_names();
    let known: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    for s in &list {
        if !known.contains(s) {
            let hint = podstore::closest(s, &known)
                .map(|c| format!("; did you mean {c:?}?"))
                .unwrap_or_default();
            return Err(CliError::usage(format!("unknown service {s:?}{hint}"))
                .hint(format!("podstack emulates {}", names.join(", "))));
        }
    }
    let mut out = list;
    out.sort();
    out.dedup();
    Ok(Some(out))
}

/// A pod reference, or a file when it names an existing file or looks like a path.
fn inspect_target(s: &str) -> Result<Target> {
    let p = Path::new(s);
    if p.is_file() || s.contains('/') || s.ends_with(".tar") || s == "-" {
        return Ok(Target::File(p.to_owned()));
    }
    pod_ref(s)
        .map(Target::Pod)
        .map_err(|e| e.hint("name a pod (NAME or NAME:N) or an archive file (e.g. ./pod.tar)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn plan(args: &[&str], env: &[(&str, &str)]) -> Result<Plan> {
        let mut argv = vec!["podstack"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).expect("clap");
        let mut vars = vec![
            ("HOME", "/home/u"),
            ("PODSTACK_CONFIG", "/nonexistent/config.yaml"),
        ];
        vars.extend_from_slice(env);
        resolve(cli, &Env::from_pairs(&vars), Terminal::default())
    }

    #[test]
    fn precedence_is_flag_env_config_default() {
        let p = plan(&["pod", "list"], &[]).expect("plan");
        assert_eq!(p.settings.endpoint.to_string(), DEFAULT_ENDPOINT);
        assert_eq!(
            p.settings.data_dir,
            Path::new("/home/u/.local/share/podstack")
        );
        let p = plan(
            &["pod", "list"],
            &[
                ("PODSTACK_ENDPOINT", "http://127.0.0.1:1"),
                ("PODSTACK_HOME", "/d"),
            ],
        )
        .expect("plan");
        assert_eq!(
            (p.settings.endpoint.port, p.settings.data_dir.as_path()),
            (1, Path::new("/d"))
        );
        let p = plan(
            &[
                "--endpoint",
                "http://h:2",
                "--data-dir",
                "/x",
                "pod",
                "list",
            ],
            &[("PODSTACK_ENDPOINT", "http://127.0.0.1:1")],
        )
        .expect("plan");
        assert_eq!(
            (p.settings.endpoint.port, p.settings.data_dir.as_path()),
            (2, Path::new("/x"))
        );

        let dir = tempfile::tempdir().expect("dir");
        let cfg = dir.path().join("c.yaml");
        std::fs::write(
            &cfg,
            "endpoint: http://127.0.0.1:3\nmerge_strategy: service-merge\n",
        )
        .expect("write");
        let cfg = cfg.to_str().expect("utf8");
        let p = plan(&["pod", "inject", "p1"], &[("PODSTACK_CONFIG", cfg)]).expect("plan");
        assert_eq!(p.settings.endpoint.port, 3);
        assert!(matches!(
            p.action,
            Action::Inject {
                strategy: Strategy::ServiceMerge,
                ..
            }
        ));
        let p = plan(
            &["pod", "inject", "p1"],
            &[("PODSTACK_CONFIG", cfg), ("MERGE_STRATEGY", "overwrite")],
        )
        .expect("plan");
        assert!(matches!(
            p.action,
            Action::Inject {
                strategy: Strategy::Overwrite,
                ..
            }
        ));
        let p = plan(
            &["pod", "inject", "p1:2", "--strategy", "three-way"],
            &[("MERGE_STRATEGY", "overwrite")],
        )
        .expect("plan");
        match p.action {
            Action::Inject { pod, strategy, .. } => {
                assert_eq!((pod.version, strategy), (Some(2), Strategy::ThreeWay));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for (args, env) in [
            (&["pod", "inject", "p 1"][..], &[][..]),
            (&["pod", "inject", "p1:0"], &[]),
            (&["pod", "commit", "p1", "-s", "s4"], &[]),
            (&["pod", "list", "--format", "tree"], &[]),
            (&["pod", "versions", "p1:2"], &[]),
            (&["pod", "list", "--endpoint", "ftp://x"], &[]),
            (&["pod", "inject", "p1"], &[("MERGE_STRATEGY", "nope")]),
            (&["stop", "--timeout=-1"], &[]),
            (&["remote", "add", "a b", "http://h"], &[]),
            (&["remote", "add", "r", "http://u:p@h"], &[]),
            (&["remote", "add", "r", "oci://registry/x"], &[]),
            (&["remote", "list"], &[("PODSTACK_KEYRING", "kwallet")]),
        ] {
            let e = plan(args, env).expect_err("must fail");
            assert_eq!(e.kind.exit_code(), 2, "{args:?}: {}", e.message);
        }
        let p = plan(
            &["login", "--token-stdin"],
            &[
                ("PODSTACK_TOKEN", "t"),
                ("PODSTACK_KEYRING", "secret-service"),
                ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/x"),
            ],
        )
        .expect("plan");
        assert_eq!(p.settings.credentials.env_token.as_deref(), Some("t"));
        assert_eq!(
            p.settings.credentials.backend,
            credentials::Backend::SecretService
        );
        assert!(p.settings.credentials.session_bus);
        assert!(matches!(
            p.action,
            Action::Login {
                name: None,
                token_stdin: true
            }
        ));
        let e = plan(&["pod", "commit", "p1", "-s", "s4"], &[]).expect_err("typo");
        assert!(e.message.contains("did you mean \"s3\""), "{}", e.message);
    }

    #[test]
    fn services_inspect_targets_and_start() {
        assert_eq!(
            services_list(vec!["SQS".into(), "s3".into(), "s3".into()]).expect("ok"),
            Some(vec!["s3".into(), "sqs".into()])
        );
        assert_eq!(services_list(vec![]).expect("ok"), None);
        assert_eq!(
            inspect_target("p1:2").expect("pod"),
            Target::Pod(pod_ref("p1:2").expect("ref"))
        );
        assert_eq!(
            inspect_target("./x.tar").expect("file"),
            Target::File("./x.tar".into())
        );
        let p = plan(&["pod", "inspect", "p1", "--format", "json"], &[]).expect("plan");
        assert!(matches!(
            p.action,
            Action::Inspect {
                output: InspectOutput::Json,
                ..
            }
        ));
        let p = plan(&["pod", "inspect", "p1"], &[]).expect("plan");
        assert!(matches!(
            p.action,
            Action::Inspect {
                output: InspectOutput::Tree,
                ..
            }
        ));
        let p = plan(&["start", "-d", "--listen", "0.0.0.0:5000"], &[]).expect("plan");
        match p.action {
            Action::Start(s) => {
                assert!(s.detach);
                assert_eq!(s.health_addr.to_string(), "127.0.0.1:5000");
                assert_eq!(
                    s.init_pods_dir,
                    Path::new("/home/u/.local/share/podstack/init-pods.d")
                );
            }
            other => panic!("{other:?}"),
        }
        let p = plan(&["start"], &[("GATEWAY_LISTEN", ":4999")]).expect("plan");
        assert!(
            matches!(p.action, Action::Start(StartPlan { health_addr, .. }) if health_addr.port() == 4999)
        );
    }
}
