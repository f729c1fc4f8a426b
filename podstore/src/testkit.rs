//! Small fixtures for tests of this crate and of crates built on it (not part of the stable
//! API).

use serde_json::json;

use crate::blob::put_blob;
use crate::commit::{Commit, CommitOptions};
use crate::document::{Document, blob_ref};
use crate::id::CommitId;
use crate::object::Objects;
use crate::path::StatePath;
use crate::tree::{self, Entry};

/// Commits a state of one S3 object `k<n>` whose body is `body_len` bytes derived from `n`
/// (chunked when large). Panics on failure: for tests only.
pub fn one_object_commit<O: Objects + ?Sized>(o: &O, n: u64, body_len: usize) -> CommitId {
    let body: Vec<u8> = (0..body_len).map(|i| (i * 7 + n as usize) as u8).collect();
    body_commit(o, n, &body)
}

/// [`one_object_commit`] with a body of pseudo-random bytes seeded by `n` (chunked into many
/// distinct chunks when large).
pub fn random_object_commit<O: Objects + ?Sized>(o: &O, n: u64, body_len: usize) -> CommitId {
    body_commit(
        o,
        n,
        &random_bytes(n.wrapping_mul(0x9e37_79b9_7f4a_7c15), body_len),
    )
}

/// `len` incompressible bytes (xorshift) from `seed`; the same seed gives the same bytes.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn body_commit<O: Objects + ?Sized>(o: &O, n: u64, body: &[u8]) -> CommitId {
    let b = put_blob(o, body)
        .expect("works because test objects accept writes")
        .blob;
    let d = Document::new(json!({"schema": "s3.object/1", "n": n, "body": blob_ref(&b)}))
        .expect("works because the document has a schema");
    let e = Entry::store_doc(o, &d).expect("works because test objects accept writes");
    let path = StatePath::parse(&format!("a/r/s3/object/k{n}")).expect("works: a valid path");
    let root = tree::build(o, vec![(path, e)]).expect("works because test objects accept writes");
    Commit::new(o, root, CommitOptions::default())
        .and_then(|c| c.store(o))
        .expect("works because test objects accept writes")
}
