//! Decoder for `Content-Encoding: aws-chunked` request bodies: signed chunks
//! (`<hex>;chunk-signature=<sig>\r\n<data>\r\n`), unsigned chunks (`<hex>\r\n<data>\r\n`), the
//! final zero-length chunk and trailing headers such as `x-amz-checksum-crc32:<b64>`.

/// Longest chunk header or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// An incremental decoder.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    state: State,
    trailers: Vec<(String, String)>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            state: State::Size,
            trailers: Vec::new(),
        }
    }

    /// Feeds encoded bytes; appends decoded payload to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.buf.extend_from_slice(input);
        let mut pos = 0;
        loop {
            match self.state {
                State::Size | State::Trailers | State::DataEnd => {
                    let Some(end) = find_crlf(&self.buf[pos..]) else {
                        if self.buf.len() - pos > MAX_LINE {
                            return Err("aws-chunked line too long".into());
                        }
                        break;
                    };
                    let line = std::str::from_utf8(&self.buf[pos..pos + end])
                        .map_err(|_| "aws-chunked header is not UTF-8")?
                        .to_owned();
                    pos += end + 2;
                    self.line(&line)?;
                }
                State::Data(n) => {
                    let avail = (self.buf.len() - pos) as u64;
                    if avail == 0 {
                        break;
                    }
                    let take = avail.min(n) as usize;
                    out.extend_from_slice(&self.buf[pos..pos + take]);
                    pos += take;
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::Done => {
                    if self.buf[pos..].iter().any(|b| !b.is_ascii_whitespace()) {
                        return Err("data after the end of an aws-chunked body".into());
                    }
                    pos = self.buf.len();
                    break;
                }
            }
        }
        self.buf.drain(..pos);
        Ok(())
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        match self.state {
            State::DataEnd => {
                if !line.is_empty() {
                    return Err("aws-chunked chunk not followed by CRLF".into());
                }
                self.state = State::Size;
            }
            State::Size => {
                let hex = line.split(';').next().unwrap_or("").trim();
                let n = u64::from_str_radix(hex, 16)
                    .map_err(|_| format!("bad aws-chunked chunk size {hex:?}"))?;
                self.state = if n == 0 {
                    State::Trailers
                } else {
                    State::Data(n)
                };
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Done;
                } else {
                    let (k, v) = line.split_once(':').ok_or("bad aws-chunked trailer")?;
                    self.trailers
                        .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            State::Data(_) | State::Done => {}
        }
        Ok(())
    }

    /// Ends the body: fails when it stopped early. Returns the trailers.
    pub fn finish(self) -> Result<Vec<(String, String)>, String> {
        match self.state {
            State::Done => Ok(self.trailers),
            // Some clients end after the trailer lines without the final empty line.
            State::Trailers if self.buf.is_empty() => Ok(self.trailers),
            _ => Err("aws-chunked body ended early".into()),
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_signed_and_unsigned_with_trailers_in_any_split() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for split in 1..body.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            d.feed(&body[..split], &mut out).expect("first");
            d.feed(&body[split..], &mut out).expect("second");
            assert_eq!(out, b"hello world");
            let t = d.finish().expect("finish");
            assert_eq!(
                t,
                vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
            );
        }
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        let mut d = Decoder::new();
        assert!(d.feed(b"zz\r\n", &mut Vec::new()).is_err());
        let mut d = Decoder::new();
        d.feed(b"5\r\nhel", &mut Vec::new()).expect("partial");
        assert!(d.finish().is_err());
    }
}
