//! The `Created` timestamp of `X-AKSK`/`X-WSSE`: UTC `yyyy-MM-dd'T'HH:mm:ss'Z'` (reference §0.1).
//!
//! The calendar is `jiff`'s (through [`crate::time`]); this module only checks the exact shape of the text.

use jiff::civil::DateTime;
use pn_bindings::UnixTime;

use crate::time::{civil, unix_time};

/// Formats `t` as the reference's `Created` value, e.g. `2018-02-12T15:30:20Z` (UTC).
///
/// Years 0000–9999 give exactly 20 characters; a time before year 0 gives a longer text that
/// [`parse_created`] rejects, and a time after 9999 is clamped to `9999-12-31T23:59:59Z`. Never panics.
pub fn format_created(t: UnixTime) -> String {
    civil(t).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a `Created` value: exactly `yyyy-MM-dd'T'HH:mm:ss'Z'` (20 ASCII characters, UTC, year 0000–9999).
///
/// Returns `None` for any other shape, an impossible date (`2019-02-29`), hour > 23, minute or second > 59
/// (no leap seconds), fractional seconds or a numeric offset.
pub fn parse_created(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[19] != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i16> {
        b[from..to].iter().try_fold(0i16, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i16::from(c - b'0'))
        })
    };
    let field = |from: usize| -> Option<i8> { i8::try_from(num(from, from + 2)?).ok() };
    let dt = DateTime::new(
        num(0, 4)?,
        field(5)?,
        field(8)?,
        field(11)?,
        field(14)?,
        field(17)?,
        0,
    )
    .ok()?;
    Some(unix_time(dt))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, seconds) pairs computed independently with Python's `calendar.timegm`.
    const VECTORS: &[(&str, i64)] = &[
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1),
        ("2000-02-29T23:59:59Z", 951_868_799),
        ("2018-02-12T15:30:20Z", 1_518_449_420),
        ("2024-02-29T00:00:00Z", 1_709_164_800),
        ("2038-01-19T03:14:08Z", 2_147_483_648),
        ("2100-03-01T00:00:00Z", 4_107_542_400),
        ("2400-02-29T12:00:00Z", 13_574_606_400),
        ("0001-01-01T00:00:00Z", -62_135_596_800),
        ("9999-12-31T23:59:59Z", 253_402_300_799),
    ];

    #[test]
    fn known_vectors_both_ways() {
        for &(text, secs) in VECTORS {
            assert_eq!(format_created(UnixTime(secs)), text, "format {secs}");
            assert_eq!(parse_created(text), Some(UnixTime(secs)), "parse {text}");
        }
    }

    #[test]
    fn round_trips_every_day_across_leap_years_and_2038() {
        // Every day from 1899-12-31 to 2499-12-31 at a varying time of day, including 1900 (not leap),
        // 2000 (leap), 2038-01-19 and 2100 (not leap): the text of day n+1 is the calendar day after day n's.
        let mut previous: Option<jiff::civil::Date> = None;
        for day in -25_568_i64..193_579 {
            let t = day * 86_400 + (day * 37).rem_euclid(86_400);
            let text = format_created(UnixTime(t));
            assert_eq!(parse_created(&text), Some(UnixTime(t)), "{text}");
            let date: jiff::civil::Date = text[..10].parse().unwrap();
            if let Some(p) = previous {
                assert_eq!(p.tomorrow().unwrap(), date, "{text}");
            }
            previous = Some(date);
        }
        assert_eq!(previous.unwrap().to_string(), "2499-12-31");
    }

    #[test]
    fn leap_days() {
        assert!(parse_created("2000-02-29T00:00:00Z").is_some());
        assert!(parse_created("2024-02-29T00:00:00Z").is_some());
        assert!(parse_created("1900-02-29T00:00:00Z").is_none());
        assert!(parse_created("2100-02-29T00:00:00Z").is_none());
        assert!(parse_created("2023-02-29T00:00:00Z").is_none());
        assert_eq!(format_created(UnixTime(951_782_400)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2018-02-12T15:30:20",
            "2018-02-12 15:30:20Z",
            "2018-02-12T15:30:20z",
            "2018-02-12T15:30:20.000Z",
            "2018-02-12T15:30:20+08:00",
            "2018-2-12T15:30:20Z",
            "2018-13-12T15:30:20Z",
            "2018-00-12T15:30:20Z",
            "2018-02-00T15:30:20Z",
            "2018-04-31T15:30:20Z",
            "2018-02-12T24:00:00Z",
            "2018-02-12T23:60:00Z",
            "2018-02-12T23:59:60Z",
            "+018-02-12T15:30:20Z",
            "2018-02-12T1a:30:20Z",
            "２018-02-12T15:30:20Z",
            "2018-02-12T15:30:2\u{e9}",
        ] {
            assert_eq!(parse_created(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn extreme_times_do_not_panic() {
        for t in [i64::MIN, i64::MIN + 1, -62_135_596_801 - 366 * 86_400] {
            let text = format_created(UnixTime(t));
            assert!(text.ends_with('Z'));
            assert_eq!(parse_created(&text), None, "{text}");
        }
        for t in [253_402_300_800, i64::MAX - 1, i64::MAX] {
            assert_eq!(format_created(UnixTime(t)), "9999-12-31T23:59:59Z");
        }
    }
}
