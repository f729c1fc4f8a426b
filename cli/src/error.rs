//! The one error type of the binary, and the exit codes.
//!
//! Every error carries a [`Kind`] (which decides the exit code), a message that says what was
//! wrong, optionally what to do about it, and the chain of causes below it. `main` prints
//! `podstack: <message>`, then `  caused by: …` lines, then `  hint: …`; never a panic or a
//! backtrace.

use std::fmt;

/// What went wrong, as far as a script cares: each kind has its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything else: I/O failures, unexpected answers, bugs.
    General,
    /// Bad arguments or configuration (clap uses the same code).
    Usage,
    /// A pod, version, file or process that does not exist.
    NotFound,
    /// Someone else got there first: a version conflict, a store in use, already running.
    Conflict,
    /// The emulator does not answer (or is not running).
    Unreachable,
    /// Input that is invalid or corrupt: an archive, a store that fails verification, state
    /// the emulator refuses to load.
    Invalid,
    /// A wait ran out of time.
    Timeout,
    /// A remote refused the credentials: no token, an unknown one, or a role too low.
    Refused,
}

impl Kind {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::General => 1,
            Self::Usage => 2,
            Self::NotFound => 3,
            Self::Conflict => 4,
            Self::Unreachable => 5,
            Self::Invalid => 6,
            Self::Timeout => 7,
            Self::Refused => 8,
        }
    }
}

/// An error of the command line.
#[derive(Debug)]
pub struct CliError {
    /// Which kind (exit code).
    pub kind: Kind,
    /// What was wrong.
    pub message: String,
    /// Causes, outermost first.
    pub causes: Vec<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

/// Result with [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
        }
    }

    /// A general error.
    pub fn general(message: impl Into<String>) -> Self {
        Self::new(Kind::General, message)
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// Adds what to do.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a cause and its own sources.
    #[must_use]
    pub fn cause(mut self, e: &(dyn std::error::Error + 'static)) -> Self {
        let mut cur = Some(e);
        while let Some(c) = cur {
            self.causes.push(c.to_string());
            cur = c.source();
        }
        self
    }

    /// Puts `context` in front: the message becomes `context`, the old one the first cause.
    #[must_use]
    pub fn context(mut self, context: impl Into<String>) -> Self {
        if self.is_broken_pipe() {
            return self;
        }
        let old = std::mem::replace(&mut self.message, context.into());
        self.causes.insert(0, old);
        self
    }

    /// Whether this is a closed stdout (`podstack pod list | head -1`): not an error.
    pub fn is_broken_pipe(&self) -> bool {
        self.kind == Kind::General && self.message == BROKEN_PIPE
    }

    /// Writes the error as `main` shows it.
    pub fn render(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(out, "podstack: {}", self.message)?;
        let mut last = self.message.as_str();
        for c in &self.causes {
            // Sources often repeat the outer message; show each text once.
            if !last.contains(c.as_str()) {
                writeln!(out, "  caused by: {c}")?;
            }
            last = c;
        }
        if let Some(h) = &self.hint {
            writeln!(out, "  hint: {h}")?;
        }
        Ok(())
    }
}

const BROKEN_PIPE: &str = "broken pipe";

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for c in &self.causes {
            write!(f, ": {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// Writing to stdout: a closed pipe becomes the silent [`CliError`], anything else a general
/// error.
impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Self::general(BROKEN_PIPE);
        }
        Self::general("cannot write the output").cause(&e)
    }
}

/// Pod store errors, with the kind their variant implies.
impl From<podstore::Error> for CliError {
    fn from(e: podstore::Error) -> Self {
        use podstore::Error as E;
        let kind = match &e {
            E::PodNotFound { .. } | E::VersionNotFound { .. } => Kind::NotFound,
            E::VersionConflict { .. } | E::Busy { .. } => Kind::Conflict,
            E::InvalidPodName { .. } | E::UnknownStrategy(_) | E::InvalidId(_) => Kind::Usage,
            E::InvalidArchive(_)
            | E::CorruptObject { .. }
            | E::CorruptFile { .. }
            | E::MissingObject(_)
            | E::WrongKind { .. }
            | E::NotAStore { .. }
            | E::InvalidDocument(_)
            | E::InvalidPath { .. } => Kind::Invalid,
            E::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => Kind::NotFound,
            _ => Kind::General,
        };
        let mut err = Self::new(kind, e.to_string());
        if let Some(src) = std::error::Error::source(&e) {
            err = err.cause(src);
        }
        match &e {
            E::PodNotFound { .. } => err.hint("`podstack pod list` shows the pods of the store"),
            E::VersionNotFound { name, .. } => {
                err.hint(format!("`podstack pod versions {name}` lists its versions"))
            }
            E::Busy { .. } => err.hint(
                "an emulator (or another podstack command) has the store open; stop it with `podstack stop` and retry",
            ),
            _ => err,
        }
    }
}

/// Adds context to results of other error types.
pub trait Context<T> {
    /// Wraps the error: `message` says what was being done, the error becomes the cause.
    fn context(self, kind: Kind, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, kind: Kind, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError::new(kind, message()).cause(&e))
    }
}

/// The table of exit codes, as `--help` and the docs show it.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  general error (I/O, unexpected answers)
  2  usage: bad arguments or configuration
  3  not found: pod, version, file, log, remote
  4  conflict: concurrent version, store in use, already running, remote exists
  5  emulator or remote server not reachable / not running
  6  invalid or corrupt input (archive, store, state refused by the emulator)
  7  timed out (wait, stop)
  8  refused by a remote: no token, an unknown one, or a role too low";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_kinds_and_hints() {
        let e: CliError = podstore::Error::PodNotFound {
            name: "p2".into(),
            hint: "; did you mean \"p1\"?".into(),
        }
        .into();
        assert_eq!(e.kind.exit_code(), 3);
        assert!(e.message.contains("did you mean"), "{}", e.message);
        assert!(e.hint.is_some());
        let e: CliError = podstore::Error::InvalidArchive("x".into()).into();
        assert_eq!(e.kind, Kind::Invalid);
    }

    #[test]
    fn render_shows_causes_once_and_the_hint() {
        let io = std::io::Error::other("disk full");
        let e = CliError::general("cannot write pod.tar")
            .cause(&io)
            .hint("free some space");
        let mut out = Vec::new();
        e.render(&mut out).expect("render");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "podstack: cannot write pod.tar\n  caused by: disk full\n  hint: free some space\n"
        );
        let bp: CliError = std::io::Error::from(std::io::ErrorKind::BrokenPipe).into();
        assert!(bp.is_broken_pipe());
    }
}
