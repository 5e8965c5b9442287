//! `pnswitch admin …`: a thin client of the running instance's admin API (`/admin/v1/…`).
//!
//! It never touches the database directly: every change goes through the same single writer as the
//! provisioning API, so the routing table and the store stay in step.

use std::path::PathBuf;

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::config::Config;
use crate::serve::ADMIN_TOKEN_FILE;

/// Options shared by every admin command.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Base URL of the running instance (default: http://<http.listen> from the configuration).
    #[arg(long, env = "PNSWITCH_ADMIN_URL")]
    url: Option<String>,
    /// Admin token (default: `api.admin_token`, else the `admin.token` file in the data directory).
    #[arg(long, env = "PNSWITCH_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Apps (one mode each, with an app key, a secret and push URLs).
    #[command(subcommand)]
    App(AppCommand),
    /// Privacy numbers (X/Y) in an app's pool.
    #[command(subcommand)]
    Numbers(NumbersCommand),
    /// Prompt files of an app (8 kHz mono A-law or µ-law WAV, at most 2 MB).
    #[command(subcommand)]
    Prompts(PromptsCommand),
    /// An app's call controls (blacklists, allow-list, prefixes, international, time window, frequency limits).
    #[command(subcommand)]
    Controls(ControlsCommand),
    /// The outbox: pushes (call events, CDRs, SMS, number status) with their delivery state; dead letters.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// List an app's CDRs (delivered ones are kept for the retention window).
    Cdrs {
        /// The app key.
        #[arg(long)]
        app_key: String,
        #[command(flatten)]
        range: ListRange,
    },
}

#[derive(Subcommand, Debug)]
enum ControlsCommand {
    /// Show an app's controls (JSON; docs/api.md "Call controls").
    Get {
        /// The app key.
        app_key: String,
    },
    /// Replace an app's controls with a JSON document (applied to the next call).
    Set {
        /// The app key.
        app_key: String,
        /// The JSON file (`-`: standard input).
        file: PathBuf,
    },
}

/// The request of a controls command.
fn controls_request(command: ControlsCommand) -> Result<Request, Box<dyn std::error::Error>> {
    use reqwest::Method;
    let path = |key: &str| format!("/admin/v1/apps/{}/controls", encode(key));
    Ok(match command {
        ControlsCommand::Get { app_key } => Request::new(Method::GET, path(&app_key), None),
        ControlsCommand::Set { app_key, file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)?
            };
            let body: Value = serde_json::from_str(&text)?;
            Request::new(Method::PUT, path(&app_key), Some(body))
        }
    })
}

