//! Remotes: named places that `push` and `pull` exchange pods with, kept in `remotes.json` in
//! the configuration directory (beside `config.yaml`).
//!
//! A remote is a podstack-remote server (`http://` or `https://`) or an S3 bucket used
//! directly (`s3://bucket/prefix`). URLs never carry credentials: tokens are stored by
//! `podstack login` ([`crate::credentials`]), and S3 remotes use the standard AWS
//! credentials. [`resolve_remote`] picks the remote a command means.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cmd::AtomicFile;
use crate::error::{CliError, Context as _, Kind, Result};
use crate::http::Endpoint;
use crate::plan::Settings;

/// The file name of the remotes, in the configuration directory.
pub const REMOTES_FILE: &str = "remotes.json";

/// A configured remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Its name (the rules of pod names).
    pub name: String,
    /// Where it is.
    pub url: RemoteUrl,
}

/// Where a remote is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteUrl {
    /// A podstack-remote server.
    Http {
        /// `http://host[:port][/path]` or `https://…`: scheme and host lower-cased, no
        /// trailing slash, no credentials, no query.
        base: String,
    },
    /// An S3 bucket used directly.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing slash (may be empty).
        prefix: String,
    },
}

impl RemoteUrl {
    /// Parses and normalizes a remote URL; the message says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let raw = text.trim();
        // Messages show the URL without what may be a secret.
        let s = &redact(raw);
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{s:?}: a URL cannot contain spaces"));
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(format!(
                "{s:?} is not a remote URL: expected http://HOST[:PORT], https://HOST or \
                 s3://BUCKET/PREFIX"
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "s3" | "oci") {
            return Err(format!(
                "{s}: the scheme {scheme}:// is not supported; use http://, https:// (a \
                 podstack-remote server) or s3://BUCKET/PREFIX"
            ));
        }
        if rest.contains(['?', '#']) {
            return Err(format!(
                "{s}: a remote URL cannot have a query string or fragment (it could carry a \
                 secret; tokens are stored with `podstack login`)"
            ));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(format!(
                "{s}: credentials do not belong in a remote URL (they would be stored in \
                 plain text and shown by `remote list`); remove `user:password@` and use \
                 `podstack login`"
            ));
        }
        match scheme.as_str() {
            "oci" => Err(format!(
                "{s}: OCI registries are not supported as remotes yet; use http(s):// (a \
                 podstack-remote server) or s3://BUCKET/PREFIX"
            )),
            "s3" => parse_s3(s, rest),
            _ => parse_http(s, &scheme, rest),
        }
    }

    /// `http` or `s3`, as `remote list --format json` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http { .. } => "http",
            Self::S3 { .. } => "s3",
        }
    }

    /// The endpoint for the HTTP client.
    pub fn endpoint(&self) -> Result<Endpoint> {
        match self {
            Self::Http { base } => Endpoint::parse(base)
                .map_err(|e| CliError::general(format!("invalid remote URL {base}: {e}"))),
            Self::S3 { .. } => Err(CliError::usage(format!(
                "{self} is an S3 remote, not a podstack-remote server"
            ))),
        }
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { base } => f.write_str(base),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The URL with user information and query replaced by `***`.
fn redact(url: &str) -> String {
    let (head, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let (rest, query) = match rest.split_once(['?', '#']) {
        Some((r, _)) => (r, "?***"),
        None => (rest, ""),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    format!("{head}{authority}{path}{query}")
}

fn parse_http(s: &str, scheme: &str, rest: &str) -> std::result::Result<RemoteUrl, String> {
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{s}: unterminated [ in the host"))?;
            if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit() || ":.".contains(c)) {
                return Err(format!("{s}: {h:?} is not an IPv6 address"));
            }
            (format!("[{}]", h.to_ascii_lowercase()), after)
        }
        None => {
            let (h, after) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
            let ok = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
            if h.is_empty() || !h.chars().all(ok) {
                return Err(format!("{s}: {h:?} is not a host name"));
            }
            (h.to_ascii_lowercase(), after)
        }
    };
    let port = match port {
        "" => String::new(),
        p => match p.strip_prefix(':').map(str::parse::<u16>) {
            Some(Ok(n)) if n > 0 => format!(":{n}"),
            _ => {
                return Err(format!(
                    "{s}: {:?} is not a port number",
                    p.trim_start_matches(':')
                ));
            }
        },
    };
    let path = path.trim_end_matches('/');
    if path.split('/').any(|seg| seg == "..") {
        return Err(format!("{s}: the path cannot contain `..`"));
    }
    Ok(RemoteUrl::Http {
        base: format!("{scheme}://{host}{port}{path}"),
    })
}

fn parse_s3(s: &str, rest: &str) -> std::result::Result<RemoteUrl, String> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(format!(
            "{s}: {bucket:?} is not an S3 bucket name (3 to 63 lower-case letters, digits, \
             dots and hyphens)"
        ));
    }
    let prefix: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    if prefix.iter().any(|p| *p == "." || *p == "..") {
        return Err(format!(
            "{s}: the prefix cannot contain `.` or `..` segments"
        ));
    }
    Ok(RemoteUrl::S3 {
        bucket: bucket.to_owned(),
        prefix: prefix.join("/"),
    })
}

