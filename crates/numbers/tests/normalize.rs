//! Every accepted input form of `normalize`, and every rejection.

use pn_numbers::{E164, NumberError, normalize};

fn ok(input: &str, expected: &str) {
    assert_eq!(
        normalize(input).map(|n| n.to_string()),
        Ok(expected.to_owned()),
        "input {input:?}"
    );
}

fn err(input: &str, expected: &NumberError) {
    assert_eq!(normalize(input).as_ref(), Err(expected), "input {input:?}");
}

#[test]
fn e164_with_and_without_plus() {
    ok("+8613800138000", "+8613800138000");
    ok("8613800138000", "+8613800138000");
    ok("008613800138000", "+8613800138000");
    ok("861012345678", "+861012345678");
    ok("8675512345678", "+8675512345678");
    ok("  +8613800138000  ", "+8613800138000");
}

#[test]
fn national_mobile_and_fixed_line() {
    ok("13800138000", "+8613800138000");
    ok("17012345678", "+8617012345678");
    ok("075512345678", "+8675512345678");
    ok("01012345678", "+861012345678");
    ok("02112345678", "+862112345678");
    ok("05911234567", "+865911234567");
    ok("013800138000", "+8613800138000");
}

#[test]
fn visual_separators() {
    ok("0755-1234 5678", "+8675512345678");
    ok("+86 138-0013-8000", "+8613800138000");
    ok("(0755) 12345678", "+8675512345678");
    ok("138.0013.8000", "+8613800138000");
    ok("+86 (0)755 1234 5678", "+8675512345678");
    ok("+86\t138 0013 8000", "+8613800138000");
}

#[test]
fn sip_and_tel_uris() {
    ok("sip:+8613800138000@10.0.0.1;user=phone", "+8613800138000");
    ok("sip:13800138000@host:5060", "+8613800138000");
    ok("SIP:13800138000@host", "+8613800138000");
    ok("sips:+8613800138000@example.com", "+8613800138000");
    ok("sip:13800138000:secret@host", "+8613800138000");
    ok("<sip:+8613800138000@10.0.0.1>;tag=abc", "+8613800138000");
    ok("\"Alice\" <sip:075512345678@gw;transport=udp>", "+8675512345678");
    ok("sip:%2B8613800138000@host", "+8613800138000");
    ok("tel:+86-138-0013-8000", "+8613800138000");
    ok("tel:13800138000;phone-context=+86", "+8613800138000");
    ok("tel:075512345678;phone-context=+86", "+8675512345678");
    ok("tel:4155550100;phone-context=+1", "+14155550100");
    ok("tel:13800138000;phone-context=example.com", "+8613800138000");
    ok("+8613800138000;user=phone", "+8613800138000");
    ok("13800138000;isub=1234", "+8613800138000");
    ok("+8613800138000;npdi;rn=+8613900000000", "+8613800138000");
}

#[test]
fn special_services() {
    ok("4001234567", "+864001234567");
    ok("400-123-4567", "+864001234567");
    ok("8001234567", "+868001234567");
    ok("95588", "+8695588");
    ok("10086", "+8610086");
    ok("110", "+86110");
    ok("12345", "+8612345");
    ok("12306", "+8612306");
    ok("96110", "+8696110");
    ok("9501234567", "+869501234567");
    ok("sip:10086@ims.example.com", "+8610086");
    ok("tel:95588;phone-context=+86", "+8695588");
    ok("+8695588", "+8695588");
}

#[test]
fn international() {
    ok("+14155550100", "+14155550100");
    ok("0014155550100", "+14155550100");
    ok("+447911123456", "+447911123456");
    ok("0044 7911 123456", "+447911123456");
    ok("+852 5123 4567", "+85251234567");
    ok("+886 912 345 678", "+886912345678");
    ok("sip:+81312345678@gw", "+81312345678");
    ok("+123456789012345", "+123456789012345");
}

#[test]
fn rejections() {
    err("", &NumberError::Empty);
    err("   ", &NumberError::Empty);
    err("+", &NumberError::NoDigits);
    err("tel:", &NumberError::NoDigits);
    err("sip:@host", &NumberError::NoDigits);
    err("abc", &NumberError::InvalidCharacter { ch: 'a', at: 0 });
    err("1380013800O", &NumberError::InvalidCharacter { ch: 'O', at: 10 });
    err("*86#", &NumberError::InvalidCharacter { ch: '*', at: 0 });
    err("1380013800#", &NumberError::InvalidCharacter { ch: '#', at: 10 });
    err("138*0013", &NumberError::InvalidCharacter { ch: '*', at: 3 });
    err(
        "++8613800138000",
        &NumberError::InvalidCharacter { ch: '+', at: 1 },
    );
    err(
        "86+13800138000",
        &NumberError::InvalidCharacter { ch: '+', at: 2 },
    );
    err(
        "１３８００１３８０００",
        &NumberError::InvalidCharacter { ch: '１', at: 0 },
    );
    err("sip:%ZZ@host", &NumberError::InvalidCharacter { ch: '%', at: 4 });
    err("+1234567890123456", &NumberError::TooLong);
    err("0012345678901234567", &NumberError::TooLong);
    err("1234567890123456789012345", &NumberError::TooLong);
    err("+1234", &NumberError::TooShort);
    err("12345678", &NumberError::UnknownFormat);
    err("5551234", &NumberError::UnknownFormat);
    err("0123", &NumberError::UnknownFormat);
    err("075512", &NumberError::UnknownFormat);
    err("+0123456789", &NumberError::UnknownFormat);
    err("000", &NumberError::UnknownFormat);
    err("0", &NumberError::UnknownFormat);
    err("1380013800", &NumberError::UnknownFormat);
    err("138001380001", &NumberError::UnknownFormat);
}

#[test]
fn never_panics_on_odd_input() {
    let inputs = [
        "<",
        ">",
        "<>",
        "<sip:",
        "sip:",
        "sip:;",
        ";",
        ";phone-context=",
        "tel:;phone-context=+",
        "tel:1;phone-context=+999999999999999999999",
        "%",
        "%2",
        "%2B",
        "%e4%b8%ad",
        "@",
        "sip:@",
        "\u{0}",
        "+86",
        "+860",
        "0086",
        "00",
        "86",
        "\u{feff}13800138000",
        "sip:+86138\u{301c}00138000@h",
    ];
    for input in inputs {
        let _ = normalize(input);
    }
    assert_eq!(
        E164::from_digits(8_613_800_138_000).map(E164::digits),
        Some(8_613_800_138_000)
    );
}
