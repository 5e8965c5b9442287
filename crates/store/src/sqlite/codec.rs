//! The `SQLite` encoding of a model value's JSON `body` (the neutral row mapping is [`crate::codec`]).

use rusqlite::types::ValueRef;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// Serialises a model value as its `body`.
pub(crate) fn to_body<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)).into())
}

/// Decodes a `body` column value (`table` names the source in the error).
pub(crate) fn from_body<T: DeserializeOwned>(value: ValueRef<'_>, table: &str) -> Result<T, StoreError> {
    let text = value
        .as_str()
        .map_err(|e| StoreError::Corrupt(format!("{table}: body is not text: {e}")))?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{table}: {e}")))
}
