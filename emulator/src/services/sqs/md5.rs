//! The MD5 digests SQS returns and SDKs verify: of the body, and of message attributes in
//! AWS's binary encoding (sorted names; each name, type and value length-prefixed, with a
//! transport byte 1 for String/Number and 2 for Binary).

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use super::queue::Attr;
use crate::checksum::hex;

/// MD5 hex of a body.
pub fn of_body(body: &str) -> String {
    hex(&Md5::digest(body.as_bytes()))
}

fn put_prefixed(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
    buf.extend_from_slice(b);
}

/// MD5 hex of message attributes; `None` when there are none.
pub fn of_attributes(attrs: &BTreeMap<String, Attr>) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut buf = Vec::new();
    for (name, a) in attrs {
        put_prefixed(&mut buf, name.as_bytes());
        put_prefixed(&mut buf, a.data_type.as_bytes());
        match &a.binary {
            Some(b) => {
                buf.push(2);
                put_prefixed(&mut buf, b);
            }
            None => {
                buf.push(1);
                put_prefixed(&mut buf, a.string.as_deref().unwrap_or_default().as_bytes());
            }
        }
    }
    Some(hex(&Md5::digest(&buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding spelled out byte by byte, as the SQS developer guide describes it.
    #[test]
    fn follows_the_documented_encoding() {
        let mut m = BTreeMap::new();
        m.insert(
            "a".to_owned(),
            Attr {
                data_type: "String".into(),
                string: Some("b".into()),
                binary: None,
            },
        );
        let expected = {
            let mut buf = Vec::new();
            buf.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 6]);
            buf.extend_from_slice(b"String");
            buf.extend_from_slice(&[1, 0, 0, 0, 1, b'b']);
            hex(&Md5::digest(&buf))
        };
        assert_eq!(of_attributes(&m), Some(expected));
        assert_eq!(of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
    }
}
