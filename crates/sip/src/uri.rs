//! URIs (`sip:`, `sips:`, `tel:`, anything else kept opaque) and name-addr values
//! (`"Display" <uri>;tag=x`) as used by From, To, Contact, Route and P-Asserted-Identity.

use std::fmt;
use std::net::Ipv6Addr;

use crate::error::{Result, SipError};
use crate::header::{is_token, is_token_byte};

/// A `name[=value]` parameter of a URI or header; the value is kept as written (quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Parameter name as written.
    pub name: String,
    /// Parameter value as written, `None` for a flag such as `lr`.
    pub value: Option<String>,
}

impl Param {
    /// A parameter.
    pub fn new(name: impl Into<String>, value: Option<&str>) -> Self {
        Self {
            name: name.into(),
            value: value.map(str::to_owned),
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, ";{}={}", self.name, v),
            None => write!(f, ";{}", self.name),
        }
    }
}

/// Finds a parameter by case-insensitive name.
pub(crate) fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The value of a parameter (`None` when absent or a flag).
pub(crate) fn param_value<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    find_param(params, name).and_then(|p| p.value.as_deref())
}

/// Sets (replaces or appends) a parameter by case-insensitive name.
pub(crate) fn set_param(params: &mut Vec<Param>, name: &str, value: Option<&str>) {
    match params.iter_mut().find(|p| p.name.eq_ignore_ascii_case(name)) {
        Some(p) => p.value = value.map(str::to_owned),
        None => params.push(Param::new(name, value)),
    }
}

/// Parses `;a=1 ; b ;c = "x;y"` (leading `;` required for each, LWS allowed around `;` and `=`).
/// An empty parameter (`;;`) or a name that is not a token is an error.
pub(crate) fn parse_header_params(s: &str, what: &'static str) -> Result<Vec<Param>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = s.strip_prefix(';') else {
        return Err(invalid(what, format!("unexpected text {s:?} before parameters")));
    };
    let mut params = Vec::new();
    for part in split_outside_quotes(rest, b';') {
        let part = part.trim();
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (part, None),
        };
        if !is_token(name) {
            return Err(invalid(what, format!("bad parameter {part:?}")));
        }
        if let Some(v) = value {
            let quoted_ok = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
            let token_ok = !v.is_empty() && v.bytes().all(|b| is_token_byte(b) || b"[]:".contains(&b));
            if !quoted_ok && !token_ok {
                return Err(invalid(what, format!("bad parameter value {part:?}")));
            }
        }
        params.push(Param::new(name, value));
    }
    Ok(params)
}

fn invalid(name: &'static str, reason: String) -> SipError {
    SipError::InvalidHeader { name, reason }
}

/// Splits at `sep` outside double-quoted strings.
pub(crate) fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == sep {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// A URI scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme, kept as written; the rest of the URI is opaque.
    Other(String),
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sip => "sip",
            Self::Sips => "sips",
            Self::Tel => "tel",
            Self::Other(s) => s,
        })
    }
}

/// A URI. SIP/SIPS URIs are split into user, password, host, port, parameters and headers; a `tel:`
/// URI keeps its number as the user part and its parameters; other schemes are opaque.
/// Escapes (`%41`) are kept as written so that printing reproduces the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    scheme: Scheme,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    params: Vec<Param>,
    headers: Option<String>,
}

impl Uri {
    /// A `sip:` URI from parts (`user` and `host` as they are to be written).
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Self {
        Self {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            password: None,
            host: host.to_owned(),
            port,
            params: Vec::new(),
            headers: None,
        }
    }

    /// A `tel:` URI for `number` (e.g. `+4930123456`).
    pub fn tel(number: &str) -> Self {
        Self {
            scheme: Scheme::Tel,
            user: Some(number.to_owned()),
            password: None,
            host: String::new(),
            port: None,
            params: Vec::new(),
            headers: None,
        }
    }

