//! Where podstack keeps its data: `PODSTACK_HOME`, else `$XDG_DATA_HOME/podstack`, else
//! `~/.local/share/podstack`.

use std::path::PathBuf;

/// The data directory.
pub fn data_home() -> Result<PathBuf, String> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("PODSTACK_HOME") {
        return Ok(p);
    }
    if let Some(p) = env("XDG_DATA_HOME") {
        return Ok(p.join("podstack"));
    }
    env("HOME")
        .map(|h| h.join(".local/share/podstack"))
        .ok_or_else(|| "cannot find a data directory: set PODSTACK_HOME or HOME".to_owned())
}
