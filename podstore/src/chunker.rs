//! Content-defined chunking (FastCDC-style gear hash with normalized chunking).
//!
//! The parameters and the gear table are part of the store format: changing any of them
//! changes chunk boundaries and so breaks dedup against existing stores and remotes.
//! Min 16 KiB, average 64 KiB, max 256 KiB (casync's defaults; `shared/notes/storage.md` §6.3
//! measured 1.82 MiB stored for a 1.7 MB change with these, against 4.65 MiB at 1 MiB).

/// No cut before this many bytes.
pub const MIN_CHUNK: usize = 16 * 1024;
/// Target average chunk size.
pub const AVG_CHUNK: usize = 64 * 1024;
/// Forced cut at this many bytes.
pub const MAX_CHUNK: usize = 256 * 1024;
/// Before the average: 18 top bits must be zero (harder to cut).
const MASK_SMALL: u64 = !0u64 << (64 - 18);
/// After the average: 14 top bits (easier to cut).
const MASK_LARGE: u64 = !0u64 << (64 - 14);

/// The gear table: splitmix64 from a fixed seed, computed at compile time.
static GEAR: [u64; 256] = gear_table();

const fn gear_table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut state: u64 = 0x706f_6473_7461_636b; // "podstack"
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        t[i] = z ^ (z >> 31);
        i += 1;
    }
    t
}

/// Length of the first chunk of `data`. When `data` holds fewer than [`MAX_CHUNK`] bytes and
/// more may follow, the answer is only final if it is below `data.len()`.
pub fn cut(data: &[u8]) -> usize {
    let n = data.len();
    if n <= MIN_CHUNK {
        return n;
    }
    let limit = n.min(MAX_CHUNK);
    let normal = limit.min(AVG_CHUNK);
    let mut h = 0u64;
    let mut i = MIN_CHUNK;
    while i < normal {
        h = (h << 1).wrapping_add(GEAR[data[i] as usize]);
        if h & MASK_SMALL == 0 {
            return i + 1;
        }
        i += 1;
    }
    while i < limit {
        h = (h << 1).wrapping_add(GEAR[data[i] as usize]);
        if h & MASK_LARGE == 0 {
            return i + 1;
        }
        i += 1;
    }
    limit
}

/// Splits a whole buffer into chunk lengths.
pub fn chunk_lengths(mut data: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let c = cut(data);
        out.push(c);
        data = &data[c..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        crate::testkit::random_bytes(seed, n)
    }

    #[test]
    fn sizes_stay_in_bounds_and_average_near_target() {
        let data = noise(16 << 20, 1);
        let lens = chunk_lengths(&data);
        assert_eq!(lens.iter().sum::<usize>(), data.len());
        for l in &lens[..lens.len() - 1] {
            assert!((MIN_CHUNK..=MAX_CHUNK).contains(l), "{l}");
        }
        let avg = data.len() / lens.len();
        assert!(
            (AVG_CHUNK / 2..AVG_CHUNK * 2).contains(&avg),
            "average {avg}"
        );
    }

    #[test]
    fn an_insert_at_the_front_changes_only_the_first_chunks() {
        let data = noise(4 << 20, 2);
        let mut edited = b"a small insert at the front".to_vec();
        edited.extend_from_slice(&data);
        let set = |d: &[u8]| {
            let mut off = 0;
            chunk_lengths(d)
                .into_iter()
                .map(|l| {
                    let c = d[off..off + l].to_vec();
                    off += l;
                    c
                })
                .collect::<std::collections::HashSet<_>>()
        };
        let (a, b) = (set(&data), set(&edited));
        let shared = a.intersection(&b).count();
        assert!(shared + 2 >= a.len(), "shared {shared} of {}", a.len());
    }
}
