//! safepref-loadgen as a library: the simulated annotators of the `load`
//! subcommand, so the scale-out test can drive them in process.

pub mod load;
