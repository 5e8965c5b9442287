//! pn-e2e: support code for the end-to-end tests in tests/.
