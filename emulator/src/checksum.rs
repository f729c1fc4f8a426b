//! Checksums S3 clients send and expect: CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256 (values are
//! base64 of the big-endian digest), and MD5 for ETags and `Content-MD5`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Digest;

/// A checksum algorithm S3 supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-32 (IEEE).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// All, in header-name order.
    pub const ALL: [Algorithm; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// Parses `CRC32`, `crc32c`, …
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    /// Upper-case name as in `x-amz-checksum-algorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The header carrying the value: `x-amz-checksum-crc32`, …
    pub fn header(self) -> String {
        format!("x-amz-checksum-{}", self.name().to_ascii_lowercase())
    }

    /// Whether values of this algorithm combine as "checksum of checksums" for multipart
    /// (`COMPOSITE`) rather than over the whole object.
    pub fn is_crc(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64Nvme)
    }
}

/// A running checksum.
#[derive(Clone, Debug)]
pub enum Hasher {
    /// CRC-32.
    Crc32(crc32fast::Hasher),
    /// CRC-32C, reflected state.
    Crc32c(u32),
    /// CRC-64/NVME, reflected state.
    Crc64(u64),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

/// Byte tables of the reflected CRCs. A reflected table computed in 64 bits is exact for a
/// 32-bit polynomial too (its high bits stay zero), so one builder serves both.
static CRC32C_TABLE: [u64; 256] = reflected_table(0x82F6_3B78);
static CRC64_TABLE: [u64; 256] = reflected_table(0x9A6C_9329_AC4B_C9B5);

const fn reflected_table(poly: u64) -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(a: Algorithm) -> Self {
        match a {
            Algorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Self::Crc32c(!0),
            Algorithm::Crc64Nvme => Self::Crc64(!0),
            Algorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(c) => {
                for &b in data {
                    *c = (CRC32C_TABLE[((*c ^ u32::from(b)) & 0xff) as usize] as u32) ^ (*c >> 8);
                }
            }
            Self::Crc64(c) => {
                for &b in data {
                    *c = CRC64_TABLE[((*c ^ u64::from(b)) & 0xff) as usize] ^ (*c >> 8);
                }
            }
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    /// The digest bytes (big-endian for CRCs).
    pub fn digest(self) -> Vec<u8> {
        match self {
            Self::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Self::Crc32c(c) => (!c).to_be_bytes().to_vec(),
            Self::Crc64(c) => (!c).to_be_bytes().to_vec(),
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => sha2::Digest::finalize(h).to_vec(),
        }
    }

    /// The base64 value as S3 shows it.
    pub fn value(self) -> String {
        B64.encode(self.digest())
    }
}

/// Checksum of a whole buffer, base64.
#[cfg(test)]
pub fn of(a: Algorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(a);
    h.update(data);
    h.value()
}

/// Decodes base64, or `None`.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim()).ok()
}

/// Encodes base64.
pub fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

/// Lower-case hex.
pub use podstore::hex;

/// MD5 as lower-case hex.
#[cfg(test)]
pub fn md5_hex(data: &[u8]) -> String {
    hex(&md5::Md5::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Check values of the CRC catalogue for "123456789".
    #[test]
    fn known_check_values() {
        let d = |a| {
            hex(&{
                let mut h = Hasher::new(a);
                h.update(b"123456789");
                h.digest()
            })
        };
        assert_eq!(d(Algorithm::Crc32), "cbf43926");
        assert_eq!(d(Algorithm::Crc32c), "e3069283");
        assert_eq!(d(Algorithm::Crc64Nvme), "ae8b14860a799888");
        assert_eq!(
            of(Algorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
