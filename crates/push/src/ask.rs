//! Block requests over HTTP ([`pn_runtime::CustomerAsk`]): POST the body to the app's call-status URL (X
//! mode's Block `callin`) or its SMS-control URL (`push.sms_control_url`, SMS Block), signed like every push (`sign::headers`), with the B2BUA's decision timeout as the whole request's timeout;
//! the body of a 2xx answer is the customer's reply. Nothing is stored or retried: the call cannot wait.

use std::sync::Arc;
use std::time::Duration;

use pn_bindings::{AppId, BindingTable};
use pn_runtime::{AskFuture, AskTarget, CustomerAsk};

/// Largest reply body read (a Block reply is a few hundred bytes).
const MAX_REPLY: usize = 64 * 1024;

/// Asks customers (X-mode calls, SMS Block) over HTTP. Requests run on the tokio runtime it was made on, whichever thread
/// awaits them.
pub struct HttpCustomerAsk {
    client: reqwest::Client,
    table: Arc<BindingTable>,
    runtime: tokio::runtime::Handle,
}

impl HttpCustomerAsk {
    /// An asker over the apps of `table`, each request bounded by `timeout` (connect included). Must be made
    /// inside a tokio runtime.
    pub fn new(table: Arc<BindingTable>, timeout: Duration) -> Result<Self, crate::PushError> {
        let client =
            crate::sender::client(timeout, timeout).map_err(|e| crate::PushError::Http(e.to_string()))?;
        Ok(Self {
            client,
            table,
            runtime: tokio::runtime::Handle::current(),
        })
    }
}

impl CustomerAsk for HttpCustomerAsk {
    fn ask(&self, app: AppId, target: AskTarget, body: String) -> AskFuture {
        let client = self.client.clone();
        let app = self.table.app(app);
        let task = self.runtime.spawn(async move {
            let app = app.ok_or_else(|| "unknown app".to_owned())?;
            let url = match target {
                AskTarget::CallStatus => app.call_status_url.clone(),
                AskTarget::SmsControl => app.push.sms_control_url.clone(),
            }
            .ok_or_else(|| format!("the app has no {target:?} URL"))?;
            let mut request = client
                .post(&url)
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(body);
            for (name, value) in crate::sign::headers(&app, pn_runtime::unix_now()) {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status().as_u16()));
            }
            let bytes = response.bytes().await.map_err(|e| e.to_string())?;
            if bytes.len() > MAX_REPLY {
                return Err(format!("reply of {} bytes", bytes.len()));
            }
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        });
        Box::pin(async move { task.await.map_err(|e| e.to_string())? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use pn_bindings::{App, AppMedia, AppPush, Mode, UnixTime};

    fn app(id: u32, url: Option<String>) -> App {
        App {
            id: AppId(id),
            name: "x".into(),
            mode: Mode::X,
            app_key: format!("key{id}"),
            app_secret: "secret".into(),
            call_status_url: url,
            cdr_url: None,
            sms_url: None,
            record_enabled: false,
            sms_enabled: false,
            extension_digits: 0,
            collect_repeat: 3,
            enabled: true,
            created_at: UnixTime(0),
            media: AppMedia::default(),
            push: AppPush::default(),
            controls: pn_bindings::AppControls::default(),
            allow_national_numbers: false,
        }
    }

    #[tokio::test]
    async fn the_2xx_body_is_the_reply_and_anything_else_fails() {
        let receiver = axum::Router::new()
            .route(
                "/decide",
                post(|headers: HeaderMap, body: String| async move {
                    let signed = headers
                        .get("X-AKSK")
                        .is_some_and(|v| v.to_str().is_ok_and(|s| s.contains("Username=\"key1\"")));
                    if signed && body.contains("\"Block\"") {
                        (StatusCode::OK, r#"{"operation":"close"}"#)
                    } else {
                        (StatusCode::BAD_REQUEST, "unsigned")
                    }
                }),
            )
            .route(
                "/sms",
                post(|body: String| async move {
                    if body.contains("\"notificationMode\":\"Block\"") {
                        (StatusCode::OK, r#"{"actions":[{"operation":"DiscardMessage"}]}"#)
                    } else {
                        (StatusCode::BAD_REQUEST, "not a block")
                    }
                }),
            )
            .route(
                "/down",
                post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, receiver).await });
        let table = Arc::new(BindingTable::new());
        table.upsert_app(&app(1, Some(format!("http://{addr}/decide"))));
        table.upsert_app(&app(2, Some(format!("http://{addr}/down"))));
        table.upsert_app(&app(3, None));
        // App 4: an SMS-control URL only.
        let mut sms_app = app(4, None);
        sms_app.push.sms_control_url = Some(format!("http://{addr}/sms"));
        table.upsert_app(&sms_app);
        let asker = HttpCustomerAsk::new(Arc::clone(&table), Duration::from_secs(2)).unwrap();
        let body = r#"{"eventType":"callin","statusInfo":{"notifyMode":"Block"}}"#;
        let call = AskTarget::CallStatus;
        assert_eq!(
            asker.ask(AppId(1), call, body.to_owned()).await,
            Ok(r#"{"operation":"close"}"#.to_owned())
        );
        assert_eq!(
            asker.ask(AppId(2), call, body.to_owned()).await,
            Err("HTTP 503".to_owned())
        );
        assert!(asker.ask(AppId(3), call, body.to_owned()).await.is_err());
        assert!(asker.ask(AppId(9), call, body.to_owned()).await.is_err());
        // SMS Block goes to the SMS-control URL, never to the call-status URL.
        let sms = r#"{"appKey":"key4","smsEvent":{"notificationMode":"Block"}}"#;
        assert_eq!(
            asker.ask(AppId(4), AskTarget::SmsControl, sms.to_owned()).await,
            Ok(r#"{"actions":[{"operation":"DiscardMessage"}]}"#.to_owned())
        );
        assert!(asker.ask(AppId(4), call, sms.to_owned()).await.is_err());
        assert!(
            asker
                .ask(AppId(1), AskTarget::SmsControl, sms.to_owned())
                .await
                .is_err()
        );
    }
}
