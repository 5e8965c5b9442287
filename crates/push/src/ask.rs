//! X mode's Block `callin` over HTTP ([`pn_runtime::CustomerAsk`]): POST the body to the app's call-status URL,
//! signed like every push (`sign::headers`), with the B2BUA's decision timeout as the whole request's timeout;
//! the body of a 2xx answer is the customer's reply. Nothing is stored or retried: the call cannot wait.

use std::sync::Arc;
use std::time::Duration;

use pn_bindings::{AppId, BindingTable};
use pn_runtime::{AskFuture, CustomerAsk};

/// Largest reply body read (a Block reply is a few hundred bytes).
const MAX_REPLY: usize = 64 * 1024;

/// Asks X-mode customers over HTTP. Requests run on the tokio runtime it was made on, whichever thread
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
    fn ask(&self, app: AppId, body: String) -> AskFuture {
        let client = self.client.clone();
        let app = self.table.app(app);
        let task = self.runtime.spawn(async move {
            let app = app.ok_or_else(|| "unknown app".to_owned())?;
            let url = app
                .call_status_url
                .clone()
                .ok_or_else(|| "the app has no call-status URL".to_owned())?;
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