    /// Parses a URI (no surrounding `<>`, no whitespace).
    pub fn parse(s: &str) -> Result<Self> {
        let err = |reason| SipError::Uri {
            uri: s.to_owned(),
            reason,
        };
        if s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"<>\"".contains(&b))
        {
            return Err(err("whitespace, control character, quote or angle bracket"));
        }
        let (scheme, rest) = s.split_once(':').ok_or_else(|| err("no scheme"))?;
        let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok {
            return Err(err("bad scheme"));
        }
        if rest.is_empty() {
            return Err(err("empty after the scheme"));
        }
        let scheme = if scheme.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            let mut uri = Self::sip(None, rest, None);
            uri.scheme = Scheme::Other(scheme.to_owned());
            return Ok(uri);
        };
        if scheme == Scheme::Tel {
            let mut parts = rest.split(';');
            let number = parts.next().unwrap_or_default();
            if number.is_empty()
                || !number
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b"+-.()*#".contains(&b))
            {
                return Err(err("bad telephone number"));
            }
            let mut uri = Self::tel(number);
            uri.params = parse_uri_params(parts).map_err(|()| err("empty parameter"))?;
            return Ok(uri);
        }
        // sip/sips: userinfo ends at the '@' (it cannot occur unescaped anywhere else).
        let (userinfo, hostpart) = match rest.split_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => {
                let (user, pw) = match u.split_once(':') {
                    Some((user, pw)) => (user, Some(pw.to_owned())),
                    None => (u, None),
                };
                if user.is_empty() {
                    return Err(err("empty user part"));
                }
                (Some(user.to_owned()), pw)
            }
            None => (None, None),
        };
        let (hostpart, headers) = match hostpart.split_once('?') {
            Some((h, hdrs)) => (h, Some(hdrs.to_owned())),
            None => (hostpart, None),
        };
        let mut pieces = hostpart.split(';');
        let host_and_port = pieces.next().unwrap_or_default();
        let (host, port) = parse_hostport(host_and_port).map_err(err)?;
        let params = parse_uri_params(pieces).map_err(|()| err("empty parameter"))?;
        Ok(Self {
            scheme,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part as written (escapes kept); for `tel:` the number.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The user part with `%XX` escapes decoded (invalid escapes and non-UTF-8 kept lossily).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }

    /// The password part of a SIP URI, as written.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The host (IPv6 in brackets); empty for `tel:`; the opaque part for other schemes.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The parameters in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The value of a parameter by case-insensitive name (`None` when absent or a flag like `lr`).
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }

    /// Whether a parameter (flag or valued) is present.
    pub fn has_param(&self, name: &str) -> bool {
        find_param(&self.params, name).is_some()
    }

    /// The `?headers` part, as written.
    pub fn headers(&self) -> Option<&str> {
        self.headers.as_deref()
    }

    /// Replaces the user part (written as given).
    pub fn set_user(&mut self, user: Option<&str>) {
        self.user = user.map(str::to_owned);
    }

    /// Replaces host and port.
    pub fn set_host_port(&mut self, host: &str, port: Option<u16>) {
        host.clone_into(&mut self.host);
        self.port = port;
    }

    /// Sets or replaces a parameter (`None` value for a flag).
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        set_param(&mut self.params, name, value);
    }

    /// Removes a parameter by case-insensitive name.
    pub fn remove_param(&mut self, name: &str) {
        self.params.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    /// Drops the `?headers` part.
    pub fn clear_headers(&mut self) {
        self.headers = None;
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Scheme::Other(_) = self.scheme {
            return f.write_str(&self.host);
        }
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            if self.scheme != Scheme::Tel {
                f.write_str("@")?;
            }
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for p in &self.params {
            write!(f, "{p}")?;
        }
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Uri {
    type Err = SipError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

fn parse_uri_params<'a>(pieces: impl Iterator<Item = &'a str>) -> Result<Vec<Param>, ()> {
    pieces
        .map(|p| match p.split_once('=') {
            _ if p.is_empty() => Err(()),
            Some(("", _)) => Err(()),
            Some((n, v)) => Ok(Param::new(n, Some(v))),
            None => Ok(Param::new(p, None)),
        })
        .collect()
}

/// Parses `host[:port]` with `[v6]` support; host characters are checked.
pub(crate) fn parse_hostport(s: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or("unterminated IPv6 reference")?;
        v6.parse::<Ipv6Addr>().map_err(|_| "bad IPv6 address")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after IPv6 reference")?),
        };
        (&s[..v6.len() + 2], port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("empty host");
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err("bad host character");
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| "port out of range")?)
        }
        Some(_) => return Err("bad port"),
    };
    Ok((host.to_owned(), port))
}

/// Decodes `%XX` escapes; anything else (including invalid escapes) is kept.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A name-addr or addr-spec header value: optional display name, URI and header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    display_name: Option<String>,
    uri: Uri,
    params: Vec<Param>,
}

