//! pn-benches: benchmarks live in benches/benches; this library holds what several of them build.

use pn_bindings::{App, AppControls, AppId, Mode, UnixTime};

/// The one AXB app the route-decision benches (`decide`, `controls`) bind into their tables, with
/// `controls`.
pub fn bench_app(created_at: UnixTime, controls: AppControls) -> App {
    App {
        id: AppId(1),
        name: "bench".into(),
        mode: Mode::Axb,
        app_key: "k".into(),
        app_secret: "s".into(),
        call_status_url: None,
        cdr_url: None,
        sms_url: None,
        record_enabled: false,
        sms_enabled: false,
        extension_digits: 0,
        collect_repeat: 0,
        enabled: true,
        created_at,
        media: pn_bindings::AppMedia::default(),
        push: pn_bindings::AppPush::default(),
        controls,
        allow_national_numbers: false,
    }
}
