//! The China numbering plan as compact prefix/length tables, plus digit arithmetic on `u64` numbers.
//!
//! Everything here is allocation-free and branch-light: it backs the call-path [`crate::classify`].
//! The tables were derived from the numbering plan as encoded in libphonenumber's metadata
//! (`phonenumber` 0.3.10+9.0.33) and are checked against it by `tests/agreement.rs`.

/// Powers of ten up to 10^19 (the largest that fits a `u64`).
const POW10: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// Number of decimal digits of `value` (1 for 0).
pub(crate) const fn digit_len(value: u64) -> u32 {
    match value.checked_ilog10() {
        Some(log) => log + 1,
        None => 1,
    }
}

/// The first `k` digits of a `len`-digit number (leading zeros count as digits). `k` must be ≤ `len`.
pub(crate) const fn prefix(value: u64, len: u32, k: u32) -> u64 {
    if k >= len {
        value
    } else {
        value / POW10[(len - k) as usize]
    }
}

/// The last `k` digits of `value`.
pub(crate) const fn suffix(value: u64, k: u32) -> u64 {
    if k >= 20 { value } else { value % POW10[k as usize] }
}

/// `10^k` (saturating at 10^19).
pub(crate) const fn pow10(k: u32) -> u64 {
    if k >= 20 { POW10[19] } else { POW10[k as usize] }
}

// ---------------------------------------------------------------------------------------------
// Mobile: 11-digit national numbers 1[3-9]x…, allocated per three-digit block (1740 split by the
// fifth digit: 1740[0-5] is the Tiantong satellite range).
// ---------------------------------------------------------------------------------------------

/// Bit `t` of `MOBILE_BLOCKS[s]` is set when the block `1st` (second digit `s`, third digit `t`) is allocated.
const MOBILE_BLOCKS: [u16; 10] = [
    0,              // 10x: fixed-line Beijing / short codes
    0,              // 11x: short codes
    0,              // 12x: short codes
    0b11_1111_1111, // 130-139
    0b00_1010_0000, // 145 (data), 147 (data)
    0b11_1110_1111, // 150-153, 155-159
    0b00_1110_0100, // 162, 165, 166, 167
    0b01_1110_1111, // 170-173, (174: see below), 175-178
    0b11_1111_1111, // 180-189
    0b11_1110_1111, // 190-193, 195-199
];

/// True for an allocated 11-digit China mobile number (national significant number, without +86).
pub(crate) const fn is_mobile(nsn: u64, len: u32) -> bool {
    if len != 11 || prefix(nsn, len, 1) != 1 {
        return false;
    }
    let block = prefix(nsn, len, 3);
    if block == 174 {
        return prefix(nsn, len, 5) <= 17405;
    }
    let second = (block / 10 % 10) as usize;
    let third = block % 10;
    MOBILE_BLOCKS[second] & (1 << third) != 0
}

/// Shape only: 11 digits starting 1[3-9] (used by normalisation to recognise national mobile input).
pub(crate) const fn has_mobile_shape(nsn: u64, len: u32) -> bool {
    len == 11 && prefix(nsn, len, 2) >= 13 && prefix(nsn, len, 2) <= 19
}

// ---------------------------------------------------------------------------------------------
// Special services: 400/800 + 7 digits, 950 + 7–8 digits, 95xxx (5–8 digits), 96xxx (5–6 digits),
// short codes 1xx–1xxxx (3–5 digits).
// ---------------------------------------------------------------------------------------------

/// Short numbers that carry no national destination code: 95xxx (5–8 digits), 96xxx (5–6 digits) and
/// 3–5 digit codes starting with 1 (110, 120, 10086, 12345, 12306, …). libphonenumber's main metadata
/// does not list these, so both the call and the API path accept them by this rule.
pub(crate) const fn is_short_service(nsn: u64, len: u32) -> bool {
    if len < 3 || len > 8 {
        return false;
    }
    let first = prefix(nsn, len, 1);
    let two = prefix(nsn, len, 2);
    (first == 1 && len <= 5) || (two == 95 && len >= 5) || (two == 96 && len >= 5 && len <= 6)
}

/// Every special-service range: the short numbers of [`is_short_service`] plus the nationwide
/// 400 (shared cost), 800 (toll free) and 950 (shared cost) ranges.
pub(crate) const fn is_special_service(nsn: u64, len: u32) -> bool {
    if is_short_service(nsn, len) {
        return true;
    }
    let three = if len >= 3 { prefix(nsn, len, 3) } else { 0 };
    (len == 10 && (three == 400 || three == 800)) || ((len == 10 || len == 11) && three == 950)
}

