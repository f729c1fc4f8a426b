//! `remote add|list|remove`, `login`, `logout`: the remotes file and the tokens of
//! podstack-remote servers ([`crate::remote`], [`crate::credentials`]).

use std::io::{BufRead, Read};

use serde_json::{Value, json};

use crate::credentials::{self, Source, Stored};
use crate::error::{CliError, Kind, Result};
use crate::output::{self, Ctx};
use crate::remote::{self, Remote, RemoteUrl, Remotes};
use remote_server::client::{HttpRemote, Remote as _, RemoteError};

/// `remote add NAME URL`.
pub fn add(ctx: &mut Ctx<'_>, name: &str, url: &RemoteUrl) -> Result<()> {
    let dir = remote::config_dir(ctx.settings)?;
    let mut remotes = Remotes::load(&dir)?;
    remotes.add(Remote {
        name: name.to_owned(),
        url: url.clone(),
    })?;
    remotes.save(&dir)?;
    if matches!(url, RemoteUrl::Http { .. }) {
        ctx.note(format!(
            "next: `podstack login {name}` stores a token for it"
        ));
    }
    let js = json!({"name": name, "url": url.to_string(), "type": url.kind()});
    ctx.emit(&js, |w, _| writeln!(w, "added remote {name} ({url})"))
}

/// `remote list`: name, URL and where each token comes from (never the token).
pub fn list(ctx: &mut Ctx<'_>) -> Result<()> {
    let dir = remote::config_dir(ctx.settings)?;
    let remotes = Remotes::load(&dir)?;
    let default = ctx.settings.config.default_remote.clone();
    if remotes.list.is_empty() && !ctx.settings.json {
        ctx.note("no remotes yet; `podstack remote add NAME URL` adds one");
        return Ok(());
    }
    let rows = credentials::with_vault(ctx, |vault| {
        let mut rows = Vec::new();
        for r in &remotes.list {
            let token = match &r.url {
                RemoteUrl::S3 { .. } => "aws",
                RemoteUrl::Http { .. } => vault.get(r)?.map_or("none", |(_, s)| s.as_str()),
            };
            rows.push((r, token, default.as_deref() == Some(r.name.as_str())));
        }
        Ok(rows)
    })?;
    let js: Vec<Value> = rows
        .iter()
        .map(|(r, token, is_default)| {
            json!({"name": r.name, "url": r.url.to_string(), "type": r.url.kind(),
                   "token": token, "default": is_default})
        })
        .collect();
    ctx.emit(&Value::Array(js), |w, s| {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|(r, token, is_default)| {
                let name = if *is_default {
                    format!("{} (default)", r.name)
                } else {
                    r.name.clone()
                };
                vec![name, r.url.to_string(), (*token).to_owned()]
            })
            .collect();
        output::table(w, s, &["NAME", "URL", "TOKEN"], &cells)
    })
}

/// `remote remove NAME`: also forgets its stored token.
pub fn remove(ctx: &mut Ctx<'_>, name: &str) -> Result<()> {
    let dir = remote::config_dir(ctx.settings)?;
    let mut remotes = Remotes::load(&dir)?;
    let gone = remotes.remove(name)?;
    remotes.save(&dir)?;
    let mut forgot = Vec::new();
    if matches!(gone.url, RemoteUrl::Http { .. }) {
        forgot = credentials::with_vault(ctx, |vault| vault.remove(name))?;
    }
    if ctx.settings.config.default_remote.as_deref() == Some(name) {
        ctx.warn(format!(
            "{name} was the default_remote of the configuration file; change it there"
        ));
    }
    let js = json!({"name": name, "url": gone.url.to_string(),
                    "tokens_removed": forgot.iter().map(|s| s.as_str()).collect::<Vec<_>>()});
    ctx.emit(&js, |w, _| {
        writeln!(w, "removed remote {name} ({})", gone.url)?;
        if !forgot.is_empty() {
            writeln!(w, "removed its token from {}", places(&forgot, &dir))?;
        }
        Ok(())
    })
}

