//! What call facts echo of a binding: its `subscriptionId` and `userData` (reference §3, §4), kept in the
//! routing table so a call captures them when it is routed, with no store read on the call path.
//!
//! # Why a side map keyed by [`BindingId`], not a field of the AXB record
//!
//! The B2BUA asks for the echo by binding id once a decision names one (`RouteLookup::subscription`), for every
//! mode alike (AXB pairs, AX, AXE, AXYB A–X parts and Y–B relations). The AXB arena is reached by (X, party), not
//! by id: a field there would need an id index or a second probe, plus the same field in the AX/AXE/Y–B routes,
//! and `userData` (up to 256 characters) cannot live in a fixed-size record anyway. The AXB record also stays
//! seven words (56 bytes), the one thing [`crate::decide()`] copies under its seqlock on every call. So the echo
//! lives in one `papaya` map beside the prompt map, written by the same single writer with every binding.
//!
//! Memory: the switch's own `subscriptionId`s (32 lowercase hex characters) are kept as their 16 bytes; any other
//! text as a boxed string. `userData` is a boxed string only when set. A [`BindingEcho`] is 40 bytes; papaya
//! keeps each entry (8-byte key + value = 48 bytes) in its own heap block (64 bytes with glibc's malloc) and one
//! 9-byte slot (a pointer and a metadata byte) per table position, at most 2 positions per entry. For 1M
//! bindings in a table pre-sized for them (`BindingTable::with_capacity`, `routing.capacity_hint`): 2^21
//! positions (18.9 MB) + 48.0 MB of entries requested (counted with a counting allocator), about 83 bytes
//! per binding with malloc's rounding; plus `len` bytes (a `len + 8` block rounded up to 16, at least 32) for
//! a set `userData`. A map that grows instead keeps its earlier tables (up to about one more table) until
//! epoch reclamation frees them.

use std::fmt::Write as _;

use crate::decide::{CdrDirection, Connect};
use crate::model::{Binding, BindingId, BindingKind, Mode};

use super::BindingTable;

/// A binding's `subscriptionId`: its 16 bytes when it is 32 lowercase hex characters (as the switch makes
/// them), else the text as given.
#[derive(Clone, Debug, PartialEq, Eq)]
enum EchoId {
    Hex([u8; 16]),
    Text(Box<str>),
}

impl EchoId {
    fn parse(id: &str) -> Self {
        let bytes = id.as_bytes();
        let mut out = [0u8; 16];
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        if bytes.len() == 32
            && bytes.chunks_exact(2).zip(out.iter_mut()).all(|(pair, byte)| {
                if let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) {
                    *byte = hi << 4 | lo;
                    true
                } else {
                    false
                }
            })
        {
            return Self::Hex(out);
        }
        Self::Text(id.into())
    }
}

/// What call facts echo of a binding: `subscriptionId` and `userData`, as they were when the call was routed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingEcho {
    id: EchoId,
    user_data: Option<Box<str>>,
}

impl BindingEcho {
    /// The echo of `binding` (its `subscriptionId` and `userData`).
    pub fn of(binding: &Binding) -> Self {
        Self {
            id: EchoId::parse(&binding.subscription_id),
            user_data: binding.user_data.as_deref().map(Box::from),
        }
    }

    /// The `subscriptionId`, as given at bind time.
    pub fn subscription_id(&self) -> String {
        match &self.id {
            EchoId::Hex(bytes) => bytes.iter().fold(String::with_capacity(32), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            }),
            EchoId::Text(text) => text.to_string(),
        }
    }

    /// The `userData`, when set.
    pub fn user_data(&self) -> Option<&str> {
        self.user_data.as_deref()
    }

    /// Whether the `subscriptionId` is kept as 16 bytes (not as text).
    pub fn is_compact(&self) -> bool {
        matches!(self.id, EchoId::Hex(_))
    }
}

impl BindingTable {
    /// The echo of binding (or Y–B relation) `id`, as last written; None when it is not in the table.
    pub fn binding_echo(&self, id: BindingId) -> Option<BindingEcho> {
        self.echo.pin().get(&id).cloned()
    }

    /// The echo of the call `connect` routes: its binding's, with the temporary callee's own `userData` when the
    /// call goes to an AX temporary callee that has one (reference: `SetAXTemporaryCallee` `userData`).
    pub fn connect_echo(&self, connect: &Connect) -> Option<BindingEcho> {
        let mut echo = self.binding_echo(connect.binding)?;
        if connect.mode == Mode::Ax && connect.direction == CdrDirection::AToB {
            let temps = self.temp_callees.pin();
            if let Some(temp) = temps.get(&connect.display)
                && temp.binding == connect.binding
                && temp.callee == connect.callee
                && let Some(data) = &temp.user_data
            {
                echo.user_data = Some(Box::from(&**data));
            }
        }
        Some(echo)
    }

    /// How many bindings have an echo entry (every binding in the table has one).
    pub fn echo_entries(&self) -> usize {
        self.echo.len()
    }

