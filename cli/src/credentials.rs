//! Tokens of http(s) remotes: where they come from and where `podstack login` keeps them.
//!
//! Looked up in order: the environment variable `PODSTACK_TOKEN` (for CI: it overrides
//! everything), the OS keyring (the freedesktop Secret Service over D-Bus, through
//! `keyring-core` and `zbus-secret-service-keyring-store`; service `podstack`, user = the
//! remote's name), then `credentials.json` in the configuration directory (mode 0600; the
//! directory is created 0700). The keyring is used only when `DBUS_SESSION_BUS_ADDRESS` is
//! set, the store opens and a stored token reads back; otherwise the file is used and the
//! user is told once. `PODSTACK_KEYRING=auto|secret-service|file` forces a backend.
//!
//! A [`Vault`] does the lookups for one command; [`token_for`] is what push and pull call.
//! Keyring calls run on a helper thread with a time limit, so a keyring that waits for a
//! prompt nobody can answer cannot hang the command.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyring_core::CredentialStore;
use serde::{Deserialize, Serialize};

use crate::cmd::AtomicFile;
use crate::error::{CliError, Context as _, Kind, Result};
use crate::output::Ctx;
use crate::remote::{self, Remote, RemoteUrl};

/// The keyring service name.
pub const SERVICE: &str = "podstack";

/// The fallback file, in the configuration directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// The environment variable whose token overrides stored ones.
pub const TOKEN_VAR: &str = "PODSTACK_TOKEN";

/// How long one keyring call may take.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest token accepted.
const MAX_TOKEN: usize = 4096;

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `PODSTACK_TOKEN`.
    Env,
    /// The OS keyring.
    Keyring,
    /// `credentials.json`.
    File,
}

impl Source {
    /// `env`, `keyring` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Env => "env",
            Self::Keyring => "keyring",
            Self::File => "file",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `PODSTACK_KEYRING`: which store `login` uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The Secret Service when it works, else the file (with a note).
    #[default]
    Auto,
    /// The Secret Service or an error.
    SecretService,
    /// The file only.
    File,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "secret-service" | "secret_service" | "secretservice" => Ok(Self::SecretService),
            "file" => Ok(Self::File),
            other => Err(format!(
                "PODSTACK_KEYRING={other:?}: expected auto, secret-service or file"
            )),
        }
    }
}

/// What the environment says about credentials (resolved by [`crate::plan`]).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `PODSTACK_TOKEN`.
    pub env_token: Option<String>,
    /// `PODSTACK_KEYRING`.
    pub backend: Backend,
    /// Whether `DBUS_SESSION_BUS_ADDRESS` is set (the Secret Service needs a session bus).
    pub session_bus: bool,
}

/// Where `login` put a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In the OS keyring.
    Keyring,
    /// In this file.
    File(PathBuf),
}

/// The token lookups and changes of one command.
pub struct Vault {
    options: Options,
    file: PathBuf,
    keyring: Option<std::result::Result<Arc<CredentialStore>, String>>,
    notes: Vec<String>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("backend", &self.options.backend)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// The vault of these settings (nothing is opened yet).
    pub fn new(settings: &crate::plan::Settings) -> Result<Self> {
        let dir = remote::config_dir(settings)?;
        Ok(Self {
            options: settings.credentials.clone(),
            file: dir.join(CREDENTIALS_FILE),
            keyring: None,
            notes: Vec::new(),
        })
    }

    /// A vault with a given keyring (tests: `keyring_core::mock`).
    #[cfg(test)]
    pub fn with_keyring(
        options: Options,
        file: PathBuf,
        keyring: std::result::Result<Arc<CredentialStore>, String>,
    ) -> Self {
        Self {
            options,
            file,
            keyring: Some(keyring),
            notes: Vec::new(),
        }
    }

