//! End-to-end tests: one test binary (one private PostgreSQL cluster for the
//! whole run), one module per area.

mod annotate;
mod api;
mod api_review;
mod auth;
mod availability;
mod browser;
mod cli;
mod crowd;
mod dashboard;
mod export;
mod export_suggestions;
mod faults;
mod fixtures;
mod formats;
mod gold;
mod hostile;
mod import;
mod liveness;
mod machine;
mod members;
mod pages;
mod projects;
mod queue;
mod queue_model;
mod report;
mod review;
mod review_queue_page;
mod roles;
mod scaleout;
mod sql_functions;
mod suggestions;
mod supervisor;
mod tokens;
mod tour;
mod wellbeing;
