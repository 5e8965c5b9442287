//! The durable binding model of all five modes (X keeps no bindings), the number pool and apps (reference §0.2, §1, §2).
//!
//! These are plain values: pn-store persists them, pn-api builds them from requests, and the routing table
//! indexes the parts a call needs.

use pn_numbers::E164;
use serde::{Deserialize, Serialize};

/// Wall-clock time as whole seconds since the Unix epoch (UTC). Passed in; never read here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// This time plus `secs` seconds (saturating).
    #[must_use]
    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }
}

/// An application (`app_key`): one mode, its credentials, push URLs and options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppId(pub u32);

/// Internal id of one binding (or AXYB relation); the public handle is [`Binding::subscription_id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BindingId(pub u64);

/// The service mode of an app and of the X numbers it owns. Fixed when the app is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    /// A–X–B pairs.
    Axb,
    /// X dedicated to one A; A calls out through a temporary callee.
    Ax,
    /// X shared by many A, each behind an extension E keyed by DTMF.
    Axe,
    /// A–X plus Y–B relations.
    Axyb,
    /// X only: the customer decides every call (a Block `callin` answered with connect or close).
    X,
}

impl Mode {
    /// The mode's name as written in config, CLI and docs (`AXB`, `AX`, `AXE`, `AXYB`, `X`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Axb => "AXB",
            Mode::Ax => "AX",
            Mode::Axe => "AXE",
            Mode::Axyb => "AXYB",
            Mode::X => "X",
        }
    }
}

/// An app's configuration (reference §0.2, "添加应用").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent per-app options of the admin API"
)]
pub struct App {
    /// Internal id.
    pub id: AppId,
    /// Human name.
    pub name: String,
    /// The one mode this app serves.
    pub mode: Mode,
    /// Public key used in `X-AKSK`/`X-WSSE` `Username`.
    pub app_key: String,
    /// Shared secret for request and push signatures.
    pub app_secret: String,
    /// Call-status (event) push URL.
    pub call_status_url: Option<String>,
    /// CDR (fee) push URL.
    pub cdr_url: Option<String>,
    /// SMS notify URL.
    pub sms_url: Option<String>,
    /// Whether recording is enabled for the app.
    pub record_enabled: bool,
    /// Whether SMS is enabled for the app.
    pub sms_enabled: bool,
    /// AXE only: number of extension digits (1–4), fixed after creation.
    pub extension_digits: u8,
    /// AXE only: how many times digit collection is repeated (default 3).
    pub collect_repeat: u8,
    /// Whether the app is active (a disabled app's key is rejected with 1010004).
    pub enabled: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// Prompts and digit-collection settings the call path uses for this app (absent in old rows: defaults).
    #[serde(default)]
    pub media: AppMedia,
    /// How the app's pushes are addressed and signed (absent in old rows: defaults).
    #[serde(default)]
    pub push: AppPush,
    /// Call controls: lists, time window, frequency limits (absent in old rows: controls nothing).
    #[serde(default)]
    pub controls: crate::controls::AppControls,
    /// Whether the provisioning API accepts national numbers (`138…`, `86138…`, normalised to `+86…`) in
    /// this app's number fields; when false (the default, and in rows older than it) only the global format
    /// (`+` and the country code) is accepted, as the reference requires. SIP calls are not affected.
    #[serde(default)]
    pub allow_national_numbers: bool,
}

/// How pushes are signed (reference §0.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushAuth {
    /// `Authorization: AKSK …` + `X-AKSK` (HMAC-SHA256 of Nonce+Created with the app's secret): the default.
    #[default]
    Aksk,
    /// The legacy `Authorization: WSSE …` + `X-WSSE` (SHA-256 of Nonce+Created+secret).
    Wsse,
}

/// An app's push options beyond the three URLs of [`App`] (reference §0.2, §7.1, §7.2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppPush {
    /// Whether X-number status changes are pushed (`numStatus`, §7.2; default false).
    pub num_status: bool,
    /// Where X-number status pushes go; `None`: the call-status URL.
    pub status_url: Option<String>,
    /// The SMS-control (Block) URL: mandatory for AX- and X-mode SMS (§0.2).
    pub sms_control_url: Option<String>,
    /// Whether SMS notifications carry `smsContent` (§7.1; default false).
    pub sms_content: bool,
    /// How pushes are signed.
    pub auth: PushAuth,
}

