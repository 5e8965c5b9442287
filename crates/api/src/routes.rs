//! The one list of routes: the router is built from it and `/openapi.json` documents it.

/// Which handler serves a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteId {
    AxbBind,
    AxbModify,
    AxbUnbind,
    AxbQuery,
    AxBind,
    AxModify,
    AxUnbind,
    AxQuery,
    AxTempCallee,
    AxeBind,
    AxeModify,
    AxeUnbind,
    AxeQuery,
    AxybBind,
    AxybUnbind,
    AxybQuery,
    AdminCreateApp,
    AdminListApps,
    AdminGetApp,
    AdminUpdateApp,
    AdminImportNumbers,
    AdminListNumbers,
    AdminSetNumber,
    AdminRetireNumber,
    AdminRouteTrace,
    AdminPutPrompt,
    AdminListPrompts,
    AdminGetPrompt,
    AdminDeletePrompt,
    RecordUrl,
    RecordFile,
    OpenApi,
    Metrics,
    Healthz,
}

/// Where a route's fields travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// JSON body.
    Body,
    /// Query string.
    Query,
    /// A raw file body (`audio/wav`).
    Wav,
    /// Nothing.
    None,
}

/// How a route authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// `Authorization: AKSK …` + `X-AKSK` (or WSSE).
    AkSk,
    /// `Authorization: Bearer <admin_token>`.
    Admin,
    /// None.
    Open,
}

/// One field: name, `OpenAPI` type, required, description.
pub(crate) type FieldSpec = (&'static str, &'static str, bool, &'static str);

/// One route.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteDef {
    /// Upper-case HTTP method.
    pub(crate) method: &'static str,
    /// axum path template.
    pub(crate) path: &'static str,
    /// Handler.
    pub(crate) id: RouteId,
    /// One-line summary.
    pub(crate) summary: &'static str,
    /// Where the fields travel.
    pub(crate) input: Input,
    /// Authentication.
    pub(crate) security: Security,
    /// Fields.
    pub(crate) fields: &'static [FieldSpec],
    /// Result codes it can answer (besides the common auth/parameter ones).
    pub(crate) codes: &'static [&'static str],
}

const AXB: &str = "/rest/caas/relationnumber/partners/v1.0";
const AX: &str = "/rest/provision/caas/privatenumber/v1.0";
const AX_CALLEE: &str = "/rest/caas/privatenumber/calleenumber/v1.0";
const AXE: &str = "/rest/caas/extendnumber/v1.0";
const AXYB: &str = "/rest/omp/xyrelationnumber/v1.0";

const RECORD: [FieldSpec; 2] = [
    (
        "recordFlag",
        "string",
        false,
        "\"true\"/\"false\" (needs the app's recording option)",
    ),
    (
        "recordHintTone",
        "string",
        false,
        "recording notice file, only with recordFlag=true",
    ),
];

