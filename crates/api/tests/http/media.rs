//! Media: the prompt library (admin upload/list/get/delete), bind-time prompt checks, bypass-mode refusals,
//! app media settings, callback records from calls, per-binding media in the routing table, and recording
//! download through signed URLs.

// caller/called and the mode names (axb, axyb) are the domain's words; a, b, x are the reference's parties.
#![allow(clippy::similar_names, clippy::many_single_char_names)]

use std::time::{Duration, SystemTime};

use pn_bindings::{BindingId, BindingMedia, CallbackRecord};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RETENTION_SECS, Server, TestApp, URL_TTL_SECS, assert_code, assert_ok};

const AXB: &str = "/rest/caas/relationnumber/partners/v1.0";
const AX: &str = "/rest/provision/caas/privatenumber/v1.0";
const AXE: &str = "/rest/caas/extendnumber/v1.0";
const AXYB: &str = "/rest/omp/xyrelationnumber/v1.0";
const RECORD: &str = "/rest/provision/voice/record/v1.0";

/// A WAV file: `format` 6 A-law, 7 µ-law, 1 PCM.
fn wav(format: u16, channels: u16, rate: u32, bits: u16, samples: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + samples as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    let block = channels * bits / 8;
    v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(samples as u32).to_le_bytes());
    v.extend((0..samples).map(|i| (i % 251) as u8));
    v
}

fn alaw(samples: usize) -> Vec<u8> {
    wav(6, 1, 8000, 8, samples)
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(bytes)))
}

async fn put_prompt(s: &Server, app: &TestApp, name: &str, body: Vec<u8>) -> (u16, Value) {
    let (status, _, bytes) = s
        .admin_bytes(
            Method::PUT,
            &format!("/admin/v1/apps/{}/prompts/{name}", app.key),
            Some(body),
        )
        .await;
    (status, json_of(&bytes))
}

/// The binding id behind a call from `caller` to `called` (through the admin route trace).
async fn traced(s: &Server, caller: &str, called: &str, ext: Option<&str>) -> Value {
    let ext = ext.map(|e| format!("&extension={e}")).unwrap_or_default();
    let path = format!(
        "/admin/v1/route?caller={}&called={}{ext}",
        caller.replace('+', "%2B"),
        called.replace('+', "%2B")
    );
    let r = s.admin(Method::GET, &path, None).await;
    assert_eq!(r.0, 200, "{r:?}");
    r.1
}

