//! A route lookup with a fixed answer, standing in for the binding table.

use std::cell::RefCell;

use pn_b2bua::{AppEcho, AppPrompts, CallPrompts, RouteLookup, Subscription};
use pn_bindings::{
    AppId, BindingId, BindingTable, CdrDirection, Connect, Mode, Reject, RouteDecision, RoutePolicy,
    SendResult, SmsDecision, SmsRefusal, UnixTime,
};
use pn_numbers::E164;

/// Returns one fixed decision (per extension, for AXE) and remembers what it was asked.
#[derive(Debug)]
pub struct FakeRouter {
    /// The decision for calls without an extension.
    pub decision: RouteDecision,
    /// Decisions for calls with an extension (others: 8022, binding absent).
    pub extensions: Vec<(String, RouteDecision)>,
    /// What `call_prompts` answers.
    pub prompts: CallPrompts,
    /// What `app_prompts` answers.
    pub app: AppPrompts,
    /// `(caller, called)` of every decision asked for.
    pub asked: RefCell<Vec<(Option<E164>, E164)>>,
    /// The user data of every binding's subscription.
    pub user_data: Option<String>,
    /// What `app_echo` answers for every app (default none).
    pub app_echo: Option<AppEcho>,
    /// SMS: `decide_sms` runs the real [`pn_bindings::decide_sms()`] over this table (default policy); without
    /// one every SMS is refused with sendResult 2 and no app (the trait's default).
    pub sms_table: Option<BindingTable>,
    /// What `sms_content` answers for every app (default false).
    pub sms_content: bool,
    /// A concurrent-call cap over every call this router admits (`max`, counted in the shared
    /// [`pn_bindings::controls::LiveCalls`] under subject 1): a connect or ask decision takes a unit, handed to
    /// the B2BUA by `take_live_slot`; a full cap turns the decision into a 7003 refusal. Default none.
    pub cap: Option<(std::sync::Arc<pn_bindings::controls::LiveCalls>, u32)>,
    /// The unit of the last admitted decision, until the B2BUA takes it.
    pub live: RefCell<Option<pn_bindings::LiveSlot>>,
}

impl FakeRouter {
    /// Every call connects to `callee` showing `display` (an AXB binding, id 7, app 1).
    #[must_use]
    pub fn connect(callee: E164, display: E164, max_duration_secs: u32) -> Self {
        Self::new(RouteDecision::Connect(Connect {
            callee,
            display,
            max_duration_secs,
            record: false,
            binding: BindingId(7),
            app: AppId(1),
            mode: Mode::Axb,
            direction: CdrDirection::AToB,
            callback: None,
        }))
    }

    /// Every call is refused with `cause`.
    #[must_use]
    pub fn reject(cause: u16) -> Self {
        Self::new(RouteDecision::Reject(Reject {
            cause: pn_bindings::Cause(cause),
            app: Some(AppId(1)),
            binding: None,
            prompt: None,
        }))
    }

    /// A router answering `decision`.
    #[must_use]
    pub fn new(decision: RouteDecision) -> Self {
        Self {
            decision,
            extensions: Vec::new(),
            prompts: CallPrompts::default(),
            app: AppPrompts::default(),
            asked: RefCell::new(Vec::new()),
            user_data: None,
            app_echo: None,
            sms_table: None,
            sms_content: false,
            cap: None,
            live: RefCell::new(None),
        }
    }
}

impl FakeRouter {
    /// The decision before the cap: [`FakeRouter::decision`], or the extension's.
    fn decide_uncapped(
        &self,
        caller: Option<E164>,
        dialed: E164,
        ext: Option<&str>,
        _now: UnixTime,
    ) -> RouteDecision {
        self.asked.borrow_mut().push((caller, dialed));
        let Some(ext) = ext else {
            return self.decision.clone();
        };
        self.extensions.iter().find(|(e, _)| e == ext).map_or_else(
            || {
                RouteDecision::Reject(Reject {
                    cause: pn_bindings::Cause(8022),
                    app: Some(AppId(1)),
                    binding: None,
                    prompt: None,
                })
            },
            |(_, d)| d.clone(),
        )
    }
}

impl RouteLookup for FakeRouter {
    fn decide(&self, caller: Option<E164>, dialed: E164, ext: Option<&str>, now: UnixTime) -> RouteDecision {
        let decision = self.decide_uncapped(caller, dialed, ext, now);
        let Some((live, max)) = &self.cap else {
            return decision;
        };
        if !matches!(decision, RouteDecision::Connect(_) | RouteDecision::Ask(_)) {
            return decision;
        }
        match live.acquire(&[(1, *max)]) {
            Ok(slot) => {
                *self.live.borrow_mut() = Some(slot);
                decision
            }
            Err(_) => RouteDecision::Reject(Reject {
                cause: pn_bindings::Cause::DISPLAY_NUMBER_FREQUENCY,
                app: Some(AppId(1)),
                binding: None,
                prompt: None,
            }),
        }
    }

    fn take_live_slot(&self) -> Option<pn_bindings::LiveSlot> {
        self.live.borrow_mut().take()
    }

    fn subscription(&self, binding: BindingId) -> Option<Subscription> {
        Some(Subscription {
            subscription_id: format!("sub-{}", binding.0),
            user_data: self.user_data.clone(),
        })
    }

    fn app_echo(&self, _app: AppId) -> Option<AppEcho> {
        self.app_echo.clone()
    }

    fn call_prompts(&self, _connect: &Connect) -> CallPrompts {
        self.prompts.clone()
    }

    fn app_prompts(&self, _app: AppId) -> AppPrompts {
        self.app.clone()
    }

    fn decide_sms(&self, sender: E164, x: E164, body: &str, now: UnixTime) -> SmsDecision {
        match &self.sms_table {
            Some(table) => pn_bindings::decide_sms(table, &RoutePolicy::default(), sender, x, body, now),
            None => SmsDecision::Refuse(SmsRefusal {
                result: SendResult::NO_BINDING,
                app: None,
                binding: None,
            }),
        }
    }

    fn sms_content(&self, _app: AppId) -> bool {
        self.sms_content
    }
}
