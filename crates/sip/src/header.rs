//! Header names (canonical and compact forms) and the ordered header list of a message.

use std::borrow::Cow;

/// Canonical spelling of the header names this crate knows, with the compact form where one exists.
const KNOWN: &[(&str, Option<u8>)] = &[
    ("Accept", None),
    ("Accept-Contact", Some(b'a')),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Alert-Info", None),
    ("Allow", None),
    ("Allow-Events", Some(b'u')),
    ("Authentication-Info", None),
    ("Authorization", None),
    ("Call-ID", Some(b'i')),
    ("Call-Info", None),
    ("Contact", Some(b'm')),
    ("Content-Disposition", None),
    ("Content-Encoding", Some(b'e')),
    ("Content-Language", None),
    ("Content-Length", Some(b'l')),
    ("Content-Type", Some(b'c')),
    ("CSeq", None),
    ("Date", None),
    ("Diversion", None),
    ("Error-Info", None),
    ("Event", Some(b'o')),
    ("Expires", None),
    ("From", Some(b'f')),
    ("History-Info", None),
    ("Identity", Some(b'y')),
    ("Identity-Info", Some(b'n')),
    ("In-Reply-To", None),
    ("Max-Forwards", None),
    ("MIME-Version", None),
    ("Min-Expires", None),
    ("Min-SE", None),
    ("Organization", None),
    ("P-Asserted-Identity", None),
    ("P-Called-Party-ID", None),
    ("P-Charging-Vector", None),
    ("P-Preferred-Identity", None),
    ("Path", None),
    ("Priority", None),
    ("Privacy", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Proxy-Require", None),
    ("RAck", None),
    ("Reason", None),
    ("Record-Route", None),
    ("Refer-To", Some(b'r')),
    ("Referred-By", Some(b'b')),
    ("Reject-Contact", Some(b'j')),
    ("Remote-Party-ID", None),
    ("Replaces", None),
    ("Reply-To", None),
    ("Request-Disposition", Some(b'd')),
    ("Require", None),
    ("Retry-After", None),
    ("Route", None),
    ("RSeq", None),
    ("Server", None),
    ("Service-Route", None),
    ("Session-Expires", Some(b'x')),
    ("Session-ID", None),
    ("Subject", Some(b's')),
    ("Subscription-State", None),
    ("Supported", Some(b'k')),
    ("Timestamp", None),
    ("To", Some(b't')),
    ("Unsupported", None),
    ("User-Agent", None),
    ("Via", Some(b'v')),
    ("Warning", None),
    ("WWW-Authenticate", None),
];

/// The canonical spelling of a header name: compact forms (`i`, `m`, `v`, …) map to the long form,
/// known names get their registered capitalisation, unknown names are kept as given.
pub fn canonical_name(name: &str) -> Cow<'static, str> {
    if let [c] = name.as_bytes() {
        let c = c.to_ascii_lowercase();
        if let Some((long, _)) = KNOWN.iter().find(|(_, short)| *short == Some(c)) {
            return Cow::Borrowed(long);
        }
    }
    match KNOWN.iter().find(|(long, _)| long.eq_ignore_ascii_case(name)) {
        Some((long, _)) => Cow::Borrowed(long),
        None => Cow::Owned(name.to_owned()),
    }
}

/// Whether `name` is a SIP `token` (RFC 3261 §25.1), the grammar of header and method names.
pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_byte)
}

pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// One header field: canonical name and value (unfolded, trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    name: Cow<'static, str>,
    value: String,
}

impl Header {
    /// A header with `name` canonicalised (see [`canonical_name`]).
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: canonical_name(name),
            value: value.into(),
        }
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value as received (folding replaced by a space, surrounding whitespace trimmed).
    pub fn value(&self) -> &str {
        &self.value
    }

    fn is(&self, canonical: &str) -> bool {
        self.name.eq_ignore_ascii_case(canonical)
    }
}

