//! Tokens: created by `podstack-remote token create`, kept in the storage as
//! `tokens/<name>.json` with only their SHA-256 (a token carries 32 random bytes, so a plain
//! hash is as strong as a slow one), and compared in constant time. A token reads
//! `pst_<name>.<64 hex digits>`: the name finds the one record to compare with, so a token
//! created a moment ago works at once, and unknown tokens cost one storage read.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::protocol::Role;
use crate::storage::{Storage, StorageError, StorageResult};
use podstore::{ObjectId, hex};

/// Tokens start with this, so they are recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "pst_";
/// How long the server trusts its copy of the token records (revocation takes effect after it).
const TTL: Duration = Duration::from_secs(2);

/// A stored token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Its name (also the pusher name on versions).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// When it was made (Unix seconds).
    pub created: i64,
}

fn key(name: &str) -> String {
    format!("tokens/{name}.json")
}

fn random_bytes() -> StorageResult<[u8; 32]> {
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| StorageError::Failed(format!("cannot read /dev/urandom: {e}")))?;
    Ok(buf)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Creates a token; returns it (shown once, never stored). Fails when the name is taken.
pub fn create(storage: &dyn Storage, name: &str, role: Role) -> Result<String, String> {
    podstore::validate_name(name).map_err(|e| format!("token name: {e}"))?;
    let token = format!(
        "{TOKEN_PREFIX}{name}.{}",
        hex(&random_bytes().map_err(|e| e.to_string())?)
    );
    let rec = TokenRecord {
        name: name.to_owned(),
        role,
        sha256: hex(&digest(&token)),
        created: podstore::now_unix(),
    };
    let bytes = serde_json::to_vec(&rec).map_err(|e| e.to_string())?;
    if !storage
        .create(&key(name), &bytes)
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "a token named {name:?} exists; revoke it first or pick another name"
        ));
    }
    Ok(token)
}

/// Every token record, by name.
pub fn list(storage: &dyn Storage) -> StorageResult<Vec<TokenRecord>> {
    let mut out = Vec::new();
    for k in storage.list("tokens/")? {
        if let Some(bytes) = storage.get(&k)? {
            let rec: TokenRecord = serde_json::from_slice(&bytes)
                .map_err(|e| StorageError::Failed(format!("{k} is not a token record: {e}")))?;
            out.push(rec);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Revokes a token; returns whether it existed.
pub fn revoke(storage: &dyn Storage, name: &str) -> StorageResult<bool> {
    if podstore::validate_name(name).is_err() || storage.get(&key(name))?.is_none() {
        return Ok(false);
    }
    storage.delete(&key(name))?;
    Ok(true)
}

/// Equal in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// What the server last read of one token name, and when.
type Cached = (Instant, Option<(TokenRecord, [u8; 32])>);

/// The server's view of the tokens: each record re-read from the storage when older than a
/// couple of seconds (so a revocation takes effect within them).
#[derive(Debug, Default)]
pub struct Tokens {
    cached: Mutex<HashMap<String, Cached>>,
}

impl Tokens {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Who presents `token`, or `None` for an unknown or malformed one.
    pub fn check(&self, storage: &dyn Storage, token: &str) -> StorageResult<Option<TokenRecord>> {
        let Some((name, _)) = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|t| t.rsplit_once('.'))
        else {
            return Ok(None);
        };
        if podstore::validate_name(name).is_err() {
            return Ok(None);
        }
        let presented = digest(token);
        let fresh = {
            let cached = self.cached.lock().map_err(|_| poisoned())?;
            cached
                .get(name)
                .filter(|(at, _)| at.elapsed() < TTL)
                .map(|(_, rec)| rec.clone())
        };
        let rec = match fresh {
            Some(rec) => rec,
            None => {
                let rec = match storage.get(&key(name))? {
                    None => None,
                    Some(bytes) => {
                        let r: TokenRecord = serde_json::from_slice(&bytes).map_err(|e| {
                            StorageError::Failed(format!(
                                "{} is not a token record: {e}",
                                key(name)
                            ))
                        })?;
                        ObjectId::from_hex(&r.sha256).map(|h| (r, h.0))
                    }
                };
                let mut cached = self.cached.lock().map_err(|_| poisoned())?;
                if cached.len() > 10_000 {
                    cached.clear();
                }
                cached.insert(name.to_owned(), (Instant::now(), rec.clone()));
                rec
            }
        };
        Ok(rec.and_then(|(r, hash)| constant_time_eq(&hash, &presented).then_some(r)))
    }
}

fn poisoned() -> StorageError {
    StorageError::Failed("token cache poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::DirStorage;

    #[test]
    fn create_check_list_revoke() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = DirStorage::open(dir.path()).expect("dir");
        let t = create(&s, "alice", Role::Write).expect("create");
        assert!(t.starts_with("pst_alice.") && t.len() == 4 + 6 + 64);
        assert!(create(&s, "alice", Role::Read).is_err());
        let raw = std::fs::read_to_string(dir.path().join("tokens/alice.json")).expect("file");
        assert!(!raw.contains(&t[10..]), "the token itself is never stored");
        let tokens = Tokens::new();
        let who = tokens.check(&s, &t).expect("check").expect("known");
        assert_eq!((who.name.as_str(), who.role), ("alice", Role::Write));
        assert!(tokens.check(&s, "pst_wrong").expect("check").is_none());
        let last = if t.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &t[..t.len() - 1]);
        assert!(tokens.check(&s, &forged).expect("check").is_none());
        assert!(tokens.check(&s, "pst_../x.00").expect("check").is_none());
        assert_eq!(list(&s).expect("list").len(), 1);
        assert!(revoke(&s, "alice").expect("revoke"));
        assert!(!revoke(&s, "alice").expect("again"));
        assert!(Tokens::new().check(&s, &t).expect("check").is_none());
    }
}
