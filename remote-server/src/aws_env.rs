//! AWS credentials and region, found the way the AWS CLI and SDKs find them — a subset:
//! static keys (with an optional session token) from the environment or a profile of the
//! shared `credentials` and `config` files. SSO, assume-role, `credential_process` and instance
//! metadata are not supported.
//!
//! Every function takes an [`Env`] lookup, so tests pass a map instead of mutating the process
//! environment; [`process_env`] is the real one.

use std::path::{Path, PathBuf};

/// Looks up an environment variable.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment; empty values count as unset, as in the AWS tools.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The region used when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Static AWS credentials. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKIA…` (sent in the clear in every request).
    pub access_key_id: String,
    /// The secret (never sent, never printed).
    pub secret_access_key: String,
    /// The token of temporary credentials, sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// Why credentials or the region could not be found.
#[derive(Debug, thiserror::Error)]
pub enum AwsEnvError {
    /// Nothing provides credentials; the message says what was looked at.
    #[error("no AWS credentials found: {0}")]
    Missing(String),
    /// The configuration is incomplete or names something absent.
    #[error("invalid AWS configuration: {0}")]
    Invalid(String),
    /// A shared file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// One `[section]` of an INI file: its name and `key = value` pairs.
type Section = (String, Vec<(String, String)>);

/// Parses the INI dialect of the AWS files: `[name]` headers, `key = value`, `#`/`;` comments.
/// Indented lines (nested settings such as `s3 =` blocks) are skipped.
fn parse_ini(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) || raw.starts_with([' ', '\t']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.push((name, Vec::new()));
        } else if let (Some((k, v)), Some((_, pairs))) = (line.split_once('='), sections.last_mut())
        {
            pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    sections
}

/// The sections of the file at `path`; none when it does not exist.
fn read_ini(path: &Path) -> Result<Vec<Section>, AwsEnvError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_ini(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(AwsEnvError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The shared files and the profile chosen by the environment.
struct Profile {
    name: String,
    credentials_file: Option<PathBuf>,
    config_file: Option<PathBuf>,
}

impl Profile {
    fn from_env(env: Env<'_>) -> Self {
        let home = env("HOME")
            .or_else(|| env("USERPROFILE"))
            .map(PathBuf::from);
        let file = |var: &str, name: &str| {
            env(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
        };
        Self {
            name: env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned()),
            credentials_file: file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            config_file: file("AWS_CONFIG_FILE", "config"),
        }
    }

    /// The profile's settings in the credentials file (`[NAME]`), if any.
    fn in_credentials(&self) -> Result<Option<Vec<(String, String)>>, AwsEnvError> {
        let Some(path) = &self.credentials_file else {
            return Ok(None);
        };
        Ok(read_ini(path)?
            .into_iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, pairs)| pairs))
    }

    /// The profile's settings in the config file (`[profile NAME]`, or `[default]`), if any.
    fn in_config(&self) -> Result<Option<Vec<(String, String)>>, AwsEnvError> {
        let Some(path) = &self.config_file else {
            return Ok(None);
        };
        let wanted = format!("profile {}", self.name);
        Ok(read_ini(path)?
            .into_iter()
            .find(|(n, _)| *n == wanted || (self.name == "default" && n == "default"))
            .map(|(_, pairs)| pairs))
    }

    fn describe_files(&self) -> String {
        let show = |p: &Option<PathBuf>| match p {
            Some(p) => p.display().to_string(),
            None => "(no HOME)".to_owned(),
        };
        format!(
            "{} (AWS_SHARED_CREDENTIALS_FILE) and {} (AWS_CONFIG_FILE)",
            show(&self.credentials_file),
            show(&self.config_file)
        )
    }
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Static keys of a profile's settings.
fn keys_of(pairs: &[(String, String)]) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: get(pairs, "aws_access_key_id")?.to_owned(),
        secret_access_key: get(pairs, "aws_secret_access_key")?.to_owned(),
        session_token: get(pairs, "aws_session_token").map(str::to_owned),
    })
}

