//! [`Output`]: what the B2BUA wants done, drained by the runtime.

use pn_bindings::CallbackRecord;
use pn_sip::SipMessage;

use crate::facts::CallFact;
use crate::media::MediaCommand;
use crate::peer::Peer;

/// What the B2BUA wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this message to `to`.
    Send {
        /// Destination.
        to: Peer,
        /// The message.
        message: SipMessage,
    },
    /// A call fact for the outbox.
    Fact(CallFact),
    /// Relay mode only: a command for the call's media relay (see [`crate::media`]).
    Media(MediaCommand),
    /// AXE: a call through an extension was forwarded; A dialing X calls this caller back until the
    /// record expires. The runtime stores it (durably) and puts it in the routing table.
    Callback(CallbackRecord),
    /// X mode / SMS Block: POST this Block request to the app's URL named by its target (call-status or
    /// SMS-control) and hand the answer (or the failure) back through [`crate::B2bua::handle_customer_reply`].
    /// Not stored, not retried; the B2BUA's own decision timer ends the wait if no answer comes.
    Ask(crate::XAsk),
    /// A B leg went to a trunk (for logs and traces: the trunk a call used).
    Trunk(crate::trunks::TrunkUse),
}