    /// Notes for stderr gathered so far (printed by the caller).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The token of `remote` and where it came from; `None` when there is none (and for S3
    /// remotes, which use the AWS credentials).
    pub fn get(&mut self, remote: &Remote) -> Result<Option<(String, Source)>> {
        if matches!(remote.url, RemoteUrl::S3 { .. }) {
            return Ok(None);
        }
        if let Some(t) = self.options.env_token.clone() {
            check_token(&t).map_err(|why| CliError::usage(format!("{TOKEN_VAR}: {why}")))?;
            return Ok(Some((t, Source::Env)));
        }
        match self.options.backend {
            Backend::File => {}
            Backend::SecretService => {
                let store = self.forced_keyring()?;
                let got = keyring_get(&store, &remote.name).map_err(keyring_error)?;
                return Ok(got.map(|t| (t, Source::Keyring)));
            }
            Backend::Auto => {
                if let Ok(store) = self.keyring() {
                    match keyring_get(&store, &remote.name) {
                        Ok(Some(t)) => return Ok(Some((t, Source::Keyring))),
                        Ok(None) => {}
                        Err(e) => {
                            self.notes.push(format!(
                                "note: cannot read the OS keyring ({e}); trying {}",
                                self.file.display()
                            ));
                            self.give_up_keyring(e);
                        }
                    }
                }
            }
        }
        let entry = self.read_file()?.tokens.remove(&remote.name);
        Ok(entry
            .filter(|e| e.url == remote.url.to_string())
            .map(|e| (e.token, Source::File)))
    }

    /// Stores `token` for `remote`: in the keyring when it works (removing any copy from the
    /// file), else in the file with a note saying why.
    pub fn store(&mut self, remote: &Remote, token: &str) -> Result<Stored> {
        let reason = match self.options.backend {
            Backend::File => None,
            Backend::SecretService => {
                let store = self.forced_keyring()?;
                keyring_set(&store, &remote.name, token).map_err(keyring_error)?;
                self.remove_from_file(&remote.name)?;
                return Ok(Stored::Keyring);
            }
            Backend::Auto => match self.keyring() {
                Ok(store) => match keyring_set(&store, &remote.name, token) {
                    Ok(()) => {
                        self.remove_from_file(&remote.name)?;
                        return Ok(Stored::Keyring);
                    }
                    Err(e) => {
                        self.give_up_keyring(e.clone());
                        Some(e)
                    }
                },
                Err(e) => Some(e),
            },
        };
        let mut form = self.read_file()?;
        form.tokens.insert(
            remote.name.clone(),
            FileEntry {
                url: remote.url.to_string(),
                token: token.to_owned(),
            },
        );
        self.write_file(&form)?;
        if let Some(why) = reason {
            self.notes.push(format!(
                "note: no OS keyring available ({why}); the token is stored unencrypted in {}",
                self.file.display()
            ));
        }
        Ok(Stored::File(self.file.clone()))
    }

    /// Removes the token of the remote called `name` from the keyring and the file; returns
    /// where one was removed.
    pub fn remove(&mut self, name: &str) -> Result<Vec<Source>> {
        let mut removed = Vec::new();
        match self.options.backend {
            Backend::File => {}
            Backend::SecretService => {
                let store = self.forced_keyring()?;
                if keyring_delete(&store, name).map_err(keyring_error)? {
                    removed.push(Source::Keyring);
                }
            }
            Backend::Auto => {
                if let Ok(store) = self.keyring() {
                    match keyring_delete(&store, name) {
                        Ok(true) => removed.push(Source::Keyring),
                        Ok(false) => {}
                        Err(e) => {
                            self.notes.push(format!(
                                "note: cannot remove the token from the OS keyring ({e})"
                            ));
                            self.give_up_keyring(e);
                        }
                    }
                }
            }
        }
        if self.remove_from_file(name)? {
            removed.push(Source::File);
        }
        Ok(removed)
    }