    /// Sets the echo of `binding` (writers only: called with the write lock held).
    pub(super) fn set_echo(&self, binding: &Binding) {
        self.echo.pin().insert(binding.id, BindingEcho::of(binding));
        let sms_off = match &binding.kind {
            BindingKind::Axb(b) => !b.controls.private_sms,
            BindingKind::Ax(b) => !b.controls.private_sms,
            _ => false,
        };
        if sms_off {
            self.sms_off.pin().insert(binding.id, ());
        } else {
            self.sms_off.pin().remove(&binding.id);
        }
    }

    /// Whether binding `id` allows SMS relay: false when its `privateSms` is "false" (reference §7.1).
    pub fn sms_allowed(&self, id: BindingId) -> bool {
        !self.sms_off.pin().contains_key(&id)
    }

    /// Forgets the echo of binding `id` (writers only: called with the write lock held).
    pub(super) fn drop_echo(&self, id: BindingId) {
        self.echo.pin().remove(&id);
        self.sms_off.pin().remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppId, AxbBinding, CallControls, CallDirection, RecordSettings, UnixTime};
    use pn_numbers::E164;

    fn binding(id: u64, sub: &str, user_data: Option<&str>) -> Binding {
        Binding {
            id: BindingId(id),
            subscription_id: sub.into(),
            app: AppId(1),
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
            expires_at: None,
            duration_secs: None,
            record: RecordSettings::default(),
            user_data: user_data.map(str::to_owned),
            kind: BindingKind::Axb(AxbBinding {
                x: E164::from_digits(8_617_000_000_001).unwrap(),
                a: E164::from_digits(8_613_800_000_000 + id).unwrap(),
                b: E164::from_digits(8_613_900_000_000 + id).unwrap(),
                direction: CallDirection::Both,
                controls: CallControls::default(),
            }),
        }
    }

    #[test]
    fn hex_ids_are_kept_as_16_bytes_and_print_back() {
        let hex = "0190a1b2c3d4e5f60718293a4b5c6d7e";
        let e = BindingEcho::of(&binding(1, hex, None));
        assert!(e.is_compact());
        assert_eq!(e.subscription_id(), hex);
        assert_eq!(e.user_data(), None);
        // Anything else is kept as given: upper case, other lengths, other characters.
        for other in [
            "0190A1B2C3D4E5F60718293A4B5C6D7E",
            "0190a1b2c3d4e5f60718293a4b5c6d7",
            "0190a1b2c3d4e5f60718293a4b5c6d7e0",
            "0190a1b2c3d4e5f60718293a4b5c6d7g",
            "s1",
        ] {
            let e = BindingEcho::of(&binding(1, other, Some("order-9")));
            assert!(!e.is_compact(), "{other}");
            assert_eq!(e.subscription_id(), other);
            assert_eq!(e.user_data(), Some("order-9"));
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<BindingEcho>(), 40);
        // papaya's boxed entry: key and value.
        assert_eq!(std::mem::size_of::<(BindingId, BindingEcho)>(), 48);
        // A temporary callee's route grew by its userData (24 → 40 bytes); AX bindings hold at most one each.
        assert_eq!(std::mem::size_of::<super::super::TempRoute>(), 40);
    }

    fn echo(table: &BindingTable, id: u64) -> Option<(String, Option<String>)> {
        table
            .binding_echo(BindingId(id))
            .map(|e| (e.subscription_id(), e.user_data().map(str::to_owned)))
    }

    #[test]
    fn the_table_keeps_the_echo_in_step_with_its_bindings() {
        let table = BindingTable::new();
        let first = binding(1, "0190a1b2c3d4e5f60718293a4b5c6d7e", Some("u1"));
        table.insert_binding(&first);
        table.insert_binding(&binding(2, "s2", None));
        assert_eq!(
            echo(&table, 1),
            Some((first.subscription_id.clone(), Some("u1".into())))
        );
        assert_eq!(echo(&table, 2), Some(("s2".into(), None)));
        assert_eq!(table.echo_entries(), 2);

        // A modify: the new version's userData.
        let mut modified = first.clone();
        modified.user_data = Some("u1b".into());
        table.replace_binding(&first, &modified);
        assert_eq!(
            echo(&table, 1),
            Some((first.subscription_id.clone(), Some("u1b".into())))
        );
        // A replacement under another id moves the echo.
        let moved = Binding {
            id: BindingId(3),
            subscription_id: "s3".into(),
            ..modified.clone()
        };
        table.replace_binding(&modified, &moved);
        assert_eq!(echo(&table, 1), None);
        assert_eq!(echo(&table, 3), Some(("s3".into(), Some("u1b".into()))));

        // Removal (unbind or expiry sweep), even of a binding whose routes another one took over.
        table.remove_binding(&moved);
        table.remove_binding(&binding(2, "s2", None));
        assert_eq!((echo(&table, 2), echo(&table, 3)), (None, None));
        assert_eq!(table.echo_entries(), 0);
    }
}
