//! Message framing: one message per UDP datagram, and a decoder for stream transports (TCP/TLS)
//! that finds message boundaries with Content-Length (RFC 3261 §18.3).

use crate::error::{Result, SipError};
use crate::header::is_token_byte;
use crate::message::{Head, SipMessage, find_head_end, parse_head};

/// Default limit for one stream message (header section plus body).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Parses one UDP datagram. `Ok(None)` is a keepalive (only CR/LF bytes, RFC 5626 §3.5.1).
/// Bytes after Content-Length are ignored; without Content-Length the body is the rest.
pub fn parse_datagram(data: &[u8]) -> Result<Option<SipMessage>> {
    if data.iter().all(|&b| b == b'\r' || b == b'\n') {
        return Ok(None);
    }
    SipMessage::parse(data).map(Some)
}

/// Splits a byte stream into messages: partial reads, several messages per read, CRLF
/// keepalives, garbage between messages (skipped up to the next start line), a size limit
/// (an oversize message is reported once and then skipped), Content-Length mandatory.
#[derive(Debug)]
pub struct StreamDecoder {
    buf: Vec<u8>,
    max_message_size: usize,
    /// Body bytes of a rejected message still to drop.
    discard: usize,
    /// Dropping bytes up to the end of the current line (garbage resync).
    skipping_line: bool,
    /// A header section already parsed, waiting for its body.
    pending: Option<(Head, usize, usize)>,
    pings: usize,
    skipped: usize,
    /// The header section of the last message rejected after its header section was read.
    rejected: Option<Vec<u8>>,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl StreamDecoder {
    /// A decoder refusing messages larger than `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_message_size,
            discard: 0,
            skipping_line: false,
            pending: None,
            pings: 0,
            skipped: 0,
            rejected: None,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Double-CRLF keepalive pings seen since the last call (answer each with one CRLF, RFC 5626).
    pub fn take_pings(&mut self) -> usize {
        std::mem::take(&mut self.pings)
    }

    /// Garbage bytes skipped so far while resynchronising.
    pub fn skipped_bytes(&self) -> usize {
        self.skipped
    }

    /// The header section of the last message [`Self::poll`] rejected after reading it (no Content-Length,
    /// an unparseable header, too large), so that the transport can still answer it (a 400 built from its
    /// Via, From, To, Call-ID and CSeq). Taken once.
    pub fn take_rejected_head(&mut self) -> Option<Vec<u8>> {
        self.rejected.take()
    }

    /// The next complete message, an error for a message that cannot be framed or parsed (the
    /// decoder has already skipped it), or `None` when more bytes are needed.
    pub fn poll(&mut self) -> Option<Result<SipMessage>> {
        loop {
            if self.discard > 0 {
                let n = self.discard.min(self.buf.len());
                self.consume(n);
                self.discard -= n;
                if self.discard > 0 {
                    return None;
                }
            }
            if let Some((_, body_start, len)) = &self.pending {
                let total = body_start + len;
                if self.buf.len() < total {
                    return None;
                }
                let (head, body_start, _) = self.pending.take()?;
                let body = self.buf[body_start..total].to_vec();
                self.consume(total);
                return Some(Ok(head.into_message(body)));
            }
            if self.skipping_line {
                let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                    self.skipped += self.buf.len();
                    self.buf.clear();
                    return None;
                };
                self.skipped += nl + 1;
                self.consume(nl + 1);
                self.skipping_line = false;
            }
            let crlf = self.buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if crlf > 0 {
                self.pings += self.buf[..crlf].windows(4).filter(|w| w == b"\r\n\r\n").count();
                self.consume(crlf);
            }
            if self.buf.is_empty() {
                return None;
            }
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > self.max_message_size || !plausible_start(&self.buf) {
                    self.skipping_line = true;
                }
                return None;
            };
            let line = &self.buf[..nl];
            if !is_start_line(line.strip_suffix(b"\r").unwrap_or(line)) {
                self.skipped += nl + 1;
                self.consume(nl + 1);
                continue;
            }
            let Some((head_end, body_start)) = find_head_end(&self.buf) else {
                if self.buf.len() > self.max_message_size {
                    let size = self.buf.len();
                    self.skipping_line = true;
                    return Some(Err(SipError::TooLarge {
                        size,
                        limit: self.max_message_size,
                    }));
                }
                return None;
            };
            let head = match parse_head(&self.buf[..head_end]) {
                Ok(head) => head,
                Err(e) => {
                    self.reject(head_end, body_start);
                    return Some(Err(e));
                }
            };
            let Some(len) = head.content_length else {
                self.reject(head_end, body_start);
                return Some(Err(SipError::MissingContentLength));
            };
            let size = body_start.saturating_add(len);
            if size > self.max_message_size {
                self.reject(head_end, body_start);
                self.discard = len;
                return Some(Err(SipError::TooLarge {
                    size,
                    limit: self.max_message_size,
                }));
            }
            self.pending = Some((head, body_start, len));
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
    }

