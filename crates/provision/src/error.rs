//! [`ProvisionError`]: why a provisioning operation failed, with the reference `resultcode` it answers with.

use std::path::PathBuf;

/// Why a provisioning operation (or the provisioning core's startup) failed.
///
/// A refusal carries the reference's `resultcode` ([`ProvisionError::resultcode`]) and its text is the
/// reference-style `resultdesc` naming the offending field or rule; the HTTP API answers with both unchanged.
/// Failures of the machinery (store, files, the engine thread) are 1010001.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// 1010002: the request contradicts itself or the app (`Invalid request.<field> <what>`).
    #[error("{0}")]
    InvalidRequest(String),
    /// 1010040: the app's mode does not allow this operation.
    #[error("The app_key is not allowed to invoke the API")]
    WrongMode,
    /// 1011001: the number does not exist or is not in the app's pool.
    #[error("{0}")]
    NumberNotOwned(String),
    /// 1011002: insufficient number resources (X full, no idle X in the area, A holds too many X).
    #[error("{0}")]
    InsufficientResources(String),
    /// 1011004: the number is not applied for binding.
    #[error("{0}")]
    NumberNotBound(String),
    /// 1011005: resources have been allocated (the X already carries another binding).
    #[error("Resources have been allocated")]
    AlreadyAllocated,
    /// 1012007: the record (binding, app, number) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 1012010: the number has been bound.
    #[error("{0}")]
    AlreadyBound(String),
    /// 1012102: the number status is abnormal (paused, unavailable, frozen).
    #[error("{0}")]
    NumberStatusAbnormal(String),
    /// 1016002: the record already exists.
    #[error("{0}")]
    RecordExists(String),
    /// 1020167: no idle extension on the number (AXE).
    #[error("{0}")]
    NoIdleExtension(String),
    /// 1010001: the store failed during a write; nothing of the write (or of its batch) was committed.
    #[error("Internal system error")]
    Internal,
    /// 1010001: the engine thread has stopped; no more writes are possible.
    #[error("Internal system error: the provisioning engine has stopped")]
    Stopped,
    /// 1010001: the durable store failed (startup, loading).
    #[error("store: {0}")]
    Store(#[from] pn_store::StoreError),
    /// 1010001: the engine thread could not be started.
    #[error("engine thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// 1010002: a media file or name was refused (prompt upload, recording name, key file); the text says why.
    #[error("{0}")]
    InvalidFile(String),
    /// 1010001: a media file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl ProvisionError {
    /// The reference `resultcode` this failure answers with.
    pub fn resultcode(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::InvalidFile(_) => "1010002",
            Self::WrongMode => "1010040",
            Self::NumberNotOwned(_) => "1011001",
            Self::InsufficientResources(_) => "1011002",
            Self::NumberNotBound(_) => "1011004",
            Self::AlreadyAllocated => "1011005",
            Self::NotFound(_) => "1012007",
            Self::AlreadyBound(_) => "1012010",
            Self::NumberStatusAbnormal(_) => "1012102",
            Self::RecordExists(_) => "1016002",
            Self::NoIdleExtension(_) => "1020167",
            Self::Internal | Self::Stopped | Self::Store(_) | Self::Spawn(_) | Self::File { .. } => "1010001",
        }
    }

    /// A 1010002 refusal: `Invalid request.<field> <what>`.
    pub fn invalid(field: &str, what: &str) -> Self {
        Self::InvalidRequest(format!("Invalid request.{field} {what}"))
    }

    /// The plain not-found refusal of modify/unbind (1012007 "The record does not exist").
    pub fn not_found() -> Self {
        Self::NotFound("The record does not exist".into())
    }

    /// Whether this is a failure of the machinery (1010001) rather than a refusal of the request.
    pub fn is_internal(&self) -> bool {
        self.resultcode() == "1010001"
    }
}

#[cfg(test)]
mod tests {
    use super::ProvisionError;

    #[test]
    fn refusals_keep_the_reference_codes_and_texts() {
        let e = ProvisionError::invalid("calleeNum", "must differ from callerNum");
        assert_eq!(e.resultcode(), "1010002");
        assert_eq!(
            e.to_string(),
            "Invalid request.calleeNum must differ from callerNum"
        );
        assert_eq!(ProvisionError::not_found().resultcode(), "1012007");
        assert_eq!(
            ProvisionError::not_found().to_string(),
            "The record does not exist"
        );
        assert_eq!(ProvisionError::WrongMode.resultcode(), "1010040");
        assert_eq!(
            ProvisionError::WrongMode.to_string(),
            "The app_key is not allowed to invoke the API"
        );
        assert_eq!(ProvisionError::AlreadyAllocated.resultcode(), "1011005");
        assert!(ProvisionError::Stopped.is_internal());
        assert!(!ProvisionError::AlreadyAllocated.is_internal());
    }
}
