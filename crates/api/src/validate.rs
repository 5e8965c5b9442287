//! Field-level validation of request bodies and query strings: types, lengths, ranges, numbers.
//!
//! Field problems (missing, wrong JSON type, unknown enum value, out of range, too long, bad characters) are
//! 1020001 naming the field; refused values and user numbers the platform cannot serve are 1010002.
//!
//! Number format: the reference takes numbers in global format only (`+` and the country code, `+86138…`)
//! and answers 1010002 for any other. Every number field of the PrivateNumber API is read through
//! [`Fields::user_number`], [`Fields::privacy_number`] or [`Fields::query_number`], which refuse a number
//! given without the `+` unless the request's app allows national numbers (`allowNationalNumbers`, set with
//! [`Fields::numbers_for`]); then `138…` and `86138…` are normalised to `+86…` as before.

use std::collections::HashMap;

use pn_bindings::{App, CallDirection};
use pn_numbers::{E164, NumberKind};
use serde_json::{Map, Value};

use crate::result::{ApiFailure, ResultCode};

/// A 1020001 failure naming `field`.
pub(crate) fn param_error(field: &str, what: &str) -> ApiFailure {
    ApiFailure::new(
        ResultCode::PARAMETER_ERROR,
        format!("Parameter error: {field} {what}"),
    )
}

/// A 1010002 failure naming `field`.
pub(crate) fn invalid(field: &str, what: &str) -> ApiFailure {
    ApiFailure::new(
        ResultCode::INVALID_REQUEST,
        format!("Invalid request.{field} {what}"),
    )
}

/// The fields of a request: a JSON object body or a query string.
pub(crate) struct Fields {
    map: Map<String, Value>,
    /// Query strings carry only strings: integers and flags are parsed from text.
    from_query: bool,
    /// Number fields may be national (the app's `allow_national_numbers`); false: global format only.
    national: bool,
}

