//! Media files the API manages for the call path: per-app prompt files ([`PromptLibrary`]) and call
//! recordings with their signed download URLs ([`RecordingStore`]).
//!
//! Both are `Send + Sync` and meant to be shared as `Arc<…>` by the HTTP API and the SIP shards. Files are
//! written durably (temp file, fsync, rename, fsync of the directory) before a write is acknowledged.

pub mod prompts;
pub mod recordings;

mod fsutil;

pub use prompts::{Prompt, PromptInfo, PromptLibrary, prompt_name_ok};
pub use recordings::{RecordingStore, recording_name_ok, spawn_purger};
