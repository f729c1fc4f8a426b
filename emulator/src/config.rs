//! Emulator configuration, from the environment with LocalStack's names where they exist.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::persist::persistence::PersistConfig;

/// The account used when a request's access key id is not a 12-digit account id.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// Everything the emulator needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (`GATEWAY_LISTEN`, default `127.0.0.1:4566`).
    pub listen: SocketAddr,
    /// The pod store that holds object bodies and snapshots (`PODSTACK_HOME`-derived).
    pub store_dir: PathBuf,
    /// Account for access keys that are not account ids (`PODSTACK_DEFAULT_ACCOUNT`).
    pub default_account: String,
    /// Region when a request names none (`DEFAULT_REGION` / `AWS_DEFAULT_REGION`).
    pub default_region: String,
    /// Whether `POST /_podstack/clock?advance=SECONDS` may move the emulator's clock
    /// (`PODSTACK_CLOCK_CONTROL=1`; for tests of timeouts without waiting).
    pub clock_control: bool,
    /// `PERSISTENCE`, `SNAPSHOT_SAVE_STRATEGY`, `SNAPSHOT_LOAD_STRATEGY`, `SNAPSHOT_FLUSH_INTERVAL`.
    pub persist: PersistConfig,
}

impl Config {
    /// Defaults, for tests: loopback on port 0 and the given store.
    pub fn for_tests(store_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store_dir,
            default_account: DEFAULT_ACCOUNT.into(),
            default_region: "us-east-1".into(),
            clock_control: true,
            persist: PersistConfig::default(),
        }
    }

    /// Reads the environment; `listen` and `store_dir` are the caller's (flags win over env).
    pub fn from_env(listen: Option<SocketAddr>, store_dir: PathBuf) -> Result<Self, String> {
        let listen = match (listen, std::env::var("GATEWAY_LISTEN").ok()) {
            (Some(l), _) => l,
            (None, Some(v)) => parse_listen(&v)?,
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 4566)),
        };
        let default_account = std::env::var("PODSTACK_DEFAULT_ACCOUNT")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_ACCOUNT.into());
        if !is_account_id(&default_account) {
            return Err(format!(
                "PODSTACK_DEFAULT_ACCOUNT={default_account:?} is not a 12-digit account id"
            ));
        }
        let default_region = ["DEFAULT_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "us-east-1".into());
        let clock_control =
            std::env::var("PODSTACK_CLOCK_CONTROL").is_ok_and(|v| v == "1" || v == "true");
        Ok(Self {
            listen,
            store_dir,
            default_account,
            default_region,
            clock_control,
            persist: PersistConfig::from_env()?,
        })
    }
}

/// Parses `GATEWAY_LISTEN`: `host:port`, `:port` or a comma list (the first entry is used).
pub fn parse_listen(v: &str) -> Result<SocketAddr, String> {
    let first = v.split(',').next().unwrap_or("").trim();
    let with_host = if first.starts_with(':') {
        format!("127.0.0.1{first}")
    } else {
        first.replace("localhost", "127.0.0.1")
    };
    with_host
        .parse()
        .map_err(|_| format!("GATEWAY_LISTEN={v:?} is not host:port (e.g. 127.0.0.1:4566)"))
}

/// Whether `s` is exactly twelve ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen(":4567").expect("port"),
            "127.0.0.1:4567".parse().expect("addr")
        );
        assert_eq!(
            parse_listen("localhost:1,0.0.0.0:2").expect("list"),
            "127.0.0.1:1".parse().expect("addr")
        );
        assert!(parse_listen("nonsense").is_err());
    }
}