const AXB_BIND: &[FieldSpec] = &[
    ("relationNum", "string", false, "X (one of relationNum/areaCode)"),
    (
        "areaCode",
        "string",
        false,
        "city code, e.g. 0755: pick a free X there",
    ),
    (
        "areaMatchMode",
        "string",
        false,
        "0 strict (default), 1 same province first, then any",
    ),
    ("callerNum", "string", true, "A"),
    ("calleeNum", "string", true, "B (must differ from A)"),
    (
        "callDirection",
        "integer",
        false,
        "0 both, 1 only A→B, 2 only B→A",
    ),
    (
        "duration",
        "integer",
        false,
        "seconds: 0/absent permanent, or 60-7776000",
    ),
    RECORD[0],
    RECORD[1],
    ("maxDuration", "integer", false, "minutes 0-1440 (0 = unlimited)"),
    (
        "lastMinVoice",
        "string",
        false,
        "last-minute prompt, needs maxDuration≠0",
    ),
    (
        "privateSms",
        "string",
        false,
        "\"true\"/\"false\" (absent = true)",
    ),
    ("preVoice", "object", false, "{callerHintTone, calleeHintTone}"),
    ("userData", "string", false, "≤256 ASCII characters, no { or }"),
];
const AXB_MODIFY: &[FieldSpec] = &[
    ("subscriptionId", "string", true, "the binding"),
    ("callerNum", "string", false, "new A"),
    ("calleeNum", "string", false, "new B"),
    ("callDirection", "integer", false, "0/1/2"),
    (
        "duration",
        "integer",
        false,
        "0-7776000 s; restarts the lifetime now (0 = permanent)",
    ),
    RECORD[0],
    RECORD[1],
    ("maxDuration", "integer", false, "0-1440"),
    ("lastMinVoice", "string", false, "needs maxDuration≠0"),
    ("privateSms", "string", false, "\"true\"/\"false\""),
    (
        "preVoice",
        "object",
        false,
        "{callerHintTone, calleeHintTone}; \"\" clears",
    ),
    ("userData", "string", false, "≤256 ASCII"),
];
const AXB_UNBIND: &[FieldSpec] = &[
    ("subscriptionId", "string", false, "one binding (wins)"),
    (
        "relationNum",
        "string",
        false,
        "every binding of the app on this X",
    ),
];
const AXB_QUERY: &[FieldSpec] = &[
    ("subscriptionId", "string", false, "one binding (wins)"),
    ("relationNum", "string", false, "X"),
    (
        "callerNum",
        "string",
        false,
        "A (with relationNum: the A+X binding)",
    ),
    ("calleeNum", "string", false, "B"),
    ("pageIndex", "integer", false, "≥1, default 1"),
    (
        "pageSize",
        "integer",
        false,
        "10-100, default (and out of range) 50",
    ),
];
const AX_BIND: &[FieldSpec] = &[
    ("origNum", "string", true, "A"),
    ("privateNum", "string", false, "X (one of privateNum/areaCode)"),
    ("areaCode", "string", false, "city code"),
    (
        "privateNumType",
        "string",
        false,
        "accepted and ignored (e.g. mobile-virtual)",
    ),
    ("areaMatchMode", "string", false, "0/1"),
    ("calleeNumDisplay", "string", false, "must be \"0\""),
    (
        "callDirection",
        "integer",
        false,
        "0 both, 1 only A calls out, 2 only others→A",
    ),
    ("turnFlag", "string", false, "on (default)/off"),
    RECORD[0],
    RECORD[1],
    ("maxDuration", "integer", false, "0-1440"),
    ("lastMinVoice", "string", false, "needs maxDuration≠0"),
    ("privateSms", "string", false, "\"true\"/\"false\""),
    ("preVoice", "object", false, "{callerHintTone, calleeHintTone}"),
    ("userData", "string", false, "≤256 ASCII"),
];
const AX_MODIFY: &[FieldSpec] = &[
    ("subscriptionId", "string", true, "the binding (or privateNum)"),
    ("privateNum", "string", false, "X, when subscriptionId is absent"),
    ("origNum", "string", false, "new A"),
    ("callDirection", "integer", false, "0/1/2"),
    ("turnFlag", "string", false, "on/off"),
    RECORD[0],
    RECORD[1],
    ("maxDuration", "integer", false, "0-1440"),
    ("lastMinVoice", "string", false, "needs maxDuration≠0"),
    ("privateSms", "string", false, "\"true\"/\"false\""),
    ("preVoice", "object", false, "{callerHintTone, calleeHintTone}"),
    ("userData", "string", false, "≤256 ASCII"),
];
const AX_TARGET: &[FieldSpec] = &[
    ("subscriptionId", "string", false, "the binding (wins)"),
    ("privateNum", "string", false, "X"),
    ("origNum", "string", false, "A; with privateNum it must match"),
];
const AX_CALLEE_FIELDS: &[FieldSpec] = &[
    ("subscriptionId", "string", false, "the AX binding (wins)"),
    ("privateNum", "string", false, "X"),
    ("origNum", "string", false, "not parsed"),
    (
        "calleeNum",
        "string",
        true,
        "temporary callee (mobile, fixed, 400/95), ≠ origNum",
    ),
    ("duration", "integer", false, "1-259200 s, default 60"),
    ("userData", "string", false, "≤256 ASCII"),
];
const AXE_BIND: &[FieldSpec] = &[
    ("bindNum", "string", true, "A"),
    ("virtualNum", "string", false, "X (one of virtualNum/areaCode)"),
    ("areaCode", "string", false, "city code"),
    ("areaMatchMode", "string", false, "0/1"),
    (
        "extendNum",
        "string",
        false,
        "E with the app's digit count; absent = lowest free",
    ),
    ("displayNumMode", "string", false, "must be \"0\""),
    RECORD[0],
    RECORD[1],
    (
        "callbackTone",
        "string",
        false,
        "prompt when A calls X without a callback record (xor callbackNum)",
    ),
    (
        "callbackNum",
        "string",
        false,
        "forward target in that case (xor callbackTone)",
    ),
    ("timeUnit", "string", false, "0 hours (default), 1 minutes"),
    ("bindExpiredTime", "integer", false, "≥0, 0/absent permanent"),
    ("callbackExpiredTime", "integer", false, "≥0"),
    ("userData", "string", false, "≤256 ASCII"),
];
const AXE_MODIFY: &[FieldSpec] = &[
    ("subscriptionId", "string", false, "the binding (wins)"),
    ("virtualNum", "string", false, "X, with extendNum"),
    ("extendNum", "string", false, "E, with virtualNum"),
    ("bindNum", "string", false, "new A"),
    ("displayNumMode", "string", false, "must be \"0\""),
    RECORD[0],
    RECORD[1],
    ("callbackTone", "string", false, "xor callbackNum"),
    ("callbackNum", "string", false, "xor callbackTone"),
    ("timeUnit", "string", false, "unit of this request's times"),
    ("bindExpiredTime", "integer", false, "restarts the lifetime now"),
    ("callbackExpiredTime", "integer", false, "≥0"),
    ("userData", "string", false, "≤256 ASCII"),
];
const AXE_TARGET: &[FieldSpec] = &[
    ("subscriptionId", "string", false, "the binding (wins)"),
    (
        "virtualNum",
        "string",
        false,
        "X (query: alone lists its extensions)",
    ),
    ("extendNum", "string", false, "E"),
    ("pageIndex", "integer", false, "query by virtualNum alone"),
    ("pageSize", "integer", false, "query by virtualNum alone"),
];
const AXYB_BIND: &[FieldSpec] = &[
    (
        "app_key",
        "string",
        false,
        "(query string) must be the authenticated app",
    ),
    (
        "subscriptionId",
        "string",
        false,
        "second step: add a Y–B relation to this binding",
    ),
    (
        "calleeNum",
        "string",
        false,
        "B (also numB); in the second step B is calleeNum, numB or origNum",
    ),
    (
        "origNum",
        "string",
        false,
        "A (first step); second step: B, or the binding's A when calleeNum is given",
    ),
    ("relationNum", "string", false, "X (one of relationNum/areaCode)"),
    ("areaCode", "string", false, "city code"),
    ("areaMatchMode", "string", false, "0/1"),
    (
        "callDirection",
        "integer",
        false,
        "0 both, 1 only A→B via Y, 2 only B→A via X",
    ),
    ("duration", "integer", false, "0 or 60-7776000 s"),
    ("ybDuration", "integer", false, "0 or 60-7776000 s, ≤ duration"),
    RECORD[0],
    RECORD[1],
    ("preVoiceX", "string", false, "heard by B while A is reached"),
    ("preVoiceY", "string", false, "heard by A while B is reached"),
    ("userData", "string", false, "≤256 ASCII"),
];
const AXYB_TARGET: &[FieldSpec] = &[
    ("app_key", "string", false, "must be the authenticated app"),
    (
        "subscriptionId",
        "string",
        false,
        "A–X part (with its relations) or one relation (bindId)",
    ),
    ("relationNum", "string", false, "X"),
];
const AXYB_UNBIND: &[FieldSpec] = &[
    ("app_key", "string", false, "must be the authenticated app"),
    (
        "subscriptionId",
        "string",
        false,
        "A–X part (with its relations) or one relation (bindId)",
    ),
    ("relationNum", "string", false, "X"),
    (
        "bNum",
        "string",
        false,
        "release only the Y–B relation of this B (also numB, calleeNum)",
    ),
    (
        "yNum",
        "string",
        false,
        "release only the Y–B relation on this Y (also numY)",
    ),
    (
        "origNum",
        "string",
        false,
        "the binding's A (no effect) or a B (as bNum)",
    ),
];
const APP_CREATE: &[FieldSpec] = &[
    ("name", "string", true, "human name"),
    ("mode", "string", true, "AXB, AX, AXE or AXYB (immutable)"),
    (
        "appKey",
        "string",
        false,
        "generated (32 alphanumerics) when absent",
    ),
    (
        "appSecret",
        "string",
        false,
        "generated (32 alphanumerics) when absent",
    ),
    ("callStatusUrl", "string", false, "call-event push URL"),
    ("cdrUrl", "string", false, "CDR push URL"),
    ("smsUrl", "string", false, "SMS notify URL"),
    (
        "recordEnabled",
        "boolean",
        false,
        "recording option (default false)",
    ),
    ("smsEnabled", "boolean", false, "SMS option (default false)"),
    (
        "extensionDigits",
        "integer",
        false,
        "AXE: 1-4, default 4 (immutable)",
    ),
    (
        "collectRepeat",
        "integer",
        false,
        "AXE digit-collection repeats 1-9, default 3",
    ),
    APP_MEDIA[0],
    APP_MEDIA[1],
    APP_MEDIA[2],
    APP_MEDIA[3],
    APP_MEDIA[4],
    APP_MEDIA[5],
    APP_MEDIA[6],
    APP_MEDIA[7],
    APP_MEDIA[8],
    APP_MEDIA[9],
];
const APP_UPDATE: &[FieldSpec] = &[
    ("name", "string", false, "human name"),
    ("appSecret", "string", false, "rotate the secret"),
    ("callStatusUrl", "string", false, "\"\" clears"),
    ("cdrUrl", "string", false, "\"\" clears"),
    ("smsUrl", "string", false, "\"\" clears"),
    ("recordEnabled", "boolean", false, ""),
    ("smsEnabled", "boolean", false, ""),
    ("collectRepeat", "integer", false, "1-9"),
    ("enabled", "boolean", false, "a disabled app's key gets 1010004"),
    APP_MEDIA[0],
    APP_MEDIA[1],
    APP_MEDIA[2],
    APP_MEDIA[3],
    APP_MEDIA[4],
    APP_MEDIA[5],
    APP_MEDIA[6],
    APP_MEDIA[7],
    APP_MEDIA[8],
    APP_MEDIA[9],
];
/// The app media fields of create and update (`""` clears a prompt; the AXE prompts then return to the
/// shipped default).
const APP_MEDIA: [FieldSpec; 10] = [
    (
        "noBindingPrompt",
        "string",
        false,
        "played before refusing a call with no binding (8013/8014/8030); default none",
    ),
    (
        "noPermissionPrompt",
        "string",
        false,
        "played before refusing a caller without permission (8016/8023/8042/8043); default no_permission.wav",
    ),
    (
        "serviceErrorPrompt",
        "string",
        false,
        "played before refusing on a service error; default none",
    ),
    (
        "extensionPrompt",
        "string",
        false,
        "AXE: enter the extension; default enter_extension.wav",
    ),
    (
        "invalidExtensionPrompt",
        "string",
        false,
        "AXE: invalid extension; default invalid_extension.wav",
    ),
    (
        "firstDigitTimeoutMs",
        "integer",
        false,
        "AXE first-digit timeout 1000-60000 ms, default 10000",
    ),
    (
        "interDigitTimeoutMs",
        "integer",
        false,
        "AXE inter-digit timeout 1000-30000 ms, default 5000",
    ),
    (
        "digitTerminator",
        "string",
        false,
        "AXE terminator key: \"#\" (default), \"*\" or \"\" (none)",
    ),
    (
        "inbandDtmf",
        "boolean",
        false,
        "also detect in-band DTMF on G.711 audio (default false)",
    ),
    (
        "answerBeforeCollect",
        "boolean",
        false,
        "AXE: answer (200) before collecting instead of early media (default false)",
    ),
];
const NUMBERS_IMPORT: &[FieldSpec] = &[
    ("appKey", "string", true, "owning app"),
    (
        "numbers",
        "array",
        true,
        "[{number, areaCode, province?}], 1-10000",
    ),
];
const NUMBER_SET: &[FieldSpec] = &[
    ("status", "string", false, "normal, paused, unavailable, frozen"),
    ("areaCode", "string", false, "city code"),
    ("province", "string", false, "province"),
];