/// Default [`AppMedia::no_permission_prompt`]: the shipped `no_permission.wav` (`pn_media::prompts::NO_PERMISSION`).
pub const DEFAULT_NO_PERMISSION_PROMPT: &str = "no_permission.wav";
/// Default [`AppMedia::extension_prompt`]: the shipped `enter_extension.wav` (`pn_media::prompts::ENTER_EXTENSION`).
pub const DEFAULT_EXTENSION_PROMPT: &str = "enter_extension.wav";
/// Default [`AppMedia::invalid_extension_prompt`]: the shipped `invalid_extension.wav`
/// (`pn_media::prompts::INVALID_EXTENSION`).
pub const DEFAULT_INVALID_EXTENSION_PROMPT: &str = "invalid_extension.wav";

/// An app's prompts and AXE digit-collection settings (reference §0.2 prompt files, §1.1, §1.2).
///
/// Prompt names are file names of the app's uploaded prompts, or of a shipped default of that name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppMedia {
    /// Played before refusing a call with no binding (8014, 8013, 8030): None = release without prompt (default).
    pub no_binding_prompt: Option<String>,
    /// Played before refusing a caller without permission (8016 direction, 8023 fixed line, 8042/8043
    /// international): default `Some("no_permission.wav")`.
    pub no_permission_prompt: Option<String>,
    /// Played before refusing on a service error (7508, 8008, 8055, 8104 ...): default None.
    pub service_error_prompt: Option<String>,
    /// AXE "enter the extension" prompt: default `enter_extension.wav`.
    pub extension_prompt: String,
    /// AXE "invalid extension" prompt: default `invalid_extension.wav`.
    pub invalid_extension_prompt: String,
    /// AXE first-digit timeout, ms (default 10000).
    pub first_digit_timeout_ms: u32,
    /// AXE inter-digit timeout, ms (default 5000).
    pub inter_digit_timeout_ms: u32,
    /// AXE terminator key: `Some('#')` default, `Some('*')`, or None.
    pub digit_terminator: Option<char>,
    /// Detect in-band (Goertzel) DTMF on G.711 audio as well as RFC 4733 and SIP INFO (default false).
    pub inband_dtmf: bool,
    /// AXE: answer the caller (200) before collecting the extension instead of early media (183, default false).
    pub answer_before_collect: bool,
}

impl Default for AppMedia {
    fn default() -> Self {
        Self {
            no_binding_prompt: None,
            no_permission_prompt: Some(DEFAULT_NO_PERMISSION_PROMPT.to_owned()),
            service_error_prompt: None,
            extension_prompt: DEFAULT_EXTENSION_PROMPT.to_owned(),
            invalid_extension_prompt: DEFAULT_INVALID_EXTENSION_PROMPT.to_owned(),
            first_digit_timeout_ms: 10_000,
            inter_digit_timeout_ms: 5_000,
            digit_terminator: Some('#'),
            inband_dtmf: false,
            answer_before_collect: false,
        }
    }
}

/// Status of an X number in the pool (reference §7.2 codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NumberStatus {
    /// "5": normal.
    Normal,
    /// "9": paused; blocks bind, call and SMS.
    Paused,
    /// "10": unavailable; blocks bind, call and SMS.
    Unavailable,
    /// "11": frozen for new binds; existing bindings still work.
    FrozenForNewBinds,
}

impl NumberStatus {
    /// The reference's numeric status code.
    pub const fn code(self) -> u8 {
        match self {
            NumberStatus::Normal => 5,
            NumberStatus::Paused => 9,
            NumberStatus::Unavailable => 10,
            NumberStatus::FrozenForNewBinds => 11,
        }
    }

    /// Whether calls to a number in this status may be routed.
    pub const fn accepts_calls(self) -> bool {
        matches!(self, NumberStatus::Normal | NumberStatus::FrozenForNewBinds)
    }

