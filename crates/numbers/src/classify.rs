//! The call-path classifier: [`classify`] over the numbering-plan tables of [`crate::plan`].

use crate::E164;
use crate::plan;

/// What kind of number an [`E164`] is, as far as routing and the binding rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberKind {
    /// A China mobile number (+86 1[3-9]x, 11 national digits, allocated block).
    Mobile,
    /// A China fixed-line number.
    FixedLine {
        /// The area code without its trunk 0 (Beijing 10, Shanghai 21, Shenzhen 755).
        area_code: u16,
    },
    /// A China special-service number: 400/800/950 ranges, 95xxx/96xxx, short codes (110, 10086, 12345).
    SpecialService,
    /// A number outside China (country code other than 86) of plausible length.
    International,
    /// Not a number of the China numbering plan, nor a plausible international number.
    Invalid,
}

impl NumberKind {
    /// True for [`NumberKind::Mobile`].
    pub const fn is_mobile(&self) -> bool {
        matches!(self, Self::Mobile)
    }

    /// True for [`NumberKind::FixedLine`].
    pub const fn is_fixed_line(&self) -> bool {
        matches!(self, Self::FixedLine { .. })
    }

    /// True for [`NumberKind::SpecialService`].
    pub const fn is_special_service(&self) -> bool {
        matches!(self, Self::SpecialService)
    }

    /// True for [`NumberKind::International`].
    pub const fn is_international(&self) -> bool {
        matches!(self, Self::International)
    }

    /// True for every kind except [`NumberKind::Invalid`].
    pub const fn is_valid(&self) -> bool {
        !matches!(self, Self::Invalid)
    }

    /// True for a China subscriber number (mobile or fixed line), i.e. what may be bound as A or B.
    pub const fn is_subscriber(&self) -> bool {
        matches!(self, Self::Mobile | Self::FixedLine { .. })
    }

    /// The area code (without trunk 0) of a fixed-line number.
    pub const fn area_code(&self) -> Option<u16> {
        match self {
            Self::FixedLine { area_code } => Some(*area_code),
            _ => None,
        }
    }
}

/// The area code as dialled nationally, with its trunk 0: `755` → `"0755"`, `10` → `"010"`.
pub fn area_code_string(area: u16) -> String {
    format!("0{area}")
}

/// Classifies an E.164 number by prefix and length (call path: no allocation, no regex, ~ns).
///
/// China (+86): mobile by allocated 1[3-9]x block; fixed line by area code (10, 2x, [3-9]xx) and local
/// number length (7–8 digits, per-area table, local number starting 2–9 but not 95/96); special
/// services (400/800 + 7 digits, 950 + 7–8, 95xxx 5–8 digits, 96xxx 5–6 digits, 3–5 digit short
/// codes starting with 1). Other country codes: [`NumberKind::International`] when the country code is
/// assigned and the number has 7–15 digits (exactly 11 for +1 and +7). Everything else is [`NumberKind::Invalid`].
pub fn classify(n: E164) -> NumberKind {
    let digits = n.digits();
    let len = plan::digit_len(digits);
    if len > 2 && plan::prefix(digits, len, 2) == 86 {
        let nsn_len = len - 2;
        let nsn = plan::suffix(digits, nsn_len);
        // A leading 0 after +86 is never valid.
        if plan::digit_len(nsn) != nsn_len {
            return NumberKind::Invalid;
        }
        return classify_china(nsn, nsn_len);
    }
    let plausible = match plan::country_code_len(digits, len) {
        // NANP (+1) and Russia/Kazakhstan (+7) have fixed 10-digit national numbers.
        Some(1) => len == 11,
        Some(_) => (7..=15).contains(&len),
        None => false,
    };
    if plausible {
        NumberKind::International
    } else {
        NumberKind::Invalid
    }
}

/// Classifies a China national significant number of `len` digits.
pub(crate) fn classify_china(nsn: u64, len: u32) -> NumberKind {
    if plan::is_mobile(nsn, len) {
        NumberKind::Mobile
    } else if plan::is_special_service(nsn, len) {
        NumberKind::SpecialService
    } else if let Some(area_code) = plan::fixed_line_area(nsn, len) {
        NumberKind::FixedLine { area_code }
    } else {
        NumberKind::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(digits: u64) -> NumberKind {
        classify(E164::from_digits(digits).unwrap())
    }

    #[test]
    fn mobile_blocks() {
        assert_eq!(kind(8_613_800_138_000), NumberKind::Mobile);
        assert_eq!(kind(8_617_012_345_678), NumberKind::Mobile);
        assert_eq!(kind(8_616_512_345_678), NumberKind::Mobile);
        assert_eq!(kind(8_619_912_345_678), NumberKind::Mobile);
        assert_eq!(kind(8_617_400_123_456), NumberKind::Mobile);
        assert_eq!(kind(8_617_406_123_456), NumberKind::Invalid);
        assert_eq!(kind(8_614_012_345_678), NumberKind::Invalid);
        assert_eq!(kind(8_615_412_345_678), NumberKind::Invalid);
        assert_eq!(kind(861_380_013_800), NumberKind::Invalid, "10 digits");
    }

    #[test]
    fn fixed_lines() {
        assert_eq!(kind(861_062_345_678), NumberKind::FixedLine { area_code: 10 });
        assert_eq!(
            kind(861_012_345_678),
            NumberKind::Invalid,
            "local number starts with 1"
        );
        assert_eq!(kind(8_675_586_345_678), NumberKind::FixedLine { area_code: 755 });
        assert_eq!(
            kind(867_551_234_567),
            NumberKind::Invalid,
            "Shenzhen has 8-digit local numbers"
        );
        assert_eq!(
            kind(863_101_234_567),
            NumberKind::Invalid,
            "local number starts with 1"
        );
        assert_eq!(kind(863_102_234_567), NumberKind::FixedLine { area_code: 310 });
        assert_eq!(kind(862_612_345_678), NumberKind::Invalid, "26 is reserved");
        assert_eq!(
            kind(861_080_012_345),
            NumberKind::Invalid,
            "10 + 800 is not a local number"
        );
        assert_eq!(
            kind(867_559_612_345),
            NumberKind::Invalid,
            "96 starts service numbers"
        );
    }

    #[test]
    fn special_and_international() {
        for d in [
            864_001_234_567,
            868_001_234_567,
            8_695_588,
            8_610_086,
            86_110,
            8_612_345,
            8_696_110,
        ] {
            assert_eq!(kind(d), NumberKind::SpecialService, "{d}");
        }
        assert_eq!(kind(14_155_550_100), NumberKind::International);
        assert_eq!(kind(85_251_234_567), NumberKind::International);
        assert_eq!(kind(999_123_456_789), NumberKind::Invalid);
        assert_eq!(kind(123_456), NumberKind::Invalid);
        assert_eq!(
            kind(1_415_555),
            NumberKind::Invalid,
            "NANP numbers have 11 digits"
        );
        assert_eq!(kind(79_123_456_789), NumberKind::International);
        assert_eq!(area_code_string(755), "0755");
        assert_eq!(NumberKind::FixedLine { area_code: 10 }.area_code(), Some(10));
        assert!(NumberKind::FixedLine { area_code: 10 }.is_fixed_line());
    }
}
