//! A small blocking HTTP/1.1 client over `std::net::TcpStream`: one request per connection
//! (`Connection: close`), connect and read timeouts, request bodies streamed from a reader,
//! responses read by `Content-Length`, chunked encoding or until close, and streamed out.
//!
//! `https://` endpoints go through rustls (ring) with the system's trusted certificates
//! (`rustls-native-certs`, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`); the handshake
//! completes before the request is written, so an untrusted certificate is a connect error
//! that says why.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Longest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 << 10;

/// Where a server is: `http(s)://host:port[/prefix]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Whether to speak TLS (`https://`).
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path prefix without trailing slash (usually empty).
    pub prefix: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`; a bare `host:port` is taken as http.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (tls, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if s.contains("://") {
            return Err(format!(
                "{s}: only http:// and https:// endpoints are supported"
            ));
        } else {
            (false, s)
        };
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            // [v6]:port
            let (h, after) = h
                .split_once(']')
                .ok_or_else(|| format!("{s}: unterminated [ in the host"))?;
            (h.to_owned(), after.strip_prefix(':').unwrap_or(""))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p),
                None => (authority.to_owned(), ""),
            }
        };
        if host.is_empty() {
            return Err(format!("{s}: no host (expected http://host:port)"));
        }
        let port = if port.is_empty() {
            if tls { 443 } else { 80 }
        } else {
            port.parse()
                .map_err(|_| format!("{s}: {port:?} is not a port number"))?
        };
        Ok(Self {
            tls,
            host,
            port,
            prefix: prefix.trim_end_matches('/').to_owned(),
        })
    }

    /// The `Host` header this client sends (`host:port`, IPv6 in brackets); request signers
    /// must sign exactly this value.
    pub fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.prefix)
    }
}

/// A request body.
pub enum Body<'a> {
    /// None.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// `len` bytes read from a reader; `progress` is told the bytes sent so far.
    Reader {
        /// The source.
        reader: &'a mut dyn Read,
        /// Exactly how many bytes it yields.
        len: u64,
        /// Called with the total sent after each write.
        progress: &'a mut dyn FnMut(u64),
    },
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Self::Reader { len, .. } => write!(f, "Reader({len})"),
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum HttpError {
    /// No connection could be made (refused, unresolvable, timed out).
    Connect(io::Error),
    /// The connection broke or timed out during the exchange.
    Io(io::Error),
    /// The answer is not HTTP as expected.
    Protocol(String),
    /// Writing the streamed answer out failed (the file, not the connection).
    Sink(io::Error),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
                f.write_str("no answer in time (read timed out)")
            }
            Self::Io(e) => write!(f, "connection failed: {e}"),
            Self::Protocol(m) => write!(f, "invalid HTTP answer: {m}"),
            Self::Sink(e) => write!(f, "cannot write the answer out: {e}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Timeouts of one request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// To establish the connection.
    pub connect: Duration,
    /// Between two reads (inactivity), not for the whole answer.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(60),
        }
    }
}

/// Sends one request and returns the answer with its body unread.
pub fn send(
    ep: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
    timeouts: Timeouts,
) -> Result<Response, HttpError> {
    let mut stream = connect(ep, timeouts)?;
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: podstack/{}\r\nConnection: close\r\n",
        ep.prefix,
        ep.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let len = match &body {
        Body::Empty => 0,
        Body::Bytes(b) => b.len() as u64,
        Body::Reader { len, .. } => *len,
    };
    if len > 0 || matches!(method, "POST" | "PUT") {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("\r\n");
    let mut w = io::BufWriter::with_capacity(64 << 10, &mut stream);
    let sent = write_request(&mut w, head.as_bytes(), body);
    drop(w);
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    match read_head(&mut reader) {
        Ok((status, headers)) => Response::new(status, headers, reader, method == "HEAD"),
        // The server may answer early (e.g. rejecting a body) and close: prefer its answer,
        // else report the write failure.
        Err(e) => Err(match sent {
            Err(we) => HttpError::Io(we),
            Ok(()) => e,
        }),
    }
}

/// A connection: plain TCP, or TLS over it.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// The TLS settings of every https connection: the system's trusted roots, built once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_owned(), ToString::to_string);
                return Err(format!(
                    "no trusted certificates for https ({why}); install ca-certificates or set SSL_CERT_FILE"
                ));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| format!("cannot set up TLS: {e}"))
        })
        .clone()
}

/// Starts TLS on `tcp` and completes the handshake (so certificate problems show here).
fn start_tls(ep: &Endpoint, mut tcp: TcpStream) -> Result<Conn, HttpError> {
    let fail = |m: String| HttpError::Connect(io::Error::other(m));
    let config = tls_config().map_err(fail)?;
    let name = rustls::pki_types::ServerName::try_from(ep.host.clone())
        .map_err(|e| fail(format!("{:?} is not a valid TLS server name: {e}", ep.host)))?;
    let mut conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| fail(format!("cannot start TLS: {e}")))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| {
            fail(format!(
                "TLS handshake with {} failed: {e}",
                ep.host_header()
            ))
        })?;
    }
    Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

fn connect(ep: &Endpoint, t: Timeouts) -> Result<Conn, HttpError> {
    let tcp = connect_tcp(ep, t)?;
    if ep.tls {
        start_tls(ep, tcp)
    } else {
        Ok(Conn::Plain(tcp))
    }
}

fn connect_tcp(ep: &Endpoint, t: Timeouts) -> Result<TcpStream, HttpError> {
    let addrs: Vec<SocketAddr> = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(HttpError::Connect)?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, t.connect) {
            Ok(s) => {
                s.set_read_timeout(Some(t.read))?;
                s.set_write_timeout(Some(t.read))?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(HttpError::Connect(last))
}

fn write_request(w: &mut impl Write, head: &[u8], body: Body<'_>) -> io::Result<()> {
    w.write_all(head)?;
    match body {
        Body::Empty => {}
        Body::Bytes(b) => w.write_all(b)?,
        Body::Reader {
            reader,
            len,
            progress,
        } => {
            let mut buf = vec![0u8; 256 << 10];
            let mut sent = 0u64;
            while sent < len {
                let want = buf
                    .len()
                    .min(usize::try_from(len - sent).unwrap_or(usize::MAX));
                let n = reader.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the body ended after {sent} of {len} bytes"),
                    ));
                }
                w.write_all(&buf[..n])?;
                sent += n as u64;
                progress(sent);
            }
        }
    }
    w.flush()
}

type Head = (u16, Vec<(String, String)>);

fn read_head(r: &mut impl BufRead) -> Result<Head, HttpError> {
    let mut total = 0;
    let mut line = String::new();
    let mut next_line = |line: &mut String| -> Result<(), HttpError> {
        line.clear();
        let n = r.take((MAX_HEAD - total) as u64).read_line(line)?;
        total += n;
        if n == 0 {
            return Err(HttpError::Protocol(
                "the connection closed before the answer's headers ended".into(),
            ));
        }
        if total >= MAX_HEAD {
            return Err(HttpError::Protocol("headers too long".into()));
        }
        Ok(())
    };
    next_line(&mut line)?;
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpError::Protocol(format!("bad status line {:?}", line.trim_end())))?;
    let mut headers = Vec::new();
    loop {
        next_line(&mut line)?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    if (100..200).contains(&status) {
        // An interim answer (100 Continue): the real one follows.
        return read_head(r);
    }
    Ok((status, headers))
}

/// An answer whose body can be read, collected or streamed.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    body: BodyReader<BufReader<Conn>>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Response {
    fn new(
        status: u16,
        headers: Vec<(String, String)>,
        inner: BufReader<Conn>,
        head: bool,
    ) -> Result<Self, HttpError> {
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mode = if head || status == 204 || status == 304 {
            Mode::Length(0)
        } else if get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            Mode::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(l) = get("content-length") {
            Mode::Length(
                l.parse()
                    .map_err(|_| HttpError::Protocol(format!("bad Content-Length {l:?}")))?,
            )
        } else {
            Mode::UntilClose
        };
        Ok(Self {
            status,
            headers,
            body: BodyReader { inner, mode },
        })
    }

    /// The first header of that name (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's length when the answer declares it.
    pub fn content_length(&self) -> Option<u64> {
        match self.body.mode {
            Mode::Length(n) => Some(n),
            _ => None,
        }
    }

    /// Reads the whole body (at most `limit` bytes).
    pub fn bytes(mut self, limit: u64) -> Result<Vec<u8>, HttpError> {
        // Sized once when the length is declared: growing a large body by doubling copies it
        // again at every step.
        let declared = self.content_length().unwrap_or(0).min(limit);
        let mut out = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        (&mut self.body).take(limit + 1).read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(HttpError::Protocol(format!(
                "answer larger than {limit} bytes"
            )));
        }
        Ok(out)
    }

    /// Streams the body into `w`, telling `progress` the bytes so far; returns the total.
    pub fn copy_to(
        mut self,
        w: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, HttpError> {
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        loop {
            let n = self.body.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            w.write_all(&buf[..n]).map_err(HttpError::Sink)?;
            total += n as u64;
            progress(total);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Length(u64),
    Chunked { left: u64, done: bool },
    UntilClose,
}

struct BodyReader<R> {
    inner: R,
    mode: Mode,
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.mode {
            Mode::Length(0) => Ok(0),
            Mode::Length(left) => {
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the answer ended {left} bytes early"),
                    ));
                }
                *left -= n as u64;
                Ok(n)
            }
            Mode::UntilClose => self.inner.read(buf),
            Mode::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let size = read_chunk_size(&mut self.inner)?;
                    if size == 0 {
                        // Trailers, then the empty line.
                        loop {
                            let mut l = String::new();
                            if (&mut self.inner).take(8 << 10).read_line(&mut l)? == 0
                                || l.trim_end().is_empty()
                            {
                                break;
                            }
                        }
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the answer ended inside a chunk",
                    ));
                }
                *left -= n as u64;
                if *left == 0 {
                    let mut crlf = [0u8; 2];
                    self.inner.read_exact(&mut crlf)?;
                    if &crlf != b"\r\n" {
                        return Err(bad_data("chunk not followed by CRLF"));
                    }
                }
                Ok(n)
            }
        }
    }
}

fn bad_data(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_owned())
}

fn read_chunk_size(r: &mut impl BufRead) -> io::Result<u64> {
    let mut l = String::new();
    if r.take(1024).read_line(&mut l)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the answer ended before a chunk",
        ));
    }
    let hex = l.trim_end().split(';').next().unwrap_or("").trim();
    u64::from_str_radix(hex, 16).map_err(|_| bad_data("bad chunk size"))
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one connection: reads the request head and body (by Content-Length), answers
    /// `answer`, returns what it received.
    fn serve_once(answer: Vec<u8>) -> (Endpoint, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().expect("accept");
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut got = Vec::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).expect("line");
                got.extend_from_slice(line.as_bytes());
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().expect("len");
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).expect("body");
            got.extend_from_slice(&body);
            (&s).write_all(&answer).expect("answer");
            got
        });
        (
            Endpoint {
                tls: false,
                host: "127.0.0.1".into(),
                port,
                prefix: String::new(),
            },
            h,
        )
    }

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://127.0.0.1:4566").expect("plain");
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("127.0.0.1", 4566, "")
        );
        assert_eq!(e.to_string(), "http://127.0.0.1:4566");
        let e = Endpoint::parse("localhost:4567/x/").expect("bare");
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("localhost", 4567, "/x")
        );
        assert_eq!(Endpoint::parse("http://[::1]:9").expect("v6").host, "::1");
        assert_eq!(Endpoint::parse("http://h").expect("default port").port, 80);
        let tls = Endpoint::parse("https://pods.example").expect("https");
        assert!(tls.tls && tls.port == 443);
        assert_eq!(tls.to_string(), "https://pods.example:443");
        assert!(Endpoint::parse("ftp://h").is_err());
        assert!(Endpoint::parse("http://h:x").is_err());
        assert!(Endpoint::parse("http://:1").is_err());
    }

    #[test]
    fn content_length_and_streamed_request_body() {
        let (ep, h) = serve_once(
            b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello".to_vec(),
        );
        let data = vec![7u8; 300_000];
        let mut reader = &data[..];
        let mut seen = 0;
        let r = send(
            &ep,
            "POST",
            "/up?x=1",
            &[("content-type", "application/x-tar")],
            Body::Reader {
                reader: &mut reader,
                len: data.len() as u64,
                progress: &mut |n| seen = n,
            },
            Timeouts::default(),
        )
        .expect("send");
        assert_eq!((r.status, r.header("x-a")), (201, Some("b")));
        assert_eq!(r.bytes(100).expect("body"), b"hello");
        assert_eq!(seen, 300_000);
        let got = h.join().expect("server");
        let text = String::from_utf8_lossy(&got[..200]);
        assert!(text.starts_with("POST /up?x=1 HTTP/1.1\r\n"), "{text}");
        assert!(got.ends_with(&data));
    }

    #[test]
    fn chunked_answers_stream_out() {
        let (ep, h) = serve_once(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n"
                .to_vec(),
        );
        let r = send(&ep, "GET", "/", &[], Body::Empty, Timeouts::default()).expect("send");
        assert_eq!(r.content_length(), None);
        let mut out = Vec::new();
        let n = r.copy_to(&mut out, &mut |_| {}).expect("copy");
        assert_eq!((n, out.as_slice()), (5, &b"abcde"[..]));
        h.join().expect("server");
    }

    #[test]
    fn short_bodies_and_refused_connections_are_errors() {
        let (ep, h) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec());
        let r = send(&ep, "GET", "/", &[], Body::Empty, Timeouts::default()).expect("send");
        assert!(r.bytes(100).is_err());
        h.join().expect("server");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let ep = Endpoint {
            tls: false,
            host: "127.0.0.1".into(),
            port,
            prefix: String::new(),
        };
        let e = send(&ep, "GET", "/", &[], Body::Empty, Timeouts::default()).expect_err("refused");
        assert!(matches!(e, HttpError::Connect(_)), "{e}");
        assert_eq!(encode("a b/c,d"), "a%20b%2Fc%2Cd");
    }
}
