//! Where a command's output goes: data to stdout as a table or as JSON, notes to stderr
//! (silenced by `-q`), details with `-v`, color only on a terminal without `NO_COLOR`.
//!
//! Handlers write through a [`Ctx`], never with `println!`: a closed stdout becomes an error
//! value that `main` turns into a silent exit 0, and tests capture both streams in memory.

use std::io::Write;

use serde_json::Value;

use crate::error::Result;
use crate::plan::{Settings, Verbosity};

/// A handler's view of the world: settings and the two output streams.
pub struct Ctx<'a> {
    /// Shared settings.
    pub settings: &'a Settings,
    /// stdout.
    pub out: &'a mut dyn Write,
    /// stderr.
    pub err: &'a mut dyn Write,
    /// Answers to questions (stdin), when interactive.
    pub input: &'a mut dyn std::io::BufRead,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    /// A note on stderr (not with `-q`). Failures to write stderr are ignored.
    pub fn note(&mut self, msg: impl AsRef<str>) {
        if self.settings.verbosity >= Verbosity::Normal {
            let _ = writeln!(self.err, "{}", msg.as_ref());
        }
    }

    /// A detail on stderr (only with `-v`).
    pub fn detail(&mut self, msg: impl AsRef<str>) {
        if self.settings.verbosity >= Verbosity::Verbose {
            let _ = writeln!(self.err, "{}", msg.as_ref());
        }
    }

    /// A warning on stderr (always).
    pub fn warn(&mut self, msg: impl AsRef<str>) {
        let _ = writeln!(self.err, "warning: {}", msg.as_ref());
    }

    /// Prints data: `json` with `--format json`, else what `text` writes.
    pub fn emit(
        &mut self,
        json: &Value,
        text: impl FnOnce(&mut dyn Write, &Style) -> std::io::Result<()>,
    ) -> Result<()> {
        if self.settings.json {
            serde_json::to_writer_pretty(&mut *self.out, json).map_err(std::io::Error::from)?;
            writeln!(self.out)?;
        } else {
            let style = Style {
                color: self.settings.color,
            };
            text(self.out, &style)?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// Asks a yes/no question on stderr; `false` unless the answer starts with y.
    pub fn confirm(&mut self, question: &str) -> Result<bool> {
        write!(self.err, "{question} [y/N] ")?;
        self.err.flush()?;
        let mut line = String::new();
        self.input.read_line(&mut line)?;
        Ok(matches!(
            line.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}

/// Styling for text output.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Whether ANSI colors are allowed.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    /// Bold.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Green (additions).
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Yellow (modifications).
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }

    /// Red (deletions).
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
}

/// Writes aligned columns; the header is bold on a terminal. Cells may contain ANSI codes
/// (they do not count towards the width).
pub fn table(
    w: &mut dyn Write,
    style: &Style,
    headers: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(visible_len(c));
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(visible_len(c)) + 2;
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(
        w,
        "{}",
        line(headers.iter().map(|h| style.bold(h)).collect())
    )?;
    for r in rows {
        writeln!(w, "{}", line(r.clone()))?;
    }
    Ok(())
}

fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        if in_escape {
            in_escape = c != 'm';
        } else if c == '\x1b' {
            in_escape = true;
        } else {
            n += 1;
        }
    }
    n
}

/// `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A Unix time as RFC 3339 (UTC).
pub fn time(unix: i64) -> String {
    podstore::format_rfc3339(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_ignore_color_codes() {
        let mut out = Vec::new();
        let style = Style { color: false };
        table(
            &mut out,
            &style,
            &["NAME", "N"],
            &[
                vec!["p1".into(), "1".into()],
                vec!["longer".into(), Style { color: true }.green("22")],
            ],
        )
        .expect("table");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text, "NAME    N\np1      1\nlonger  \x1b[32m22\x1b[0m\n");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
