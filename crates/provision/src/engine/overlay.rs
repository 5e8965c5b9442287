//! The fast path of AXB capacity checks: the committed routing table plus this batch's not-yet-applied
//! effects.
//!
//! Checking "is this user number already on X?" and "how many pairs does X carry?" in SQL costs a scan of
//! every binding on X (up to 5000) per bind. The routing table answers both in O(1), and it is a superset of
//! the live bindings (it may still hold expired, not-yet-swept ones), so its "free" and "below capacity"
//! answers are exact. Only when it says "maybe taken" or "maybe full" does the engine fall back to the SQL
//! check, which also purges expired bindings.

use std::collections::{HashMap, HashSet};

use pn_bindings::{Binding, BindingKind, BindingTable};
use pn_numbers::E164;

use super::ctx::Effect;

/// AXB effects of the batch's successful commands that the table does not show yet.
///
/// With a shared store the table follows other nodes' commits only through the change feed, so it is not a
/// superset of what is committed: a shared overlay answers "maybe" to everything and every check goes to SQL
/// (under the number's lock, `Ctx::owned_number`).
#[derive(Debug, Default)]
pub(crate) struct BatchOverlay {
    /// Several nodes write the store: no fast answers, except for the numbers in `exact`.
    shared: bool,
    /// Pool numbers this batch holds locked whose every committed AXB party the table already shows (it
    /// has applied the feed up to the head read once the locks were held): their party checks are
    /// answered from the table, as with a single writer.
    exact: HashSet<E164>,
    added: HashSet<(E164, E164)>,
    removed: HashSet<(E164, E164)>,
    pairs_delta: HashMap<E164, i64>,
}

impl BatchOverlay {
    /// The overlay of an engine on a shared store (never answers from the table).
    pub(crate) fn shared() -> Self {
        Self {
            shared: true,
            ..Self::default()
        }
    }

    /// Folds one successful command's effects in.
    pub(crate) fn record(&mut self, effects: &[Effect]) {
        for effect in effects {
            match effect {
                Effect::Insert(b) => self.insert(b),
                Effect::Remove(b) => self.remove(b),
                Effect::Replace(pair) => {
                    self.remove(&pair.0);
                    self.insert(&pair.1);
                }
                _ => {}
            }
        }
    }

    /// Marks `numbers` exact for this batch (see `exact`); [`BatchOverlay::clear`] forgets them.
    pub(crate) fn set_exact(&mut self, numbers: Vec<E164>) {
        self.exact.extend(numbers);
    }

    /// Forgets everything (the batch was committed and applied, or abandoned).
    pub(crate) fn clear(&mut self) {
        self.exact.clear();
        self.added.clear();
        self.removed.clear();
        self.pairs_delta.clear();
    }

    fn insert(&mut self, b: &Binding) {
        if let BindingKind::Axb(p) = &b.kind {
            for n in [p.a, p.b] {
                self.removed.remove(&(p.x, n));
                self.added.insert((p.x, n));
            }
            *self.pairs_delta.entry(p.x).or_default() += 1;
        }
    }

    fn remove(&mut self, b: &Binding) {
        if let BindingKind::Axb(p) = &b.kind {
            for n in [p.a, p.b] {
                self.added.remove(&(p.x, n));
                self.removed.insert((p.x, n));
            }
            *self.pairs_delta.entry(p.x).or_default() -= 1;
        }
    }

    /// `false` means `n` is certainly not a party of any AXB binding on `x` (committed or in this batch).
    pub(crate) fn maybe_party(&self, table: &BindingTable, x: E164, n: E164) -> bool {
        (self.shared && !self.exact.contains(&x))
            || self.added.contains(&(x, n))
            || (table.is_party_on_x(x, n) && !self.removed.contains(&(x, n)))
    }

    /// An upper bound of the AXB pairs on `x`, counting expired ones not yet swept.
    pub(crate) fn max_pairs(&self, table: &BindingTable, x: E164) -> u64 {
        if self.shared {
            return u64::MAX;
        }
        let committed = i64::from(table.pairs_on_x(x));
        let delta = self.pairs_delta.get(&x).copied().unwrap_or(0);
        u64::try_from(committed + delta).unwrap_or(0)
    }
}
