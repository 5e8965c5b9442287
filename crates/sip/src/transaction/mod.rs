//! Sans-IO SIP transactions (RFC 3261 §17 with the RFC 6026 `Accepted` state).
//!
//! A transaction is created with the request and `now`, then driven by
//! [`ClientTransaction::handle_input`] / [`ServerTransaction::handle_input`] (a received message,
//! a response from the transaction user, or [`Input::Timeout`] when the deadline from
//! `poll_timeout` has passed). After every input, drain `poll_output` until it returns `None`:
//! messages to transmit, messages for the transaction user, timeouts, termination. The clock is
//! never read: every `Instant` comes from the caller, so tests run on a virtual clock.
//!
//! Matching a received message to its transaction (branch, sent-by, method; §17.1.3, §17.2.3) is
//! done by the caller with [`TransactionKey`].

mod client;
mod server;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

pub use client::ClientTransaction;
pub use server::ServerTransaction;

use crate::error::{Result, SipError};
use crate::message::{Request, Response, SipMessage};
use crate::typed::Method;

/// Timer values (RFC 3261 §17.1.1.1, Table 4); all timers derive from these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Whether a server INVITE transaction sends `100 Trying` at once (§17.2.1).
    pub auto_trying: bool,
    /// Whether a server INVITE transaction retransmits its 2xx until the ACK (the UAS core's job in
    /// §13.3.1.4, done here in the `Accepted` state so the transaction user need not).
    pub retransmit_2xx: bool,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            auto_trying: true,
            retransmit_2xx: true,
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J, L, M.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s on unreliable transports.
    fn timer_d(&self) -> Duration {
        self.timeout().max(Duration::from_secs(32))
    }
}

/// The transaction timers (RFC 3261 Table 4, RFC 6026 L and M).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmit (client).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Wait time for response retransmits (client INVITE).
    D,
    /// Non-INVITE request retransmit (client).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final-response retransmit (server; also 2xx in `Accepted`).
    G,
    /// Wait time for ACK receipt (server).
    H,
    /// Wait time for ACK retransmits (server).
    I,
    /// Wait time for non-INVITE request retransmits (server).
    J,
    /// Wait time for response retransmits (client non-INVITE).
    K,
    /// Wait time for INVITE retransmits in `Accepted` (server, RFC 6026).
    L,
    /// Wait time for 2xx retransmits in `Accepted` (client, RFC 6026).
    M,
}

const TIMERS: usize = 12;

/// Deadlines indexed by [`Timer`].
#[derive(Debug, Clone, Default)]
struct Timers([Option<Instant>; TIMERS]);

impl Timers {
    fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    fn clear(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    fn clear_all(&mut self) {
        self.0 = [None; TIMERS];
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, disarmed.
    fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        const ALL: [Timer; TIMERS] = [
            Timer::A,
            Timer::B,
            Timer::D,
            Timer::E,
            Timer::F,
            Timer::G,
            Timer::H,
            Timer::I,
            Timer::J,
            Timer::K,
            Timer::L,
            Timer::M,
        ];
        let (i, _) = self
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t)))
            .filter(|(_, t)| *t <= now)
            .min_by_key(|(_, t)| *t)?;
        self.0[i] = None;
        Some(ALL[i])
    }
}

/// Transaction states (RFC 3261 Figures 5–8, RFC 6026 Figures 3–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Client INVITE: request sent, nothing received.
    Calling,
    /// Non-INVITE: request sent (client) or received (server), no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final non-2xx (INVITE) or any final (non-INVITE) response was received or sent.
    Completed,
    /// INVITE 2xx received or sent (RFC 6026): absorbs retransmissions.
    Accepted,
    /// Server INVITE: ACK for a non-2xx final response received.
    Confirmed,
    /// Done; the transaction can be dropped.
    Terminated,
}

/// Something that happened to a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A message from the network that matched this transaction.
    Received(SipMessage),
    /// (Server) a response from the transaction user to send.
    Respond(Response),
    /// The deadline from `poll_timeout` has passed.
    Timeout,
}

/// What a transaction wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this message to the peer (first transmission or retransmission).
    Transmit(SipMessage),
    /// (Client) a response for the transaction user.
    Response(Response),
    /// (Server) an ACK for a 2xx, for the transaction user (RFC 6026 §7.1).
    Ack(Request),
    /// The transaction timed out: no final response (client, Timer B/F), no ACK for a final
    /// response (server INVITE, Timer H or, for a 2xx, Timer L).
    Timeout,
    /// The transaction is over and can be dropped.
    Terminated,
}

/// The magic cookie that starts every RFC 3261 branch (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Identifies a transaction for matching (§17.1.3, §17.2.3): branch, sent-by and method, where
/// ACK matches the INVITE transaction it acknowledges.
///
/// A request whose top Via has no branch, or one without the magic cookie (an RFC 2543 peer), is matched
/// the backward-compatible way of §17.2.3: its `branch` is made of the Request-URI, the From tag, the
/// Call-ID, the CSeq number and the whole top Via. The To tag, which §17.2.3 also compares, is left out: it
/// differs between an initial INVITE (none) and its ACK (the server's), and the other fields already tell
/// a server's transactions apart. A CANCEL has the INVITE's fields, so with its method set to INVITE it
/// names the INVITE's transaction, as RFC 3261 CANCELs do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    /// The top Via branch (or, for an RFC 2543 request, the fields that stand in for it).
    pub branch: String,
    /// The top Via sent-by (`host:port`, lower case).
    pub sent_by: String,
    /// The method (INVITE for an ACK).
    pub method: Method,
}

impl TransactionKey {
    /// The key of the server transaction a received request belongs to.
    pub fn for_request(request: &Request) -> Result<Self> {
        let method = match request.method() {
            Method::Ack => Method::Invite,
            m => m.clone(),
        };
        let headers = request.headers();
        let via = headers.top_via()?;
        let branch = match via.branch() {
            Some(b) if b.starts_with(MAGIC_COOKIE) => b.to_owned(),
            _ => {
                let from_tag = headers.from()?.tag().unwrap_or_default().to_owned();
                format!(
                    "rfc2543 {} {from_tag} {} {} {via}",
                    request.uri(),
                    headers.call_id()?,
                    headers.cseq()?.seq
                )
            }
        };
        Ok(Self {
            branch,
            sent_by: sent_by(&via),
            method,
        })
    }

    /// The key of the client transaction a received response belongs to (method from CSeq).
    pub fn for_response(response: &Response) -> Result<Self> {
        let method = response.headers().cseq()?.method;
        Self::from_headers(response.headers(), method)
    }

    fn from_headers(headers: &crate::header::Headers, method: Method) -> Result<Self> {
        let via = headers.top_via()?;
        let branch = via
            .branch()
            .ok_or(SipError::Transaction("top Via has no branch"))?
            .to_owned();
        Ok(Self {
            branch,
            sent_by: sent_by(&via),
            method,
        })
    }
}

/// A Via's sent-by as a key (`host:port`, lower case, 5060 when no port is given).
fn sent_by(via: &crate::typed::Via) -> String {
    format!(
        "{}:{}",
        via.host().to_ascii_lowercase(),
        via.port().unwrap_or(5060)
    )
}