    /// Whether new bindings may be placed on a number in this status.
    pub const fn accepts_binds(self) -> bool {
        matches!(self, NumberStatus::Normal)
    }
}

/// One privacy number (X or Y) in an app's pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XNumber {
    /// The number.
    pub number: E164,
    /// Owning app.
    pub app: AppId,
    /// City/area code with its leading 0 (e.g. `0755`), as used by `areaCode` in bind requests.
    pub area_code: String,
    /// Province name, for `areaMatchMode=1` (same province first).
    pub province: Option<String>,
    /// Pool status.
    pub status: NumberStatus,
}

/// `callDirection` of AXB/AX/AXYB bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum CallDirection {
    /// 0: both directions.
    #[default]
    Both,
    /// 1: AXB only callerNum→calleeNum; AX only A calls out via X; AXYB only A→B (via Y).
    AToB,
    /// 2: AXB only calleeNum→callerNum; AX only others→A; AXYB only B→A (via X).
    BToA,
}

impl CallDirection {
    /// The reference's integer value.
    pub const fn code(self) -> u8 {
        match self {
            CallDirection::Both => 0,
            CallDirection::AToB => 1,
            CallDirection::BToA => 2,
        }
    }

    /// Parses the reference's integer value.
    pub const fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(CallDirection::Both),
            1 => Some(CallDirection::AToB),
            2 => Some(CallDirection::BToA),
            _ => None,
        }
    }
}

/// `preVoice` (AXB, AX): prompt names; how the call path plays them is [`BindingMedia`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PreVoice {
    /// `callerHintTone`: played to the caller (A or the other party) while the callee is reached.
    pub caller_hint_tone: Option<String>,
    /// `calleeHintTone`: played to the callee once it answers, before the parties talk.
    pub callee_hint_tone: Option<String>,
}

/// Recording settings of a binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RecordSettings {
    /// `recordFlag`.
    pub record: bool,
    /// `recordHintTone`, played to both parties before recording starts.
    pub hint_tone: Option<String>,
}

/// Settings shared by the call-bridging modes (AXB, AX).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CallControls {
    /// `maxDuration` in minutes (0 = unlimited, max 1440), counted from callee answer.
    pub max_duration_min: u16,
    /// `lastMinVoice`, played at maxDuration − 60 s.
    pub last_min_voice: Option<String>,
    /// `privateSms`: whether SMS relay is allowed (absent = true).
    pub private_sms: bool,
    /// `preVoice`.
    pub pre_voice: PreVoice,
}

/// An AXB binding: A and B reach each other through X.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxbBinding {
    /// The privacy number.
    pub x: E164,
    /// `callerNum`.
    pub a: E164,
    /// `calleeNum`.
    pub b: E164,
    /// `callDirection`.
    pub direction: CallDirection,
    /// maxDuration, lastMinVoice, privateSms, preVoice.
    pub controls: CallControls,
}

/// An AX binding: X dedicated to A.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxBinding {
    /// The privacy number.
    pub x: E164,
    /// `origNum`.
    pub a: E164,
    /// `callDirection`: 0 both, 1 only A calls out via X, 2 only others call A.
    pub direction: CallDirection,
    /// `turnFlag`: when false, calls to A through X are refused (A "switched off").
    pub turn_on: bool,
    /// maxDuration, lastMinVoice, privateSms, preVoice.
    pub controls: CallControls,
}

/// What happens when A dials an AXE X and no live callback record exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AxeFallback {
    /// Release with 8019.
    #[default]
    Release,
    /// `callbackNum`: forward to this number.
    Forward(E164),
    /// `callbackTone`: play this prompt, then release with 8019.
    Tone(String),
}

/// `timeUnit` of AXE expiry fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TimeUnit {
    /// "0": hours.
    #[default]
    Hours,
    /// "1": minutes.
    Minutes,
}

impl TimeUnit {
    /// Seconds in one unit.
    pub const fn seconds(self) -> i64 {
        match self {
            TimeUnit::Hours => 3600,
            TimeUnit::Minutes => 60,
        }
    }
}

