//! The API-path validator: [`normalize`], then the `phonenumber` crate's metadata decides.

use phonenumber::Type;
use phonenumber::metadata::DATABASE;

use crate::classify::NumberKind;
use crate::normalize::normalize;
use crate::plan;
use crate::{E164, NumberError};

/// A validated number: its E.164 form and its kind (never [`NumberKind::Invalid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Number {
    /// The normalised number.
    pub e164: E164,
    /// Its kind according to the numbering-plan metadata.
    pub kind: NumberKind,
}

/// Normalises and validates `input` for the API path.
///
/// +86 numbers are decided by the prefix table of [`crate::classify`], which is built from the same
/// metadata and proven to agree with [`validate_with_metadata`] on the test corpus and a random sweep
/// (`tests/agreement.rs`); that keeps a bind at microseconds instead of the metadata's regex matching
/// (~9 µs a number, measured in `benches/benches/numbers.rs`). Every other country goes through the
/// metadata, whose per-country rules are stricter than the call path's.
pub fn validate(input: &str) -> Result<Number, NumberError> {
    let e164 = normalize(input)?;
    let digits = e164.digits();
    let len = plan::digit_len(digits);
    let kind = if len > 2 && plan::prefix(digits, len, 2) == 86 {
        Some(crate::classify(e164)).filter(NumberKind::is_valid)
    } else {
        validate_e164(e164)
    };
    kind.map(|kind| Number { e164, kind }).ok_or(NumberError::Invalid)
}

/// Normalises `input` and validates it against libphonenumber's metadata (the `phonenumber` crate) alone.
///
/// For +86: metadata type mobile → [`NumberKind::Mobile`]; fixed line → [`NumberKind::FixedLine`]
/// when it also has the structure of a subscriber number (10–11 digits, local number starting with
/// 2–9, not 95/96: the metadata also lists area-prefixed service numbers such as 010-95588 as fixed
/// lines); toll free / shared cost / premium rate / UAN → [`NumberKind::SpecialService`] when in a
/// recognised special range (400, 800, 950). Short service numbers that the metadata does not list
/// (95588, 10086, 110, 12345, 96xxx) are accepted as [`NumberKind::SpecialService`] by the same rule
/// the call path uses. Other countries: any valid number is [`NumberKind::International`].
///
/// Slow (regex matching, allocation): the reference [`validate`] and [`crate::classify`] are tested against.
pub fn validate_with_metadata(input: &str) -> Result<Number, NumberError> {
    let e164 = normalize(input)?;
    let kind = validate_e164(e164).ok_or(NumberError::Invalid)?;
    Ok(Number { e164, kind })
}

fn validate_e164(e164: E164) -> Option<NumberKind> {
    let digits = e164.digits();
    let len = plan::digit_len(digits);
    let metadata_type = metadata_type(e164);
    if len <= 2 || plan::prefix(digits, len, 2) != 86 {
        return metadata_type.map(|_| NumberKind::International);
    }
    let nsn_len = len - 2;
    let nsn = plan::suffix(digits, nsn_len);
    if plan::digit_len(nsn) != nsn_len {
        return None;
    }
    let kind = match metadata_type {
        Some(Type::Mobile) => Some(NumberKind::Mobile),
        Some(Type::FixedLine) => plan::fixed_split(nsn, nsn_len).map(|split| NumberKind::FixedLine {
            area_code: split.area,
        }),
        Some(Type::TollFree | Type::SharedCost | Type::PremiumRate | Type::Uan)
            if plan::is_special_service(nsn, nsn_len) =>
        {
            Some(NumberKind::SpecialService)
        }
        _ => None,
    };
    kind.or_else(|| plan::is_short_service(nsn, nsn_len).then_some(NumberKind::SpecialService))
}

/// The metadata's type of a number it considers valid; `None` when it does not parse it back to the
/// same digits or considers it invalid.
fn metadata_type(e164: E164) -> Option<Type> {
    let parsed = phonenumber::parse(None, e164.to_string()).ok()?;
    let reparsed = format!("{}{}", parsed.code().value(), parsed.national());
    if reparsed != e164.digits().to_string() || !parsed.is_valid() {
        return None;
    }
    // `Type::Unknown` stays possible here: phonenumber 0.3.10 types the national number without its
    // leading zeros (Italy +39 06…), so a valid number can have an unknown type.
    Some(parsed.number_type(&DATABASE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &str) -> Result<NumberKind, NumberError> {
        validate(input).map(|n| n.kind)
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("13800138000"), Ok(NumberKind::Mobile));
        assert_eq!(
            kind("0755-8634 5678"),
            Ok(NumberKind::FixedLine { area_code: 755 })
        );
        assert_eq!(kind("010 6234 5678"), Ok(NumberKind::FixedLine { area_code: 10 }));
        assert_eq!(kind("4001234567"), Ok(NumberKind::SpecialService));
        assert_eq!(kind("8001234567"), Ok(NumberKind::SpecialService));
        assert_eq!(kind("95588"), Ok(NumberKind::SpecialService));
        assert_eq!(kind("10086"), Ok(NumberKind::SpecialService));
        assert_eq!(kind("110"), Ok(NumberKind::SpecialService));
        assert_eq!(kind("+14155552671"), Ok(NumberKind::International));
        assert_eq!(kind("+447911123456"), Ok(NumberKind::International));
        assert_eq!(
            kind("+390612345678"),
            Ok(NumberKind::International),
            "leading-zero national number"
        );
    }

    #[test]
    fn rejections() {
        assert_eq!(kind("+8614012345678"), Err(NumberError::Invalid));
        assert_eq!(
            kind("075501234567"),
            Err(NumberError::Invalid),
            "local number starting with 0"
        );
        assert_eq!(kind("+999123456789"), Err(NumberError::Invalid));
        assert_eq!(kind("abc"), Err(NumberError::InvalidCharacter { ch: 'a', at: 0 }));
        let e164 = E164::from_digits(8_613_800_138_000).unwrap();
        assert_eq!(
            validate("tel:+86-138-0013-8000").unwrap(),
            Number {
                e164,
                kind: NumberKind::Mobile
            }
        );
    }
}
