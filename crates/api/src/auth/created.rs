//! The `Created` timestamp of `X-AKSK`/`X-WSSE`: UTC `yyyy-MM-dd'T'HH:mm:ss'Z'` (reference §0.1).
//!
//! The civil-date conversion is Howard Hinnant's `days_from_civil`/`civil_from_days` (proleptic Gregorian,
//! exact for every `i64` day count this module can produce), hand-rolled so pn-api needs no date crate.

use pn_bindings::UnixTime;

const SECS_PER_DAY: i64 = 86_400;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (`m` 1–12, `d` 1–31).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * DAYS_PER_ERA + doe - EPOCH_SHIFT
}

/// The proleptic Gregorian `(year, month, day)` of `z` days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let doe = z - era * DAYS_PER_ERA; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

const fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

const fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Formats `t` as the reference's `Created` value, e.g. `2018-02-12T15:30:20Z` (UTC).
///
/// Years 0000–9999 give exactly 20 characters; times outside that range (not produced by a sane clock) are
/// still formatted without panicking, but [`parse_created`] rejects the result.
pub fn format_created(t: UnixTime) -> String {
    let days = t.0.div_euclid(SECS_PER_DAY);
    let secs = t.0.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i64::from(num(0, 4)?);
    let month = num(5, 7)?;
    let day = num(8, 10)?;
    let hour = num(11, 13)?;
    let minute = num(14, 16)?;
    let second = num(17, 19)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(UnixTime(
        days * SECS_PER_DAY + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second),
    ))
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
        // Every day from 1899-12-31 to ~2500 at a varying time of day, including 1900 (not leap),
        // 2000 (leap), 2038-01-19 and 2100 (not leap).
        let mut previous_day = None;
        for day in -25_568..days_until_2500() {
            let t = day * SECS_PER_DAY + (day * 37).rem_euclid(SECS_PER_DAY);
            let text = format_created(UnixTime(t));
            assert_eq!(parse_created(&text), Some(UnixTime(t)), "{text}");
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            if let Some((py, pm, pd)) = previous_day {
                // Consecutive days: the next calendar day.
                let expected = if pd < days_in_month(py, pm) {
                    (py, pm, pd + 1)
                } else if pm < 12 {
                    (py, pm + 1, 1)
                } else {
                    (py + 1, 1, 1)
                };
                assert_eq!((y, m, d), expected);
            }
            previous_day = Some((y, m, d));
        }
    }

    /// Day number of 2500-01-01.
    fn days_until_2500() -> i64 {
        days_from_civil(2500, 1, 1)
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
        for t in [
            i64::MIN,
            i64::MIN + 1,
            -62_135_596_801 - 366 * 86_400,
            253_402_300_800,
            i64::MAX - 1,
            i64::MAX,
        ] {
            let text = format_created(UnixTime(t));
            assert!(text.ends_with('Z'));
            assert_eq!(parse_created(&text), None);
        }
    }
}