impl NameAddr {
    /// A value for `uri` with no display name and no parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display_name: None,
            uri,
            params: Vec::new(),
        }
    }

    /// Builder-style display name (unquoted text; quoting is done when printing).
    #[must_use]
    pub fn with_display_name(mut self, name: &str) -> Self {
        self.display_name = Some(name.to_owned());
        self
    }

    /// Builder-style `tag` parameter.
    #[must_use]
    pub fn with_tag(mut self, tag: &str) -> Self {
        self.set_param("tag", Some(tag));
        self
    }

    /// Parses one element (`"A" <sip:a@b>;tag=1`, `A <sip:a@b>`, `sip:a@b;tag=1`).
    /// `what` names the header in errors.
    pub fn parse(s: &str, what: &'static str) -> Result<Self> {
        let s = s.trim();
        let (display_name, rest) = if let Some(quoted) = s.strip_prefix('"') {
            let (name, after) =
                parse_quoted(quoted).ok_or_else(|| invalid(what, "unterminated quoted string".into()))?;
            let after = after.trim_start();
            if !after.starts_with('<') {
                return Err(invalid(what, "display name not followed by <uri>".into()));
            }
            (Some(name), after)
        } else if let Some(lt) = s.find('<') {
            let name = s[..lt].trim();
            if !name.split_ascii_whitespace().all(is_token) {
                return Err(invalid(
                    what,
                    format!("display name {name:?} is neither token nor quoted"),
                ));
            }
            let name = name.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
            ((!name.is_empty()).then_some(name), &s[lt..])
        } else {
            // addr-spec: the URI ends at the first ';' and may not carry '?' or ','.
            let (uri, params) = match s.find(';') {
                Some(i) => (s[..i].trim(), &s[i..]),
                None => (s, ""),
            };
            if uri.contains(['?', ',']) {
                return Err(invalid(what, "URI with '?' or ',' must be enclosed in <>".into()));
            }
            let uri = Uri::parse(uri).map_err(|e| invalid(what, e.to_string()))?;
            let params = parse_header_params(params, what)?;
            return Ok(Self {
                display_name: None,
                uri,
                params,
            });
        };
        let inner = rest.strip_prefix('<').unwrap_or(rest);
        let (uri, after) = inner
            .split_once('>')
            .ok_or_else(|| invalid(what, "missing '>'".into()))?;
        let uri = Uri::parse(uri).map_err(|e| invalid(what, e.to_string()))?;
        let params = parse_header_params(after, what)?;
        Ok(Self {
            display_name,
            uri,
            params,
        })
    }

    /// The display name, unquoted and unescaped.
    pub fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }

    /// The URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The URI, mutably.
    pub fn uri_mut(&mut self) -> &mut Uri {
        &mut self.uri
    }

    /// The header parameters (after `>`).
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The value of a parameter by case-insensitive name (`None` when absent or a flag like `lr`).
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }

    /// Whether a parameter (flag or valued) is present.
    pub fn has_param(&self, name: &str) -> bool {
        find_param(&self.params, name).is_some()
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// Sets or replaces a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        set_param(&mut self.params, name, value);
    }

    /// Replaces or clears the display name.
    pub fn set_display_name(&mut self, name: Option<&str>) {
        self.display_name = name.map(str::to_owned);
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            f.write_str("\"")?;
            for c in name.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        for p in &self.params {
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Parses the body of a quoted string (after the opening quote): returns the unescaped text and
/// what follows the closing quote, or `None` when unterminated.
pub(crate) fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uris_round_trip_with_escapes_and_odd_users() {
        for s in [
            "sip:sips%3Auser%40example.com@example.net",
            "sip:user;par=u%40example.net@example.com",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
            "sip:+4930123@[2001:db8::1]:5060;user=phone",
            "sips:host.example.com;lr",
            "sip:user@example.com?Route=%3Csip:example.com%3E",
            "tel:+49-30-123456;phone-context=+49",
            "soap.beep://192.0.2.103:3002",
        ] {
            let u = Uri::parse(s).unwrap();
            assert_eq!(u.to_string(), s);
        }
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        assert_eq!(u.host(), "example.com");
        let u = Uri::parse("sip:%75se%72@example.com").unwrap();
        assert_eq!(u.user_unescaped().as_deref(), Some("user"));
        let u = Uri::parse("sip:+4930123@[2001:db8::1]:5060;user=phone").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.param("user")),
            ("[2001:db8::1]", Some(5060), Some("phone"))
        );
        let t = Uri::parse("tel:+4930123456").unwrap();
        assert_eq!((t.scheme(), t.user()), (&Scheme::Tel, Some("+4930123456")));
    }

    #[test]
    fn bad_uris_are_rejected() {
        for s in [
            "<sip:a@b>",
            "sip:a@b c",
            "sip:",
            "sip:a@",
            "sip:a@b:99999",
            "sip:[::1",
            "1x:abc",
            "sip:a@b;;x",
        ] {
            assert!(Uri::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#,
            "From",
        )
        .unwrap();
        assert_eq!(n.display_name(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323", "From").unwrap();
        assert_eq!(n.display_name(), Some("caller"));
        let n = NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n", "To").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        let n = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam", "Contact").unwrap();
        assert!(n.has_param("unknownparam"));
        assert!(n.uri().params().is_empty());
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
        ] {
            assert!(NameAddr::parse(bad, "To").is_err(), "{bad}");
        }
        let built = NameAddr::new(Uri::tel("+4930"))
            .with_display_name("A \"B\"")
            .with_tag("x");
        let again = NameAddr::parse(&built.to_string(), "From").unwrap();
        assert_eq!(again, built);
    }
}