/// Time range and paging of the outbox and CDR listings.
#[derive(Args, Debug)]
struct ListRange {
    /// Created at or after: `yyyy-MM-dd HH:mm:ss` (UTC) or Unix seconds.
    #[arg(long)]
    from: Option<String>,
    /// Created at or before (inclusive): `yyyy-MM-dd HH:mm:ss` (UTC) or Unix seconds.
    #[arg(long)]
    to: Option<String>,
    /// Entries after this id (the previous page's `next`).
    #[arg(long)]
    after: Option<u64>,
    /// Entries per page (1–1000, default 100).
    #[arg(long)]
    limit: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum OutboxCommand {
    /// List entries, oldest first.
    List {
        /// Only this state: `pending`, `delivered`, `dead` or `no_receiver`.
        #[arg(long)]
        state: Option<String>,
        /// Only this kind: event, cdr, sms or numstatus.
        #[arg(long)]
        kind: Option<String>,
        /// Only this app's entries.
        #[arg(long)]
        app_key: Option<String>,
        #[command(flatten)]
        range: ListRange,
    },
    /// Replay dead letters (they are pushed again): by id, or all of one app's.
    Replay {
        /// An entry id (repeat for several).
        #[arg(long = "id", required_unless_present = "app_key", conflicts_with = "app_key")]
        ids: Vec<u64>,
        /// Every dead letter of this app (up to 10,000 per call).
        #[arg(long)]
        app_key: Option<String>,
    },
}

/// A query string (`?a=1&b=2`, or empty) of the parameters that are set.
fn query(params: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The `from`/`to`/`after`/`limit` parameters of a listing.
fn range_params(r: ListRange) -> [(&'static str, Option<String>); 4] {
    [
        ("from", r.from),
        ("to", r.to),
        ("after", r.after.map(|v| v.to_string())),
        ("limit", r.limit.map(|v| v.to_string())),
    ]
}

/// The request of an outbox or CDR command.
fn outbox_request(command: AdminCommand) -> Option<Request> {
    use reqwest::Method;
    let (method, path, body) = match command {
        AdminCommand::Outbox(OutboxCommand::List {
            state,
            kind,
            app_key,
            range,
        }) => {
            let mut params = vec![("state", state), ("kind", kind), ("appKey", app_key)];
            params.extend(range_params(range));
            (Method::GET, format!("/admin/v1/outbox{}", query(&params)), None)
        }
        AdminCommand::Outbox(OutboxCommand::Replay { ids, app_key }) => {
            let body = match app_key {
                Some(key) => json!({ "appKey": key }),
                None => json!({ "ids": ids }),
            };
            (Method::POST, "/admin/v1/outbox/replay".to_owned(), Some(body))
        }
        AdminCommand::Cdrs { app_key, range } => {
            let mut params = vec![("appKey", Some(app_key))];
            params.extend(range_params(range));
            (Method::GET, format!("/admin/v1/cdrs{}", query(&params)), None)
        }
        _ => return None,
    };
    Some(Request::new(method, path, body))
}

#[derive(Subcommand, Debug)]
enum PromptsCommand {
    /// Upload (or replace) a prompt file.
    Put {
        /// The app key.
        #[arg(long)]
        app_key: String,
        /// Name bindings use (`[A-Za-z0-9_.-]{1,64}.wav`; default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// The WAV file.
        file: PathBuf,
    },
    /// List an app's prompts: its uploads, then the shipped defaults.
    List {
        /// The app key.
        #[arg(long)]
        app_key: String,
    },
    /// Download a prompt (the app's upload, else the shipped default) into a file.
    Get {
        /// The app key.
        #[arg(long)]
        app_key: String,
        /// The prompt name.
        name: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Delete an uploaded prompt (a shipped default of that name applies again).
    Delete {
        /// The app key.
        #[arg(long)]
        app_key: String,
        /// The prompt name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum AppCommand {
    /// Create an app; prints it with its app key and secret.
    Create(AppCreate),
    /// List apps.
    List,
    /// Show one app.
    Show {
        /// The app key.
        app_key: String,
    },
    /// Change an app's URLs or flags (mode and extension digits are fixed).
    Set(AppSet),
}

#[derive(Args, Debug)]
#[expect(clippy::struct_excessive_bools, reason = "one CLI switch each")]
struct AppCreate {
    /// Human name.
    #[arg(long)]
    name: String,
    /// Mode: AXB, AX, AXE or AXYB.
    #[arg(long)]
    mode: String,
    /// App key (generated when absent).
    #[arg(long)]
    app_key: Option<String>,
    /// App secret (generated when absent).
    #[arg(long)]
    app_secret: Option<String>,
    /// Call-status (event) push URL.
    #[arg(long)]
    call_status_url: Option<String>,
    /// CDR push URL.
    #[arg(long)]
    cdr_url: Option<String>,
    /// SMS notify URL.
    #[arg(long)]
    sms_url: Option<String>,
    /// Enable recording for the app.
    #[arg(long)]
    record: bool,
    /// Enable SMS for the app.
    #[arg(long)]
    sms: bool,
    /// AXE: extension digits (1–4).
    #[arg(long)]
    extension_digits: Option<u8>,
    /// AXE: digit-collection repeat count.
    #[arg(long)]
    collect_repeat: Option<u8>,
    /// Push X-number status changes (numStatus) to the app.
    #[arg(long)]
    num_status: bool,
    /// X-number status push URL (default: the call-status URL).
    #[arg(long)]
    num_status_url: Option<String>,
    /// SMS-control (Block) URL.
    #[arg(long)]
    sms_control_url: Option<String>,
    /// SMS notifications carry smsContent.
    #[arg(long)]
    sms_content: bool,
    /// How pushes are signed: aksk (default) or wsse.
    #[arg(long)]
    push_auth: Option<String>,
    /// Accept national numbers (138…, 86138…) in the app's API number fields (default: +86… only).
    #[arg(long)]
    allow_national_numbers: bool,
}

#[derive(Args, Debug)]
struct AppSet {
    /// The app key.
    app_key: String,
    /// Enable or disable the app.
    #[arg(long)]
    enabled: Option<bool>,
    /// Call-status (event) push URL.
    #[arg(long)]
    call_status_url: Option<String>,
    /// CDR push URL.
    #[arg(long)]
    cdr_url: Option<String>,
    /// SMS notify URL.
    #[arg(long)]
    sms_url: Option<String>,
    /// Recording enabled.
    #[arg(long)]
    record: Option<bool>,
    /// SMS enabled.
    #[arg(long)]
    sms: Option<bool>,
    /// Push X-number status changes (numStatus).
    #[arg(long)]
    num_status: Option<bool>,
    /// X-number status push URL ("" = the call-status URL).
    #[arg(long)]
    num_status_url: Option<String>,
    /// SMS-control (Block) URL ("" clears).
    #[arg(long)]
    sms_control_url: Option<String>,
    /// SMS notifications carry smsContent.
    #[arg(long)]
    sms_content: Option<bool>,
    /// Accept national numbers (138…, 86138…) in the app's API number fields.
    #[arg(long)]
    allow_national_numbers: Option<bool>,
    /// How pushes are signed: aksk or wsse.
    #[arg(long)]
    push_auth: Option<String>,
}

#[derive(Subcommand, Debug)]
enum NumbersCommand {
    /// Import numbers into an app's pool.
    Import {
        /// The owning app key.
        #[arg(long)]
        app_key: String,
        /// Area code with its leading 0, e.g. 0755.
        #[arg(long)]
        area_code: String,
        /// Province, for areaMatchMode=1.
        #[arg(long)]
        province: Option<String>,
        /// A file with one number per line (in addition to the arguments).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Numbers to import.
        numbers: Vec<String>,
    },
    /// List pool numbers (all, or one app's).
    List {
        /// Only this app's numbers.
        #[arg(long)]
        app_key: Option<String>,
    },
    /// Set a number's status: normal, paused, unavailable or frozen.
    Status {
        /// The number.
        number: String,
        /// New status.
        status: String,
        /// With unavailable: the cause pushed to the app (1 deleted, 2 arrears, 3 suspended, 5 call-restricted,
        /// 6 restriction lifted, 7/8/9 unconditional/no-answer/busy forwarding).
        #[arg(long)]
        cause: Option<u8>,
    },
    /// Retire a number from the pool (refused while bindings use it, unless --force).
    Retire {
        /// The number.
        number: String,
        /// Also unbind every binding on it.
        #[arg(long)]
        force: bool,
    },
}

/// Runs one admin command against the instance described by `config`.
pub fn run(config: &Config, args: AdminArgs) -> Result<(), Box<dyn std::error::Error>> {
    let base = args.url.clone().unwrap_or_else(|| {
        let mut addr = config.http.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    });
    let token = match (args.token.clone(), config.api.admin_token.clone()) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            let path = config.data_dir.join(ADMIN_TOKEN_FILE);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("no admin token given and cannot read {}: {e}", path.display()))?
                .trim()
                .to_owned()
        }
    };
    let Request {
        method,
        path,
        body,
        save_to,
    } = request_for(args.command)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, answer) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token);
        req = match body {
            Some(Body::Json(v)) => req.json(&v),
            Some(Body::Wav(bytes)) => req.header("Content-Type", "audio/wav").body(bytes),
            None => req,
        };
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes))
    })?;
    if let (Some(out), true) = (&save_to, status.is_success()) {
        std::fs::write(out, &answer)?;
        println!("wrote {} bytes to {}", answer.len(), out.display());
        return Ok(());
    }
    let answer = String::from_utf8_lossy(&answer);
    match serde_json::from_str::<Value>(&answer) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
        Err(_) => println!("{answer}"),
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("admin API answered HTTP {status}").into())
    }
}

