//! The HTTP/1.1 wire format of a push, sans-IO: a POST's bytes, and the responses read back in order from a
//! connection that carries several requests at once (pipelining, RFC 9112 §9.3.2).
//!
//! Hand-written because no well-kept client pipelines: hyper (under reqwest) sends the next request on a
//! connection only after the previous response, so every push costs its own `write`, wake-up and `read`,
//! about 60 µs of the switch's CPU on loopback at 4,000 pushes/s. Written together, a round of pushes costs
//! one `write` and a few `read`s. Parsing the status line and headers is httparse's (hyper's own parser);
//! this module only frames bodies (`Content-Length`, `chunked`, until close).

use std::fmt::Write as _;

/// Headers read per response at most (more is a broken receiver).
const MAX_HEADERS: usize = 64;
/// A response's head and body are skipped, not kept; a body longer than this is a broken receiver.
pub(crate) const MAX_BODY: u64 = 1 << 20;

/// Where pushes for one URL go: host and port to connect to, and the request line's target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// Host name or address literal, as in the URL.
    pub host: String,
    /// TCP port (the URL's, or 80).
    pub port: u16,
    /// Path and query (`/` when empty).
    pub path: String,
    /// The `Host` header's value.
    pub authority: String,
}

impl Target {
    /// A plain `http://` URL's target; `None` for any other scheme (those go through reqwest) or a URL
    /// with user info, which a push never carries.
    pub(crate) fn parse(url: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(a) => a.to_string(),
            url::Host::Ipv6(a) => a.to_string(),
        };
        let port = url.port_or_known_default()?;
        let authority = match (url.host()?, url.port()) {
            (url::Host::Ipv6(a), Some(p)) => format!("[{a}]:{p}"),
            (url::Host::Ipv6(a), None) => format!("[{a}]"),
            (_, Some(p)) => format!("{host}:{p}"),
            (_, None) => host.clone(),
        };
        let mut path = url.path().to_owned();
        if path.is_empty() {
            path.push('/');
        }
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        Some(Self {
            host,
            port,
            path,
            authority,
        })
    }
}

/// The bytes of one push: `POST` with the JSON body, the signature headers and a `Content-Length`.
/// `Err` when a header value could break the message (a CR, LF or other control character).
pub(crate) fn encode_post(
    target: &Target,
    headers: &[(&str, String)],
    body: &str,
) -> Result<Vec<u8>, String> {
    for (name, value) in headers {
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(format!("the {name} header holds a control character"));
        }
    }
    let mut head = String::with_capacity(256 + body.len());
    let _ = write!(
        head,
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pnswitch/{}\r\nContent-Type: application/json;charset=UTF-8\r\n",
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    head.push_str(body);
    Ok(head.into_bytes())
}

/// One response read off the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    /// Its status (never 1xx: interim responses are skipped).
    pub status: u16,
    /// The receiver closes the connection after it (`Connection: close`, HTTP/1.0 without keep-alive, or a
    /// body delimited by the close): the requests written after it were not served.
    pub closes: bool,
}

/// What [`parse_response`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole response of this many bytes.
    Complete(Response, usize),
    /// A response whose body runs until the connection closes: complete once the peer closed.
    UntilClose(Response),
    /// More bytes are needed.
    Partial,
}

/// Parses the response at the start of `buf` (interim 1xx responses before it are consumed as part of it).
/// `Err` for bytes that are not a valid response (the connection is then unusable).
pub(crate) fn parse_response(buf: &[u8]) -> Result<Parsed, String> {
    let mut offset = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(&buf[offset..]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
            Err(e) => return Err(format!("bad HTTP response: {e}")),
        };
        let status = response.code.unwrap_or(0);
        let http10 = response.version == Some(0);
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut close = http10;
        for header in response.headers.iter() {
            let value = std::str::from_utf8(header.value).unwrap_or("").trim();
            if header.name.eq_ignore_ascii_case("content-length") {
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err("conflicting Content-Length headers".into());
                }
                content_length = Some(n);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
                if !chunked {
                    return Err(format!("unsupported Transfer-Encoding {value:?}"));
                }
            } else if header.name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                        close = false;
                    }
                }
            }
        }
        let body_start = offset + head_len;
        if (100..200).contains(&status) {
            // 100 Continue and friends: the final response follows.
            offset = body_start;
            continue;
        }
        let response = Response {
            status,
            closes: close,
        };
        if status == 204 || status == 304 {
            return Ok(Parsed::Complete(response, body_start));
        }
        if chunked {
            return Ok(match chunked_len(&buf[body_start..])? {
                Some(n) => Parsed::Complete(response, body_start + n),
                None => Parsed::Partial,
            });
        }
        if let Some(n) = content_length {
            if n > MAX_BODY {
                return Err(format!("a response body of {n} bytes"));
            }
            let end = body_start + usize::try_from(n).map_err(|_| "body too long")?;
            return Ok(if buf.len() >= end {
                Parsed::Complete(response, end)
            } else {
                Parsed::Partial
            });
        }
        return Ok(Parsed::UntilClose(Response { status, closes: true }));
    }
}