    /// The keyring, opened on first use; the error says why it is not available.
    fn keyring(&mut self) -> std::result::Result<Arc<CredentialStore>, String> {
        if self.keyring.is_none() {
            self.keyring = Some(open_secret_service(self.options.session_bus));
        }
        match &self.keyring {
            Some(Ok(s)) => Ok(s.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not opened".into()),
        }
    }

    /// After a failed call in `auto` mode, the rest of the command does without the keyring
    /// (one slow or locked keyring costs one timeout, not one per remote).
    fn give_up_keyring(&mut self, why: String) {
        self.keyring = Some(Err(why));
    }

    /// The keyring when `PODSTACK_KEYRING=secret-service` demands it.
    fn forced_keyring(&mut self) -> Result<Arc<CredentialStore>> {
        self.keyring().map_err(|why| {
            CliError::general(format!(
                "PODSTACK_KEYRING=secret-service, but the Secret Service is not available: {why}"
            ))
            .hint("start a keyring daemon (e.g. gnome-keyring) in the D-Bus session, or set PODSTACK_KEYRING=auto")
        })
    }

    fn read_file(&mut self) -> Result<FileForm> {
        let bytes = match std::fs::read(&self.file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileForm::default()),
            Err(e) => {
                return Err(
                    CliError::general(format!("cannot read {}", self.file.display())).cause(&e),
                );
            }
        };
        if let Ok(m) = std::fs::metadata(&self.file) {
            let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777;
            if mode & 0o077 != 0 {
                self.notes.push(format!(
                    "warning: {} is readable by others (mode {mode:o}); run `chmod 600` on it",
                    self.file.display()
                ));
            }
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::new(Kind::Invalid, format!("{}: {e}", self.file.display()))
                .hint("fix or delete the file, then `podstack login` again")
        })
    }

    fn write_file(&self, form: &FileForm) -> Result<()> {
        if let Some(dir) = self.file.parent().filter(|d| !d.as_os_str().is_empty()) {
            remote::create_config_dir(dir)?;
        }
        let mut bytes = serde_json::to_vec_pretty(form)
            .map_err(|e| CliError::general("cannot encode the credentials").cause(&e))?;
        bytes.push(b'\n');
        let mut f = AtomicFile::create_with_mode(&self.file, 0o600)?;
        std::io::Write::write_all(f.file(), &bytes).context(Kind::General, || {
            format!("cannot write {}", self.file.display())
        })?;
        f.commit()
    }

    fn remove_from_file(&mut self, name: &str) -> Result<bool> {
        let mut form = self.read_file()?;
        if form.tokens.remove(name).is_none() {
            return Ok(false);
        }
        self.write_file(&form)?;
        Ok(true)
    }
}

/// `credentials.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FileForm {
    /// Per remote name.
    tokens: BTreeMap<String, FileEntry>,
}

/// One token, with the URL it was verified against (a remote re-added elsewhere does not
/// inherit it).
#[derive(Debug, Serialize, Deserialize)]
struct FileEntry {
    url: String,
    token: String,
}

/// Runs `f` on the credential vault, then passes the vault's notes (a fallback taken, a
/// keyring that did not answer) to stderr, whether `f` succeeded or not.
pub fn with_vault<T>(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut Vault) -> Result<T>) -> Result<T> {
    let mut vault = Vault::new(ctx.settings)?;
    let out = f(&mut vault);
    for n in vault.take_notes() {
        ctx.note(n);
    }
    out
}

/// The token for `remote` (push and pull call this): `PODSTACK_TOKEN`, the keyring or the
/// file, with where it came from; `None` when there is none or for an S3 remote. Notes go to
/// stderr.
pub fn token_for(ctx: &mut Ctx<'_>, remote: &Remote) -> Result<Option<(String, Source)>> {
    let got = with_vault(ctx, |vault| vault.get(remote))?;
    if let Some((_, source)) = &got {
        ctx.detail(format!("using the token of {} from {source}", remote.name));
    }
    Ok(got)
}

/// Checks that a token can travel in an HTTP header: 1 to 4096 visible ASCII characters.
pub fn check_token(token: &str) -> std::result::Result<(), String> {
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    if token.len() > MAX_TOKEN {
        return Err(format!("the token is longer than {MAX_TOKEN} characters"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token contains spaces, control or non-ASCII characters".into());
    }
    Ok(())
}

fn keyring_error(why: String) -> CliError {
    CliError::general(format!("the OS keyring failed: {why}"))
}

/// Opens the Secret Service store (when there is a session bus).
fn open_secret_service(session_bus: bool) -> std::result::Result<Arc<CredentialStore>, String> {
    if !session_bus {
        return Err("DBUS_SESSION_BUS_ADDRESS is not set".into());
    }
    bounded("connecting to the Secret Service", || {
        zbus_secret_service_keyring_store::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| describe(&e))
    })?
}

/// Runs a keyring call on a helper thread, giving up after [`KEYRING_TIMEOUT`] (the thread
/// is left behind; the process ends soon anyway).
fn bounded<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    rx.recv_timeout(KEYRING_TIMEOUT).map_err(|_| {
        format!(
            "no answer within {} s while {what} (is it waiting for an unlock prompt?)",
            KEYRING_TIMEOUT.as_secs()
        )
    })
}

