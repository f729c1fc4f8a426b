//! HTTP helpers: query strings, percent-encoding, HTTP dates and ISO 8601 times.

use std::collections::BTreeMap;

/// Query parameters in order of appearance, decoded; flags like `?versioning` have "".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parses a raw query string (`a=1&b&c=%20`), `+` meaning space as in forms.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut out = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            out.push((form_decode(k), form_decode(v)));
        }
        Self(out)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present (with or without a value).
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// As a map (last value wins).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

/// Decodes `%XX` escapes (invalid escapes are kept literally); `+` is kept.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Form decoding: `+` is a space, then percent-decoding.
pub fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/` when `keep_slash`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "-_.~".contains(c) || (keep_slash && c == '/') {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds as an HTTP date: `Sun, 22 Nov 2026 11:54:49 GMT`.
pub fn http_date(secs: i64) -> String {
    let iso = podstore::format_rfc3339(secs);
    let (y, m, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
    let mi: usize = m.parse().unwrap_or(1);
    let dow = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    format!("{dow}, {d} {} {y} {} GMT", MONTHS[mi - 1], &iso[11..19])
}

/// Unix milliseconds as ISO 8601 with milliseconds: `2026-11-22T11:54:49.000Z`.
pub fn iso8601_ms(ms: i64) -> String {
    let s = podstore::format_rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", &s[..19], ms.rem_euclid(1000))
}

/// Parses an HTTP date (IMF-fixdate, RFC 850 or asctime forms) or ISO 8601 to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = parse_iso(s) {
        return Some(t);
    }
    let parts: Vec<&str> = s.split([' ', ',', '-']).filter(|p| !p.is_empty()).collect();
    // IMF: Sun 06 Nov 1994 08:49:37 GMT ; RFC850: Sunday 06 Nov 94 08:49:37 GMT ; asctime: Sun Nov 6 08:49:37 1994
    let (d, mon, y, time) = match parts.as_slice() {
        [_, d, mon, y, time, ..] if d.chars().all(|c| c.is_ascii_digit()) => (*d, *mon, *y, *time),
        [_, mon, d, time, y] => (*d, *mon, *y, *time),
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let mut year: i64 = y.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let day: u32 = d.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

fn parse_iso(s: &str) -> Option<i64> {
    // 2026-11-22T11:54:49Z, 2026-11-22T11:54:49.123Z, 20261122T115449Z
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if !s.contains('T') || digits.len() < 14 || !s.ends_with('Z') {
        return None;
    }
    let n = |a: usize, b: usize| digits[a..b].parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(8, 10)?,
        n(10, 12)?,
        n(12, 14)?,
    );
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Sets a header when the value is valid (invalid values are dropped, never a panic).
pub fn set_header(r: &mut hyper::Response<crate::http::body::Body>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        hyper::header::HeaderName::from_bytes(name.as_bytes()),
        hyper::header::HeaderValue::from_bytes(value.as_bytes()),
    ) {
        r.headers_mut().insert(n, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("1994-11-06T08:49:37Z"), Some(784_111_777));
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(iso8601_ms(784_111_777_123), "1994-11-06T08:49:37.123Z");
    }

    #[test]
    fn query_and_encoding() {
        let q = Query::parse(Some("list-type=2&prefix=a%2Fb+c&versioning"));
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert!(q.has("versioning"));
        assert_eq!(uri_encode("a b/é", true), "a%20b/%C3%A9");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
