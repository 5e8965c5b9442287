//! Just enough bencode for rtpengine's NG control protocol: dictionaries of byte strings, integers and lists.

use std::collections::BTreeMap;

/// A bencoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i…e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(Vec<u8>),
    /// `l…e`.
    List(Vec<Value>),
    /// `d…e` (keys sorted, as bencode requires).
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Self {
        Self::Bytes(s.as_bytes().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        Self::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    /// The entry `key` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// A byte string as (lossy) text.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Self::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Self::List(items) => {
                out.push(b'l');
                for v in items {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Self::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    out.extend_from_slice(format!("{}:", k.len()).as_bytes());
                    out.extend_from_slice(k);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes one value at the start of `input`; returns it and the rest.
    pub fn decode(input: &[u8]) -> Result<(Value, &[u8]), String> {
        let (&first, rest) = input.split_first().ok_or("bencode: unexpected end")?;
        match first {
            b'i' => {
                let end = rest
                    .iter()
                    .position(|&c| c == b'e')
                    .ok_or("bencode: unterminated integer")?;
                let text = std::str::from_utf8(&rest[..end]).map_err(|e| e.to_string())?;
                let i = text
                    .parse()
                    .map_err(|e| format!("bencode: integer {text:?}: {e}"))?;
                Ok((Self::Int(i), &rest[end + 1..]))
            }
            b'l' => {
                let mut items = Vec::new();
                let mut rest = rest;
                loop {
                    match rest.first() {
                        Some(b'e') => return Ok((Self::List(items), &rest[1..])),
                        Some(_) => {
                            let (v, r) = Self::decode(rest)?;
                            items.push(v);
                            rest = r;
                        }
                        None => return Err("bencode: unterminated list".into()),
                    }
                }
            }
            b'd' => {
                let mut map = BTreeMap::new();
                let mut rest = rest;
                loop {
                    match rest.first() {
                        Some(b'e') => return Ok((Self::Dict(map), &rest[1..])),
                        Some(_) => {
                            let (k, r) = Self::decode(rest)?;
                            let Self::Bytes(k) = k else {
                                return Err("bencode: dictionary key is not a string".into());
                            };
                            let (v, r) = Self::decode(r)?;
                            map.insert(k, v);
                            rest = r;
                        }
                        None => return Err("bencode: unterminated dictionary".into()),
                    }
                }
            }
            b'0'..=b'9' => {
                let colon = input
                    .iter()
                    .position(|&c| c == b':')
                    .ok_or("bencode: string without ':'")?;
                let text = std::str::from_utf8(&input[..colon]).map_err(|e| e.to_string())?;
                let len: usize = text
                    .parse()
                    .map_err(|e| format!("bencode: length {text:?}: {e}"))?;
                let body = input
                    .get(colon + 1..colon + 1 + len)
                    .ok_or("bencode: string longer than the input")?;
                Ok((Self::Bytes(body.to_vec()), &input[colon + 1 + len..]))
            }
            other => Err(format!("bencode: unexpected byte {other:#04x}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_key_order() {
        let v = Value::dict([
            ("sdp", Value::str("v=0\r\n")),
            ("command", Value::str("offer")),
            ("flags", Value::List(vec![Value::str("trust-address")])),
            ("n", Value::Int(-3)),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(
            out,
            b"d7:command5:offer5:flagsl13:trust-addresse1:ni-3e3:sdp5:v=0\r\ne".to_vec()
        );
        let (back, rest) = Value::decode(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back, v);
        assert_eq!(
            back.get("command").and_then(Value::text).as_deref(),
            Some("offer")
        );
    }

    #[test]
    fn rejects_truncated_input() {
        assert!(Value::decode(b"d3:sdp10:abce").is_err());
        assert!(Value::decode(b"l1:a").is_err());
        assert!(Value::decode(b"").is_err());
    }
}