fn entry(store: &Arc<CredentialStore>, user: &str) -> keyring_core::Result<keyring_core::Entry> {
    let label = format!("podstack token for remote {user}");
    let mods = std::collections::HashMap::from([("label", label.as_str())]);
    match store.build(SERVICE, user, Some(&mods)) {
        Err(keyring_core::Error::NotSupportedByStore(_)) => store.build(SERVICE, user, None),
        other => other,
    }
}

fn keyring_get(
    store: &Arc<CredentialStore>,
    user: &str,
) -> std::result::Result<Option<String>, String> {
    let (store, user) = (store.clone(), user.to_owned());
    bounded("reading a token", move || {
        match entry(&store, &user).and_then(|e| e.get_password()) {
            Ok(t) => Ok(Some(t)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(&e)),
        }
    })?
}

/// Stores and reads back (a keyring that accepts but does not keep is not a keyring).
fn keyring_set(
    store: &Arc<CredentialStore>,
    user: &str,
    token: &str,
) -> std::result::Result<(), String> {
    let (store, user, token) = (store.clone(), user.to_owned(), token.to_owned());
    bounded("storing a token", move || {
        let e = entry(&store, &user).map_err(|e| describe(&e))?;
        e.set_password(&token).map_err(|e| describe(&e))?;
        match e.get_password() {
            Ok(back) if back == token => Ok(()),
            Ok(_) => Err("the token read back differs from the one stored".to_owned()),
            Err(err) => Err(format!(
                "the stored token cannot be read back: {}",
                describe(&err)
            )),
        }
    })?
}

fn keyring_delete(store: &Arc<CredentialStore>, user: &str) -> std::result::Result<bool, String> {
    let (store, user) = (store.clone(), user.to_owned());
    bounded("removing a token", move || {
        match entry(&store, &user).and_then(|e| e.delete_credential()) {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(describe(&e)),
        }
    })?
}

