//! Phone numbers in logs: masked by default (`+8613800000001` → `+86138****0001`), shown in full only when the
//! operator sets `log.show_numbers = true`.

use std::sync::atomic::{AtomicBool, Ordering};

static SHOW_NUMBERS: AtomicBool = AtomicBool::new(false);

/// Sets whether [`mask`] shows numbers in full (from `log.show_numbers`, once at start).
pub fn set_show_numbers(show: bool) {
    SHOW_NUMBERS.store(show, Ordering::Relaxed);
}

/// A number (or any user part) as it may appear in a log line: its middle replaced by `****` unless
/// numbers are shown. Keeps at most six leading and four trailing characters and always hides at least four.
pub fn mask(number: &str) -> String {
    if SHOW_NUMBERS.load(Ordering::Relaxed) {
        return number.to_owned();
    }
    mask_always(number)
}

/// [`mask`] regardless of the switch.
fn mask_always(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return "****".to_owned();
    }
    let tail = if n >= 10 { 4 } else { 2 };
    let head = (n - tail).saturating_sub(4).min(6);
    let mut out: String = chars[..head].iter().collect();
    out.push_str("****");
    out.extend(&chars[n - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_middle() {
        assert_eq!(mask_always("+8613800000001"), "+86138****0001");
        assert_eq!(mask_always("8613800000001"), "86138****0001");
        assert_eq!(mask_always("12345678"), "12****78");
        assert_eq!(mask_always("12345"), "****45");
        assert_eq!(mask_always("123"), "****");
        assert_eq!(mask_always(""), "****");
        assert_eq!(mask_always("+861380000000123456"), "+86138****3456");
    }
}