// ---------------------------------------------------------------------------------------------
// Fixed line: area code (10, 2x or [3-9]xx, written without the trunk 0) + 7–8 digit local number.
// ---------------------------------------------------------------------------------------------

/// The structural split of a fixed-line national significant number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FixedSplit {
    /// Area code without the trunk 0 (10, 20–29, 300–999).
    pub area: u16,
    /// Number of digits of the local number (7 or 8).
    pub local_len: u32,
    /// The local number's first digit.
    pub local_first: u8,
    /// The local number's first three digits.
    pub local_head3: u16,
}

/// Splits a national significant number into area code and local number by the structural rules of
/// the plan, without consulting the area-code table: area code 10 or 2x (two digits) or [3-9]xx (three
/// digits); total length 10–11 (so 8 local digits after a two-digit code, 7–8 after a three-digit one);
/// the local number starts with 2–9 but not with 95/96 (service prefixes).
pub(crate) const fn fixed_split(nsn: u64, len: u32) -> Option<FixedSplit> {
    if len != 10 && len != 11 {
        return None;
    }
    let first = prefix(nsn, len, 1);
    let area_len = if first == 2 || prefix(nsn, len, 2) == 10 {
        2
    } else if first >= 3 {
        3
    } else {
        return None;
    };
    let local_len = len - area_len;
    if area_len == 2 && local_len != 8 {
        return None;
    }
    let local = suffix(nsn, local_len);
    let local_first = (local / pow10(local_len - 1)) as u8;
    let local_two = local / pow10(local_len - 2);
    if local_first < 2 || local_two == 95 || local_two == 96 {
        return None;
    }
    Some(FixedSplit {
        area: prefix(nsn, len, area_len) as u16,
        local_len,
        local_first,
        local_head3: (local / pow10(local_len - 3)) as u16,
    })
}

/// Shape only (normalisation): a trunk-dialled fixed-line national number has 10 digits after
/// 10/2x, or 10–11 digits after a [3-9]xx area code.
pub(crate) const fn has_fixed_shape(nsn: u64, len: u32) -> bool {
    let first = prefix(nsn, len, 1);
    if first == 2 || prefix(nsn, len, 2) == 10 {
        len == 10
    } else {
        first >= 3 && (len == 10 || len == 11)
    }
}

/// Area-code flags: the area accepts 7-digit local numbers.
const L7: u8 = 1;
/// Area-code flags: the area accepts 8-digit local numbers.
const L8: u8 = 2;

/// Three-digit area codes whose local numbers have 7 or 8 digits.
const AREAS_7_OR_8: [u16; 278] = [
    310, 312, 313, 314, 315, 316, 317, 318, 319, 335, 349, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359,
    370, 372, 373, 374, 375, 376, 378, 391, 392, 393, 394, 395, 396, 398, 410, 412, 413, 414, 415, 416, 417,
    418, 419, 421, 427, 429, 433, 434, 435, 436, 437, 438, 439, 452, 453, 454, 455, 456, 457, 458, 459, 464,
    467, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477, 478, 479, 482, 483, 530, 533, 534, 535, 536, 537,
    538, 539, 543, 546, 550, 552, 553, 554, 555, 556, 557, 558, 559, 561, 562, 563, 564, 566, 570, 572, 578,
    580, 592, 593, 594, 596, 597, 598, 599, 631, 632, 633, 634, 635, 660, 662, 663, 668, 691, 692, 701, 710,
    711, 712, 713, 714, 715, 716, 717, 718, 719, 722, 724, 728, 730, 734, 735, 736, 737, 738, 739, 743, 744,
    745, 746, 750, 751, 752, 753, 754, 756, 758, 759, 762, 763, 766, 768, 770, 771, 772, 773, 774, 775, 776,
    777, 778, 779, 790, 792, 793, 794, 795, 796, 797, 798, 799, 812, 813, 816, 817, 818, 825, 826, 827, 830,
    831, 832, 833, 834, 835, 836, 837, 838, 839, 851, 852, 853, 854, 855, 856, 857, 858, 859, 870, 872, 873,
    874, 875, 876, 877, 878, 879, 883, 886, 887, 888, 891, 892, 893, 894, 895, 896, 897, 901, 902, 903, 906,
    908, 909, 911, 912, 913, 914, 915, 916, 917, 919, 930, 931, 932, 933, 934, 935, 936, 937, 938, 939, 941,
    943, 951, 952, 953, 954, 955, 970, 971, 972, 973, 974, 975, 976, 977, 978, 979, 990, 991, 992, 993, 994,
    995, 996, 997, 998, 999,
];