/// Checks a remote name: the rules of pod names.
pub fn validate_name(name: &str) -> Result<()> {
    podstore::validate_name(name).map_err(|e| match e {
        podstore::Error::InvalidPodName { reason, .. } => CliError::usage(format!(
            "invalid remote name {name:?}: {}",
            reason.replace("a pod name", "a name")
        ))
        .hint("a remote name is like a pod name: letters, digits, `.`, `_` and `-`"),
        other => CliError::from(other),
    })
}

/// The configuration directory: that of `config.yaml` (`PODSTACK_CONFIG`'s parent, else
/// `$XDG_CONFIG_HOME/podstack`, else `~/.config/podstack`).
pub fn config_dir(settings: &Settings) -> Result<PathBuf> {
    let path = settings.config_path.as_deref().ok_or_else(|| {
        CliError::usage("cannot find a configuration directory")
            .hint("set PODSTACK_CONFIG, XDG_CONFIG_HOME or HOME")
    })?;
    Ok(match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    })
}

/// Creates the configuration directory (mode 0700 for what it creates).
pub fn create_config_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .context(Kind::General, || format!("cannot create {}", dir.display()))
}

/// The remotes, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remotes {
    /// Sorted by name.
    pub list: Vec<Remote>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    remotes: Vec<EntryForm>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryForm {
    name: String,
    url: String,
}