/// The ordered header fields of a message. Lookups are case-insensitive and accept compact forms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of header fields (a comma-joined line counts once).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no header fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All header fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.0.iter().find(|h| h.is(&name)).map(Header::value)
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name);
        self.0.iter().filter(move |h| h.is(&name)).map(Header::value)
    }

    /// The values of every field called `name`, comma-separated lists split into elements.
    pub fn get_list<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_list)
    }

    /// How many fields are called `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Whether a field called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends a field.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header::new(name, value));
    }

    /// Inserts a field before all others of the same name (or at the end when there is none):
    /// how a Via or Record-Route is added on top.
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        let header = Header::new(name, value);
        match self.0.iter().position(|h| h.is(&header.name)) {
            Some(i) => self.0.insert(i, header),
            None => self.0.push(header),
        }
    }

    /// Replaces the first field called `name` in place and removes the others; appends if absent.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let header = Header::new(name, value);
        match self.0.iter().position(|h| h.is(&header.name)) {
            Some(i) => {
                self.0[i] = header;
                let name = self.0[i].name.clone();
                let mut seen = 0usize;
                self.0.retain(|h| {
                    if h.is(&name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.0.push(header),
        }
    }

    /// Removes every field called `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let name = canonical_name(name);
        let before = self.0.len();
        self.0.retain(|h| !h.is(&name));
        before - self.0.len()
    }

    /// Removes the first element of the first field called `name` (the top Via, the first Route):
    /// a comma-joined field loses only its first element. Returns the removed element.
    pub fn remove_first_element(&mut self, name: &str) -> Option<String> {
        let name = canonical_name(name);
        let i = self.0.iter().position(|h| h.is(&name))?;
        let elements = split_list(&self.0[i].value);
        let first = (*elements.first()?).to_owned();
        if elements.len() <= 1 {
            self.0.remove(i);
        } else {
            self.0[i].value = elements[1..].join(", ");
        }
        Some(first)
    }

    pub(crate) fn push_header(&mut self, header: Header) {
        self.0.push(header);
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Splits a header value at the commas that separate list elements (RFC 3261 §7.3.1), ignoring
/// commas inside quoted strings and `<…>`; elements are trimmed, empty ones kept (callers that
/// parse elements reject them).
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    for (i, b) in value.bytes().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
            continue;
        }
        match b {
            b'"' => in_quotes = true,
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive_names_are_canonicalised() {
        assert_eq!(canonical_name("i"), "Call-ID");
        assert_eq!(canonical_name("V"), "Via");
        assert_eq!(canonical_name("u"), "Allow-Events");
        assert_eq!(canonical_name("cseq"), "CSeq");
        assert_eq!(canonical_name("X-Custom"), "X-Custom");
        let mut h = Headers::new();
        h.push("v", "SIP/2.0/UDP a");
        h.push("Via", "SIP/2.0/UDP b, SIP/2.0/UDP c");
        h.push("f", "<sip:a@b>");
        assert_eq!(h.get("VIA"), Some("SIP/2.0/UDP a"));
        assert_eq!(h.get_list("via").count(), 3);
        assert_eq!(h.get("from"), Some("<sip:a@b>"));
        h.push_front("Via", "SIP/2.0/TCP top");
        assert_eq!(h.get("v"), Some("SIP/2.0/TCP top"));
        assert_eq!(h.remove_first_element("Via").as_deref(), Some("SIP/2.0/TCP top"));
        h.set("Via", "x");
        assert_eq!(h.get_all("via").collect::<Vec<_>>(), ["x"]);
        assert_eq!(h.remove("VIA"), 1);
        assert!(!h.contains("Via"));
    }

    #[test]
    fn lists_split_outside_quotes_and_angles() {
        assert_eq!(
            split_list(r#""a, \"b" <sip:x,y@h>;p=1, c"#),
            [r#""a, \"b" <sip:x,y@h>;p=1"#, "c"]
        );
        assert_eq!(split_list(";;,;,,"), [";;", ";", "", ""]);
    }
}
