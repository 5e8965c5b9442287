//! SQLite backend (placeholder until the store helper lands it).