/// What an admin request sends.
enum Body {
    /// A JSON body.
    Json(Value),
    /// A WAV file.
    Wav(Vec<u8>),
}

/// One admin API request.
struct Request {
    method: reqwest::Method,
    path: String,
    body: Option<Body>,
    /// Write a successful answer's bytes here instead of printing them.
    save_to: Option<PathBuf>,
}

impl Request {
    fn new(method: reqwest::Method, path: String, body: Option<Value>) -> Self {
        Self {
            method,
            path,
            body: body.map(Body::Json),
            save_to: None,
        }
    }
}

/// The admin path of an app's prompt.
fn prompt_path(app_key: &str, name: &str) -> String {
    format!("/admin/v1/apps/{}/prompts/{}", encode(app_key), encode(name))
}

fn prompts_request(command: PromptsCommand) -> Result<Request, Box<dyn std::error::Error>> {
    use reqwest::Method;
    Ok(match command {
        PromptsCommand::Put { app_key, name, file } => {
            let name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or("give --name: the file has no usable name")?
                    .to_owned(),
            };
            Request {
                body: Some(Body::Wav(std::fs::read(&file)?)),
                ..Request::new(Method::PUT, prompt_path(&app_key, &name), None)
            }
        }
        PromptsCommand::List { app_key } => Request::new(
            Method::GET,
            format!("/admin/v1/apps/{}/prompts", encode(&app_key)),
            None,
        ),
        PromptsCommand::Get { app_key, name, out } => Request {
            save_to: Some(out),
            ..Request::new(Method::GET, prompt_path(&app_key, &name), None)
        },
        PromptsCommand::Delete { app_key, name } => {
            Request::new(Method::DELETE, prompt_path(&app_key, &name), None)
        }
    })
}