/// An AXE binding: (X, extension) reaches A; A dialing X calls back the last caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxeBinding {
    /// The privacy number.
    pub x: E164,
    /// The extension E, exactly the app's digit count (leading zeros kept).
    pub extension: String,
    /// `bindNum`.
    pub a: E164,
    /// Fallback when A dials X without a live callback record.
    pub fallback: AxeFallback,
    /// `timeUnit` of the two expiry fields.
    pub time_unit: TimeUnit,
    /// `bindExpiredTime` in `time_unit` (None/0 = permanent), as given at bind time.
    pub bind_expired_time: Option<u32>,
    /// `callbackExpiredTime` in `time_unit` (None/0 = callback records never expire).
    pub callback_expired_time: Option<u32>,
}

/// An AXYB binding's A–X part; its Y–B relations are [`YbRelation`] bindings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxybBinding {
    /// The privacy number B dials to reach A.
    pub x: E164,
    /// `origNum`.
    pub a: E164,
    /// `callDirection`: 0 both, 1 only A→B via Y, 2 only B→A via X.
    pub direction: CallDirection,
    /// `ybDuration` in seconds for relations created under this binding (None = lives as long as the AX part).
    pub yb_duration_secs: Option<u32>,
    /// `preVoiceX`: heard by B while A is reached.
    pub pre_voice_x: Option<String>,
    /// `preVoiceY`: heard by A while B is reached.
    pub pre_voice_y: Option<String>,
}

/// One Y–B relation under an AXYB binding: B dials X → A sees Y; A dials Y → B sees X.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct YbRelation {
    /// The AXYB binding this relation belongs to.
    pub parent: BindingId,
    /// The parent's X.
    pub x: E164,
    /// The parent's A.
    pub a: E164,
    /// The number A sees and dials to reach B.
    pub y: E164,
    /// B.
    pub b: E164,
}

/// The mode-specific part of a binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BindingKind {
    /// AXB pair.
    Axb(AxbBinding),
    /// AX binding.
    Ax(AxBinding),
    /// AXE binding.
    Axe(AxeBinding),
    /// AXYB A–X part.
    Axyb(AxybBinding),
    /// AXYB Y–B relation.
    Yb(YbRelation),
}

impl BindingKind {
    /// The app mode this binding belongs to.
    pub const fn mode(&self) -> Mode {
        match self {
            BindingKind::Axb(_) => Mode::Axb,
            BindingKind::Ax(_) => Mode::Ax,
            BindingKind::Axe(_) => Mode::Axe,
            BindingKind::Axyb(_) | BindingKind::Yb(_) => Mode::Axyb,
        }
    }

    /// The privacy number X the binding hangs on.
    pub const fn x(&self) -> E164 {
        match self {
            BindingKind::Axb(b) => b.x,
            BindingKind::Ax(b) => b.x,
            BindingKind::Axe(b) => b.x,
            BindingKind::Axyb(b) => b.x,
            BindingKind::Yb(b) => b.x,
        }
    }
}

/// One binding of any mode, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Internal id.
    pub id: BindingId,
    /// Public handle (`subscriptionId`, 1–64 chars).
    pub subscription_id: String,
    /// Owning app.
    pub app: AppId,
    /// When it was created.
    pub created_at: UnixTime,
    /// When its current lifetime started (AXB modify of `duration` restarts it).
    pub updated_at: UnixTime,
    /// When it stops routing (None = permanent).
    pub expires_at: Option<UnixTime>,
    /// `duration` in seconds as requested (AXB, AXYB), for query echo.
    pub duration_secs: Option<u32>,
    /// `recordFlag` / `recordHintTone`.
    pub record: RecordSettings,
    /// `userData` (≤256 chars), echoed in events and CDRs.
    pub user_data: Option<String>,
    /// The mode-specific part.
    pub kind: BindingKind,
}

impl Binding {
    /// Whether the binding has expired at `now` (expiry is exclusive: live while `now < expires_at`).
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }
}

