//! pn-api: the provisioning API.
