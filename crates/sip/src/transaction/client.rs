//! Client transactions: INVITE (§17.1.1, RFC 6026 §7.2) and non-INVITE (§17.1.2).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Input, Output, State, Timer, TimerConfig, Timers};
use crate::error::{Result, SipError};
use crate::message::{Request, Response, SipMessage};
use crate::typed::Method;

/// A client transaction: sends a request, retransmits it, collects responses.
#[derive(Debug, Clone)]
pub struct ClientTransaction {
    request: Request,
    invite: bool,
    reliable: bool,
    config: TimerConfig,
    state: State,
    timers: Timers,
    interval: Duration,
    ack: Option<Request>,
    outputs: VecDeque<Output>,
}

impl ClientTransaction {
    /// Starts a transaction for `request` (not ACK) at `now`; the first output transmits it.
    /// `reliable` is true for TCP/TLS (no retransmissions, zero wait timers).
    pub fn new(request: Request, reliable: bool, config: &TimerConfig, now: Instant) -> Result<Self> {
        let invite = match request.method() {
            Method::Ack => return Err(SipError::Transaction("ACK has no client transaction")),
            m => *m == Method::Invite,
        };
        let mut t = Self {
            invite,
            reliable,
            config: config.clone(),
            state: if invite { State::Calling } else { State::Trying },
            timers: Timers::default(),
            interval: config.t1,
            ack: None,
            outputs: VecDeque::from([Output::Transmit(SipMessage::Request(request.clone()))]),
            request,
        };
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !reliable {
            t.timers.set(retransmit, now + t.interval);
        }
        t.timers.set(timeout, now + t.config.timeout());
        Ok(t)
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
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

    /// Feeds a received response or a timeout. Responses are assumed to match (see
    /// [`super::TransactionKey`]); a response in `Terminated` is ignored.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<()> {
        match input {
            Input::Received(SipMessage::Response(r)) => {
                self.on_response(now, r);
                Ok(())
            }
            Input::Received(SipMessage::Request(_)) => {
                Err(SipError::Transaction("client transactions take responses"))
            }
            Input::Respond(_) => Err(SipError::Transaction("client transactions do not send responses")),
            Input::Timeout => {
                while let Some(timer) = self.timers.pop_due(now) {
                    self.on_timer(now, timer);
                }
                Ok(())
            }
        }
    }

    fn on_response(&mut self, now: Instant, r: Response) {
        let status = r.status();
        match (self.invite, self.state) {
            (true, State::Calling | State::Proceeding) if status < 200 => {
                self.state = State::Proceeding;
                self.timers.clear(Timer::A);
                self.timers.clear(Timer::B);
                self.outputs.push_back(Output::Response(r));
            }
            (true, State::Calling | State::Proceeding) if status < 300 => {
                self.state = State::Accepted;
                self.timers.clear_all();
                self.timers.set(Timer::M, now + self.config.timeout());
                self.outputs.push_back(Output::Response(r));
            }
            (true, State::Calling | State::Proceeding) => {
                self.state = State::Completed;
                self.timers.clear_all();
                let ack = self.request.ack_for(&r);
                self.outputs
                    .push_back(Output::Transmit(SipMessage::Request(ack.clone())));
                self.ack = Some(ack);
                self.outputs.push_back(Output::Response(r));
                self.arm_or_terminate(now, Timer::D, self.config.timer_d());
            }
            // 2xx retransmissions (or forks) go to the TU, which ACKs them itself.
            (true, State::Accepted) if (200..300).contains(&status) => {
                self.outputs.push_back(Output::Response(r));
            }
            (true, State::Completed) if status >= 300 => {
                if let Some(ack) = &self.ack {
                    self.outputs
                        .push_back(Output::Transmit(SipMessage::Request(ack.clone())));
                }
            }
            (false, State::Trying | State::Proceeding) if status < 200 => {
                self.state = State::Proceeding;
                self.outputs.push_back(Output::Response(r));
            }
            (false, State::Trying | State::Proceeding) => {
                self.state = State::Completed;
                self.timers.clear_all();
                self.outputs.push_back(Output::Response(r));
                self.arm_or_terminate(now, Timer::K, self.config.t4);
            }
            _ => {} // absorbed
        }
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match (timer, self.state) {
            (Timer::A, State::Calling) => {
                self.retransmit();
                self.interval *= 2;
                self.timers.set(Timer::A, now + self.interval);
            }
            (Timer::E, State::Trying | State::Proceeding) => {
                self.retransmit();
                self.interval = if self.state == State::Trying {
                    (self.interval * 2).min(self.config.t2)
                } else {
                    self.config.t2
                };
                self.timers.set(Timer::E, now + self.interval);
            }
            (Timer::B, State::Calling) | (Timer::F, State::Trying | State::Proceeding) => {
                self.outputs.push_back(Output::Timeout);
                self.terminate();
            }
            (Timer::D | Timer::K, State::Completed) | (Timer::M, State::Accepted) => self.terminate(),
            _ => {}
        }
    }

    fn retransmit(&mut self) {
        self.outputs
            .push_back(Output::Transmit(SipMessage::Request(self.request.clone())));
    }

    fn arm_or_terminate(&mut self, now: Instant, timer: Timer, wait: Duration) {
        if self.reliable {
            self.terminate();
        } else {
            self.timers.set(timer, now + wait);
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timers.clear_all();
        self.outputs.push_back(Output::Terminated);
    }
}