    /// Keeps the header section (`..head_end`) of a rejected message and drops it (`..body_start`).
    fn reject(&mut self, head_end: usize, body_start: usize) {
        self.rejected = Some(self.buf[..head_end].to_vec());
        self.consume(body_start);
    }
}

/// Whether a complete line looks like a Request-Line or Status-Line (strict parsing comes later).
fn is_start_line(line: &[u8]) -> bool {
    let sip_version = |v: &[u8]| v.len() >= 7 && v[..4].eq_ignore_ascii_case(b"SIP/");
    if sip_version(line) {
        return line.get(7) == Some(&b' ') || line.get(8) == Some(&b' ');
    }
    let line = line.trim_ascii_end();
    let (Some(first), Some(last)) = (
        line.iter().position(|&b| b == b' '),
        line.iter().rposition(|&b| b == b' '),
    ) else {
        return false;
    };
    first > 0
        && line[..first].iter().all(|&b| is_token_byte(b))
        && first < last
        && sip_version(&line[last + 1..])
}

/// Whether an unterminated line could still become a start line.
fn plausible_start(partial: &[u8]) -> bool {
    is_token_byte(partial[0])
        && !partial
            .iter()
            .any(|&b| b.is_ascii_control() && b != b'\r' && b != b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
From: <sip:x@h>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: k\r\nCSeq: 1 OPTIONS\r\nContent-Length: 3\r\n\r\nabc";

    fn drain(d: &mut StreamDecoder) -> Vec<Result<SipMessage>> {
        std::iter::from_fn(|| d.poll()).collect()
    }

    #[test]
    fn byte_by_byte_and_batched() {
        let mut d = StreamDecoder::default();
        let mut got = Vec::new();
        for b in OPTIONS.iter().chain(OPTIONS) {
            d.push(&[*b]);
            got.extend(drain(&mut d));
        }
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|m| m.as_ref().unwrap().body() == b"abc"));
        let mut all = OPTIONS.to_vec();
        all.extend_from_slice(b"\r\n\r\n");
        all.extend_from_slice(OPTIONS);
        all.extend_from_slice(b"\r\n");
        d.push(&all);
        assert_eq!(drain(&mut d).len(), 2);
        assert_eq!(d.take_pings(), 1);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn garbage_is_skipped_to_the_next_start_line() {
        let mut d = StreamDecoder::default();
        d.push(b"\x00\x01garbage line\r\nmore junk SIP/2.0 no\r\n");
        d.push(OPTIONS);
        let got = drain(&mut d);
        assert_eq!(got.len(), 1);
        assert!(got[0].is_ok());
        assert!(d.skipped_bytes() > 0);
    }

    #[test]
    fn oversize_and_missing_length_are_errors_then_resync() {
        let mut d = StreamDecoder::new(200);
        let big = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 500\r\n\r\n".to_vec();
        d.push(&big);
        d.push(&[b'x'; 500]);
        d.push(OPTIONS);
        let got = drain(&mut d);
        assert!(matches!(got[0], Err(SipError::TooLarge { .. })));
        assert!(got[1].is_ok());
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n");
        d.push(OPTIONS);
        let got = drain(&mut d);
        assert_eq!(got[0], Err(SipError::MissingContentLength));
        assert!(got[1].is_ok());
        assert_eq!(
            d.take_rejected_head().as_deref(),
            Some(&b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n"[..])
        );
        assert_eq!(d.take_rejected_head(), None);
        let mut d = StreamDecoder::new(200);
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\n");
        for _ in 0..10 {
            d.push(b"X-Filler: 0123456789\r\n");
        }
        let got = drain(&mut d);
        assert!(matches!(got.as_slice(), [Err(SipError::TooLarge { .. })]));
        d.push(b"\r\n");
        d.push(OPTIONS);
        assert!(drain(&mut d).last().unwrap().is_ok());
    }

    #[test]
    fn datagrams() {
        assert_eq!(parse_datagram(b"\r\n\r\n"), Ok(None));
        assert!(parse_datagram(OPTIONS).unwrap().is_some());
        let mut no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\nbody".to_vec();
        assert_eq!(parse_datagram(&no_cl).unwrap().unwrap().body(), b"body");
        no_cl.truncate(10);
        assert!(parse_datagram(&no_cl).is_err());
    }
}
