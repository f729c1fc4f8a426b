//! Hostile HTTP against the gateway: oversized headers, garbage, malformed bodies. Every one
//! gets a 4xx, the connection is answered (never hangs), and the server keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e::Emulator;

/// Sends raw bytes and returns the status line of the answer.
fn status_line(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut buf = vec![0u8; 256];
    let n = s.read(&mut buf).expect("an answer, not a hang");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn hostile_requests_get_4xx_and_the_server_keeps_serving() {
    let emu = Emulator::start();
    let big_header = [
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".as_slice(),
        &[b'a'; 500_000],
        b"\r\n\r\n",
    ]
    .concat();
    let many: Vec<u8> = (0..500)
        .flat_map(|i| format!("X-{i}: y\r\n").into_bytes())
        .collect();
    let many_headers = [b"GET / HTTP/1.1\r\nHost: x\r\n".as_slice(), &many, b"\r\n"].concat();
    let cases: [(&str, &[u8], &str); 4] = [
        ("oversized header", &big_header, "431"),
        ("too many headers", &many_headers, "431"),
        ("not HTTP", b"\x00\x01\x02 not http\r\n\r\n", "400"),
        (
            "malformed XML body",
            b"PUT /bucket-x HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n<bad<xml>",
            "400",
        ),
    ];
    for (what, request, code) in cases {
        let line = status_line(emu.port, request);
        assert!(line.contains(code), "{what}: {line}");
    }
    let r = emu.http("GET", "/_localstack/health", &[], b"");
    assert_eq!(r.status, 200, "still serving");
    let r = emu.http(
        "GET",
        "/?unknownsubresource",
        &[("x-amz-target", "DynamoDB_20120810.ListTables")],
        b"",
    );
    assert_eq!(r.status, 501, "{}", r.text());
    assert!(
        r.text().to_ascii_lowercase().contains("dynamodb"),
        "names what is not implemented: {}",
        r.text()
    );
}
