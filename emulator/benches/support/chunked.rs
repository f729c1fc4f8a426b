//! Shared by the bench binaries: reading a chunked HTTP/1.1 response body.

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpStream;

/// Reads a `Transfer-Encoding: chunked` body (trailers are skipped).
pub fn read_chunked(
    r: &mut BufReader<TcpStream>,
    line: &mut String,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        line.clear();
        r.read_line(line)?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let n = usize::from_str_radix(size, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
        if n == 0 {
            break;
        }
        let start = out.len();
        out.resize(start + n, 0);
        r.read_exact(&mut out[start..])?;
        line.clear();
        r.read_line(line)?;
    }
    loop {
        line.clear();
        if r.read_line(line)? == 0 || line.trim_end().is_empty() {
            return Ok(());
        }
    }
}