impl Remotes {
    /// The remote called `name`.
    pub fn get(&self, name: &str) -> Option<&Remote> {
        self.list.iter().find(|r| r.name == name)
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|r| r.name.clone()).collect()
    }

    /// Reads `remotes.json` from `dir`; a missing file is no remotes.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(REMOTES_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(CliError::general(format!("cannot read {}", path.display())).cause(&e));
            }
        };
        let invalid =
            |why: String| CliError::new(Kind::Invalid, format!("{}: {why}", path.display()));
        let form: FileForm = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let mut list = Vec::with_capacity(form.remotes.len());
        for e in form.remotes {
            validate_name(&e.name).map_err(|err| invalid(err.message))?;
            let url = RemoteUrl::parse(&e.url)
                .map_err(|why| invalid(format!("remote {:?}: {why}", e.name)))?;
            list.push(Remote { name: e.name, url });
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { list })
    }

    /// Writes `remotes.json` in `dir` atomically (creating `dir`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        create_config_dir(dir)?;
        let form = FileForm {
            remotes: self
                .list
                .iter()
                .map(|r| EntryForm {
                    name: r.name.clone(),
                    url: r.url.to_string(),
                })
                .collect(),
        };
        let path = dir.join(REMOTES_FILE);
        let mut bytes = serde_json::to_vec_pretty(&form)
            .map_err(|e| CliError::general("cannot encode the remotes").cause(&e))?;
        bytes.push(b'\n');
        let mut f = AtomicFile::create(&path)?;
        std::io::Write::write_all(f.file(), &bytes)
            .context(Kind::General, || format!("cannot write {}", path.display()))?;
        f.commit()
    }

    /// Adds a remote; an existing name is a conflict.
    pub fn add(&mut self, remote: Remote) -> Result<()> {
        if let Some(old) = self.get(&remote.name) {
            return Err(CliError::new(
                Kind::Conflict,
                format!("a remote named {:?} already exists ({})", old.name, old.url),
            )
            .hint(format!(
                "`podstack remote remove {}` first to point it elsewhere",
                old.name
            )));
        }
        self.list.push(remote);
        self.list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    /// Removes and returns a remote; an unknown name is not-found (with a suggestion).
    pub fn remove(&mut self, name: &str) -> Result<Remote> {
        let i = self
            .list
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| self.unknown(name))?;
        Ok(self.list.remove(i))
    }

    /// Looks a remote up; an unknown name is not-found (with a suggestion).
    pub fn find(&self, name: &str) -> Result<&Remote> {
        self.get(name).ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> CliError {
        let names = self.names();
        let suggestion = podstore::closest(name, &names)
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_default();
        let hint = if names.is_empty() {
            "no remote is configured; `podstack remote add NAME URL` adds one".to_owned()
        } else {
            format!("the remotes are: {}", names.join(", "))
        };
        CliError::new(
            Kind::NotFound,
            format!("no remote named {name:?}{suggestion}"),
        )
        .hint(hint)
    }
}

/// The remote a command means: `name` when given, else the configuration's `default_remote`,
/// else the only configured remote; otherwise a usage error listing them.
pub fn resolve_remote(settings: &Settings, name: Option<&str>) -> Result<Remote> {
    let remotes = Remotes::load(&config_dir(settings)?)?;
    pick(
        &remotes,
        name,
        settings.config.default_remote.as_deref(),
        settings,
    )
}

