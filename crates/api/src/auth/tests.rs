//! Unit tests of [`super::Authenticator`]: one per result-code path, parsing tolerance, skew, replay.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use pn_bindings::{App, AppId, Mode, UnixTime};

use super::*;

const KEY: &str = "appkey1";
const SECRET: &str = "s3cret";
const NOW: UnixTime = UnixTime(1_518_449_420); // 2018-02-12T15:30:20Z
const CREATED: &str = "2018-02-12T15:30:20Z";
const AUTH: &str = r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#;

fn app(enabled: bool) -> App {
    App {
        id: AppId(1),
        name: "test".into(),
        mode: Mode::Axb,
        app_key: KEY.into(),
        app_secret: SECRET.into(),
        call_status_url: None,
        cdr_url: None,
        sms_url: None,
        record_enabled: false,
        sms_enabled: false,
        extension_digits: 0,
        collect_repeat: 3,
        enabled,
        created_at: UnixTime(0),
        media: pn_bindings::AppMedia::default(),
        push: pn_bindings::AppPush::default(),
        controls: pn_bindings::AppControls::default(),
        allow_national_numbers: false,
    }
}

fn lookup(key: &str) -> Option<App> {
    (key == KEY).then(|| app(true))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    map
}

fn token(nonce: &str, created: &str) -> String {
    let digest = aksk_digest(SECRET, nonce, created);
    format!(r#"UsernameToken Username="{KEY}",PasswordDigest="{digest}",Nonce="{nonce}",Created="{created}""#)
}

fn auth() -> Authenticator {
    Authenticator::new(AuthConfig::default())
}

fn code(result: Result<App, ApiFailure>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(f) => f.code.code,
    }
}

fn run(a: &Authenticator, pairs: &[(&str, &str)]) -> &'static str {
    code(a.authenticate(&headers(pairs), NOW, lookup))
}

fn run_one(pairs: &[(&str, &str)]) -> &'static str {
    run(&auth(), pairs)
}

#[test]
fn accepts_a_valid_request() {
    let a = auth();
    let got = a.authenticate(
        &headers(&[("Authorization", AUTH), ("X-AKSK", &token("abc123", CREATED))]),
        NOW,
        lookup,
    );
    assert_eq!(got.unwrap().app_key, KEY);
}

#[test]
fn accepts_the_built_headers() {
    let a = auth();
    let [(n1, v1), (n2, v2)] = aksk_headers(KEY, SECRET, "N0nce", CREATED);
    assert_eq!(n1, "Authorization");
    assert_eq!(v1, AUTH);
    assert_eq!(n2, "X-AKSK");
    assert_eq!(run(&a, &[(n1, &v1), (n2, &v2)]), "ok");
}

#[test]
fn missing_authorization_1023006() {
    assert_eq!(run_one(&[("X-AKSK", &token("n", CREATED))]), "1023006");
    assert_eq!(
        run_one(&[("Authorization", "  "), ("X-AKSK", &token("n", CREATED))]),
        "1023006"
    );
}

#[test]
fn other_schemes_and_garbage_1020176() {
    let t = token("n", CREATED);
    assert_eq!(
        run_one(&[("Authorization", "Bearer abc"), ("X-AKSK", &t)]),
        "1020176"
    );
    assert_eq!(
        run_one(&[("Authorization", "AKSKrealm=\"SDP\""), ("X-AKSK", &t)]),
        "1020176"
    );
    assert_eq!(
        run_one(&[("Authorization", "AKSK \u{e9}"), ("X-AKSK", &t)]),
        "1020176"
    );
    let mut map = headers(&[("X-AKSK", &t)]);
    map.insert(
        "authorization",
        HeaderValue::from_bytes(b"AKSK realm=\"\xff\"").unwrap(),
    );
    assert_eq!(code(auth().authenticate(&map, NOW, lookup)), "1020176");
    for broken in [
        r#"AKSK realm="SDP,profile="UsernameToken",type="Appkey""#,
        r#"AKSK realm="SDP" profile="UsernameToken",type="Appkey""#,
        r#"AKSK realm,profile="UsernameToken",type="Appkey""#,
        r#"AKSK ="SDP",profile="UsernameToken",type="Appkey""#,
        r#"AKSK realm="SDP",realm="SDP",profile="UsernameToken",type="Appkey""#,
        r#"AKSK realm="SDP",REALM="XYZ",profile="UsernameToken",type="Appkey""#,
    ] {
        assert_eq!(
            run_one(&[("Authorization", broken), ("X-AKSK", &t)]),
            "1020176",
            "{broken}"
        );
    }
}

