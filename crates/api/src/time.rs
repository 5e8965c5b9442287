//! Wall-clock helpers: the system clock (the default [`crate::Clock`]) and the reference's date format.

use std::time::{SystemTime, UNIX_EPOCH};

use pn_bindings::UnixTime;

/// The system clock in whole seconds (0 if the clock is before 1970).
pub(crate) fn system_now() -> UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Formats a time as the reference's `yyyy-MM-dd HH:mm:ss` (UTC).
pub(crate) fn format_datetime(t: UnixTime) -> String {
    let days = t.0.div_euclid(86_400);
    let secs = t.0.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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
