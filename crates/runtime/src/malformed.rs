//! The answer to a request that does not parse: pn-sip builds the `400 Bad Request` from its raw lines
//! ([`pn_sip::malformed::bad_request`]); the runtime only supplies a fresh To tag and the cause
//! ([`pn_b2bua::malformed_request_reason`]) and sends it.

use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes of a 400 answering `datagram`, when it is a request that can be answered.
pub(crate) fn bad_request(datagram: &[u8]) -> Option<Vec<u8>> {
    static TAGS: AtomicU64 = AtomicU64::new(1);
    let tag = format!("pn400-{}", TAGS.fetch_add(1, Ordering::Relaxed));
    pn_sip::malformed::bad_request(datagram, &tag, Some(&pn_b2bua::malformed_request_reason()))
}