#[test]
fn wsse_can_be_disabled() {
    let a = Authenticator::new(AuthConfig {
        allow_wsse: false,
        ..AuthConfig::default()
    });
    let [(n1, v1), (n2, v2)] = wsse_headers(KEY, SECRET, "n", CREATED);
    assert_eq!(run(&a, &[(n1, &v1), (n2, &v2)]), "1020176");
}

#[test]
fn authorization_params_in_order() {
    let t = token("n", CREATED);
    let cases = [
        ("AKSK", "1023007"),
        (r#"AKSK profile="UsernameToken",type="Appkey""#, "1023007"),
        (
            r#"AKSK realm="",profile="UsernameToken",type="Appkey""#,
            "1023007",
        ),
        (r#"AKSK realm="SDP",type="Appkey""#, "1023008"),
        (r#"AKSK realm="SDP",profile="UsernameToken""#, "1023012"),
        // Presence is checked before values.
        (r#"AKSK realm="X",profile="Y""#, "1023012"),
        (
            r#"AKSK realm="sdp",profile="UsernameToken",type="Appkey""#,
            "1023009",
        ),
        (r#"AKSK realm="SDP",profile="Digest",type="Appkey""#, "1023010"),
        (r#"AKSK realm="SDP",profile="Digest",type="x""#, "1023010"),
        (
            r#"AKSK realm="SDP",profile="UsernameToken",type="AppKey2""#,
            "1023011",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(
            run_one(&[("Authorization", value), ("X-AKSK", &t)]),
            expected,
            "{value}"
        );
    }
}

#[test]
fn tolerant_parameter_syntax() {
    let a = auth();
    let digest = aksk_digest(SECRET, "n1", CREATED);
    assert!(digest.ends_with('='), "the test wants base64 padding: {digest}");
    let cases = [
        (
            r#"aksk  REALM = "SDP" ,Profile= "UsernameToken",  TYPE ="Appkey" ,"#.to_owned(),
            format!(
                r#"usernametoken   nonce = "n1" , CREATED="{CREATED}",passwordDigest = "{digest}",USERNAME="{KEY}""#
            ),
        ),
        (
            "AKSK realm=SDP,profile=UsernameToken,type=Appkey".to_owned(),
            format!(r"UsernameToken Username={KEY},PasswordDigest={digest},Nonce=n2,Created={CREATED}")
                .replace(&digest, &aksk_digest(SECRET, "n2", CREATED)),
        ),
        (
            "\tAKSK\trealm=\"SDP\",\tprofile=\"UsernameToken\",type=\"Appkey\"\t".to_owned(),
            token("n3", CREATED).replace(',', " , "),
        ),
    ];
    for (authorization, x_aksk) in &cases {
        assert_eq!(
            run(&a, &[("Authorization", authorization), ("x-aksk", x_aksk)]),
            "ok",
            "{authorization} / {x_aksk}"
        );
    }
}

#[test]
fn missing_token_header_1023033() {
    assert_eq!(run_one(&[("Authorization", AUTH)]), "1023033");
    assert_eq!(run_one(&[("Authorization", AUTH), ("X-AKSK", "")]), "1023033");
    // The WSSE scheme reads X-WSSE, not X-AKSK.
    let wsse_auth = AUTH.replacen("AKSK", "WSSE", 1);
    assert_eq!(
        run_one(&[("Authorization", &wsse_auth), ("X-AKSK", &token("n", CREATED))]),
        "1023033"
    );
    // And AKSK does not read X-WSSE.
    let [_, (_, wsse)] = wsse_headers(KEY, SECRET, "n", CREATED);
    assert_eq!(run_one(&[("Authorization", AUTH), ("X-WSSE", &wsse)]), "1023033");
}

#[test]
fn not_a_username_token_1023038() {
    for value in [
        "UsernameToken",
        r#"UsernameTokenUsername="a""#,
        r#"Digest Username="a",Nonce="n""#,
        r#"Username="a",PasswordDigest="d",Nonce="n",Created="c""#,
    ] {
        assert_eq!(
            run_one(&[("Authorization", AUTH), ("X-AKSK", value)]),
            "1023038",
            "{value}"
        );
    }
}

#[test]
fn missing_token_fields() {
    let d = aksk_digest(SECRET, "n", CREATED);
    let cases = [
        (
            format!(r#"UsernameToken PasswordDigest="{d}",Nonce="n",Created="{CREATED}""#),
            "1023034",
        ),
        (
            format!(r#"UsernameToken Username="",PasswordDigest="{d}",Nonce="n",Created="{CREATED}""#),
            "1023034",
        ),
        (
            format!(r#"UsernameToken Username="{KEY}",PasswordDigest="{d}",Created="{CREATED}""#),
            "1023035",
        ),
        (
            format!(r#"UsernameToken Username="{KEY}",PasswordDigest="{d}",Nonce="",Created="{CREATED}""#),
            "1023035",
        ),
        (
            format!(r#"UsernameToken Username="{KEY}",PasswordDigest="{d}",Nonce="n""#),
            "1023036",
        ),
        (
            format!(r#"UsernameToken Username="{KEY}",Nonce="n",Created="{CREATED}""#),
            "1023037",
        ),
        (
            format!(r#"UsernameToken Username="{KEY}",PasswordDigest="",Nonce="n",Created="{CREATED}""#),
            "1023037",
        ),
        // Order: Username, Nonce, Created, PasswordDigest.
        ("UsernameToken Foo=\"bar\"".to_owned(), "1023034"),
        (format!(r#"UsernameToken Username="{KEY}""#), "1023035"),
        (format!(r#"UsernameToken Username="{KEY}",Nonce="n""#), "1023036"),
        // Broken syntax.
        (
            format!(r#"UsernameToken Username="{KEY}",Nonce="n,Created="{CREATED}""#),
            "1020176",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(
            run_one(&[("Authorization", AUTH), ("X-AKSK", &value)]),
            expected,
            "{value}"
        );
    }
}

#[test]
fn nonce_form() {
    let long_ok = "a".repeat(128);
    let too_long = "a".repeat(129);
    assert_eq!(
        run_one(&[("Authorization", AUTH), ("X-AKSK", &token(&long_ok, CREATED))]),
        "ok"
    );
    assert_eq!(
        run_one(&[("Authorization", AUTH), ("X-AKSK", &token("Az09", CREATED))]),
        "ok"
    );
    for bad in [
        too_long.as_str(),
        "a-b",
        "a_b",
        "a b",
        "\u{e9}t\u{e9}",
        "abc=",
        "a+b/",
    ] {
        assert_eq!(
            run_one(&[("Authorization", AUTH), ("X-AKSK", &token(bad, CREATED))]),
            "1020176",
            "{bad}"
        );
    }
}

#[test]
fn created_form_and_skew() {
    assert_eq!(
        run_one(&[
            ("Authorization", AUTH),
            ("X-AKSK", &token("n", "2018-02-12 15:30:20"))
        ]),
        "1020176"
    );
    assert_eq!(
        run_one(&[
            ("Authorization", AUTH),
            ("X-AKSK", &token("n", "2018-02-30T15:30:20Z"))
        ]),
        "1020176"
    );
    let a = auth();
    let at = |offset: i64, nonce: &str| {
        let created = format_created(UnixTime(NOW.0 + offset));
        code(a.authenticate(
            &headers(&[("Authorization", AUTH), ("X-AKSK", &token(nonce, &created))]),
            NOW,
            lookup,
        ))
    };
    assert_eq!(at(300, "a"), "ok");
    assert_eq!(at(-300, "b"), "ok");
    assert_eq!(at(301, "c"), "1020176");
    assert_eq!(at(-301, "d"), "1020176");
    let failure = a
        .authenticate(
            &headers(&[
                ("Authorization", AUTH),
                ("X-AKSK", &token("e", "2018-02-12T15:35:21Z")),
            ]),
            NOW,
            lookup,
        )
        .unwrap_err();
    assert!(
        failure.desc.contains("2018-02-12T15:35:21Z") && failure.desc.contains("clock skew"),
        "{}",
        failure.desc
    );
}

#[test]
fn zero_skew_accepts_only_the_same_second() {
    let a = Authenticator::new(AuthConfig {
        max_skew_secs: 0,
        ..AuthConfig::default()
    });
    assert_eq!(
        run(&a, &[("Authorization", AUTH), ("X-AKSK", &token("a", CREATED))]),
        "ok"
    );
    let next = format_created(UnixTime(NOW.0 + 1));
    assert_eq!(
        run(&a, &[("Authorization", AUTH), ("X-AKSK", &token("b", &next))]),
        "1020176"
    );
}

#[test]
fn app_checks() {
    let a = auth();
    let [(n1, v1), (n2, v2)] = aksk_headers("other", SECRET, "n", CREATED);
    assert_eq!(run(&a, &[(n1, &v1), (n2, &v2)]), "1010003");
    let map = headers(&[("Authorization", AUTH), ("X-AKSK", &token("n", CREATED))]);
    assert_eq!(code(a.authenticate(&map, NOW, |_| Some(app(false)))), "1010004");
    // The lookup receives the Username as sent.
    let mut seen = String::new();
    let _ = a.authenticate(&map, NOW, |k| {
        seen = k.to_owned();
        None
    });
    assert_eq!(seen, KEY);
}

#[test]
fn wrong_digest_1020176() {
    let a = auth();
    let wrong_secret = aksk_headers(KEY, "not-the-secret", "n", CREATED);
    assert_eq!(
        run(
            &a,
            &[
                (wrong_secret[0].0, &wrong_secret[0].1),
                (wrong_secret[1].0, &wrong_secret[1].1)
            ]
        ),
        "1020176"
    );
    // A WSSE digest under the AKSK scheme.
    let wsse = wsse_digest(SECRET, "n", CREATED);
    let value =
        format!(r#"UsernameToken Username="{KEY}",PasswordDigest="{wsse}",Nonce="n",Created="{CREATED}""#);
    assert_eq!(run(&a, &[("Authorization", AUTH), ("X-AKSK", &value)]), "1020176");
    // The digest covers Created: a different Created with the old digest fails.
    let digest = aksk_digest(SECRET, "n", CREATED);
    let value = format!(
        r#"UsernameToken Username="{KEY}",PasswordDigest="{digest}",Nonce="n",Created="2018-02-12T15:30:21Z""#
    );
    assert_eq!(run(&a, &[("Authorization", AUTH), ("X-AKSK", &value)]), "1020176");
    // Truncated, padded-away and case-changed digests fail.
    for bad in [
        &digest[..digest.len() - 1],
        digest.trim_end_matches('='),
        &digest.to_ascii_lowercase(),
    ] {
        let value =
            format!(r#"UsernameToken Username="{KEY}",PasswordDigest="{bad}",Nonce="n",Created="{CREATED}""#);
        assert_eq!(run(&a, &[("Authorization", AUTH), ("X-AKSK", &value)]), "1020176");
    }
    // None of those burned the nonce.
    assert_eq!(
        run(&a, &[("Authorization", AUTH), ("X-AKSK", &token("n", CREATED))]),
        "ok"
    );
}

#[test]
fn replay_is_accepted_once() {
    let a = auth();
    let pairs = [
        ("Authorization", AUTH.to_owned()),
        ("X-AKSK", token("once", CREATED)),
    ];
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(run(&a, &pairs), "ok");
    let again = a.authenticate(&headers(&pairs), NOW, lookup).unwrap_err();
    assert_eq!(again.code, ResultCode::AUTH_FAILED);
    assert!(again.desc.contains("nonce replayed"), "{}", again.desc);
    // Same nonce, later Created, still inside the window: a replay too.
    let later = format_created(UnixTime(NOW.0 + 10));
    let later_now = UnixTime(NOW.0 + 10);
    let map = headers(&[("Authorization", AUTH), ("X-AKSK", &token("once", &later))]);
    assert_eq!(code(a.authenticate(&map, later_now, lookup)), "1020176");
    // Another nonce is fine; so is the same nonce under another app.
    assert_eq!(
        run(
            &a,
            &[("Authorization", AUTH), ("X-AKSK", &token("twice", CREATED))]
        ),
        "ok"
    );
    let [(n1, v1), (n2, v2)] = aksk_headers("key2", SECRET, "once", CREATED);
    let map = headers(&[(n1, &v1), (n2, &v2)]);
    let other = |k: &str| {
        (k == "key2").then(|| App {
            app_key: "key2".into(),
            ..app(true)
        })
    };
    assert_eq!(code(a.authenticate(&map, NOW, other)), "ok");
    // After the window, the old Created is refused as skewed, and the nonce may be used afresh.
    let much_later = UnixTime(NOW.0 + 301);
    assert_eq!(
        code(a.authenticate(&headers(&pairs), much_later, lookup)),
        "1020176"
    );
    let fresh = format_created(much_later);
    let map = headers(&[("Authorization", AUTH), ("X-AKSK", &token("once", &fresh))]);
    assert_eq!(code(a.authenticate(&map, much_later, lookup)), "ok");
}

#[test]
fn full_replay_cache_refuses() {
    let a = Authenticator::new(AuthConfig {
        replay_window_cap: 2,
        ..AuthConfig::default()
    });
    assert_eq!(
        run(&a, &[("Authorization", AUTH), ("X-AKSK", &token("a", CREATED))]),
        "ok"
    );
    assert_eq!(
        run(&a, &[("Authorization", AUTH), ("X-AKSK", &token("b", CREATED))]),
        "ok"
    );
    let full = a
        .authenticate(
            &headers(&[("Authorization", AUTH), ("X-AKSK", &token("c", CREATED))]),
            NOW,
            lookup,
        )
        .unwrap_err();
    assert_eq!(full.code, ResultCode::AUTH_FAILED);
    assert!(full.desc.contains("replay cache full"), "{}", full.desc);
    // Replays are still caught while full.
    let again = a.authenticate(
        &headers(&[("Authorization", AUTH), ("X-AKSK", &token("a", CREATED))]),
        NOW,
        lookup,
    );
    assert!(again.unwrap_err().desc.contains("nonce replayed"));
}

#[test]
fn wsse_scheme() {
    let a = auth();
    let [(n1, v1), (n2, v2)] = wsse_headers(KEY, SECRET, "w1", CREATED);
    assert_eq!(n1, "Authorization");
    assert_eq!(v1, r#"WSSE realm="SDP",profile="UsernameToken",type="Appkey""#);
    assert_eq!(n2, "X-WSSE");
    assert_eq!(run(&a, &[(n1, &v1), (n2, &v2)]), "ok");
    assert_eq!(run(&a, &[(n1, &v1), (n2, &v2)]), "1020176");
    // An AKSK digest under the WSSE scheme fails.
    let aksk = token("w2", CREATED);
    assert_eq!(run(&a, &[(n1, &v1), ("X-WSSE", &aksk)]), "1020176");
    // The nonce memory is shared by both schemes.
    let [(m1, u1), (m2, u2)] = aksk_headers(KEY, SECRET, "w1", CREATED);
    assert_eq!(run(&a, &[(m1, &u1), (m2, &u2)]), "1020176");
    // Realm/profile/type rules apply to WSSE too.
    assert_eq!(
        run(&a, &[("Authorization", "WSSE realm=\"SDP\""), (n2, &v2)]),
        "1023008"
    );
}

#[test]
fn first_header_wins() {
    let a = auth();
    let map = headers(&[
        ("Authorization", AUTH),
        ("Authorization", "Bearer x"),
        ("X-AKSK", &token("f1", CREATED)),
        ("X-AKSK", "garbage"),
    ]);
    assert_eq!(code(a.authenticate(&map, NOW, lookup)), "ok");
}

/// Deterministic pseudo-random header values (xorshift) never panic and never authenticate.
#[test]
fn garbage_never_panics() {
    let a = auth();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: &[u8] =
        b" \t,=\"AKSKWSErealmSDPprofileUsernameTokentypeAppkeyNonceCreatedPasswordDigest019Z:-T\x80\xff";
    for _ in 0..20_000 {
        let make = |next: &mut dyn FnMut() -> u64| {
            let len = (next() % 80) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect::<Vec<u8>>()
        };
        let mut auth_value = make(&mut next);
        if next() % 2 == 0 {
            auth_value.splice(0..0, b"AKSK ".iter().copied());
        }
        let mut token_value = make(&mut next);
        if next() % 2 == 0 {
            token_value.splice(0..0, b"UsernameToken ".iter().copied());
        }
        let mut map = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&auth_value) {
            map.insert("authorization", v);
        }
        if let Ok(v) = HeaderValue::from_bytes(&token_value) {
            map.insert("x-aksk", v.clone());
            map.insert("x-wsse", v);
        }
        assert!(a.authenticate(&map, NOW, lookup).is_err());
    }
}

#[test]
fn admin_token() {
    assert!(verify_admin_token("t0k3n", Some("Bearer t0k3n")));
    assert!(verify_admin_token("t0k3n", Some("bearer   t0k3n ")));
    assert!(!verify_admin_token("t0k3n", Some("Bearer t0k3")));
    assert!(!verify_admin_token("t0k3n", Some("Bearer t0k3nn")));
    assert!(!verify_admin_token("t0k3n", Some("Basic t0k3n")));
    assert!(!verify_admin_token("t0k3n", Some("t0k3n")));
    assert!(!verify_admin_token("t0k3n", Some("Bearer")));
    assert!(!verify_admin_token("t0k3n", Some("")));
    assert!(!verify_admin_token("t0k3n", None));
    assert!(!verify_admin_token("", Some("Bearer ")));
    assert!(!verify_admin_token("", Some("Bearer")));
    assert!(!verify_admin_token("", None));
}

#[test]
fn config_defaults_and_strictness() {
    let c: AuthConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(
        (c.max_skew_secs, c.allow_wsse, c.replay_window_cap),
        (300, true, 2_000_000)
    );
    let c: AuthConfig = serde_json::from_str(r#"{"max_skew_secs": 60, "allow_wsse": false}"#).unwrap();
    assert_eq!(
        (c.max_skew_secs, c.allow_wsse, c.replay_window_cap),
        (60, false, 2_000_000)
    );
    assert!(serde_json::from_str::<AuthConfig>(r#"{"max_skew": 60}"#).is_err());
}

#[test]
fn parse_params_shapes() {
    assert_eq!(parse_params(""), Ok(vec![]));
    assert_eq!(parse_params(" , ,"), Ok(vec![]));
    assert_eq!(
        parse_params(r#"a="x=y==",b = "" , c=tok"#),
        Ok(vec![("a", "x=y=="), ("b", ""), ("c", "tok")])
    );
    assert!(parse_params(r#"a="x"b="y""#).is_err());
    assert!(parse_params("a=").is_ok());
    assert!(parse_params(&"a=1,".repeat(20).replace("a=1", "x")).is_err());
    let many = (0..17).fold(String::new(), |acc, i| acc + "p" + &i.to_string() + "=v,");
    assert!(parse_params(&many).is_err());
}

#[test]
fn authenticator_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Authenticator>();
}