/// The length of a whole chunked body (chunks, last chunk, trailers) at the start of `buf`; `None` when more
/// bytes are needed.
fn chunked_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut pos = 0;
    let mut total: u64 = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + line_end]).map_err(|_| "bad chunk size line")?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        total = total.saturating_add(size);
        if total > MAX_BODY {
            return Err(format!("a chunked response body over {MAX_BODY} bytes"));
        }
        pos += line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(end) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        let data_end = pos + usize::try_from(size).map_err(|_| "chunk too long")?;
        if buf.len() < data_end + 2 {
            return Ok(None);
        }
        if &buf[data_end..data_end + 2] != b"\r\n" {
            return Err("a chunk without its CRLF".into());
        }
        pos = data_end + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16, closes: bool) -> Response {
        Response { status, closes }
    }

    #[test]
    fn targets_of_plain_http_urls_only() {
        let t = Target::parse("http://127.0.0.1:8080/cb/status?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str(), t.authority.as_str()),
            ("127.0.0.1", 8080, "/cb/status?x=1", "127.0.0.1:8080")
        );
        let t = Target::parse("http://receiver.example").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.authority.as_str()),
            (80, "/", "receiver.example")
        );
        let t = Target::parse("http://[::1]:9/x").unwrap();
        assert_eq!((t.host.as_str(), t.authority.as_str()), ("::1", "[::1]:9"));
        assert_eq!(Target::parse("https://receiver.example/x"), None);
        assert_eq!(Target::parse("http://user:pw@receiver.example/x"), None);
        assert_eq!(Target::parse("not a url"), None);
    }

    #[test]
    fn a_post_carries_host_signature_length_and_body() {
        let t = Target::parse("http://127.0.0.1:81/p").unwrap();
        let bytes = encode_post(&t, &[("X-AKSK", "UsernameToken a=\"b\"".into())], "{\"k\":1}").unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("POST /p HTTP/1.1\r\nHost: 127.0.0.1:81\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nX-AKSK: UsernameToken a=\"b\"\r\n"), "{text}");
        assert!(text.ends_with("Content-Length: 7\r\n\r\n{\"k\":1}"), "{text}");
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        assert!(request.parse(text.as_bytes()).unwrap().is_complete());
        assert!(encode_post(&t, &[("X-AKSK", "a\r\nEvil: 1".into())], "{}").is_err());
    }

    #[test]
    fn pipelined_responses_are_framed_one_after_another() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
        let Parsed::Complete(first, n) = parse_response(wire).unwrap() else {
            panic!()
        };
        assert_eq!(first, ok(200, false));
        let Parsed::Complete(second, m) = parse_response(&wire[n..]).unwrap() else {
            panic!()
        };
        assert_eq!(second, ok(204, false));
        assert_eq!(
            parse_response(&wire[n + m..]).unwrap(),
            Parsed::Complete(ok(503, false), wire.len() - n - m)
        );
    }

    #[test]
    fn partial_heads_and_bodies_wait_for_more() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde";
        for cut in 0..wire.len() {
            assert_eq!(
                parse_response(&wire[..cut]).unwrap(),
                Parsed::Partial,
                "cut {cut}"
            );
        }
        assert_eq!(
            parse_response(wire).unwrap(),
            Parsed::Complete(ok(200, false), wire.len())
        );
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\nHTTP/1.1 200 OK\r\n";
        let whole = wire.len() - b"HTTP/1.1 200 OK\r\n".len();
        assert_eq!(
            parse_response(wire).unwrap(),
            Parsed::Complete(ok(200, false), whole)
        );
        for cut in 0..whole {
            assert_eq!(
                parse_response(&wire[..cut]).unwrap(),
                Parsed::Partial,
                "cut {cut}"
            );
        }
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").is_err());
    }

    #[test]
    fn close_interim_and_until_close_bodies() {
        let wire =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_response(wire).unwrap(),
            Parsed::Complete(ok(200, true), wire.len())
        );
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_response(old).unwrap(),
            Parsed::Complete(ok(200, true), old.len())
        );
        let kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_response(kept).unwrap(),
            Parsed::Complete(ok(200, false), kept.len())
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\nbody until close").unwrap(),
            Parsed::UntilClose(ok(200, true))
        );
    }

    #[test]
    fn broken_responses_are_errors() {
        assert!(parse_response(b"SIP/2.0 200 OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err()
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n").is_err());
    }
}
