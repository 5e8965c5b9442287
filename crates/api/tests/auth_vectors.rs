//! Known-answer vectors for the request signatures (reference §0.1), and a concurrency smoke test of the
//! replay memory through the public API.
//!
//! The expected digests were computed independently with Python's standard library:
//!
//! ```text
//! python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b"secret", b"nonce"+b"2018-02-12T15:30:20Z", hashlib.sha256).digest()).decode())'
//! python3 -c 'import hashlib,base64; print(base64.b64encode(hashlib.sha256(b"nonce"+b"2018-02-12T15:30:20Z"+b"secret").digest()).decode())'
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use pn_api::auth::{
    AuthConfig, Authenticator, aksk_digest, aksk_headers, format_created, parse_created, wsse_digest,
    wsse_headers,
};
use pn_bindings::{App, AppId, Mode, UnixTime};

/// (secret, nonce, created, HMAC-SHA256 digest, SHA-256 WSSE digest)
const VECTORS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "secret",
        "nonce",
        "2018-02-12T15:30:20Z",
        "ndO0lIczok194zwir1OGhKqythK7OqpFsRorAhHUbZM=",
        "ZpbTb2QP1APZkh+v8Bz7qRIAFAiEPkJzpJeaPThWK5M=",
    ),
    (
        "a1d1f50cad0b4e8e8b1a5a2f1d7c3e9b",
        "66C92B11FF8A425FB8D4CCFE0ED9ED1F",
        "2024-03-01T00:00:00Z",
        "fhbW2BaaN1j6k9DVKW5zM82XkLMMQ9m9ZW4kRuF77co=",
        "",
    ),
    (
        "",
        "x",
        "1970-01-01T00:00:00Z",
        "PAiTXN0m3PYrDri3+GsLy8vJbntBEPpWLTapruF0KZo=",
        "",
    ),
];

fn app(key: &str, secret: &str) -> App {
    App {
        id: AppId(7),
        name: "kat".into(),
        mode: Mode::Ax,
        app_key: key.into(),
        app_secret: secret.into(),
        call_status_url: None,
        cdr_url: None,
        sms_url: None,
        record_enabled: false,
        sms_enabled: false,
        extension_digits: 0,
        collect_repeat: 3,
        enabled: true,
        created_at: UnixTime(0),
        media: pn_bindings::AppMedia::default(),
        push: pn_bindings::AppPush::default(),
        controls: pn_bindings::AppControls::default(),
        allow_national_numbers: false,
    }
}

/// The header pairs as a request's `HeaderMap`.
fn to_map(pairs: &[(&'static str, String)]) -> Result<HeaderMap, axum::http::Error> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    Ok(map)
}

#[test]
fn aksk_known_answers() {
    for &(secret, nonce, created, hmac, _) in VECTORS {
        assert_eq!(
            aksk_digest(secret, nonce, created),
            hmac,
            "{secret}/{nonce}/{created}"
        );
    }
}

#[test]
fn wsse_known_answer() {
    let (secret, nonce, created, _, sha) = VECTORS[0];
    assert_eq!(wsse_digest(secret, nonce, created), sha);
}

#[test]
fn header_shapes() {
    let [(a, auth), (x, token)] = aksk_headers("key", "secret", "nonce", "2018-02-12T15:30:20Z");
    assert_eq!(a, "Authorization");
    assert_eq!(auth, r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#);
    assert_eq!(x, "X-AKSK");
    assert_eq!(
        token,
        r#"UsernameToken Username="key",PasswordDigest="ndO0lIczok194zwir1OGhKqythK7OqpFsRorAhHUbZM=",Nonce="nonce",Created="2018-02-12T15:30:20Z""#
    );
    let [(a, auth), (x, token)] = wsse_headers("key", "secret", "nonce", "2018-02-12T15:30:20Z");
    assert_eq!(a, "Authorization");
    assert_eq!(auth, r#"WSSE realm="SDP",profile="UsernameToken",type="Appkey""#);
    assert_eq!(x, "X-WSSE");
    assert_eq!(
        token,
        r#"UsernameToken Username="key",PasswordDigest="ZpbTb2QP1APZkh+v8Bz7qRIAFAiEPkJzpJeaPThWK5M=",Nonce="nonce",Created="2018-02-12T15:30:20Z""#
    );
}

#[test]
fn known_vector_authenticates() {
    let a = Authenticator::new(AuthConfig::default());
    let now = parse_created("2018-02-12T15:30:20Z").unwrap();
    assert_eq!(now, UnixTime(1_518_449_420));
    assert_eq!(format_created(now), "2018-02-12T15:30:20Z");
    let map = to_map(&aksk_headers("key", "secret", "nonce", "2018-02-12T15:30:20Z")).unwrap();
    let got = a
        .authenticate(&map, now, |k| (k == "key").then(|| app("key", "secret")))
        .unwrap();
    assert_eq!(got.id, AppId(7));
    let map = to_map(&wsse_headers("key", "secret", "nonce2", "2018-02-12T15:30:20Z")).unwrap();
    assert!(
        a.authenticate(&map, now, |k| (k == "key").then(|| app("key", "secret")))
            .is_ok()
    );
}

#[test]
fn concurrent_distinct_nonces_all_accepted_and_shared_nonce_once() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 2_000;
    let auth = Arc::new(Authenticator::new(AuthConfig::default()));
    let now = UnixTime(1_900_000_000);
    let accepted_shared = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let auth = Arc::clone(&auth);
            let accepted_shared = Arc::clone(&accepted_shared);
            std::thread::spawn(move || {
                let lookup = |k: &str| (k == "key").then(|| app("key", "secret"));
                let mut ok = 0;
                for i in 0..PER_THREAD {
                    // Spread Created over the window too.
                    let created = format_created(UnixTime(now.0 - 300 + (i as i64 % 601)));
                    let nonce = format!("t{t}n{i}");
                    let map = to_map(&aksk_headers("key", "secret", &nonce, &created)).unwrap();
                    ok += usize::from(auth.authenticate(&map, now, lookup).is_ok());
                    // Every thread also races on the same shared nonces.
                    if i % 100 == 0 {
                        let shared = format!("shared{i}");
                        let map =
                            to_map(&aksk_headers("key", "secret", &shared, &format_created(now))).unwrap();
                        if auth.authenticate(&map, now, lookup).is_ok() {
                            accepted_shared.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let accepted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(accepted, THREADS * PER_THREAD);
    // Each of the PER_THREAD / 100 shared nonces was accepted by exactly one thread.
    assert_eq!(accepted_shared.load(Ordering::Relaxed), PER_THREAD / 100);
}
