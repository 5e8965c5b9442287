//! Server transactions: INVITE (§17.2.1, RFC 6026 §7.1) and non-INVITE (§17.2.2).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Input, Output, State, Timer, TimerConfig, Timers};
use crate::error::{Result, SipError};
use crate::message::{Request, Response, SipMessage};
use crate::typed::Method;

/// A server transaction: absorbs request retransmissions, sends and retransmits responses.
#[derive(Debug, Clone)]
pub struct ServerTransaction {
    request: Request,
    invite: bool,
    reliable: bool,
    config: TimerConfig,
    state: State,
    timers: Timers,
    interval: Duration,
    last_response: Option<Response>,
    acked: bool,
    outputs: VecDeque<Output>,
}

impl ServerTransaction {
    /// Starts a transaction for a received `request` (not ACK) at `now`. An INVITE transaction
    /// transmits `100 Trying` at once when [`TimerConfig::auto_trying`] is set.
    pub fn new(request: Request, reliable: bool, config: &TimerConfig, now: Instant) -> Result<Self> {
        let invite = match request.method() {
            Method::Ack => return Err(SipError::Transaction("ACK has no server transaction")),
            m => *m == Method::Invite,
        };
        let mut t = Self {
            invite,
            reliable,
            config: config.clone(),
            state: if invite { State::Proceeding } else { State::Trying },
            timers: Timers::default(),
            interval: config.t1,
            last_response: None,
            acked: false,
            outputs: VecDeque::new(),
            request,
        };
        if invite && t.config.auto_trying {
            let trying = Response::for_request(&t.request, 100).build();
            t.handle_input(now, Input::Respond(trying))?;
        }
        Ok(t)
    }

    /// The request that created this transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The dialog its 2xx created ended before the ACK came (the peer's BYE overtook it): in `Accepted`, the
    /// 2xx is not retransmitted any more and Timer L ends the transaction without a timeout; it still absorbs
    /// retransmissions until then. Nothing happens in any other state.
    pub fn dialog_ended(&mut self) {
        if self.state == State::Accepted {
            self.acked = true;
            self.timers.clear(Timer::G);
        }
    }

    /// Whether it is an INVITE transaction.
    pub fn is_invite(&self) -> bool {
        self.invite
    }

    /// The last response sent (what a retransmitted request gets again).
    pub fn last_response(&self) -> Option<&Response> {
        self.last_response.as_ref()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the transaction is over.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// The next deadline, if any timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Feeds a retransmitted request or ACK, a response from the transaction user, or a timeout.
    /// A response the state does not allow (a second final response, e.g. 487 after a 2xx in a
    /// CANCEL race) is an error and nothing is sent.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<()> {
        match input {
            Input::Received(SipMessage::Request(r)) => {
                self.on_request(now, r);
                Ok(())
            }
            Input::Received(SipMessage::Response(_)) => {
                Err(SipError::Transaction("server transactions take requests"))
            }
            Input::Respond(r) => self.on_respond(now, r),
            Input::Timeout => {
                while let Some(timer) = self.timers.pop_due(now) {
                    self.on_timer(now, timer);
                }
                Ok(())
            }
        }
    }

    fn on_request(&mut self, now: Instant, r: Request) {
        let is_ack = *r.method() == Method::Ack;
        match self.state {
            State::Completed if self.invite && is_ack => {
                self.state = State::Confirmed;
                self.timers.clear_all();
                if self.reliable {
                    self.terminate();
                } else {
                    self.timers.set(Timer::I, now + self.config.t4);
                }
            }
            State::Accepted if is_ack => {
                self.acked = true;
                self.timers.clear(Timer::G);
                self.outputs.push_back(Output::Ack(r));
            }
            State::Proceeding | State::Completed if !is_ack => self.resend_last(),
            _ => {} // absorbed: retransmissions in Trying/Accepted/Confirmed, stray ACKs
        }
    }

    fn on_respond(&mut self, now: Instant, r: Response) -> Result<()> {
        let status = r.status();
        match (self.invite, self.state) {
            (_, State::Trying | State::Proceeding) if status < 200 => {
                self.state = State::Proceeding;
                self.send(r);
            }
            (true, State::Proceeding) if status < 300 => {
                self.state = State::Accepted;
                self.send(r);
                self.timers.set(Timer::L, now + self.config.timeout());
                if self.config.retransmit_2xx && !self.reliable {
                    self.timers.set(Timer::G, now + self.interval);
                }
            }
            // The TU may retransmit (or re-send) its 2xx itself.
            (true, State::Accepted) if (200..300).contains(&status) => self.send(r),
            (true, State::Proceeding) => {
                self.state = State::Completed;
                self.send(r);
                if !self.reliable {
                    self.timers.set(Timer::G, now + self.interval);
                }
                self.timers.set(Timer::H, now + self.config.timeout());
            }
            (false, State::Trying | State::Proceeding) => {
                self.state = State::Completed;
                self.send(r);
                if self.reliable {
                    self.terminate();
                } else {
                    self.timers.set(Timer::J, now + self.config.timeout());
                }
            }
            _ => return Err(SipError::Transaction("a final response was already sent")),
        }
        Ok(())
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match (timer, self.state) {
            (Timer::G, State::Completed | State::Accepted) => {
                self.resend_last();
                self.interval = (self.interval * 2).min(self.config.t2);
                self.timers.set(Timer::G, now + self.interval);
            }
            (Timer::H, State::Completed) => {
                self.outputs.push_back(Output::Timeout);
                self.terminate();
            }
            (Timer::L, State::Accepted) => {
                if !self.acked {
                    self.outputs.push_back(Output::Timeout);
                }
                self.terminate();
            }
            (Timer::I, State::Confirmed) | (Timer::J, State::Completed) => self.terminate(),
            _ => {}
        }
    }

    fn send(&mut self, r: Response) {
        self.outputs
            .push_back(Output::Transmit(SipMessage::Response(r.clone())));
        self.last_response = Some(r);
    }

    fn resend_last(&mut self) {
        if let Some(r) = &self.last_response {
            self.outputs
                .push_back(Output::Transmit(SipMessage::Response(r.clone())));
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timers.clear_all();
        self.outputs.push_back(Output::Terminated);
    }
}
