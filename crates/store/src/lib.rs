//! pn-store: durable state behind one trait.
