//! Availability: the database failing under a running load (killed,
//! restarted, late to start) and read-only use of a hot standby.

mod load;
mod restarts;
mod standby;
