//! safepref-core: the annotation domain, pure — no IO, no async, no SQL.
//! The server, the exports and the load generator build on it.

pub mod agreement;
pub mod consolidation;
pub mod export;
pub mod judge;
pub mod labels;
pub mod machine;
pub mod records;
pub mod report;
mod rng;
pub mod suggestions;
pub mod taxonomy;