async fn binding_id(s: &Server, caller: &str, called: &str) -> BindingId {
    let t = traced(s, caller, called, None).await;
    BindingId(t["bindingId"].as_u64().unwrap_or_else(|| panic!("{t}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_library_upload_list_get_delete() {
    let s = Server::start().await;
    let app = s.app("AXB", json!({})).await;

    // Valid A-law and µ-law uploads (any Content-Type; the body is the file).
    let a = alaw(8000);
    let r = put_prompt(&s, &app, "greeting.wav", a.clone()).await;
    assert_ok(&r);
    assert_eq!(
        (
            &r.1["prompt"]["law"],
            &r.1["prompt"]["durationMs"],
            &r.1["prompt"]["shipped"]
        ),
        (&json!("alaw"), &json!(1000), &json!(false))
    );
    let u = wav(7, 1, 8000, 8, 4000);
    let r = put_prompt(&s, &app, "wait-2.wav", u.clone()).await;
    assert_ok(&r);
    assert_eq!(r.1["prompt"]["law"], "ulaw");

    // Invalid files: HTTP 400, 1010002, saying what is wrong.
    for (body, why) in [
        (wav(6, 2, 8000, 8, 800), "2 channels"),
        (wav(6, 1, 16_000, 8, 800), "sample rate 16000"),
        (wav(1, 1, 8000, 16, 800), "format PCM"),
        (b"not a wav file".to_vec(), "WAV"),
        (alaw(2 * 1024 * 1024), "at most 2097152 bytes"),
    ] {
        let r = put_prompt(&s, &app, "bad.wav", body).await;
        assert_eq!((r.0, r.1["resultcode"].as_str()), (400, Some("1010002")), "{r:?}");
        let desc = r.1["resultdesc"].as_str().unwrap();
        assert!(desc.starts_with("Invalid request. "), "{desc}");
        assert!(desc.contains(why), "{why}: {desc}");
    }
    let r = put_prompt(&s, &app, "sixteen.wav", wav(6, 1, 16_000, 8, 800)).await;
    assert_eq!(
        r.1["resultdesc"],
        "Invalid request. prompt must be 8 kHz mono A-law or µ-law WAV: sample rate 16000"
    );
    for name in [
        "bad%20name.wav",
        "x.mp3",
        "a..b",
        &format!("{}.wav", "n".repeat(65)),
    ] {
        let r = put_prompt(&s, &app, name, alaw(80)).await;
        assert_eq!(
            (r.0, r.1["resultcode"].as_str()),
            (400, Some("1010002")),
            "{name}: {r:?}"
        );
        assert!(
            r.1["resultdesc"].as_str().unwrap().contains("prompt name"),
            "{r:?}"
        );
    }
    // Over the route's body limit (2 MB + 64 KiB): 413 1020001. Only just over, so the client has sent the
    // whole body by the time the server answers (a far larger body can meet a reset while still sending).
    let r = put_prompt(&s, &app, "huge.wav", alaw(2 * 1024 * 1024 + 64 * 1024 + 1000)).await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (413, Some("1020001")), "{r:?}");
    // Unknown app, no token.
    let r = s
        .admin_bytes(Method::PUT, "/admin/v1/apps/nope/prompts/a.wav", Some(alaw(80)))
        .await;
    assert_eq!(json_of(&r.2)["resultcode"], "1012007");
    let r = s
        .bytes(
            Method::PUT,
            &format!("/admin/v1/apps/{}/prompts/a.wav", app.key),
            &[],
            Some(alaw(80)),
        )
        .await;
    assert_eq!(r.0, 401);

    // List: uploads first, then the shipped defaults marked as such.
    let r = s
        .admin(Method::GET, &format!("/admin/v1/apps/{}/prompts", app.key), None)
        .await;
    assert_ok(&r);
    let list = r.1["prompts"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..2], ["greeting.wav", "wait-2.wav"]);
    assert_eq!(list.len(), 2 + pn_media::prompts::DEFAULT_PROMPTS.len());
    assert!(list[2..].iter().all(|p| p["shipped"] == true));
    assert!(names.contains(&"no_permission.wav"));

    // Get: the exact bytes; a shipped default; a missing one.
    let (status, headers, body) = s
        .admin_bytes(
            Method::GET,
            &format!("/admin/v1/apps/{}/prompts/wait-2.wav", app.key),
            None,
        )
        .await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "audio/wav")
    );
    assert_eq!(body, u);
    let (status, _, body) = s
        .admin_bytes(
            Method::GET,
            &format!("/admin/v1/apps/{}/prompts/record_notice.wav", app.key),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        pn_media::prompts::default_prompt("record_notice.wav").unwrap()
    );
    let (status, _, body) = s
        .admin_bytes(
            Method::GET,
            &format!("/admin/v1/apps/{}/prompts/none.wav", app.key),
            None,
        )
        .await;
    assert_eq!(
        (status, json_of(&body)["resultcode"].as_str()),
        (404, Some("1012007"))
    );

    // Replace, then delete; a shipped prompt cannot be deleted.
    assert_ok(&put_prompt(&s, &app, "greeting.wav", alaw(160)).await);
    assert_eq!(
        s.prompts
            .get(s.engine.app_by_key(&app.key).unwrap().id, "greeting.wav")
            .unwrap()
            .samples
            .len(),
        160
    );
    let del = |name: &str| {
        let path = format!("/admin/v1/apps/{}/prompts/{name}", app.key);
        let s = &s;
        async move { s.admin(Method::DELETE, &path, None).await }
    };
    assert_ok(&del("greeting.wav").await);
    assert_code(&del("greeting.wav").await, "1012007", "greeting.wav");
    assert_code(&del("no_permission.wav").await, "1012007", "no_permission.wav");

    // Uploads survive a restart.
    let s = s.restart().await;
    let (status, _, body) = s
        .admin_bytes(
            Method::GET,
            &format!("/admin/v1/apps/{}/prompts/wait-2.wav", app.key),
            None,
        )
        .await;
    assert_eq!((status, body), (200, u));
    let (status, _, _) = s
        .admin_bytes(
            Method::GET,
            &format!("/admin/v1/apps/{}/prompts/greeting.wav", app.key),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_check_that_prompts_exist() {
    let s = Server::start().await;
    let axb = s.app("AXB", json!({"recordEnabled": true})).await;
    s.numbers(&axb, &[("+8617010000001", "0755")]).await;
    assert_ok(&put_prompt(&s, &axb, "mine.wav", alaw(800)).await);

    // A missing prompt: the reference's wording.
    let bind = |extra: Value| {
        let mut b = json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let r = s
        .call(
            &axb,
            Method::POST,
            AXB,
            Some(bind(json!({"preVoice": {"calleeHintTone": "lastMinVoice.wav"}}))),
        )
        .await;
    assert_eq!((r.0, r.1["resultcode"].as_str()), (403, Some("1010002")), "{r:?}");
    assert_eq!(
        r.1["resultdesc"],
        "Invalid request.lastMinVoice.wav does not exist."
    );
    for field in [
        json!({"recordFlag": "true", "recordHintTone": "nope.wav"}),
        json!({"maxDuration": 10, "lastMinVoice": "nope.wav"}),
        json!({"preVoice": {"callerHintTone": "nope.wav"}}),
    ] {
        assert_code(
            &s.call(&axb, Method::POST, AXB, Some(bind(field))).await,
            "1010002",
            "nope.wav does not exist.",
        );
    }
    // Another app's upload does not count.
    let other = s.app("AXB", json!({})).await;
    assert_ok(&put_prompt(&s, &other, "theirs.wav", alaw(800)).await);
    assert_code(
        &s.call(
            &axb,
            Method::POST,
            AXB,
            Some(bind(json!({"preVoice": {"callerHintTone": "theirs.wav"}}))),
        )
        .await,
        "1010002",
        "theirs.wav does not exist.",
    );

    // The app's upload and a shipped default work.
    let r = s
        .call(
            &axb,
            Method::POST,
            AXB,
            Some(bind(json!({"preVoice": {"callerHintTone": "mine.wav", "calleeHintTone": "please_wait.wav"},
                "recordFlag": "true", "recordHintTone": "record_notice.wav", "maxDuration": 10, "lastMinVoice": "last_minute.wav"}))),
        )
        .await;
    assert_ok(&r);
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    let id = binding_id(&s, "+8613800000001", "+8617010000001").await;
    assert_eq!(
        s.table.binding_media(id).as_deref(),
        Some(&BindingMedia {
            caller_hint_from_a: Some("mine.wav".into()),
            caller_hint_to_a: Some("mine.wav".into()),
            callee_hint: Some("please_wait.wav".into()),
            record_hint: Some("record_notice.wav".into()),
            last_min_voice: Some("last_minute.wav".into()),
        })
    );

    // Modify: a missing name is refused; "" clears; the table follows.
    assert_code(
        &s.call(
            &axb,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "lastMinVoice": "gone.wav"})),
        )
        .await,
        "1010002",
        "gone.wav does not exist.",
    );
    assert_ok(
        &s.call(
            &axb,
            Method::PUT,
            AXB,
            Some(
                json!({"subscriptionId": sub, "recordFlag": "false", "lastMinVoice": "",
                "preVoice": {"callerHintTone": "", "calleeHintTone": ""}}),
            ),
        )
        .await,
    );
    assert_eq!(s.table.binding_media(id), None);
    assert_ok(
        &s.call(
            &axb,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "preVoice": {"calleeHintTone": "mine.wav"}})),
        )
        .await,
    );
    assert_eq!(
        s.table.binding_media(id).unwrap().callee_hint.as_deref(),
        Some("mine.wav")
    );
    // Survives a restart (startup load), then unbind removes it.
    let s = s.restart().await;
    assert_eq!(
        s.table.binding_media(id).unwrap().callee_hint.as_deref(),
        Some("mine.wav")
    );
    assert_eq!(s.loaded.with_media, 1);
    assert_ok(
        &s.call(&axb, Method::DELETE, &format!("{AXB}?subscriptionId={sub}"), None)
            .await,
    );
    assert_eq!(s.table.binding_media(id), None);

    // AX: lastMinVoice; AXE: callbackTone; AXYB: preVoiceX/Y, inherited by relations.
    let ax = s.app("AX", json!({})).await;
    s.numbers(&ax, &[("+8617020000001", "0755")]).await;
    let b = json!({"origNum": "+8613800000011", "privateNum": "+8617020000001", "maxDuration": 5, "lastMinVoice": "x.wav"});
    assert_code(
        &s.call(&ax, Method::POST, AX, Some(b)).await,
        "1010002",
        "x.wav does not exist.",
    );
    let b = json!({"origNum": "+8613800000011", "privateNum": "+8617020000001", "maxDuration": 5, "lastMinVoice": "last_minute.wav"});
    assert_ok(&s.call(&ax, Method::POST, AX, Some(b)).await);
    let id = binding_id(&s, "+8613900000099", "+8617020000001").await;
    assert_eq!(
        s.table.binding_media(id).unwrap().last_min_voice.as_deref(),
        Some("last_minute.wav")
    );

    let axe = s.app("AXE", json!({"extensionDigits": 2})).await;
    s.numbers(&axe, &[("+8617030000001", "0755")]).await;
    let b = json!({"bindNum": "+8613800000021", "virtualNum": "+8617030000001", "callbackTone": "cb.wav"});
    assert_code(
        &s.call(&axe, Method::POST, AXE, Some(b)).await,
        "1010002",
        "cb.wav does not exist.",
    );
    let b = json!({"bindNum": "+8613800000021", "virtualNum": "+8617030000001", "callbackTone": "no_callback.wav"});
    let r = s.call(&axe, Method::POST, AXE, Some(b)).await;
    assert_ok(&r);
    let axe_sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    assert_code(
        &s.call(
            &axe,
            Method::PUT,
            AXE,
            Some(json!({"subscriptionId": axe_sub, "callbackTone": "cb2.wav"})),
        )
        .await,
        "1010002",
        "cb2.wav does not exist.",
    );

    let axyb = s.app("AXYB", json!({})).await;
    s.numbers(&axyb, &[("+8617040000001", "0755"), ("+8617040000002", "0755")])
        .await;
    let path = format!("{AXYB}?app_key={}", axyb.key);
    let b = json!({"origNum": "+8613800000031", "relationNum": "+8617040000001", "preVoiceY": "y.wav"});
    assert_code(
        &s.call(&axyb, Method::POST, &path, Some(b)).await,
        "1010002",
        "y.wav does not exist.",
    );
    let b = json!({"origNum": "+8613800000031", "relationNum": "+8617040000001", "preVoiceX": "please_wait.wav",
        "preVoiceY": "no_binding.wav", "calleeNum": "+8613900000031"});
    assert_ok(&s.call(&axyb, Method::POST, &path, Some(b)).await);
    // A calls Y (the relation): preVoiceY; B calls X: preVoiceX.
    let rel = binding_id(&s, "+8613800000031", "+8617040000002").await;
    assert_eq!(binding_id(&s, "+8613900000031", "+8617040000001").await, rel);
    let m = s.table.binding_media(rel).unwrap();
    assert_eq!(
        (m.caller_hint_from_a.as_deref(), m.caller_hint_to_a.as_deref()),
        (Some("no_binding.wav"), Some("please_wait.wav"))
    );
    let s = s.restart().await;
    let m = s.table.binding_media(rel).unwrap();
    assert_eq!(m.caller_hint_from_a.as_deref(), Some("no_binding.wav"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_mode_refuses_what_needs_media() {
    let s = Server::start_bypass().await;
    let relay = "needs the media relay ([media] mode = \"relay\")";
    // App create/update with prompts is allowed.
    let axb = s
        .app(
            "AXB",
            json!({"recordEnabled": true, "noBindingPrompt": "no_binding.wav"}),
        )
        .await;
    s.numbers(&axb, &[("+8617010000001", "0755")]).await;
    let bind = |extra: Value| {
        let mut b = json!({"relationNum": "+8617010000001", "callerNum": "+8613800000001", "calleeNum": "+8613800000002"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    for (extra, field) in [
        (json!({"recordFlag": "true"}), "recordFlag"),
        (
            json!({"maxDuration": 5, "lastMinVoice": "last_minute.wav"}),
            "lastMinVoice",
        ),
        (
            json!({"preVoice": {"callerHintTone": "please_wait.wav"}}),
            "preVoice.callerHintTone",
        ),
    ] {
        let r = s.call(&axb, Method::POST, AXB, Some(bind(extra))).await;
        assert_eq!(r.1["resultcode"], "1010002", "{r:?}");
        assert_eq!(r.1["resultdesc"], format!("Invalid request. {field} {relay}"));
    }
    // Without media it binds; modify refuses media fields but not others.
    let r = s
        .call(
            &axb,
            Method::POST,
            AXB,
            Some(bind(
                json!({"recordFlag": "false", "preVoice": {"callerHintTone": ""}}),
            )),
        )
        .await;
    assert_ok(&r);
    let sub = r.1["subscriptionId"].as_str().unwrap().to_owned();
    assert_code(
        &s.call(
            &axb,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "recordFlag": "true"})),
        )
        .await,
        "1010002",
        "recordFlag needs the media relay",
    );
    assert_ok(
        &s.call(
            &axb,
            Method::PUT,
            AXB,
            Some(json!({"subscriptionId": sub, "maxDuration": 3})),
        )
        .await,
    );

    // Any AXE bind; AXYB with a tone.
    let axe = s.app("AXE", json!({})).await;
    s.numbers(&axe, &[("+8617030000001", "0755")]).await;
    let r = s
        .call(
            &axe,
            Method::POST,
            AXE,
            Some(json!({"bindNum": "+8613800000021", "virtualNum": "+8617030000001"})),
        )
        .await;
    assert_eq!(r.1["resultcode"], "1010002", "{r:?}");
    assert_eq!(r.1["resultdesc"], format!("Invalid request. AXE {relay}"));
    let axyb = s.app("AXYB", json!({})).await;
    s.numbers(&axyb, &[("+8617040000001", "0755"), ("+8617040000002", "0755")])
        .await;
    let path = format!("{AXYB}?app_key={}", axyb.key);
    assert_code(
        &s.call(
            &axyb,
            Method::POST,
            &path,
            Some(
                json!({"origNum": "+8613800000031", "relationNum": "+8617040000001",
            "preVoiceX": "please_wait.wav"}),
            ),
        )
        .await,
        "1010002",
        "preVoiceX needs the media relay",
    );
    assert_ok(
        &s.call(
            &axyb,
            Method::POST,
            &path,
            Some(
                json!({"origNum": "+8613800000031", "relationNum": "+8617040000001",
            "calleeNum": "+8613900000031"}),
            ),
        )
        .await,
    );
    // recordFlag with recording disabled for the app is refused in relay mode too (already a rule).
    let s = Server::start().await;
    let app = s.app("AXB", json!({})).await;
    s.numbers(&app, &[("+8617010000001", "0755")]).await;
    assert_code(
        &s.call(&app, Method::POST, AXB, Some(bind(json!({"recordFlag": "true"}))))
            .await,
        "1010002",
        "recording is not enabled",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_media_settings_round_trip_and_validation() {
    let s = Server::start().await;
    let r = s
        .admin(
            Method::POST,
            "/admin/v1/apps",
            Some(json!({"name": "e", "mode": "AXE"})),
        )
        .await;
    assert_ok(&r);
    let app = &r.1["app"];
    let key = app["appKey"].as_str().unwrap().to_owned();
    assert_eq!(app["noBindingPrompt"], Value::Null);
    assert_eq!(app["noPermissionPrompt"], "no_permission.wav");
    assert_eq!(app["serviceErrorPrompt"], Value::Null);
    assert_eq!(app["extensionPrompt"], "enter_extension.wav");
    assert_eq!(app["invalidExtensionPrompt"], "invalid_extension.wav");
    assert_eq!(
        (&app["firstDigitTimeoutMs"], &app["interDigitTimeoutMs"]),
        (&json!(10_000), &json!(5000))
    );
    assert_eq!(app["digitTerminator"], "#");
    assert_eq!(
        (&app["inbandDtmf"], &app["answerBeforeCollect"]),
        (&json!(false), &json!(false))
    );
    // The defaults are the shipped prompt names.
    assert_eq!(app["noPermissionPrompt"], pn_media::prompts::NO_PERMISSION);
    assert_eq!(app["extensionPrompt"], pn_media::prompts::ENTER_EXTENSION);
    assert_eq!(
        app["invalidExtensionPrompt"],
        pn_media::prompts::INVALID_EXTENSION
    );

    let r = s
        .admin(
            Method::PUT,
            &format!("/admin/v1/apps/{key}"),
            Some(json!({"noBindingPrompt": "nb.wav", "noPermissionPrompt": "", "serviceErrorPrompt": "se.wav",
                "extensionPrompt": "ext.wav", "invalidExtensionPrompt": "inv.wav", "firstDigitTimeoutMs": 20000,
                "interDigitTimeoutMs": 3000, "digitTerminator": "*", "inbandDtmf": true, "answerBeforeCollect": "true"})),
        )
        .await;
    assert_ok(&r);
    let id = s.engine.app_by_key(&key).unwrap().id;
    let expect = pn_bindings::AppMedia {
        no_binding_prompt: Some("nb.wav".into()),
        no_permission_prompt: None,
        service_error_prompt: Some("se.wav".into()),
        extension_prompt: "ext.wav".into(),
        invalid_extension_prompt: "inv.wav".into(),
        first_digit_timeout_ms: 20_000,
        inter_digit_timeout_ms: 3000,
        digit_terminator: Some('*'),
        inband_dtmf: true,
        answer_before_collect: true,
    };
    assert_eq!(s.table.app_media(id).as_deref(), Some(&expect));
    assert_eq!(r.1["app"]["digitTerminator"], "*");
    assert_eq!(r.1["app"]["noPermissionPrompt"], Value::Null);
    // "" for the AXE prompts goes back to the shipped default; "" terminator = none.
    let r = s
        .admin(
            Method::PUT,
            &format!("/admin/v1/apps/{key}"),
            Some(json!({"extensionPrompt": "", "digitTerminator": ""})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(
        (&r.1["app"]["extensionPrompt"], &r.1["app"]["digitTerminator"]),
        (&json!("enter_extension.wav"), &json!(""))
    );
    assert_eq!(s.table.app_media(id).unwrap().digit_terminator, None);
    // Persisted.
    let s = s.restart().await;
    let r = s.admin(Method::GET, &format!("/admin/v1/apps/{key}"), None).await;
    assert_eq!(r.1["app"]["serviceErrorPrompt"], "se.wav");
    assert_eq!(s.table.app_media(id).unwrap().first_digit_timeout_ms, 20_000);

    // Validation: 1020001 naming the field.
    for (body, field) in [
        (json!({"firstDigitTimeoutMs": 999}), "firstDigitTimeoutMs"),
        (json!({"firstDigitTimeoutMs": 60_001}), "firstDigitTimeoutMs"),
        (json!({"interDigitTimeoutMs": 30_001}), "interDigitTimeoutMs"),
        (json!({"digitTerminator": "5"}), "digitTerminator"),
        (json!({"digitTerminator": "##"}), "digitTerminator"),
        (json!({"noBindingPrompt": "a b.wav"}), "noBindingPrompt"),
        (json!({"extensionPrompt": "x.mp3"}), "extensionPrompt"),
        (json!({"inbandDtmf": "maybe"}), "inbandDtmf"),
    ] {
        assert_code(
            &s.admin(Method::PUT, &format!("/admin/v1/apps/{key}"), Some(body.clone()))
                .await,
            "1020001",
            field,
        );
        let mut create = json!({"name": "n", "mode": "AXE"});
        create
            .as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        assert_code(
            &s.admin(Method::POST, "/admin/v1/apps", Some(create)).await,
            "1020001",
            field,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_records_from_calls_are_durable() {
    let s = Server::start().await;
    let app = s.app("AXE", json!({"extensionDigits": 2})).await;
    s.numbers(&app, &[("+8617030000001", "0755")]).await;
    let (x, a, b) = ("+8617030000001", "+8613800000021", "+8613900000022");
    let r = s
        .call(
            &app,
            Method::POST,
            AXE,
            Some(json!({"bindNum": a, "virtualNum": x, "extendNum": "07"})),
        )
        .await;
    assert_ok(&r);
    // B keys the extension: the call connects to A; its callback record comes from the runtime.
    let t = traced(&s, b, x, Some("07")).await;
    assert_eq!(t["callee"], a, "{t}");
    let id = BindingId(t["bindingId"].as_u64().unwrap());
    assert_eq!(
        traced(&s, a, x, None).await["stateCode"],
        8019,
        "no callback record yet"
    );
    let record = CallbackRecord {
        binding: id,
        x: pn_numbers::normalize(x).unwrap(),
        a: pn_numbers::normalize(a).unwrap(),
        last_caller: pn_numbers::normalize(b).unwrap(),
        expires_at: None,
    };
    s.engine.put_callback_record(record.clone()).await.unwrap();
    let t = traced(&s, a, x, None).await;
    assert_eq!(
        (t["decision"].as_str(), t["callee"].as_str()),
        (Some("connect"), Some(b)),
        "{t}"
    );

    // Survives a restart (committed, reloaded).
    let s = s.restart().await;
    assert_eq!(s.loaded.callback_records, 1);
    assert_eq!(traced(&s, a, x, None).await["callee"], b);

    // A record for a binding that no longer exists (or is not that X/A) is refused and not stored.
    let wrong = CallbackRecord {
        a: pn_numbers::normalize("+8613800000029").unwrap(),
        ..record.clone()
    };
    assert_eq!(
        s.engine
            .put_callback_record(wrong)
            .await
            .unwrap_err()
            .resultcode(),
        "1012007"
    );
    assert_ok(
        &s.call(
            &app,
            Method::DELETE,
            &format!("{AXE}?virtualNum=%2B8617030000001&extendNum=07"),
            None,
        )
        .await,
    );
    assert_eq!(
        s.engine
            .put_callback_record(record)
            .await
            .unwrap_err()
            .resultcode(),
        "1012007"
    );
    let s = s.restart().await;
    assert_eq!(s.loaded.callback_records, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_download_through_signed_urls() {
    let s = Server::start().await;
    let app = s.app("AXB", json!({"recordEnabled": true})).await;
    let other = s.app("AX", json!({"recordEnabled": true})).await;
    let id = s.engine.app_by_key(&app.key).unwrap().id;
    let audio = alaw(24_000);
    let path = s.recordings.path_for(id, "call-1.wav").unwrap();
    std::fs::write(&path, &audio).unwrap();
    assert_eq!(s.recordings.record_domain(), s.base.trim_start_matches("http://"));

    let get = |who: &TestApp, file: &str| {
        let q = format!(
            "{RECORD}?fileName={file}&recordDomain={}",
            s.recordings.record_domain()
        );
        let headers = s.sign(who);
        let s = &s;
        async move { s.bytes(Method::GET, &q, &headers, None).await }
    };
    // 301 with the signed URL in Location and the JSON body.
    let (status, headers, body) = get(&app, "call-1.wav").await;
    assert_eq!(status, 301, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["resultcode"], "0");
    let location = headers["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}{RECORD}/file/{}/call-1.wav?expires=", s.base, id.0)),
        "{location}"
    );
    // Following it (no AK/SK: the signature is the credential) gives the exact bytes.
    let (status, headers, body) = s.bytes(Method::GET, &location, &[], None).await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "audio/wav")
    );
    assert_eq!(body, audio);

    // Tampered signature, other object, or an expired URL: 403.
    let tampered = {
        let (head, sig) = location.rsplit_once("signature=").unwrap();
        let flipped: String = sig
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    if c == '0' { '1' } else { '0' }
                } else {
                    c
                }
            })
            .collect();
        format!("{head}signature={flipped}")
    };
    for url in [
        tampered,
        location.replace("call-1.wav", "call-2.wav"),
        location.replace(&format!("/file/{}/", id.0), "/file/999/"),
        location.split('?').next().unwrap().to_owned(),
    ] {
        let (status, _, body) = s.bytes(Method::GET, &url, &[], None).await;
        assert_eq!(
            (status, json_of(&body)["resultcode"].as_str()),
            (403, Some("1020176")),
            "{url}"
        );
    }
    s.advance(i64::try_from(URL_TTL_SECS).unwrap());
    let (status, _, body) = s.bytes(Method::GET, &location, &[], None).await;
    assert_eq!(
        (status, json_of(&body)["resultcode"].as_str()),
        (403, Some("1020176"))
    );

    // Another app's file, a missing file, a bad name: 1012007.
    for (who, file) in [(&other, "call-1.wav"), (&app, "call-9.wav"), (&app, "..%2Fx.wav")] {
        let (status, _, body) = get(who, file).await;
        let v = json_of(&body);
        assert_eq!((status, v["resultcode"].as_str()), (200, Some("1012007")), "{v}");
        assert_eq!(v["resultdesc"], "The record does not exist.");
    }
    let headers = s.sign(&app);
    let (status, _, body) = s.bytes(Method::GET, RECORD, &headers, None).await;
    assert_eq!(
        (status, json_of(&body)["resultcode"].as_str()),
        (400, Some("1020001"))
    );

    // A fresh URL, then the retention passes (the purge deletes the file): both paths say it is gone.
    let (status, headers, _) = get(&app, "call-1.wav").await;
    assert_eq!(status, 301);
    let fresh = headers["location"].to_str().unwrap().to_owned();
    let later = SystemTime::now() + Duration::from_secs(RETENTION_SECS + 60);
    assert_eq!(s.recordings.purge(later), 1);
    assert!(!path.exists());
    let (status, _, body) = get(&app, "call-1.wav").await;
    assert_eq!(
        (status, json_of(&body)["resultcode"].as_str()),
        (200, Some("1012007"))
    );
    let (status, _, body) = s.bytes(Method::GET, &fresh, &[], None).await;
    assert_eq!(
        (status, json_of(&body)["resultcode"].as_str()),
        (404, Some("1012007"))
    );

    // The signing key survives a restart: a URL made before it still works.
    std::fs::write(s.recordings.path_for(id, "call-3.wav").unwrap(), &audio).unwrap();
    let (_, headers, _) = get(&app, "call-3.wav").await;
    let before = headers["location"].to_str().unwrap().to_owned();
    let s = s.restart().await;
    let port_path = before.split_once("/rest/").unwrap().1;
    let (status, _, body) = s
        .bytes(Method::GET, &format!("{}/rest/{port_path}", s.base), &[], None)
        .await;
    assert_eq!((status, body), (200, audio));
}