impl Fields {
    /// Parses a JSON body; anything but an object is a parameter error.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, ApiFailure> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiFailure::new(
                ResultCode::PARAMETER_ERROR,
                "Parameter error: the request body is empty",
            ));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Self {
                map,
                from_query: false,
                national: false,
            }),
            Ok(_) => Err(ApiFailure::new(
                ResultCode::PARAMETER_ERROR,
                "Parameter error: the body must be a JSON object",
            )),
            Err(e) => Err(ApiFailure::new(
                ResultCode::PARAMETER_ERROR,
                format!(
                    "Parameter error: malformed JSON at line {} column {}",
                    e.line(),
                    e.column()
                ),
            )),
        }
    }

    /// Wraps decoded query parameters.
    pub(crate) fn from_query(params: HashMap<String, String>) -> Self {
        let map = params
            .into_iter()
            .map(|(k, v)| {
                // A raw `+` in a query string decodes to a space: "+8613…" arrives as " 8613…".
                let v = match v.strip_prefix(' ') {
                    Some(rest) => format!("+{}", rest.trim()),
                    None => v.trim().to_owned(),
                };
                (k, Value::String(v))
            })
            .collect();
        Self {
            map,
            from_query: true,
            national: false,
        }
    }

    /// Applies `app`'s number format: national numbers are accepted only when the app allows them.
    /// Without this call (the admin API, a request before authentication) only the global format is.
    pub(crate) fn numbers_for(mut self, app: &App) -> Self {
        self.national = app.allow_national_numbers;
        self
    }

    /// 1010002 naming `field` when `text` (a number that parsed) is not in global format and national
    /// numbers are not allowed.
    pub(crate) fn global_format(&self, field: &str, text: &str) -> Result<(), ApiFailure> {
        if self.national || text.trim_start().starts_with('+') {
            Ok(())
        } else {
            Err(invalid(
                field,
                "is not in global format (+ and the country code, e.g. +8613800000000)",
            ))
        }
    }

    /// A user number (A, B, temp callee, callback number) given as `text` for `field`: 1010002 naming the
    /// field when unusable or (unless allowed) not in global format.
    pub(crate) fn user_number(&self, field: &str, text: &str, kind: UserKind) -> Result<E164, ApiFailure> {
        let number = user_number(field, text, kind)?;
        self.global_format(field, text)?;
        Ok(number)
    }

    /// A privacy number (X, Y) given as `text` for `field`: a malformed one is 1011001 (it cannot be in the
    /// app's pool); one not in global format (unless allowed) is 1010002 naming the field.
    pub(crate) fn privacy_number(&self, field: &str, text: &str) -> Result<E164, ApiFailure> {
        let number = privacy_number(field, text)?;
        self.global_format(field, text)?;
        Ok(number)
    }

    /// A number in a query filter (any valid number): absent → `None`, unparsable → 1020001, not in global
    /// format (unless allowed) → 1010002 naming the field.
    pub(crate) fn query_number(&self, name: &str) -> Result<Option<E164>, ApiFailure> {
        let Some(text) = self.str_opt(name, 1, 128)? else {
            return Ok(None);
        };
        let number = pn_numbers::normalize(&text).map_err(|_| param_error(name, "is not a valid number"))?;
        self.global_format(name, &text)?;
        Ok(Some(number))
    }

    /// The raw value of a present, non-null field.
    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// An optional string of `min..=max` characters. An empty string counts as absent when `min > 0`.
    pub(crate) fn str_opt(&self, name: &str, min: usize, max: usize) -> Result<Option<String>, ApiFailure> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n == 0 && min > 0 {
                    return Ok(None);
                }
                if n < min || n > max {
                    return Err(param_error(name, &format!("must be {min}-{max} characters")));
                }
                Ok(Some(s.clone()))
            }
            Some(_) => Err(param_error(name, "must be a string")),
        }
    }

    /// A required string of `min..=max` characters.
    pub(crate) fn str_req(&self, name: &str, min: usize, max: usize) -> Result<String, ApiFailure> {
        self.str_opt(name, min.max(1), max)?
            .ok_or_else(|| param_error(name, "is required"))
    }

    /// An optional integer (JSON number, or a string of digits for lenient clients).
    pub(crate) fn int_opt(&self, name: &str) -> Result<Option<i64>, ApiFailure> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| param_error(name, "must be an integer")),
            Some(Value::String(s)) if s.is_empty() && self.from_query => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| param_error(name, "must be an integer")),
            Some(_) => Err(param_error(name, "must be an integer")),
        }
    }

    /// An optional integer within `lo..=hi`.
    pub(crate) fn int_range(&self, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiFailure> {
        match self.int_opt(name)? {
            Some(v) if v < lo || v > hi => Err(param_error(name, &format!("must be in {lo}-{hi}"))),
            other => Ok(other),
        }
    }

    /// A lifetime in seconds: 0 (permanent) or 60..=7776000.
    pub(crate) fn duration_secs(&self, name: &str) -> Result<Option<u32>, ApiFailure> {
        match self.int_opt(name)? {
            None => Ok(None),
            Some(0) => Ok(Some(0)),
            Some(v) if (60..=7_776_000).contains(&v) => Ok(Some(v as u32)),
            Some(_) => Err(param_error(name, "must be 0 or 60-7776000 seconds")),
        }
    }

    /// A `"true"`/`"false"` flag (a JSON boolean is accepted too).
    pub(crate) fn flag(&self, name: &str) -> Result<Option<bool>, ApiFailure> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(param_error(name, "must be \"true\" or \"false\"")),
        }
    }

    /// A string enum given as a string (or a bare integer for numeric enums); returns its text.
    pub(crate) fn enum_str(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiFailure> {
        let text = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(param_error(name, "must be a string")),
        };
        if allowed.contains(&text.as_str()) {
            Ok(Some(text))
        } else {
            Err(param_error(
                name,
                &format!("must be one of {}", allowed.join("/")),
            ))
        }
    }

    /// `callDirection` 0/1/2.
    pub(crate) fn call_direction(&self, name: &str) -> Result<Option<CallDirection>, ApiFailure> {
        match self.int_opt(name)? {
            None => Ok(None),
            Some(v) => CallDirection::from_code(v)
                .map(Some)
                .ok_or_else(|| param_error(name, "must be 0, 1 or 2")),
        }
    }

    /// `userData`: at most 256 ASCII characters, no `{` or `}`.
    pub(crate) fn user_data(&self, name: &str) -> Result<Option<String>, ApiFailure> {
        let Some(s) = self.str_opt(name, 0, 256)? else {
            return Ok(None);
        };
        if !s.is_ascii() {
            return Err(param_error(name, "must be ASCII (Base64-encode other text)"));
        }
        if s.contains(['{', '}']) {
            return Err(param_error(name, "must not contain { or }"));
        }
        Ok(Some(s))
    }

    /// A prompt file name (0–128 characters); empty means absent.
    pub(crate) fn tone(&self, name: &str) -> Result<Option<String>, ApiFailure> {
        Ok(self.str_opt(name, 0, 128)?.filter(|s| !s.is_empty()))
    }

    /// An array of objects (e.g. the admin import's `numbers`).
    pub(crate) fn objects(&self, name: &str) -> Result<Vec<Fields>, ApiFailure> {
        match self.get(name) {
            None => Err(param_error(name, "is required")),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Object(map) => Ok(Fields {
                        map: map.clone(),
                        from_query: false,
                        national: self.national,
                    }),
                    _ => Err(param_error(name, "must be an array of objects")),
                })
                .collect(),
            Some(_) => Err(param_error(name, "must be an array")),
        }
    }

    /// An optional array of 1–`max` non-negative integers (e.g. the outbox replay's `ids`).
    pub(crate) fn int_list(&self, name: &str, max: usize) -> Result<Option<Vec<u64>>, ApiFailure> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                if items.is_empty() || items.len() > max {
                    return Err(param_error(name, &format!("must hold 1-{max} entries")));
                }
                items
                    .iter()
                    .map(|v| {
                        v.as_u64()
                            .ok_or_else(|| param_error(name, "must be an array of non-negative integers"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            Some(_) => Err(param_error(name, "must be an array")),
        }
    }

    /// A nested object field (e.g. `preVoice`).
    pub(crate) fn object(&self, name: &str) -> Result<Option<Fields>, ApiFailure> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields {
                map: map.clone(),
                from_query: false,
                national: self.national,
            })),
            Some(_) => Err(param_error(name, "must be an object")),
        }
    }
}

