//! The runtime's side of [`pn_provision::CallControl`]: a call-stop request goes to the shard that made the
//! call's `sessionId` (its prefix, [`pn_b2bua::session_shard`]) as a command with a oneshot reply; the shard's
//! core releases the call ([`pn_b2bua::B2bua::stop_call`]).

use pn_b2bua::StopResult;
use pn_bindings::AppId;
use pn_provision::{CallControl, StopFuture, StopOutcome};

use crate::dispatch::Dispatch;

/// Call control over the running shards.
pub(crate) struct ShardCalls {
    pub(crate) dispatch: Dispatch,
}

impl CallControl for ShardCalls {
    fn stop_call<'a>(&'a self, app: AppId, session_id: &'a str) -> StopFuture<'a> {
        Box::pin(async move {
            match self.dispatch.stop_call(app, session_id).await {
                Some(StopResult::Stopped) => StopOutcome::Stopped,
                Some(StopResult::OtherApp) => StopOutcome::OtherApp,
                Some(_) => StopOutcome::NotFound,
                None => StopOutcome::Unavailable,
            }
        })
    }
}