/// AX temporary callee: where A's next call through X goes (reference §2.2, `SetAXTemporaryCallee`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempCallee {
    /// The AX binding it belongs to.
    pub binding: BindingId,
    /// The AX X.
    pub x: E164,
    /// The callee.
    pub callee: E164,
    /// Expiry (duration 1–259200 s, default 60).
    pub expires_at: UnixTime,
    /// `userData` given with the temp callee.
    pub user_data: Option<String>,
}

/// AXE callback record: A dialing X reaches `last_caller` until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRecord {
    /// The AXE binding that connected the call.
    pub binding: BindingId,
    /// The AXE X.
    pub x: E164,
    /// The binding's A.
    pub a: E164,
    /// The most recent caller who reached A through X.
    pub last_caller: E164,
    /// None = never expires.
    pub expires_at: Option<UnixTime>,
}

/// The prompt names a call through a binding may play (only bindings with at least one are kept in the table).
///
/// Derived from the binding by [`BindingMedia::of`]; a Y–B relation takes its caller hints from its AXYB parent
/// ([`BindingMedia::of_relation`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BindingMedia {
    /// Played to the caller while the callee is reached, when the bound A (AXB: A; AX: A; AXYB: A calling Y)
    /// calls: AXB/AX `preVoice.callerHintTone`, AXYB `preVoiceY`.
    pub caller_hint_from_a: Option<String>,
    /// Same when the other party calls (AXB: B; AX/AXE: anyone; AXYB: B calling X): AXB/AX
    /// `preVoice.callerHintTone`, AXYB `preVoiceX`.
    pub caller_hint_to_a: Option<String>,
    /// `preVoice.calleeHintTone`: played to the callee once it answers, before the parties talk.
    pub callee_hint: Option<String>,
    /// `recordHintTone`: played to both parties before recording starts (only while `recordFlag` is true).
    pub record_hint: Option<String>,
    /// `lastMinVoice`: played to both parties at maxDuration − 60 s (only while maxDuration ≠ 0).
    pub last_min_voice: Option<String>,
}

impl BindingMedia {
    /// The prompts of `binding`. A Y–B relation gets only its `record_hint` here: its caller hints live on the
    /// parent (see [`BindingMedia::of_relation`]).
    pub fn of(binding: &Binding) -> Self {
        let record_hint = binding.record.hint_tone.clone().filter(|_| binding.record.record);
        let controls = |c: &CallControls| Self {
            caller_hint_from_a: c.pre_voice.caller_hint_tone.clone(),
            caller_hint_to_a: c.pre_voice.caller_hint_tone.clone(),
            callee_hint: c.pre_voice.callee_hint_tone.clone(),
            record_hint: record_hint.clone(),
            last_min_voice: c.last_min_voice.clone().filter(|_| c.max_duration_min > 0),
        };
        match &binding.kind {
            BindingKind::Axb(b) => controls(&b.controls),
            BindingKind::Ax(b) => controls(&b.controls),
            BindingKind::Axyb(b) => Self {
                caller_hint_from_a: b.pre_voice_y.clone(),
                caller_hint_to_a: b.pre_voice_x.clone(),
                record_hint,
                ..Self::default()
            },
            BindingKind::Axe(_) | BindingKind::Yb(_) => Self {
                record_hint,
                ..Self::default()
            },
        }
    }

    /// The prompts of a Y–B relation: its own `record_hint`, the caller hints of its AXYB parent's media
    /// (`parent`, as [`BindingMedia::of`] gives them for the parent).
    pub fn of_relation(relation: &Binding, parent: Option<&BindingMedia>) -> Self {
        let own = Self::of(relation);
        match parent {
            Some(p) => Self {
                caller_hint_from_a: p.caller_hint_from_a.clone(),
                caller_hint_to_a: p.caller_hint_to_a.clone(),
                ..own
            },
            None => own,
        }
    }

    /// Whether no prompt is named.
    pub fn is_empty(&self) -> bool {
        self.caller_hint_from_a.is_none()
            && self.caller_hint_to_a.is_none()
            && self.callee_hint.is_none()
            && self.record_hint.is_none()
            && self.last_min_voice.is_none()
    }
}