/// `login [NAME] [--token-stdin]`: reads a token, checks it with `GET /v1/whoami`, stores it.
pub fn login(ctx: &mut Ctx<'_>, name: Option<&str>, token_stdin: bool) -> Result<()> {
    let remote = remote::resolve_remote(ctx.settings, name)?;
    if let RemoteUrl::S3 { .. } = remote.url {
        return Err(CliError::usage(format!(
            "{} is an S3 remote ({}): it has no podstack login",
            remote.name, remote.url
        ))
        .hint(
            "S3 remotes use the standard AWS credentials (AWS_ACCESS_KEY_ID and \
               AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials)",
        ));
    }
    let endpoint = remote.url.endpoint()?;
    let token = if token_stdin {
        read_token(ctx.input)?
    } else if ctx.settings.interactive {
        prompt_token(ctx, &remote)?
    } else {
        return Err(
            CliError::usage("no terminal to ask for the token on").hint(format!(
                "pipe it in: `podstack login {} --token-stdin < FILE`",
                remote.name
            )),
        );
    };
    let who = HttpRemote::new(&endpoint.to_string(), Some(token.clone()))?
        .whoami()
        .map_err(|e| match e {
            RemoteError::Unauthorized(m) | RemoteError::Forbidden(m) => {
                CliError::new(Kind::Refused, format!("the token was refused: {m}")).hint(
                    "check the token, or ask the server's admin for a new one \
                     (`podstack-remote token create`)",
                )
            }
            RemoteError::NotFound(_) => CliError::new(
                Kind::NotFound,
                format!(
                    "{} has no /v1/whoami: is it a podstack-remote server?",
                    remote.url
                ),
            ),
            other => other.into(),
        })?;
    let stored = credentials::with_vault(ctx, |vault| vault.store(&remote, &token))?;
    if ctx.settings.credentials.env_token.is_some() {
        ctx.note(format!(
            "note: {} is set and overrides the stored token",
            credentials::TOKEN_VAR
        ));
    }
    let (place, file) = match &stored {
        Stored::Keyring => ("the OS keyring".to_owned(), None),
        Stored::File(p) => (p.display().to_string(), Some(p.display().to_string())),
    };
    let js = json!({"remote": remote.name, "url": remote.url.to_string(), "name": who.name,
                    "role": who.role.name(),
                    "stored_in": if file.is_some() { "file" } else { "keyring" },
                    "file": file});
    ctx.emit(&js, |w, _| {
        writeln!(
            w,
            "logged in to {} as {} ({}); token stored in {place}",
            remote.name,
            who.name,
            who.role.name()
        )
    })
}

/// `logout [NAME]`: removes the token from the keyring and the file.
pub fn logout(ctx: &mut Ctx<'_>, name: Option<&str>) -> Result<()> {
    let remote = remote::resolve_remote(ctx.settings, name)?;
    let removed = credentials::with_vault(ctx, |vault| vault.remove(&remote.name))?;
    if ctx.settings.credentials.env_token.is_some() {
        ctx.note(format!(
            "note: {} is still set; it is used until you unset it",
            credentials::TOKEN_VAR
        ));
    }
    let dir = remote::config_dir(ctx.settings)?;
    if removed.is_empty() && !ctx.settings.json {
        ctx.note(format!("no token was stored for {}", remote.name));
        return Ok(());
    }
    let js = json!({"remote": remote.name,
                    "removed_from": removed.iter().map(|s| s.as_str()).collect::<Vec<_>>()});
    ctx.emit(&js, |w, _| {
        writeln!(
            w,
            "logged out of {}: removed its token from {}",
            remote.name,
            places(&removed, &dir)
        )
    })
}