fn pick(
    remotes: &Remotes,
    name: Option<&str>,
    default: Option<&str>,
    settings: &Settings,
) -> Result<Remote> {
    if let Some(n) = name {
        return remotes.find(n).cloned();
    }
    if let Some(d) = default {
        let config = settings.config_path.as_deref().map_or_else(
            || "the configuration".to_owned(),
            |p| p.display().to_string(),
        );
        return remotes.find(d).cloned().map_err(|e| {
            CliError::usage(format!("default_remote in {config}: {}", e.message))
                .hint("`podstack remote list` shows the remotes")
        });
    }
    match remotes.list.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(CliError::usage("no remote is configured")
            .hint("`podstack remote add NAME URL` adds one")),
        many => Err(CliError::usage(format!(
            "{} remotes are configured ({}); name one",
            many.len(),
            remotes.names().join(", ")
        ))
        .hint("or set default_remote in the configuration file")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(base: &str) -> RemoteUrl {
        RemoteUrl::Http { base: base.into() }
    }

    #[test]
    fn urls_parse_and_normalize() {
        let ok = |s: &str| RemoteUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            ok("http://Example.COM:8080/"),
            http("http://example.com:8080")
        );
        assert_eq!(ok(" HTTPS://h/a/b// "), http("https://h/a/b"));
        assert_eq!(ok("http://[::1]:9000"), http("http://[::1]:9000"));
        assert_eq!(
            ok("s3://my-bucket/team//pods/"),
            RemoteUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: "team/pods".into()
            }
        );
        assert_eq!(ok("s3://my-bucket").to_string(), "s3://my-bucket");
        assert_eq!(ok("s3://b.c-d/x/y").to_string(), "s3://b.c-d/x/y");
        assert_eq!(ok("http://h:1/p").kind(), "http");
        let ep = ok("http://h:1234/base").endpoint().expect("endpoint");
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.prefix.as_str()),
            ("h", 1234, "/base")
        );
        let tls = ok("https://h").endpoint().expect("https");
        assert!(tls.tls && tls.port == 443);
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, says) in [
            ("http://user:hunter2@h:1", "credentials"),
            ("s3://key:hunter2@bucket/p", "credentials"),
            ("http://h/x?token=hunter2", "query"),
            ("s3://bucket/p?X-Amz-Signature=hunter2", "query"),
            ("oci://registry/pods", "not supported as remotes yet"),
            ("ftp://h", "scheme ftp:// is not supported"),
            ("h:8080", "expected http://"),
            ("http://", "not a host name"),
            ("http://h:0", "port"),
            ("http://h:99999", "port"),
            ("http://h/a b", "spaces"),
            ("http://h/../x", ".."),
            ("s3://Bad_Bucket/x", "bucket name"),
            ("s3://ab", "bucket name"),
            ("s3://bucket/a/../b", ".."),
        ] {
            let e = RemoteUrl::parse(url).expect_err(url);
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn the_file_round_trips_and_rejects_conflicts() {
        let dir = tempfile::tempdir().expect("dir");
        let cfg = dir.path().join("cfg");
        assert_eq!(Remotes::load(&cfg).expect("missing"), Remotes::default());
        let mut r = Remotes::default();
        for (name, url) in [("team", "http://h:1"), ("archive", "s3://bkt/pods")] {
            r.add(Remote {
                name: name.into(),
                url: RemoteUrl::parse(url).expect("url"),
            })
            .expect("add");
        }
        let e = r
            .add(Remote {
                name: "team".into(),
                url: http("http://other"),
            })
            .expect_err("dup");
        assert_eq!(e.kind, Kind::Conflict);
        r.save(&cfg).expect("save");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&cfg).expect("dir").permissions(),
        );
        assert_eq!(mode & 0o777, 0o700);
        let back = Remotes::load(&cfg).expect("load");
        assert_eq!(back, r);
        assert_eq!(back.names(), ["archive", "team"]);
        let mut back = back;
        let e = back.remove("teem").expect_err("unknown");
        assert_eq!(e.kind, Kind::NotFound);
        assert!(e.message.contains("did you mean \"team\""), "{}", e.message);
        assert_eq!(back.remove("team").expect("rm").url, http("http://h:1"));
        std::fs::write(
            cfg.join(REMOTES_FILE),
            "{\"remotes\":[{\"name\":\"x\",\"url\":\"ftp://h\"}]}",
        )
        .expect("write");
        let e = Remotes::load(&cfg).expect_err("bad url");
        assert_eq!(e.kind, Kind::Invalid);
        assert!(e.message.contains(REMOTES_FILE), "{}", e.message);
        assert!(validate_name("a b").is_err());
        assert!(
            validate_name("")
                .expect_err("empty")
                .message
                .contains("a name")
        );
    }

    #[test]
    fn resolution_order() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Settings::for_tests(dir.path(), false);
        let one = |n: &str| Remote {
            name: n.into(),
            url: http("http://h:1"),
        };
        let none = Remotes::default();
        let single = Remotes {
            list: vec![one("a")],
        };
        let two = Remotes {
            list: vec![one("a"), one("b")],
        };
        assert_eq!(pick(&single, None, None, &s).expect("only").name, "a");
        assert_eq!(
            pick(&two, Some("b"), Some("a"), &s).expect("named").name,
            "b"
        );
        assert_eq!(pick(&two, None, Some("b"), &s).expect("default").name, "b");
        let e = pick(&two, None, None, &s).expect_err("ambiguous");
        assert!(
            e.message.contains("a, b") && e.kind == Kind::Usage,
            "{}",
            e.message
        );
        assert_eq!(
            pick(&none, None, None, &s).expect_err("none").kind,
            Kind::Usage
        );
        assert_eq!(
            pick(&two, Some("c"), None, &s).expect_err("c").kind,
            Kind::NotFound
        );
        let e = pick(&two, None, Some("c"), &s).expect_err("bad default");
        assert!(e.message.contains("default_remote"), "{}", e.message);
    }
}
