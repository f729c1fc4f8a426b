//! State paths: `<account>/<region or "global">/<service>/<resource-type>/<resource-id>…`.
//!
//! A path is a list of segments. Segments may hold any UTF-8 except NUL (S3 keys contain `/`);
//! in the string form `%` and `/` inside a segment are written `%25` and `%2F`.

use std::fmt;

use crate::error::{Error, Result};

/// Longest segment accepted, in bytes.
pub const MAX_SEGMENT: usize = 4096;

/// A path in a state tree.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StatePath(Vec<String>);

impl StatePath {
    /// A path from segments, validated.
    pub fn new<I, S>(segments: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let segs: Vec<String> = segments.into_iter().map(Into::into).collect();
        for s in &segs {
            check_segment(&segs, s)?;
        }
        Ok(Self(segs))
    }

    /// Parses the string form (`a/b/c`, with `%2F` and `%25` escapes).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidPath {
            path: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.is_empty() {
            return Ok(Self::default());
        }
        let segs = s
            .split('/')
            .map(|seg| unescape(seg).ok_or_else(|| bad("bad % escape")))
            .collect::<Result<Vec<_>>>()?;
        Self::new(segs)
    }

    /// The segments.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the root.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This path with one more segment (not validated: used for names read from a tree).
    pub fn join(&self, seg: &str) -> Self {
        let mut v = self.0.clone();
        v.push(seg.to_owned());
        Self(v)
    }

    /// Whether `prefix` is a prefix of this path.
    pub fn starts_with(&self, prefix: &[String]) -> bool {
        self.0.len() >= prefix.len() && self.0[..prefix.len()] == *prefix
    }

    /// `(account, region, service)` when the path is that deep.
    pub fn scope(&self) -> Option<(&str, &str, &str)> {
        match self.0.as_slice() {
            [a, r, s, ..] => Some((a, r, s)),
            _ => None,
        }
    }
}

fn check_segment(all: &[String], s: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidPath {
        path: all.join("/"),
        reason: reason.to_owned(),
    };
    if s.is_empty() {
        return Err(bad("empty segment"));
    }
    if s.len() > MAX_SEGMENT {
        return Err(bad("a segment is longer than 4096 bytes"));
    }
    if s.contains('\0') {
        return Err(bad("a segment contains NUL"));
    }
    Ok(())
}

fn escape(seg: &str) -> String {
    seg.replace('%', "%25").replace('/', "%2F")
}

fn unescape(seg: &str) -> Option<String> {
    let mut out = String::with_capacity(seg.len());
    let mut rest = seg;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        match code {
            "25" => out.push('%'),
            "2F" | "2f" => out.push('/'),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

impl fmt::Display for StatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(&escape(s))?;
        }
        Ok(())
    }
}

impl fmt::Debug for StatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatePath({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_round_trips_slashes_and_percents() {
        let p = StatePath::new(["000000000000", "us-east-1", "s3", "object", "b", "a/b%c"])
            .expect("new");
        assert_eq!(
            p.to_string(),
            "000000000000/us-east-1/s3/object/b/a%2Fb%25c"
        );
        assert_eq!(StatePath::parse(&p.to_string()).expect("parse"), p);
        assert_eq!(p.scope(), Some(("000000000000", "us-east-1", "s3")));
    }

    #[test]
    fn rejects_bad_segments() {
        assert!(StatePath::parse("a//b").is_err());
        assert!(StatePath::parse("a/%zz").is_err());
        assert!(StatePath::new(["a\0"]).is_err());
    }
}
