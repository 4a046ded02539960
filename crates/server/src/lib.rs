//! safepref-server: the web service and the `safepref` command line.
//! See docs/ARCHITECTURE.md for how the pieces fit together.

pub mod accounts;
pub mod app;
pub mod audit_log;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod export;
pub mod host_check;
pub mod import;
pub mod judge;
pub mod markdown;
pub mod pg;
pub mod projects;
pub mod queue;
pub mod report;
pub mod review;
pub mod routes;
pub mod suggestions;
pub mod svg;
pub mod wellbeing;

pub use app::{AppState, app, serve};
