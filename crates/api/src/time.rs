//! Wall-clock helpers: the system clock (the default [`crate::Clock`]) and the reference's date formats.
//!
//! The calendar is `jiff`'s (proleptic Gregorian, UTC): a [`UnixTime`] becomes a civil date-time by adding
//! its seconds to 1970-01-01T00:00:00, and back by the span since then.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::SignedDuration;
use jiff::civil::DateTime;
use pn_bindings::UnixTime;

/// 1970-01-01T00:00:00 (UTC).
const EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// The system clock in whole seconds (0 if the clock is before 1970).
pub(crate) fn system_now() -> UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// The UTC civil date-time of `t`, clamped to the calendar's range (years -9999 to 9999).
pub(crate) fn civil(t: UnixTime) -> DateTime {
    EPOCH
        .checked_add(SignedDuration::from_secs(t.0))
        .unwrap_or(if t.0 < 0 { DateTime::MIN } else { DateTime::MAX })
}

/// The time of a UTC civil date-time.
pub(crate) fn unix_time(dt: DateTime) -> UnixTime {
    UnixTime(dt.duration_since(EPOCH).as_secs())
}

/// Formats a time as the reference's `yyyy-MM-dd HH:mm:ss` (UTC).
pub(crate) fn format_datetime(t: UnixTime) -> String {
    civil(t).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// Parses the reference's `yyyy-MM-dd HH:mm:ss` (UTC); `None` when it is not exactly that.
pub(crate) fn parse_datetime(text: &str) -> Option<UnixTime> {
    if text.len() != 19 {
        return None;
    }
    DateTime::strptime("%Y-%m-%d %H:%M:%S", text).ok().map(unix_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_reference_dates() {
        assert_eq!(format_datetime(UnixTime(0)), "1970-01-01 00:00:00");
        assert_eq!(format_datetime(UnixTime(1_482_592_515)), "2016-12-24 15:15:15");
        assert_eq!(format_datetime(UnixTime(951_782_400)), "2000-02-29 00:00:00");
    }

    #[test]
    fn parses_reference_dates_back() {
        for secs in [0, 1_482_592_515, 951_782_400, -1, 253_402_300_799] {
            assert_eq!(
                parse_datetime(&format_datetime(UnixTime(secs))),
                Some(UnixTime(secs))
            );
        }
        for bad in [
            "2016-12-24T15:15:15",
            "2016-12-24 15:15",
            "2016-13-01 00:00:00",
            "1482592515",
            "",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    /// The wire format pinned over the whole range (vectors computed independently with Python's
    /// `calendar.timegm`): zero-padded fields, UTC, a space between date and time.
    #[test]
    fn pins_the_wire_format() {
        for (secs, text) in [
            (-62_135_596_800, "0001-01-01 00:00:00"),
            (-2_203_891_200, "1900-03-01 00:00:00"),
            (-1, "1969-12-31 23:59:59"),
            (1_709_210_096, "2024-02-29 12:34:56"),
            (2_147_483_648, "2038-01-19 03:14:08"),
            (4_107_542_399, "2100-02-28 23:59:59"),
            (4_107_542_400, "2100-03-01 00:00:00"),
            (253_402_300_799, "9999-12-31 23:59:59"),
        ] {
            assert_eq!(format_datetime(UnixTime(secs)), text, "{secs}");
        }
    }
}
