//! The YAML configuration file: defaults for the endpoint, the remote and the merge strategy.
//!
//! Found at `PODSTACK_CONFIG`, else `$XDG_CONFIG_HOME/podstack/config.yaml`, else
//! `~/.config/podstack/config.yaml`; a missing file means no defaults. Unknown keys are an
//! error that names the file and the key, so a typo never silently does nothing.
//!
//! ```yaml
//! endpoint: http://127.0.0.1:4566
//! default_remote: team
//! merge_strategy: account-region-merge
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{CliError, Result};
use crate::plan::Env;

/// The settings of the file; every key is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The emulator's URL.
    pub endpoint: Option<String>,
    /// The remote that push and pull use when none is named.
    pub default_remote: Option<String>,
    /// The strategy `pod inject` and `state import` use when none is given.
    pub merge_strategy: Option<String>,
}

/// Where the file is, per the environment (it may not exist).
pub fn path(env: &Env) -> Option<PathBuf> {
    if let Some(p) = env.path("PODSTACK_CONFIG") {
        return Some(p);
    }
    if let Some(p) = env.path("XDG_CONFIG_HOME") {
        return Some(p.join("podstack").join("config.yaml"));
    }
    env.path("HOME")
        .map(|h| h.join(".config").join("podstack").join("config.yaml"))
}

/// Reads the file at `path`; a missing file is the empty configuration.
pub fn load(path: &Path) -> Result<Config> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read the configuration {}",
                path.display()
            ))
            .cause(&e));
        }
    };
    parse(&text).map_err(|e| {
        CliError::usage(format!("invalid configuration {}: {e}", path.display())).hint(
            "the keys are endpoint, default_remote and merge_strategy (see docs/user-guide.md)",
        )
    })
}

/// Parses the YAML text.
pub fn parse(text: &str) -> Result<Config, String> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
    {
        return Ok(Config::default());
    }
    let c: Config = serde_saphyr::from_str(text).map_err(|e| first_line(&e.to_string()))?;
    if let Some(s) = &c.merge_strategy {
        s.parse::<podstore::Strategy>()
            .map_err(|e| format!("merge_strategy: {e}"))?;
    }
    Ok(c)
}

/// The first line of a parser message (the rest is a source snippet).
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_unknown_keys_are_named() {
        let c = parse("endpoint: http://127.0.0.1:5000\nmerge_strategy: three-way\n").expect("ok");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(c.merge_strategy.as_deref(), Some("three-way"));
        assert_eq!(parse("# nothing\n").expect("empty"), Config::default());
        let e = parse("endpoint: x\nendpiont: y\n").expect_err("unknown");
        assert!(e.contains("endpiont"), "{e}");
        let e = parse("merge_strategy: sideways\n").expect_err("strategy");
        assert!(e.contains("sideways"), "{e}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("config.yaml");
        assert_eq!(load(&p).expect("missing"), Config::default());
        std::fs::write(&p, "colour: red\n").expect("write");
        let e = load(&p).expect_err("bad");
        assert!(
            e.message.contains("config.yaml") && e.message.contains("colour"),
            "{}",
            e.message
        );
        assert_eq!(e.kind.exit_code(), 2);
    }
}