/// The credentials: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`),
/// else profile `AWS_PROFILE` (default `default`) of the credentials file, then of the config
/// file.
pub fn credentials(env: Env<'_>) -> Result<Credentials, AwsEnvError> {
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(access_key_id), Some(secret_access_key)) => {
            return Ok(Credentials {
                access_key_id,
                secret_access_key,
                session_token: env("AWS_SESSION_TOKEN"),
            });
        }
        (Some(_), None) => {
            return Err(AwsEnvError::Invalid(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(AwsEnvError::Invalid(
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into(),
            ));
        }
        (None, None) => {}
    }
    let profile = Profile::from_env(env);
    let found = [profile.in_credentials()?, profile.in_config()?];
    if let Some(c) = found.iter().flatten().find_map(|pairs| keys_of(pairs)) {
        return Ok(c);
    }
    let what = if found.iter().any(Option::is_some) {
        format!(
            "profile {:?} has no aws_access_key_id and aws_secret_access_key (SSO, roles and \
             credential_process are not supported)",
            profile.name
        )
    } else {
        format!("no profile {:?}", profile.name)
    };
    Err(AwsEnvError::Missing(format!(
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and {what} in {} \
         (AWS_PROFILE picks the profile)",
        profile.describe_files()
    )))
}

/// The region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's `region` in the
/// config file, else [`DEFAULT_REGION`].
pub fn region(env: Env<'_>) -> Result<String, AwsEnvError> {
    if let Some(r) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return Ok(r);
    }
    let profile = Profile::from_env(env);
    let configured = profile.in_config()?;
    Ok(configured
        .as_deref()
        .and_then(|pairs| get(pairs, "region"))
        .unwrap_or(DEFAULT_REGION)
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_keys_come_first() {
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "SECRET"),
            ("AWS_SESSION_TOKEN", "TOKEN"),
            ("AWS_DEFAULT_REGION", "eu-west-3"),
            ("HOME", "/nonexistent"),
        ]);
        let c = credentials(&env).expect("credentials");
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("AKID", Some("TOKEN"))
        );
        assert!(!format!("{c:?}").contains("SECRET") && !format!("{c:?}").contains("TOKEN"));
        assert_eq!(region(&env).expect("region"), "eu-west-3");
        let half = env_of(&[("AWS_ACCESS_KEY_ID", "AKID")]);
        assert!(matches!(credentials(&half), Err(AwsEnvError::Invalid(_))));
    }

    #[test]
    fn profiles_come_from_the_shared_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let aws = dir.path().join(".aws");
        std::fs::create_dir(&aws).expect("mkdir");
        std::fs::write(
            aws.join("credentials"),
            "# keys\n[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = s1\n\n\
             [team]\naws_access_key_id=TEAMKEY\naws_secret_access_key=s2\naws_session_token = t2\n",
        )
        .expect("write");
        std::fs::write(
            aws.join("config"),
            "[default]\nregion = eu-central-1\n[profile team]\nregion = ap-south-1\ns3 =\n  \
             addressing_style = path\n[profile cfg]\naws_access_key_id = CFGKEY\n\
             aws_secret_access_key = s3\n[profile sso]\nsso_session = x\n",
        )
        .expect("write");
        let home = dir.path().to_str().expect("utf-8 path");
        let with = |profile: Option<&str>| {
            let mut pairs = vec![("HOME", home)];
            pairs.extend(profile.map(|p| ("AWS_PROFILE", p)));
            env_of(&pairs)
        };
        let env = with(None);
        assert_eq!(
            credentials(&env).expect("default").access_key_id,
            "DEFAULTKEY"
        );
        assert_eq!(region(&env).expect("region"), "eu-central-1");
        let env = with(Some("team"));
        let c = credentials(&env).expect("team");
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("TEAMKEY", Some("t2"))
        );
        assert_eq!(region(&env).expect("region"), "ap-south-1");
        let env = with(Some("cfg"));
        assert_eq!(credentials(&env).expect("cfg").access_key_id, "CFGKEY");
        assert_eq!(region(&env).expect("region"), DEFAULT_REGION);
        let e = credentials(&with(Some("sso")))
            .expect_err("sso")
            .to_string();
        assert!(
            e.contains("profile \"sso\" has no aws_access_key_id"),
            "{e}"
        );
        let e = credentials(&with(Some("nope")))
            .expect_err("absent")
            .to_string();
        assert!(
            e.contains("AWS_ACCESS_KEY_ID")
                && e.contains("no profile \"nope\"")
                && e.contains(".aws/credentials"),
            "{e}"
        );
    }

    #[test]
    fn file_variables_override_home() {
        let dir = tempfile::tempdir().expect("tmp");
        let creds = dir.path().join("c.ini");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id=K\naws_secret_access_key=S\n",
        )
        .expect("write");
        let path = creds.to_str().expect("utf-8 path");
        let env = env_of(&[
            ("AWS_SHARED_CREDENTIALS_FILE", path),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ]);
        assert_eq!(credentials(&env).expect("creds").access_key_id, "K");
        let e = credentials(&env_of(&[])).expect_err("nothing").to_string();
        assert!(e.contains("(no HOME)"), "{e}");
    }
}