/// "the keyring and DIR/credentials.json".
fn places(sources: &[Source], dir: &std::path::Path) -> String {
    sources
        .iter()
        .map(|s| match s {
            Source::File => dir
                .join(credentials::CREDENTIALS_FILE)
                .display()
                .to_string(),
            other => format!("the {other}"),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A token piped in: the first line, trimmed.
fn read_token(input: &mut dyn BufRead) -> Result<String> {
    let mut text = String::new();
    input
        .take(64 << 10)
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage("cannot read the token from stdin").cause(&e))?;
    let token = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    credentials::check_token(token)
        .map_err(|why| CliError::usage(format!("the token on stdin is not usable: {why}")))?;
    Ok(token.to_owned())
}

/// Asks on the terminal with echo off (turned off before the question appears, so nothing
/// typed after it is shown).
fn prompt_token(ctx: &mut Ctx<'_>, remote: &Remote) -> Result<String> {
    let line = {
        let _quiet = EchoOff::new();
        write!(ctx.err, "token for {} ({}): ", remote.name, remote.url)?;
        ctx.err.flush()?;
        let mut line = String::new();
        let read = ctx.input.read_line(&mut line);
        let _ = writeln!(ctx.err);
        read.map_err(|e| CliError::usage("cannot read the token").cause(&e))?;
        line
    };
    let token = line.trim();
    credentials::check_token(token)
        .map_err(|why| CliError::usage(format!("that token is not usable: {why}")))?;
    Ok(token.to_owned())
}

/// Turns terminal echo off on stdin until dropped.
struct EchoOff {
    saved: Option<rustix::termios::Termios>,
}

impl EchoOff {
    fn new() -> Self {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
        }
        Self { saved }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::run_with;
    use crate::credentials::{Backend, Options};
    use crate::plan::{Action, Settings};

    fn settings(dir: &std::path::Path) -> Settings {
        let mut s = Settings::for_tests(dir, false);
        s.credentials = Options {
            env_token: None,
            backend: Backend::File,
            session_bus: false,
        };
        s
    }

    #[test]
    fn add_list_remove() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = settings(dir.path());
        let add = |s: &Settings, n: &str, u: &str| {
            run_with(
                s,
                Action::RemoteAdd {
                    name: n.into(),
                    url: RemoteUrl::parse(u).expect("url"),
                },
            )
        };
        let r = run_with(&s, Action::RemoteList);
        assert!(r.result.is_ok() && r.out.is_empty(), "{}", r.out);
        assert!(r.err.contains("remote add"), "{}", r.err);
        assert!(add(&s, "team", "http://127.0.0.1:9/").result.is_ok());
        assert!(add(&s, "bucket", "s3://b-1/pods").result.is_ok());
        let r = add(&s, "team", "http://x");
        assert_eq!(r.result.expect_err("dup").kind, Kind::Conflict);
        let r = run_with(&s, Action::RemoteList);
        assert_eq!(
            r.out,
            "NAME    URL                 TOKEN\nbucket  s3://b-1/pods       aws\nteam    http://127.0.0.1:9  none\n"
        );
        s.json = true;
        s.config.default_remote = Some("team".into());
        let js = run_with(&s, Action::RemoteList).json();
        assert_eq!(js[1]["name"], "team");
        assert_eq!(js[1]["token"], "none");
        assert_eq!(js[1]["default"], true);
        assert_eq!(js[0]["type"], "s3");
        let r = run_with(
            &s,
            Action::RemoteRemove {
                name: "tema".into(),
            },
        );
        let e = r.result.expect_err("unknown");
        assert_eq!(e.kind, Kind::NotFound);
        assert!(e.message.contains("did you mean \"team\""), "{}", e.message);
        let r = run_with(
            &s,
            Action::RemoteRemove {
                name: "team".into(),
            },
        );
        assert!(r.result.is_ok());
        assert!(r.err.contains("default_remote"), "{}", r.err);
    }

    #[test]
    fn login_needs_a_token_source_and_an_http_remote() {
        let dir = tempfile::tempdir().expect("dir");
        let s = settings(dir.path());
        for (n, u) in [("team", "http://127.0.0.1:9"), ("bkt", "s3://bucket/x")] {
            let r = run_with(
                &s,
                Action::RemoteAdd {
                    name: n.into(),
                    url: RemoteUrl::parse(u).expect("url"),
                },
            );
            assert!(r.result.is_ok());
        }
        let login = |name: &str, token_stdin: bool| {
            run_with(
                &s,
                Action::Login {
                    name: Some(name.into()),
                    token_stdin,
                },
            )
            .result
            .expect_err("fails")
        };
        let e = login("bkt", true);
        assert!(e.hint.as_deref().is_some_and(|h| h.contains("AWS")), "{e}");
        let e = login("team", false);
        assert_eq!(e.kind, Kind::Usage);
        assert!(
            e.hint
                .as_deref()
                .is_some_and(|h| h.contains("--token-stdin")),
            "{e}"
        );
        // Stdin is empty in these tests.
        assert_eq!(login("team", true).kind, Kind::Usage);
        let r = run_with(
            &s,
            Action::Logout {
                name: Some("team".into()),
            },
        );
        assert!(r.result.is_ok());
        assert!(r.err.contains("no token was stored for team"), "{}", r.err);
    }

    #[test]
    fn tokens_are_read_from_the_first_line() {
        let mut input: &[u8] = b"\n  abc.123  \nignored\n";
        assert_eq!(read_token(&mut input).expect("token"), "abc.123");
        let mut input: &[u8] = b"a b\n";
        assert!(read_token(&mut input).is_err());
    }
}
