//! Push signatures (reference §0.1): the same `Authorization` + `X-AKSK` headers as the API's requests, made
//! with the app's secret, or the legacy `X-WSSE` where the app asks for it. The digests are pn-api's, so a
//! push verifies with exactly the code that verifies requests.

use pn_bindings::{App, PushAuth, UnixTime};
use rand::Rng;
use rand::distr::Alphanumeric;

/// Length of a push's `Nonce` (the reference allows 1–128 of `[0-9A-Za-z]`).
const NONCE_LEN: usize = 32;

/// The two signature headers of a push from `app`, made at `now`.
pub fn headers(app: &App, now: UnixTime) -> [(&'static str, String); 2] {
    let nonce: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(NONCE_LEN)
        .map(char::from)
        .collect();
    let created = pn_api::auth::format_created(now);
    match app.push.auth {
        PushAuth::Aksk => pn_api::auth::aksk_headers(&app.app_key, &app.app_secret, &nonce, &created),
        PushAuth::Wsse => pn_api::auth::wsse_headers(&app.app_key, &app.app_secret, &nonce, &created),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pn_bindings::{AppId, AppMedia, AppPush, Mode};

    fn app(auth: PushAuth) -> App {
        App {
            id: AppId(1),
            name: "a".into(),
            mode: Mode::Axb,
            app_key: "key1".into(),
            app_secret: "secret1".into(),
            call_status_url: None,
            cdr_url: None,
            sms_url: None,
            record_enabled: false,
            sms_enabled: false,
            extension_digits: 0,
            collect_repeat: 3,
            enabled: true,
            created_at: UnixTime(0),
            media: AppMedia::default(),
            push: AppPush {
                auth,
                ..AppPush::default()
            },
            controls: pn_bindings::AppControls::default(),
            allow_national_numbers: false,
        }
    }

    fn field<'a>(token: &'a str, name: &str) -> &'a str {
        let start = token.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let len = token[start..].find('"').unwrap();
        &token[start..start + len]
    }

    #[test]
    fn aksk_push_verifies_with_the_apps_secret_and_nonces_differ() {
        let a = app(PushAuth::Aksk);
        let [(auth_name, auth), (token_name, token)] = headers(&a, UnixTime(1_700_000_000));
        assert_eq!(auth_name, "Authorization");
        assert!(auth.starts_with("AKSK realm=\"SDP\""), "{auth}");
        assert_eq!(token_name, "X-AKSK");
        assert_eq!(field(&token, "Username"), "key1");
        assert_eq!(field(&token, "Created"), "2023-11-14T22:13:20Z");
        let nonce = field(&token, "Nonce");
        assert_eq!(nonce.len(), 32);
        assert!(nonce.chars().all(|c| c.is_ascii_alphanumeric()));
        let expected = pn_api::auth::aksk_digest("secret1", nonce, "2023-11-14T22:13:20Z");
        assert_eq!(field(&token, "PasswordDigest"), expected);
        let [_, (_, other)] = headers(&a, UnixTime(1_700_000_000));
        assert_ne!(field(&other, "Nonce"), nonce);
    }

    #[test]
    fn wsse_apps_get_the_legacy_headers() {
        let [(_, auth), (token_name, token)] = headers(&app(PushAuth::Wsse), UnixTime(0));
        assert!(auth.starts_with("WSSE realm=\"SDP\""), "{auth}");
        assert_eq!(token_name, "X-WSSE");
        let expected = pn_api::auth::wsse_digest("secret1", field(&token, "Nonce"), field(&token, "Created"));
        assert_eq!(field(&token, "PasswordDigest"), expected);
    }
}
