//! DTMF in SIP INFO bodies: `application/dtmf-relay` (`Signal=5\r\nDuration=160`) and `application/dtmf` (`5`).

use super::DtmfDigit;
use crate::MediaError;

/// A digit received in a SIP INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDtmf {
    /// The key.
    pub digit: DtmfDigit,
    /// The duration in milliseconds, when the body gave one.
    pub duration_ms: Option<u32>,
}

/// Parses an INFO body by its Content-Type (parameters and case ignored); `None` for other content types.
pub fn parse_info_body(content_type: &str, body: &str) -> Option<Result<InfoDtmf, MediaError>> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/dtmf-relay" => Some(parse_dtmf_relay(body)),
        "application/dtmf" => Some(parse_dtmf(body)),
        _ => None,
    }
}

/// Parses an `application/dtmf-relay` body: `Signal=` (a key, or 10/11 for `*`/`#`) and optional `Duration=`.
pub fn parse_dtmf_relay(body: &str) -> Result<InfoDtmf, MediaError> {
    let mut digit = None;
    let mut duration_ms = None;
    for line in body.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if key.trim().eq_ignore_ascii_case("signal") {
            digit = Some(signal(value)?);
        } else if key.trim().eq_ignore_ascii_case("duration") {
            duration_ms = Some(
                value
                    .parse()
                    .map_err(|_| MediaError::BadDtmf("Duration is not a number"))?,
            );
        }
    }
    let digit = digit.ok_or(MediaError::BadDtmf("no Signal line"))?;
    Ok(InfoDtmf { digit, duration_ms })
}

/// Parses an `application/dtmf` body: the key alone.
pub fn parse_dtmf(body: &str) -> Result<InfoDtmf, MediaError> {
    Ok(InfoDtmf {
        digit: signal(body.trim())?,
        duration_ms: None,
    })
}

fn signal(value: &str) -> Result<DtmfDigit, MediaError> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => DtmfDigit::from_char(c).ok_or(MediaError::BadDtmf("unknown Signal")),
        _ => value
            .parse::<u8>()
            .ok()
            .and_then(DtmfDigit::from_event)
            .ok_or(MediaError::BadDtmf("unknown Signal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> DtmfDigit {
        DtmfDigit::from_char(c).unwrap()
    }

    #[test]
    fn dtmf_relay_bodies() {
        assert_eq!(
            parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"),
            Ok(InfoDtmf {
                digit: d('5'),
                duration_ms: Some(160)
            })
        );
        assert_eq!(
            parse_dtmf_relay("signal = #\nduration= 250"),
            Ok(InfoDtmf {
                digit: d('#'),
                duration_ms: Some(250)
            })
        );
        assert_eq!(parse_dtmf_relay("Signal=*").map(|i| i.digit), Ok(d('*')));
        assert_eq!(parse_dtmf_relay("Signal=10\r\n").map(|i| i.digit), Ok(d('*')));
        assert_eq!(parse_dtmf_relay("Signal=11").map(|i| i.digit), Ok(d('#')));
        assert_eq!(parse_dtmf_relay("Signal=d").map(|i| i.digit), Ok(d('D')));
    }

    #[test]
    fn dtmf_relay_errors_are_values() {
        assert!(parse_dtmf_relay("").is_err());
        assert!(parse_dtmf_relay("Duration=160").is_err());
        assert!(parse_dtmf_relay("Signal=X").is_err());
        assert!(parse_dtmf_relay("Signal=16").is_err());
        assert!(parse_dtmf_relay("Signal=").is_err());
        assert!(parse_dtmf_relay("Signal=1\r\nDuration=long").is_err());
    }

    #[test]
    fn dtmf_bodies_and_dispatch() {
        assert_eq!(
            parse_dtmf("7\r\n"),
            Ok(InfoDtmf {
                digit: d('7'),
                duration_ms: None
            })
        );
        assert!(parse_dtmf("").is_err());
        assert_eq!(
            parse_info_body(
                "Application/DTMF-Relay; charset=utf-8",
                "Signal=0\r\nDuration=100"
            ),
            Some(Ok(InfoDtmf {
                digit: d('0'),
                duration_ms: Some(100)
            }))
        );
        assert_eq!(
            parse_info_body("application/dtmf", "9").map(|r| r.map(|i| i.digit)),
            Some(Ok(d('9')))
        );
        assert_eq!(parse_info_body("application/sdp", "v=0"), None);
    }
}
