//! Preseeding at start: `AUTO_LOAD_POD=name,name:3,team/name` loads pods from the local pod
//! store (or, written `REMOTE/NAME[:N]`, from a remote), in order, with `MERGE_STRATEGY`
//! (default `account-region-merge`); then the init directory (`$PODSTACK_HOME/init-pods.d`):
//! `*.txt` files list pod references one per line (`#` comments; LocalStack's `name,remote`
//! names a remote), then `*.tar` files are pod archives (`pod export`). Each later source merges
//! over the earlier ones.
//!
//! The emulator reads only its own store: `podstack start` pulls remote seeds into it first
//! ([`Seed::Remote`] becomes [`Seed::Pod`]); a remote seed that reaches the gateway unpulled is
//! reported and skipped.
//!
//! With `PERSISTENCE=1` preseeding happens only when there is no snapshot yet (the first
//! start): after that the persisted state, which started from the pods, is what comes back.
//! LocalStack instead ignores `AUTO_LOAD_POD` under persistence, silently.

use std::path::{Path, PathBuf};

use podstore::{PodRef, Strategy};

use crate::http::gateway::Gateway;
use crate::persist::state::StateError;

/// `MERGE_STRATEGY`, else `account-region-merge`.
pub fn default_strategy() -> Strategy {
    std::env::var("MERGE_STRATEGY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// One thing to load at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// A pod of the local store.
    Pod(PodRef),
    /// A pod archive file.
    Archive(PathBuf),
    /// A pod of a remote (by the remote's name), to be pulled into the store first.
    Remote {
        /// The remote's name.
        remote: String,
        /// The pod there.
        pod: PodRef,
    },
}

/// Parses `AUTO_LOAD_POD`: comma separated `NAME[:N]` or `REMOTE/NAME[:N]`.
pub fn parse_auto_load(v: &str) -> Result<Vec<Seed>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('/') {
            Some((remote, pod)) => remote_seed(remote, pod),
            None => pod_ref(s).map(Seed::Pod),
        })
        .map(|r| r.map_err(|e| format!("AUTO_LOAD_POD: {e}")))
        .collect()
}

/// Parses a line of an init-directory list: `NAME[:N]` or LocalStack's `NAME[:N],REMOTE`.
fn parse_line(s: &str) -> Result<Seed, String> {
    match s.split_once(',') {
        Some((pod, remote)) => remote_seed(remote.trim(), pod.trim()),
        None => pod_ref(s).map(Seed::Pod),
    }
}

fn remote_seed(remote: &str, pod: &str) -> Result<Seed, String> {
    podstore::validate_name(remote).map_err(|e| format!("remote name {remote:?}: {e}"))?;
    Ok(Seed::Remote {
        remote: remote.to_owned(),
        pod: pod_ref(pod)?,
    })
}

fn pod_ref(s: &str) -> Result<PodRef, String> {
    PodRef::parse(s).map_err(|e| e.to_string())
}

/// The seeds of an init directory: pods listed in `*.txt` (sorted by file name), then
/// archives `*.tar` (sorted). A missing directory has none.
pub fn scan_init_dir(dir: &Path) -> Result<Vec<Seed>, String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "txt"))
    {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            out.push(parse_line(line).map_err(|e| format!("{}: {e}", f.display()))?);
        }
    }
    out.extend(
        files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|x| x == "tar"))
            .map(Seed::Archive),
    );
    Ok(out)
}

impl Gateway {
    /// Loads each seed in order with `strategy`. Returns a line per seed for the log; a seed
    /// that fails is reported and skipped (the state is unchanged by it).
    pub fn preseed(&self, seeds: &[Seed], strategy: Strategy) -> Vec<Result<String, String>> {
        seeds
            .iter()
            .map(|s| {
                self.load_seed(s, strategy)
                    .map_err(|e| format!("{}: {e}", describe(s)))
            })
            .collect()
    }

    fn load_seed(&self, seed: &Seed, strategy: Strategy) -> Result<String, StateError> {
        let (commit, name) = match seed {
            Seed::Pod(r) => {
                let (version, commit) = self.store().resolve(r).map_err(StateError::store)?;
                (commit, format!("{}:{version}", r.name))
            }
            Seed::Archive(p) => {
                let f = std::fs::File::open(p)
                    .map_err(|e| StateError::store(format!("{}: {e}", p.display())))?;
                let imported = podstore::import_archive(self.store(), std::io::BufReader::new(f))
                    .map_err(StateError::store)?;
                let name = crate::persist::pods::archive_name(&imported)
                    .unwrap_or_else(|| p.display().to_string());
                (imported.commit, name)
            }
            Seed::Remote { remote, .. } => {
                return Err(StateError::store(format!(
                    "remote {remote:?} was not pulled from (start podstack with `podstack start`, which pulls remote pods first)"
                )));
            }
        };
        let report = self.import_commit(commit, strategy, false, Some(name))?;
        Ok(format!(
            "loaded {} ({strategy}): {}",
            describe(seed),
            report.services.join(", ")
        ))
    }
}

fn describe(s: &Seed) -> String {
    match s {
        Seed::Pod(r) => format!("pod {r}"),
        Seed::Archive(p) => format!("archive {}", p.display()),
        Seed::Remote { remote, pod } => format!("pod {pod} of remote {remote}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_load_and_init_dir() {
        let seeds = parse_auto_load("p1, p2:3,team/p5:2").expect("parse");
        assert_eq!(seeds.len(), 3);
        assert_eq!(
            seeds[2],
            Seed::Remote {
                remote: "team".into(),
                pod: PodRef::parse("p5:2").expect("ref")
            }
        );
        assert!(parse_auto_load("bad name").is_err());
        assert!(parse_auto_load("bad remote/p1").is_err());
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("b.txt"), "# fixtures\np3\n\np4:2, team\n").expect("write");
        std::fs::write(dir.path().join("a.tar"), b"x").expect("write");
        std::fs::write(dir.path().join("ignored.md"), b"x").expect("write");
        let seeds = scan_init_dir(dir.path()).expect("scan");
        assert_eq!(seeds.len(), 3);
        assert!(matches!(&seeds[1], Seed::Remote { remote, .. } if remote == "team"));
        assert!(matches!(&seeds[2], Seed::Archive(p) if p.ends_with("a.tar")));
        assert!(
            scan_init_dir(&dir.path().join("missing"))
                .expect("none")
                .is_empty()
        );
    }
}
