//! The app and its X numbers, created through node 1's admin API, and the waits until every node knows them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::Error;

/// The reference's limit of pairs per X (`max_pairs_per_x`, default 5000).
pub const MAX_PAIRS_PER_X: usize = 5000;

/// The route-trace `stateCode` of a number the node's table does not hold as an X (`Cause::UNKNOWN_X`).
const UNKNOWN_X: u64 = 8025;

/// The resultcode of an unknown `app_key`.
const UNKNOWN_APP: &str = "1010003";

/// The resultcode of a query that found nothing (the app is known).
const NO_RECORD: &str = "1016001";

/// How long every node may take to become ready and to learn the app and its numbers.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The app the binds go to.
#[derive(Debug, Clone)]
pub struct App {
    /// `appKey`.
    pub key: String,
    /// `appSecret`.
    pub secret: String,
    /// The X numbers, in import order.
    pub xs: Vec<String>,
}

fn created_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    pn_api::auth::format_created(pn_bindings::UnixTime(i64::try_from(secs).unwrap_or(i64::MAX)))
}

impl App {
    /// A signed request of this app (the server's own signer: this is a load tool, not a test).
    pub fn signed(&self, req: reqwest::RequestBuilder, nonce: &str) -> reqwest::RequestBuilder {
        let [_, (_, x_aksk)] = pn_api::auth::aksk_headers(&self.key, &self.secret, nonce, &created_now());
        req.header(
            "Authorization",
            r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#,
        )
        .header("X-AKSK", x_aksk)
    }
}

/// Waits until every node's `/readyz` answers 200 (its table caught up with the feed).
pub async fn wait_ready(client: &reqwest::Client, bases: &[String]) -> Result<(), Error> {
    for (i, base) in bases.iter().enumerate() {
        let started = Instant::now();
        loop {
            let ok = client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                return Err(format!("node {} not ready after {SETTLE_TIMEOUT:?}", i + 1).into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Creates the AXB app and imports `x_numbers` X numbers through `base` (node 1).
pub async fn create(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    x_numbers: usize,
) -> Result<App, Error> {
    let app: Value = client
        .post(format!("{base}/admin/v1/apps"))
        .bearer_auth(token)
        .json(&json!({"name": "cluster-bench", "mode": "AXB"}))
        .send()
        .await?
        .json()
        .await?;
    let fields = app.get("app").ok_or_else(|| format!("app not created: {app}"))?;
    let key = fields["appKey"].as_str().ok_or("no appKey")?.to_owned();
    let secret = fields["appSecret"].as_str().ok_or("no appSecret")?.to_owned();
    let xs: Vec<String> = (0..x_numbers).map(|i| format!("+86170{i:08}")).collect();
    let entries: Vec<Value> = xs
        .iter()
        .map(|n| json!({"number": n, "areaCode": "0755"}))
        .collect();
    let imported: Value = client
        .post(format!("{base}/admin/v1/numbers"))
        .bearer_auth(token)
        .json(&json!({"appKey": key, "numbers": entries}))
        .send()
        .await?
        .json()
        .await?;
    if imported["imported"].as_u64() != Some(x_numbers as u64) {
        let refused = imported["results"]
            .as_array()
            .and_then(|r| r.iter().find(|n| n["resultcode"] != "0"));
        return Err(format!(
            "number import: {} of {x_numbers} imported (--postgres-url needs an empty database); first refusal: {}",
            imported["imported"],
            refused.unwrap_or(&imported)
        )
        .into());
    }
    Ok(App { key, secret, xs })
}

/// Waits until every node's API knows the app (a signed query answers 0 or 1016001, not
/// 1010003) and every
/// node's table holds every X (the route trace of each is not "unknown X").
pub async fn wait_known(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    app: &App,
) -> Result<(), Error> {
    let started = Instant::now();
    let late = || format!("the nodes did not learn the app and its numbers within {SETTLE_TIMEOUT:?}");
    for (i, base) in bases.iter().enumerate() {
        let mut probe = 0_u32;
        loop {
            probe += 1;
            let url = format!("{base}/rest/caas/relationnumber/partners/v1.0");
            let req = client.get(url).query(&[("relationNum", &app.xs[0])]);
            let answer: Value = app
                .signed(req, &format!("known{i}n{probe}"))
                .send()
                .await?
                .json()
                .await?;
            match answer["resultcode"].as_str() {
                // No binding on that X yet: "the record does not exist".
                Some("0" | NO_RECORD) => break,
                Some(UNKNOWN_APP) => {}
                _ => return Err(format!("query on node {} failed: {answer}", i + 1).into()),
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                return Err(late().into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for x in &app.xs {
            while trace(client, base, token, "+8613900000000", x).await?["stateCode"] == UNKNOWN_X {
                if started.elapsed() > SETTLE_TIMEOUT {
                    return Err(late().into());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Ok(())
}

/// The node's route trace of a call from `from` to the X `to` (`GET /admin/v1/route`).
pub async fn trace(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    from: &str,
    to: &str,
) -> Result<Value, Error> {
    let answer = client
        .get(format!("{base}/admin/v1/route"))
        .bearer_auth(token)
        .query(&[("caller", from), ("called", to)])
        .send()
        .await?
        .json()
        .await?;
    Ok(answer)
}