fn request_for(command: AdminCommand) -> Result<Request, Box<dyn std::error::Error>> {
    use reqwest::Method;
    let (method, path, body) = match command {
        AdminCommand::Prompts(p) => return prompts_request(p),
        AdminCommand::Controls(c) => return controls_request(c),
        c @ (AdminCommand::Outbox(_) | AdminCommand::Cdrs { .. }) => {
            return outbox_request(c).ok_or_else(|| "not an outbox command".into());
        }
        AdminCommand::App(AppCommand::Create(c)) => (
            Method::POST,
            "/admin/v1/apps".to_owned(),
            Some(app_create_body(c)),
        ),
        AdminCommand::App(AppCommand::List) => (Method::GET, "/admin/v1/apps".to_owned(), None),
        AdminCommand::App(AppCommand::Show { app_key }) => {
            (Method::GET, format!("/admin/v1/apps/{}", encode(&app_key)), None)
        }
        AdminCommand::App(AppCommand::Set(s)) => (
            Method::PUT,
            format!("/admin/v1/apps/{}", encode(&s.app_key)),
            Some(app_set_body(s)),
        ),
        AdminCommand::Numbers(NumbersCommand::Import {
            app_key,
            area_code,
            province,
            file,
            mut numbers,
        }) => {
            if let Some(file) = file {
                let text = std::fs::read_to_string(&file)?;
                numbers.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(String::from),
                );
            }
            let entries: Vec<Value> = numbers
                .iter()
                .map(|n| json!({"number": n, "areaCode": area_code, "province": province}))
                .collect();
            (
                Method::POST,
                "/admin/v1/numbers".to_owned(),
                Some(json!({"appKey": app_key, "numbers": entries})),
            )
        }
        AdminCommand::Numbers(NumbersCommand::List { app_key }) => {
            let query = app_key
                .map(|k| format!("?appKey={}", encode(&k)))
                .unwrap_or_default();
            (Method::GET, format!("/admin/v1/numbers{query}"), None)
        }
        AdminCommand::Numbers(NumbersCommand::Status {
            number,
            status,
            cause,
        }) => {
            let mut body = json!({ "status": status });
            put_opt(&mut body, "cause", cause.map(Value::from));
            (
                Method::PUT,
                format!("/admin/v1/numbers/{}", encode(&number)),
                Some(body),
            )
        }
        AdminCommand::Numbers(NumbersCommand::Retire { number, force }) => {
            let query = if force { "?force=true" } else { "" };
            (
                Method::DELETE,
                format!("/admin/v1/numbers/{}{query}", encode(&number)),
                None,
            )
        }
    };
    Ok(Request::new(method, path, body))
}

