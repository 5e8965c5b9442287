//! [`RouteLookup`]: what the runtime answers about routes, bindings and prompts.

use pn_bindings::{
    AppId, BindingId, Connect, Mode, RouteDecision, SendResult, SmsDecision, SmsRefusal, UnixTime,
};
use pn_numbers::E164;

use crate::prompts::{AppPrompts, CallPrompts};

/// The public handle and echo data of a binding, for call facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// `subscriptionId`.
    pub subscription_id: String,
    /// `userData`.
    pub user_data: Option<String>,
}

/// What the facts of a call carry about its app (CDR `appKey` and `serviceType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEcho {
    /// The app's `app_key` (CDR `appKey`).
    pub app_key: String,
    /// The app's mode (CDR `serviceType`).
    pub mode: Mode,
}

/// Where a call to a privacy number goes: implemented by the runtime over the binding table.
pub trait RouteLookup {
    /// The route decision (see [`pn_bindings::decide()`]); `now` is wall-clock time.
    fn decide(
        &self,
        caller: Option<E164>,
        called: E164,
        extension: Option<&str>,
        now: UnixTime,
    ) -> RouteDecision;

    /// The concurrent-call units of the call the last [`RouteLookup::decide`] admitted (see
    /// [`pn_bindings::LiveSlot`]): the B2BUA takes them right after the decision and holds them until the call
    /// ends. The default has none.
    fn take_live_slot(&self) -> Option<pn_bindings::LiveSlot> {
        None
    }

    /// The `subscriptionId`/`userData` of a binding, echoed in call facts; asked right after a decision names
    /// the binding, so the answer is the binding as it was when the call was routed. The default knows none:
    /// facts then carry no `subscriptionId`/`userData`.
    fn subscription(&self, binding: BindingId) -> Option<Subscription> {
        let _ = binding;
        None
    }

    /// The key and mode of an app, for call facts; asked right after a decision names the app, so the answer is
    /// the app as it was when the call was routed. The default knows none: CDRs then carry no `appKey` (and no
    /// `serviceType` unless the decision named the mode).
    fn app_echo(&self, app: AppId) -> Option<AppEcho> {
        let _ = app;
        None
    }

    /// The prompts of a connected call (relay mode): the binding's, chosen for the decision's
    /// direction. The default has none.
    fn call_prompts(&self, connect: &Connect) -> CallPrompts {
        let _ = connect;
        CallPrompts::default()
    }

    /// An app's rejection prompts and AXE collection settings. The default is [`AppPrompts::default`].
    fn app_prompts(&self, app: AppId) -> AppPrompts {
        let _ = app;
        AppPrompts::default()
    }

    /// Where an SMS from `sender` to `x` with text `body` goes (see [`pn_bindings::decide_sms()`]); `now` is
    /// wall-clock time. The default refuses every SMS with sendResult 2 and no app (so no notification).
    fn decide_sms(&self, sender: E164, x: E164, body: &str, now: UnixTime) -> SmsDecision {
        let _ = (sender, x, body, now);
        SmsDecision::Refuse(SmsRefusal {
            result: SendResult::NO_BINDING,
            app: None,
            binding: None,
        })
    }

    /// Whether the app's SMS notifications carry `smsContent` (its `push.sms_content`). The default is false.
    fn sms_content(&self, app: AppId) -> bool {
        let _ = app;
        false
    }
}
