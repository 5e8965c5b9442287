//! Input forms → [`E164`]: E.164 with or without `+`, `00` international prefix, China national formats,
//! SIP/tel URIs and user parts, visual separators.

use crate::plan;
use crate::{E164, NumberError};

/// Most digits we ever buffer: `00` + 15 E.164 digits + a stray trunk `0`.
const MAX_RAW_DIGITS: usize = 18;
/// The shortest accepted E.164 number (`+86110`).
const MIN_E164_DIGITS: usize = 5;
/// China's country code as digits.
const CHINA: [u8; 2] = [8, 6];

/// A fixed-capacity buffer of decimal digits (values 0–9).
struct Digits {
    buf: [u8; MAX_RAW_DIGITS],
    len: usize,
}

impl Digits {
    const fn new() -> Self {
        Self {
            buf: [0; MAX_RAW_DIGITS],
            len: 0,
        }
    }

    fn push(&mut self, digit: u8) -> Result<(), NumberError> {
        let slot = self.buf.get_mut(self.len).ok_or(NumberError::TooLong)?;
        *slot = digit;
        self.len += 1;
        Ok(())
    }

    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// Value and length of a digit slice (at most 18 digits, so the value fits a `u64`).
fn value(digits: &[u8]) -> (u64, u32) {
    let value = digits
        .iter()
        .fold(0u64, |acc, &d| acc.wrapping_mul(10).wrapping_add(u64::from(d)));
    (value, digits.len() as u32)
}

/// Normalises any accepted input form to E.164, assuming China (+86) when no country is given.
///
/// Accepted: `+8613800138000`, `8613800138000`, `008613800138000`, national mobile `13800138000`,
/// trunk-dialled fixed line `075512345678`/`01012345678`, special-service numbers (`4001234567`,
/// `95588`, `10086`, `110`), international `+14155550100`/`0014155550100`, visual separators
/// (space, `-`, `.`, `(`, `)`), `%XX` escapes, SIP/SIPS/tel URIs (optionally in `<…>`, with
/// parameters, `phone-context`) and bare user parts with parameters (`+8613800138000;user=phone`).
///
/// This checks the *format* only; use [`crate::classify`] or [`crate::validate`] to check that the
/// number exists in the numbering plan.
pub fn normalize(input: &str) -> Result<E164, NumberError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(NumberError::Empty);
    }
    let base = input.len() - input.trim_start().len();
    let (user, user_at, context) = user_part(text);
    let mut digits = Digits::new();
    let plus = scan(user, base + user_at, &mut digits)?;
    let raw = digits.as_slice();
    if raw.is_empty() {
        return Err(NumberError::NoDigits);
    }
    if plus {
        return international(raw);
    }
    match context.and_then(context_country) {
        Some(cc) if cc.as_slice() != CHINA => {
            let mut full = Digits::new();
            for &d in cc.as_slice().iter().chain(raw) {
                full.push(d)?;
            }
            international(full.as_slice())
        }
        _ => national(raw),
    }
}

/// Strips URI syntax: returns the user part, its byte offset in `text`, and the `phone-context` value.
fn user_part(text: &str) -> (&str, usize, Option<&str>) {
    let mut start = 0;
    let mut end = text.len();
    // `"Display" <sip:…>` or `<tel:…>`.
    if let Some(open) = text.find('<') {
        start = open + 1;
        end = text[start..].find('>').map_or(text.len(), |close| start + close);
    }
    let inner = &text[start..end];
    let lower_starts = |p: &str| inner.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let (scheme_len, is_tel) = if lower_starts("sips:") {
        (5, false)
    } else if lower_starts("sip:") {
        (4, false)
    } else if lower_starts("tel:") {
        (4, true)
    } else {
        (0, false)
    };
    start += scheme_len;
    let mut rest = &text[start..end];
    if !is_tel {
        // user[:password]@host…
        if let Some(at) = rest.find('@') {
            rest = &rest[..at];
        }
        if scheme_len > 0 {
            if let Some(colon) = rest.find(':') {
                rest = &rest[..colon];
            }
        }
    }
    let (number, params) = match rest.find(';') {
        Some(semi) => (&rest[..semi], Some(&rest[semi + 1..])),
        None => (rest, None),
    };
    let context = params.and_then(|p| {
        p.split(';').find_map(|param| {
            let (key, val) = param.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("phone-context")
                .then_some(val.trim())
        })
    });
    (number, start, context)
}