/// What a user-number field accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserKind {
    /// Mobile or fixed line (A and B numbers).
    Subscriber,
    /// Mobile, fixed line or special service 400/95 (AX temp callee).
    AnyDomestic,
}

/// Validates a user number (A, B, temp callee, callback number): 1010002 naming the field when unusable.
fn user_number(field: &str, text: &str, kind: UserKind) -> Result<E164, ApiFailure> {
    let number = pn_numbers::validate(text).map_err(|_| invalid(field, "is not a valid phone number"))?;
    let ok = match number.kind {
        NumberKind::Mobile | NumberKind::FixedLine { .. } => true,
        NumberKind::SpecialService => kind == UserKind::AnyDomestic,
        _ => false,
    };
    if ok {
        Ok(number.e164)
    } else {
        Err(invalid(field, "is not a number that can be bound"))
    }
}

/// Parses a privacy number (X, Y); a malformed one is 1011001 (it cannot be in the app's pool).
fn privacy_number(field: &str, text: &str) -> Result<E164, ApiFailure> {
    pn_numbers::normalize(text).map_err(|_| {
        ApiFailure::new(
            ResultCode::NUMBER_NOT_OWNED,
            format!("{field} does not exist in the app's number pool"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields {
        Fields::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn types_and_ranges_name_the_field() {
        let f =
            fields(r#"{"duration":"abc","maxDuration":2000,"recordFlag":"yes","userData":"a{b}","n":null}"#);
        assert!(f.duration_secs("duration").unwrap_err().desc.contains("duration"));
        assert!(
            f.int_range("maxDuration", 0, 1440)
                .unwrap_err()
                .desc
                .contains("maxDuration")
        );
        assert!(f.flag("recordFlag").unwrap_err().desc.contains("recordFlag"));
        assert!(f.user_data("userData").unwrap_err().desc.contains("userData"));
        assert_eq!(f.int_opt("n").unwrap(), None);
        assert_eq!(f.str_opt("missing", 1, 5).unwrap(), None);
    }

    #[test]
    fn lenient_integers_and_flags() {
        let f = fields(r#"{"duration":"86400","recordFlag":true,"callDirection":1}"#);
        assert_eq!(f.duration_secs("duration").unwrap(), Some(86_400));
        assert_eq!(f.flag("recordFlag").unwrap(), Some(true));
        assert_eq!(
            f.call_direction("callDirection").unwrap(),
            Some(CallDirection::AToB)
        );
        assert_eq!(
            fields(r#"{"d":30}"#).duration_secs("d").unwrap_err().code,
            ResultCode::PARAMETER_ERROR
        );
    }

    #[test]
    fn bad_json_is_a_parameter_error() {
        for body in ["", "[1]", "{\"a\":", "nul"] {
            assert_eq!(
                Fields::from_json(body.as_bytes()).err().unwrap().code,
                ResultCode::PARAMETER_ERROR
            );
        }
    }

    #[test]
    fn national_numbers_are_1010002_unless_the_app_allows_them() {
        let strict = fields("{}");
        for text in ["13800000001", "8613800000001", "008613800000001"] {
            let e = strict
                .user_number("callerNum", text, UserKind::Subscriber)
                .unwrap_err();
            assert_eq!(e.code, ResultCode::INVALID_REQUEST, "{text}");
            assert!(
                e.desc.contains("callerNum") && e.desc.contains("global format"),
                "{}",
                e.desc
            );
        }
        let e = strict.privacy_number("relationNum", "17010000001").unwrap_err();
        assert_eq!(e.code, ResultCode::INVALID_REQUEST);
        assert!(e.desc.contains("relationNum"), "{}", e.desc);
        // Global numbers pass; malformed ones keep their own answers.
        assert_eq!(
            strict
                .user_number("calleeNum", "+8613800000001", UserKind::Subscriber)
                .unwrap()
                .to_string(),
            "+8613800000001"
        );
        assert_eq!(
            strict.privacy_number("relationNum", "abc").unwrap_err().code,
            ResultCode::NUMBER_NOT_OWNED
        );
        let q = Fields::from_query(HashMap::from([
            ("callerNum".to_owned(), "13800000001".to_owned()),
            ("calleeNum".to_owned(), " 8613800000002".to_owned()),
            ("bad".to_owned(), "x1".to_owned()),
        ]));
        assert_eq!(
            q.query_number("callerNum").unwrap_err().code,
            ResultCode::INVALID_REQUEST
        );
        assert_eq!(
            q.query_number("calleeNum").unwrap().unwrap().to_string(),
            "+8613800000002"
        );
        assert_eq!(
            q.query_number("bad").unwrap_err().code,
            ResultCode::PARAMETER_ERROR
        );

        // The app's option: national forms normalise to +86, also in nested objects.
        let app = App {
            allow_national_numbers: true,
            ..test_app()
        };
        let lenient = fields(r#"{"inner":{"n":"13800000003"}}"#).numbers_for(&app);
        assert_eq!(
            lenient
                .user_number("callerNum", "8613800000001", UserKind::Subscriber)
                .unwrap()
                .to_string(),
            "+8613800000001"
        );
        let inner = lenient.object("inner").unwrap().unwrap();
        assert_eq!(
            inner
                .user_number("n", "13800000003", UserKind::Subscriber)
                .unwrap()
                .to_string(),
            "+8613800000003"
        );
        let q = q.numbers_for(&app);
        assert_eq!(
            q.query_number("callerNum").unwrap().unwrap().to_string(),
            "+8613800000001"
        );
        // An app that does not allow them.
        let strict = fields("{}").numbers_for(&test_app());
        assert!(
            strict
                .user_number("callerNum", "13800000001", UserKind::Subscriber)
                .is_err()
        );
    }

    fn test_app() -> App {
        App {
            id: pn_bindings::AppId(1),
            name: "a".into(),
            mode: pn_bindings::Mode::Axb,
            app_key: "k".into(),
            app_secret: "s".into(),
            call_status_url: None,
            cdr_url: None,
            sms_url: None,
            record_enabled: false,
            sms_enabled: false,
            extension_digits: 4,
            collect_repeat: 3,
            enabled: true,
            created_at: pn_bindings::UnixTime(0),
            media: pn_bindings::AppMedia::default(),
            push: pn_bindings::AppPush::default(),
            controls: pn_bindings::AppControls::default(),
            allow_national_numbers: false,
        }
    }

    #[test]
    fn query_plus_is_restored() {
        let q = Fields::from_query(HashMap::from([(
            "relationNum".to_owned(),
            " 8617010000001".to_owned(),
        )]));
        assert_eq!(
            q.str_opt("relationNum", 1, 32).unwrap().unwrap(),
            "+8617010000001"
        );
    }
}