/// A keyring error with its sources on one line.
fn describe(e: &keyring_core::Error) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn remote(name: &str, url: &str) -> Remote {
        Remote {
            name: name.into(),
            url: RemoteUrl::parse(url).expect("url"),
        }
    }

    fn mock() -> std::result::Result<Arc<CredentialStore>, String> {
        let store: Arc<CredentialStore> = keyring_core::mock::Store::new().expect("mock");
        Ok(store)
    }

    fn opts(env_token: Option<&str>, backend: Backend) -> Options {
        Options {
            env_token: env_token.map(str::to_owned),
            backend,
            session_bus: true,
        }
    }

    fn mode(p: &Path) -> u32 {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).expect("meta").permissions())
            & 0o777
    }

    #[test]
    fn env_then_keyring_then_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("cfg/credentials.json");
        let team = remote("team", "http://h:1");
        let mut v = Vault::with_keyring(opts(None, Backend::Auto), file.clone(), mock());
        assert_eq!(v.get(&team).expect("get"), None);
        assert_eq!(v.store(&team, "tok-1").expect("store"), Stored::Keyring);
        assert!(!file.exists(), "the keyring took it");
        assert_eq!(
            v.get(&team).expect("get"),
            Some(("tok-1".into(), Source::Keyring))
        );
        // A token in the file is found when the keyring has none.
        let mut f = Vault::with_keyring(opts(None, Backend::File), file.clone(), mock());
        assert_eq!(
            f.store(&team, "tok-file").expect("store"),
            Stored::File(file.clone())
        );
        assert!(f.take_notes().is_empty(), "a forced file is no surprise");
        let mut fresh = Vault::with_keyring(opts(None, Backend::Auto), file.clone(), mock());
        assert_eq!(
            fresh.get(&team).expect("get"),
            Some(("tok-file".into(), Source::File))
        );
        // PODSTACK_TOKEN beats both; S3 remotes have no token.
        let mut e = Vault::with_keyring(opts(Some("tok-env"), Backend::Auto), file.clone(), mock());
        assert_eq!(
            e.get(&team).expect("get"),
            Some(("tok-env".into(), Source::Env))
        );
        assert_eq!(e.get(&remote("b", "s3://bucket/p")).expect("s3"), None);
        let mut bad = Vault::with_keyring(opts(Some("a b"), Backend::Auto), file.clone(), mock());
        assert_eq!(bad.get(&team).expect_err("bad env").kind, Kind::Usage);
        // The same name at another URL does not get the file's token.
        assert_eq!(
            fresh.get(&remote("team", "http://other:1")).expect("get"),
            None
        );
    }

    #[test]
    fn without_a_keyring_the_file_is_private_and_noted() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("cfg/credentials.json");
        let team = remote("team", "http://h:1");
        let none = Err("DBUS_SESSION_BUS_ADDRESS is not set".to_owned());
        let mut v = Vault::with_keyring(opts(None, Backend::Auto), file.clone(), none.clone());
        assert_eq!(
            v.store(&team, "secret").expect("store"),
            Stored::File(file.clone())
        );
        let notes = v.take_notes();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("no OS keyring available (DBUS_SESSION_BUS_ADDRESS is not set)")
                && notes[0].contains("unencrypted"),
            "{notes:?}"
        );
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().expect("dir")), 0o700);
        assert_eq!(
            v.get(&team).expect("get"),
            Some(("secret".into(), Source::File))
        );
        assert_eq!(v.remove("team").expect("rm"), [Source::File]);
        assert_eq!(v.remove("team").expect("rm"), []);
        assert_eq!(v.get(&team).expect("get"), None);
        // Forcing the Secret Service without one is an error that says why.
        let mut forced = Vault::with_keyring(opts(None, Backend::SecretService), file, none);
        let e = forced.store(&team, "x").expect_err("forced");
        assert!(
            e.message.contains("DBUS_SESSION_BUS_ADDRESS"),
            "{}",
            e.message
        );
    }

    #[test]
    fn keyring_failures_fall_back_and_removal_covers_both() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("credentials.json");
        let team = remote("team", "http://h:1");
        let store = mock().expect("mock");
        // Make the mock's next call fail: the store falls back to the file with a note.
        let e = entry(&store, "team").expect("entry");
        let cred: &keyring_core::mock::Cred = e.as_any().downcast_ref().expect("mock cred");
        cred.set_error(keyring_core::Error::NoStorageAccess("locked".into()));
        let mut v = Vault::with_keyring(opts(None, Backend::Auto), file.clone(), Ok(store.clone()));
        assert_eq!(
            v.store(&team, "t1").expect("store"),
            Stored::File(file.clone())
        );
        assert!(v.take_notes()[0].contains("locked"));
        // The rest of that command does without the keyring.
        assert_eq!(
            v.store(&team, "t2").expect("store"),
            Stored::File(file.clone())
        );
        // The next command finds it working: the token moves there, out of the file.
        let mut v = Vault::with_keyring(opts(None, Backend::Auto), file.clone(), Ok(store.clone()));
        assert_eq!(v.store(&team, "t2").expect("store"), Stored::Keyring);
        assert!(!v.remove_from_file("team").expect("file"));
        let mut f = Vault::with_keyring(opts(None, Backend::File), file.clone(), Ok(store.clone()));
        f.store(&team, "t3").expect("file store");
        assert_eq!(
            v.remove("team").expect("rm"),
            [Source::Keyring, Source::File]
        );
        assert_eq!(v.get(&team).expect("get"), None);
    }

    #[test]
    fn tokens_and_backends_parse() {
        assert!(check_token("abc.DEF-123_~").is_ok());
        for bad in ["", "a b", "a\nb", "é", &"x".repeat(MAX_TOKEN + 1)] {
            assert!(check_token(bad).is_err(), "{bad:?}");
        }
        assert_eq!("Secret-Service".parse(), Ok(Backend::SecretService));
        assert_eq!("file".parse(), Ok(Backend::File));
        assert!("kwallet".parse::<Backend>().is_err());
        assert_eq!(
            bounded("sleeping", || 7).expect("quick"),
            7,
            "a quick call returns its value"
        );
    }
}