/// The body of `app create`.
fn app_create_body(c: AppCreate) -> Value {
    let mut body = json!({
        "name": c.name, "mode": c.mode.to_ascii_uppercase(),
        "recordEnabled": c.record, "smsEnabled": c.sms,
    });
    put_opt(&mut body, "appKey", c.app_key.map(Value::from));
    put_opt(&mut body, "appSecret", c.app_secret.map(Value::from));
    put_opt(&mut body, "callStatusUrl", c.call_status_url.map(Value::from));
    put_opt(&mut body, "cdrUrl", c.cdr_url.map(Value::from));
    put_opt(&mut body, "smsUrl", c.sms_url.map(Value::from));
    put_opt(&mut body, "extensionDigits", c.extension_digits.map(Value::from));
    put_opt(&mut body, "collectRepeat", c.collect_repeat.map(Value::from));
    put_opt(
        &mut body,
        "numStatusEnabled",
        c.num_status.then_some(Value::from(true)),
    );
    put_opt(&mut body, "numStatusUrl", c.num_status_url.map(Value::from));
    put_opt(&mut body, "smsControlUrl", c.sms_control_url.map(Value::from));
    put_opt(
        &mut body,
        "smsContentEnabled",
        c.sms_content.then_some(Value::from(true)),
    );
    put_opt(&mut body, "pushAuth", c.push_auth.map(Value::from));
    put_opt(
        &mut body,
        "allowNationalNumbers",
        c.allow_national_numbers.then_some(Value::from(true)),
    );
    body
}

/// The body of `app set`.
fn app_set_body(s: AppSet) -> Value {
    let mut body = json!({});
    put_opt(&mut body, "enabled", s.enabled.map(Value::from));
    put_opt(&mut body, "callStatusUrl", s.call_status_url.map(Value::from));
    put_opt(&mut body, "cdrUrl", s.cdr_url.map(Value::from));
    put_opt(&mut body, "smsUrl", s.sms_url.map(Value::from));
    put_opt(&mut body, "recordEnabled", s.record.map(Value::from));
    put_opt(&mut body, "smsEnabled", s.sms.map(Value::from));
    put_opt(&mut body, "numStatusEnabled", s.num_status.map(Value::from));
    put_opt(&mut body, "numStatusUrl", s.num_status_url.map(Value::from));
    put_opt(&mut body, "smsControlUrl", s.sms_control_url.map(Value::from));
    put_opt(&mut body, "smsContentEnabled", s.sms_content.map(Value::from));
    put_opt(&mut body, "pushAuth", s.push_auth.map(Value::from));
    put_opt(
        &mut body,
        "allowNationalNumbers",
        s.allow_national_numbers.map(Value::from),
    );
    body
}

fn put_opt(body: &mut Value, key: &str, value: Option<Value>) {
    if let (Some(v), Some(map)) = (value, body.as_object_mut()) {
        map.insert(key.to_owned(), v);
    }
}