const BIND_CODES: &[&str] = &[
    "1010002", "1010040", "1011001", "1011002", "1012010", "1012102", "1020001",
];
const TARGET_CODES: &[&str] = &["1010040", "1012007", "1011001", "1011004", "1020001"];
const QUERY_CODES: &[&str] = &["1010040", "1016001", "1020001"];
const ADMIN_CODES: &[&str] = &[
    "1010040", "1020176", "1020001", "1012007", "1016001", "1016002", "1012010",
];
const PROMPT_CODES: &[&str] = &["1010002", "1010040", "1020176", "1020001", "1012007", "1016001"];
const PROMPT_PATH: &str = "/admin/v1/apps/{appKey}/prompts/{name}";
const RECORD_URL: &str = "/rest/provision/voice/record/v1.0";

/// Every route pnswitch serves.
pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef {
        method: "POST",
        path: AXB,
        id: RouteId::AxbBind,
        summary: "AXB bind",
        input: Input::Body,
        security: Security::AkSk,
        fields: AXB_BIND,
        codes: BIND_CODES,
    },
    RouteDef {
        method: "PUT",
        path: AXB,
        id: RouteId::AxbModify,
        summary: "AXB modify",
        input: Input::Body,
        security: Security::AkSk,
        fields: AXB_MODIFY,
        codes: &["1010002", "1010040", "1012007", "1012010", "1020001"],
    },
    RouteDef {
        method: "DELETE",
        path: AXB,
        id: RouteId::AxbUnbind,
        summary: "AXB unbind",
        input: Input::Query,
        security: Security::AkSk,
        fields: AXB_UNBIND,
        codes: TARGET_CODES,
    },
    RouteDef {
        method: "GET",
        path: AXB,
        id: RouteId::AxbQuery,
        summary: "AXB query",
        input: Input::Query,
        security: Security::AkSk,
        fields: AXB_QUERY,
        codes: QUERY_CODES,
    },
    RouteDef {
        method: "POST",
        path: AX,
        id: RouteId::AxBind,
        summary: "AX bind",
        input: Input::Body,
        security: Security::AkSk,
        fields: AX_BIND,
        codes: &[
            "1010002", "1010040", "1011001", "1011002", "1011005", "1016002", "1012102", "1020001",
        ],
    },
    RouteDef {
        method: "PUT",
        path: AX,
        id: RouteId::AxModify,
        summary: "AX modify",
        input: Input::Body,
        security: Security::AkSk,
        fields: AX_MODIFY,
        codes: &["1010002", "1010040", "1011002", "1012007", "1020001"],
    },
    RouteDef {
        method: "DELETE",
        path: AX,
        id: RouteId::AxUnbind,
        summary: "AX unbind",
        input: Input::Query,
        security: Security::AkSk,
        fields: AX_TARGET,
        codes: TARGET_CODES,
    },
    RouteDef {
        method: "GET",
        path: AX,
        id: RouteId::AxQuery,
        summary: "AX query (subscriptionId > origNum > privateNum)",
        input: Input::Query,
        security: Security::AkSk,
        fields: AX_TARGET,
        codes: QUERY_CODES,
    },
    RouteDef {
        method: "PUT",
        path: AX_CALLEE,
        id: RouteId::AxTempCallee,
        summary: "AX set temporary callee",
        input: Input::Body,
        security: Security::AkSk,
        fields: AX_CALLEE_FIELDS,
        codes: &["1010002", "1010040", "1011001", "1011004", "1012007", "1020001"],
    },
    RouteDef {
        method: "POST",
        path: AXE,
        id: RouteId::AxeBind,
        summary: "AXE bind",
        input: Input::Body,
        security: Security::AkSk,
        fields: AXE_BIND,
        codes: &[
            "1010002", "1010040", "1011001", "1011002", "1012010", "1012102", "1020001", "1020167",
        ],
    },
    RouteDef {
        method: "PUT",
        path: AXE,
        id: RouteId::AxeModify,
        summary: "AXE modify",
        input: Input::Body,
        security: Security::AkSk,
        fields: AXE_MODIFY,
        codes: &["1010002", "1010040", "1011001", "1012007", "1020001"],
    },
    RouteDef {
        method: "DELETE",
        path: AXE,
        id: RouteId::AxeUnbind,
        summary: "AXE unbind",
        input: Input::Query,
        security: Security::AkSk,
        fields: AXE_TARGET,
        codes: TARGET_CODES,
    },
    RouteDef {
        method: "GET",
        path: AXE,
        id: RouteId::AxeQuery,
        summary: "AXE query",
        input: Input::Query,
        security: Security::AkSk,
        fields: AXE_TARGET,
        codes: QUERY_CODES,
    },
    RouteDef {
        method: "POST",
        path: AXYB,
        id: RouteId::AxybBind,
        summary: "AXYB bind (first step) or add a Y–B relation (second step)",
        input: Input::Body,
        security: Security::AkSk,
        fields: AXYB_BIND,
        codes: &[
            "1010002", "1010003", "1010040", "1011001", "1011002", "1011005", "1012007", "1012010",
            "1012102", "1020001",
        ],
    },
    RouteDef {
        method: "DELETE",
        path: AXYB,
        id: RouteId::AxybUnbind,
        summary: "AXYB unbind",
        input: Input::Query,
        security: Security::AkSk,
        fields: AXYB_UNBIND,
        codes: &["1010003", "1010040", "1011001", "1011004", "1012007", "1020001"],
    },
    RouteDef {
        method: "GET",
        path: AXYB,
        id: RouteId::AxybQuery,
        summary: "AXYB query (xyRelationNumList)",
        input: Input::Query,
        security: Security::AkSk,
        fields: AXYB_TARGET,
        codes: &["1010003", "1010040", "1016001", "1020001"],
    },
    RouteDef {
        method: "POST",
        path: "/admin/v1/apps",
        id: RouteId::AdminCreateApp,
        summary: "Create an app",
        input: Input::Body,
        security: Security::Admin,
        fields: APP_CREATE,
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "GET",
        path: "/admin/v1/apps",
        id: RouteId::AdminListApps,
        summary: "List apps",
        input: Input::None,
        security: Security::Admin,
        fields: &[],
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "GET",
        path: "/admin/v1/apps/{appKey}",
        id: RouteId::AdminGetApp,
        summary: "Get an app",
        input: Input::None,
        security: Security::Admin,
        fields: &[],
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "PUT",
        path: "/admin/v1/apps/{appKey}",
        id: RouteId::AdminUpdateApp,
        summary: "Change an app (mode and extensionDigits are immutable)",
        input: Input::Body,
        security: Security::Admin,
        fields: APP_UPDATE,
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "POST",
        path: "/admin/v1/numbers",
        id: RouteId::AdminImportNumbers,
        summary: "Import numbers into an app's pool",
        input: Input::Body,
        security: Security::Admin,
        fields: NUMBERS_IMPORT,
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "GET",
        path: "/admin/v1/numbers",
        id: RouteId::AdminListNumbers,
        summary: "List pool numbers (?appKey=)",
        input: Input::Query,
        security: Security::Admin,
        fields: &[("appKey", "string", false, "only this app's")],
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "PUT",
        path: "/admin/v1/numbers/{number}",
        id: RouteId::AdminSetNumber,
        summary: "Change a number's status",
        input: Input::Body,
        security: Security::Admin,
        fields: NUMBER_SET,
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "DELETE",
        path: "/admin/v1/numbers/{number}",
        id: RouteId::AdminRetireNumber,
        summary: "Retire a number (?force=true unbinds its live bindings)",
        input: Input::Query,
        security: Security::Admin,
        fields: &[("force", "boolean", false, "also unbind live bindings")],
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "GET",
        path: "/admin/v1/route",
        id: RouteId::AdminRouteTrace,
        summary: "Route trace: where a call from caller to called would go now (runs the call path's decide)",
        input: Input::Query,
        security: Security::Admin,
        fields: &[
            ("caller", "string", false, "calling number (absent = anonymous)"),
            ("called", "string", true, "dialled number (X or Y)"),
            ("extension", "string", false, "AXE extension keyed by DTMF"),
        ],
        codes: ADMIN_CODES,
    },
    RouteDef {
        method: "PUT",
        path: PROMPT_PATH,
        id: RouteId::AdminPutPrompt,
        summary: "Upload (or replace) a prompt of the app: the body is the WAV file (8 kHz mono A-law or µ-law, \
                  ≤ 2 MB); name [A-Za-z0-9_.-]{1,64}.wav",
        input: Input::Wav,
        security: Security::Admin,
        fields: &[],
        codes: PROMPT_CODES,
    },
    RouteDef {
        method: "GET",
        path: "/admin/v1/apps/{appKey}/prompts",
        id: RouteId::AdminListPrompts,
        summary: "List the app's prompts: its uploads, then the shipped defaults (shipped: true)",
        input: Input::None,
        security: Security::Admin,
        fields: &[],
        codes: PROMPT_CODES,
    },
    RouteDef {
        method: "GET",
        path: PROMPT_PATH,
        id: RouteId::AdminGetPrompt,
        summary: "Download a prompt (the app's upload, else the shipped default): audio/wav",
        input: Input::None,
        security: Security::Admin,
        fields: &[],
        codes: PROMPT_CODES,
    },
    RouteDef {
        method: "DELETE",
        path: PROMPT_PATH,
        id: RouteId::AdminDeletePrompt,
        summary: "Delete the app's upload (a shipped default of that name applies again)",
        input: Input::None,
        security: Security::Admin,
        fields: &[],
        codes: PROMPT_CODES,
    },
    RouteDef {
        method: "GET",
        path: RECORD_URL,
        id: RouteId::RecordUrl,
        summary: "Recording download: HTTP 301 with the signed file URL in Location (reference §5)",
        input: Input::Query,
        security: Security::AkSk,
        fields: &[
            ("fileName", "string", true, "the CDR's recordObjectName"),
            (
                "recordDomain",
                "string",
                false,
                "the CDR's recordDomain (accepted, not compared)",
            ),
        ],
        codes: &["1012007", "1020001"],
    },
    RouteDef {
        method: "GET",
        path: "/rest/provision/voice/record/v1.0/file/{app}/{object}",
        id: RouteId::RecordFile,
        summary: "A signed recording URL (from the 301): audio/wav; 403 1020176 bad or expired signature, \
                  404 1012007 gone",
        input: Input::Query,
        security: Security::Open,
        fields: &[
            ("expires", "integer", true, "Unix time the URL stops working"),
            (
                "signature",
                "string",
                true,
                "hex HMAC-SHA256 of app/object/expires",
            ),
        ],
        codes: &["1020176", "1012007"],
    },
    RouteDef {
        method: "GET",
        path: "/openapi.json",
        id: RouteId::OpenApi,
        summary: "This document",
        input: Input::None,
        security: Security::Open,
        fields: &[],
        codes: &[],
    },
    RouteDef {
        method: "GET",
        path: "/metrics",
        id: RouteId::Metrics,
        summary: "Prometheus metrics",
        input: Input::None,
        security: Security::Open,
        fields: &[],
        codes: &[],
    },
    RouteDef {
        method: "GET",
        path: "/healthz",
        id: RouteId::Healthz,
        summary: "Liveness",
        input: Input::None,
        security: Security::Open,
        fields: &[],
        codes: &[],
    },
];
