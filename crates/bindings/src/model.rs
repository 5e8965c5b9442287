//! The durable binding model of all four modes, the number pool and apps (reference §0.2, §1, §2).
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
}

impl Mode {
    /// The mode's name as written in config, CLI and docs (`AXB`, `AX`, `AXE`, `AXYB`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Axb => "AXB",
            Mode::Ax => "AX",
            Mode::Axe => "AXE",
            Mode::Axyb => "AXYB",
        }
    }
}

/// An app's configuration (reference §0.2, "添加应用").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// `preVoice`: ringback tones heard while the far side is being reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PreVoice {
    /// Heard when A dials X.
    pub caller_hint_tone: Option<String>,
    /// Heard when B (or anyone else) dials X.
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