/// Three-digit area codes whose local numbers have 8 digits only (large cities: 311 Shijiazhuang,
/// 371 Zhengzhou, 512 Suzhou, 591 Fuzhou, 755 Shenzhen, 898 Haikou, …). 807 only has the 8078xxxxxxx range.
const AREAS_8_ONLY: [u16; 41] = [
    311, 371, 377, 379, 411, 431, 432, 451, 510, 511, 512, 513, 514, 515, 516, 517, 518, 519, 523, 527, 531,
    532, 551, 571, 573, 574, 575, 576, 577, 579, 591, 595, 731, 755, 757, 760, 769, 791, 807, 871, 898,
];

/// Flags (L7/L8) of every area code 0..=999; two-digit codes 10 and 2x (except the reserved 26) take 8 digits.
static AREA_TABLE: [u8; 1000] = {
    let mut table = [0u8; 1000];
    table[10] = L8;
    let mut two = 20;
    while two <= 29 {
        if two != 26 {
            table[two] = L8;
        }
        two += 1;
    }
    let mut i = 0;
    while i < AREAS_7_OR_8.len() {
        table[AREAS_7_OR_8[i] as usize] = L7 | L8;
        i += 1;
    }
    let mut i = 0;
    while i < AREAS_8_ONLY.len() {
        table[AREAS_8_ONLY[i] as usize] = L8;
        i += 1;
    }
    table
};

/// The area code of an assigned fixed-line number, or `None`.
pub(crate) fn fixed_line_area(nsn: u64, len: u32) -> Option<u16> {
    let split = fixed_split(nsn, len)?;
    let flags = AREA_TABLE.get(usize::from(split.area)).copied().unwrap_or(0);
    let wanted = if split.local_len == 7 { L7 } else { L8 };
    if flags & wanted == 0 {
        return None;
    }
    // Exceptions inside otherwise-open areas: 10/21 + 800… is the area-prefixed toll-free range, and
    // 807 only has 8078xxxxxxx.
    let excluded = match split.area {
        10 | 21 => split.local_head3 == 800,
        807 => split.local_first != 8,
        _ => false,
    };
    if excluded { None } else { Some(split.area) }
}

// ---------------------------------------------------------------------------------------------
// Country calling codes (ITU-T E.164 assignments known to the metadata; +86 included).
// ---------------------------------------------------------------------------------------------

/// Two- and three-digit country calling codes (the one-digit codes are 1 and 7).
const COUNTRY_CODES: [u16; 213] = [
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58,
    60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211, 212, 213, 216, 218, 220,
    221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241,
    242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255, 256, 257, 258, 260, 261, 262, 263,
    264, 265, 266, 267, 268, 269, 290, 291, 297, 298, 299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359,
    370, 371, 372, 373, 374, 375, 376, 377, 378, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500,
    501, 502, 503, 504, 505, 506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672,
    673, 674, 675, 676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808,
    850, 852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967,
    968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// Bit set over 0..1000 of assigned country codes.
static COUNTRY_TABLE: [u64; 16] = {
    let mut bits = [0u64; 16];
    bits[0] |= (1 << 1) | (1 << 7);
    let mut i = 0;
    while i < COUNTRY_CODES.len() {
        let code = COUNTRY_CODES[i] as usize;
        bits[code / 64] |= 1 << (code % 64);
        i += 1;
    }
    bits
};

fn is_country_code(code: u64) -> bool {
    code < 1000 && COUNTRY_TABLE[(code / 64) as usize] & (1 << (code % 64)) != 0
}

/// The length (1–3) of the assigned country code that starts a `len`-digit E.164 number, if any.
/// E.164 country codes are prefix-free, so the first match is the only one.
pub(crate) fn country_code_len(digits: u64, len: u32) -> Option<u32> {
    (1..=3u32).find(|&k| k < len && is_country_code(prefix(digits, len, k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_disjoint() {
        assert!(AREAS_7_OR_8.windows(2).all(|w| w[0] < w[1]));
        assert!(AREAS_8_ONLY.windows(2).all(|w| w[0] < w[1]));
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(AREAS_8_ONLY.iter().all(|a| !AREAS_7_OR_8.contains(a)));
    }

    #[test]
    fn digit_helpers() {
        assert_eq!(digit_len(0), 1);
        assert_eq!(digit_len(9), 1);
        assert_eq!(digit_len(10), 2);
        assert_eq!(digit_len(u64::MAX), 20);
        assert_eq!(prefix(8_613_800_138_000, 13, 2), 86);
        assert_eq!(suffix(8_613_800_138_000, 4), 8000);
    }

    #[test]
    fn country_codes() {
        assert_eq!(country_code_len(14_155_550_100, 11), Some(1));
        assert_eq!(country_code_len(447_911_123_456, 12), Some(2));
        assert_eq!(country_code_len(85_251_234_567, 11), Some(3));
        assert_eq!(country_code_len(999_123_456_789, 12), None);
    }
}