/// The country code of a `phone-context` that names a country (`+86`, `+1`); domain contexts give `None`.
fn context_country(context: &str) -> Option<Digits> {
    let rest = context.strip_prefix('+')?;
    let mut cc = Digits::new();
    for b in rest.bytes() {
        match b {
            b'0'..=b'9' => cc.push(b - b'0').ok()?,
            b'-' | b'.' | b'(' | b')' | b' ' => {}
            _ => return None,
        }
    }
    (cc.len > 0).then_some(cc)
}

/// Collects the digits of `user` into `digits`; returns whether it started with `+`.
fn scan(user: &str, offset: usize, digits: &mut Digits) -> Result<bool, NumberError> {
    let bytes = user.as_bytes();
    let mut plus = false;
    let mut i = 0;
    while i < bytes.len() {
        let at = offset + i;
        let mut byte = bytes[i];
        let mut width = 1;
        if byte == b'%' {
            byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .filter(u8::is_ascii)
                .ok_or(NumberError::InvalidCharacter { ch: '%', at })?;
            width = 3;
        }
        match byte {
            b'0'..=b'9' => digits.push(byte - b'0')?,
            b'+' if !plus && digits.len == 0 => plus = true,
            b' ' | b'\t' | b'-' | b'.' | b'(' | b')' => {}
            _ => {
                let ch = if byte.is_ascii() {
                    char::from(byte)
                } else {
                    user.get(i..)
                        .and_then(|s| s.chars().next())
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                };
                return Err(NumberError::InvalidCharacter { ch, at });
            }
        }
        i += width;
    }
    Ok(plus)
}

/// `+…` or `00…`: the digits are country code first. A trunk 0 written after +86 (`+86 (0)755…`) is dropped.
fn international(digits: &[u8]) -> Result<E164, NumberError> {
    match digits {
        [] => Err(NumberError::NoDigits),
        [0, ..] => Err(NumberError::UnknownFormat),
        [8, 6, 0, rest @ ..] => china(rest),
        _ => finish(digits.iter().copied()),
    }
}

/// Digits without `+`: `00` international prefix, `0` trunk prefix, `86` country code, or a China
/// national number dialled without trunk prefix (mobile, special services).
fn national(digits: &[u8]) -> Result<E164, NumberError> {
    match digits {
        [0, 0, rest @ ..] => international(rest),
        [0, rest @ ..] => {
            let (v, len) = value(rest);
            if plan::has_fixed_shape(v, len) || plan::has_mobile_shape(v, len) {
                china(rest)
            } else {
                Err(NumberError::UnknownFormat)
            }
        }
        _ => {
            let (v, len) = value(digits);
            if plan::has_mobile_shape(v, len) || plan::is_special_service(v, len) {
                return china(digits);
            }
            // China national numbers never start with 86, so a leading 86 is the country code.
            if let [8, 6, rest @ ..] = digits {
                let (v, len) = value(rest);
                if plan::has_mobile_shape(v, len)
                    || plan::has_fixed_shape(v, len)
                    || plan::is_special_service(v, len)
                {
                    return china(rest);
                }
            }
            Err(NumberError::UnknownFormat)
        }
    }
}

/// +86 followed by a national significant number.
fn china(nsn: &[u8]) -> Result<E164, NumberError> {
    if nsn.first().is_none_or(|&d| d == 0) {
        return Err(NumberError::UnknownFormat);
    }
    finish(CHINA.iter().chain(nsn).copied())
}

fn finish(digits: impl Iterator<Item = u8>) -> Result<E164, NumberError> {
    let mut count = 0usize;
    let mut value = 0u64;
    for d in digits {
        count += 1;
        if count > 15 {
            return Err(NumberError::TooLong);
        }
        value = value * 10 + u64::from(d);
    }
    if count < MIN_E164_DIGITS {
        return Err(NumberError::TooShort);
    }
    E164::from_digits(value).ok_or(NumberError::UnknownFormat)
}