/// Percent-encodes a path or query component (`+` in numbers must travel as `%2B`).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_plus_and_spaces() {
        assert_eq!(encode("+86 138"), "%2B86%20138");
    }

    fn parse(args: &[&str]) -> Result<AdminArgs, clap::Error> {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            admin: AdminArgs,
        }
        use clap::Parser as _;
        Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied())).map(|c| c.admin)
    }

    fn request(args: &[&str]) -> Request {
        request_for(parse(args).unwrap().command).unwrap()
    }

    #[test]
    fn outbox_commands_build_their_requests() {
        let r = request(&[
            "outbox",
            "list",
            "--state",
            "dead",
            "--app-key",
            "k1",
            "--from",
            "2024-01-02 03:04:05",
        ]);
        assert_eq!(r.method, reqwest::Method::GET);
        assert_eq!(
            r.path,
            "/admin/v1/outbox?state=dead&appKey=k1&from=2024-01-02%2003%3A04%3A05"
        );
        assert_eq!(request(&["outbox", "list"]).path, "/admin/v1/outbox");
        let r = request(&[
            "cdrs",
            "--app-key",
            "k",
            "--to",
            "100",
            "--limit",
            "5",
            "--after",
            "9",
        ]);
        assert_eq!(r.path, "/admin/v1/cdrs?appKey=k&to=100&after=9&limit=5");
        let r = request(&["outbox", "replay", "--id", "3", "--id", "7"]);
        assert_eq!(
            (r.method, r.path.as_str()),
            (reqwest::Method::POST, "/admin/v1/outbox/replay")
        );
        assert!(matches!(r.body, Some(Body::Json(v)) if v == json!({"ids": [3, 7]})));
        let r = request(&["outbox", "replay", "--app-key", "k"]);
        assert!(matches!(r.body, Some(Body::Json(v)) if v == json!({"appKey": "k"})));
        // Exactly one of --id and --app-key; cdrs needs its app.
        assert!(parse(&["outbox", "replay"]).is_err());
        assert!(parse(&["outbox", "replay", "--id", "1", "--app-key", "k"]).is_err());
        assert!(parse(&["cdrs"]).is_err());
    }

    /// The JSON body `pnswitch admin <args>` sends.
    fn body_of(args: &[&str]) -> Value {
        match request(args).body {
            Some(Body::Json(v)) => v,
            _ => panic!("no JSON body"),
        }
    }

    #[test]
    fn allow_national_numbers_flags() {
        let create = |extra: &[&str]| {
            let mut args = vec!["app", "create", "--name", "n", "--mode", "axb"];
            args.extend_from_slice(extra);
            body_of(&args)
        };
        assert_eq!(create(&[]).get("allowNationalNumbers"), None);
        assert_eq!(
            create(&["--allow-national-numbers"])["allowNationalNumbers"],
            json!(true)
        );
        let set = |value: &str| body_of(&["app", "set", "k", "--allow-national-numbers", value]);
        assert_eq!(set("true")["allowNationalNumbers"], json!(true));
        assert_eq!(set("false")["allowNationalNumbers"], json!(false));
        assert_eq!(
            body_of(&["app", "set", "k", "--enabled", "true"]).get("allowNationalNumbers"),
            None
        );
    }

    #[test]
    fn controls_commands_build_their_requests() {
        let r = request(&["controls", "get", "k+1"]);
        assert_eq!(
            (r.method, r.path.as_str()),
            (reqwest::Method::GET, "/admin/v1/apps/k%2B1/controls")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(&file, r#"{"limits":[{"key":"caller","windowSecs":60,"max":3}]}"#).unwrap();
        let r = request(&["controls", "set", "k", file.to_str().unwrap()]);
        assert_eq!(
            (r.method, r.path.as_str()),
            (reqwest::Method::PUT, "/admin/v1/apps/k/controls")
        );
        assert!(matches!(r.body, Some(Body::Json(v)) if v["limits"][0]["max"] == 3));
    }

    #[test]
    fn push_options_and_cause_flags() {
        let v = body_of(&[
            "app",
            "create",
            "--name",
            "n",
            "--mode",
            "axb",
            "--num-status",
            "--num-status-url",
            "https://h/s",
            "--sms-control-url",
            "https://h/b",
            "--sms-content",
            "--push-auth",
            "wsse",
        ]);
        assert_eq!(v["numStatusEnabled"], true);
        assert_eq!(v["numStatusUrl"], "https://h/s");
        assert_eq!(v["smsControlUrl"], "https://h/b");
        assert_eq!(v["smsContentEnabled"], true);
        assert_eq!(v["pushAuth"], "wsse");
        let v = body_of(&["app", "create", "--name", "n", "--mode", "axb"]);
        assert!(
            v.get("numStatusEnabled").is_none() && v.get("pushAuth").is_none(),
            "{v}"
        );
        let v = body_of(&[
            "app",
            "set",
            "k",
            "--num-status",
            "false",
            "--num-status-url",
            "",
            "--sms-content",
            "true",
        ]);
        assert_eq!(v["numStatusEnabled"], false);
        assert_eq!(v["numStatusUrl"], "");
        assert_eq!(v["smsContentEnabled"], true);
        let v = body_of(&[
            "numbers",
            "status",
            "+8617000000001",
            "unavailable",
            "--cause",
            "3",
        ]);
        assert_eq!(v, serde_json::json!({"status": "unavailable", "cause": 3}));
    }
}
