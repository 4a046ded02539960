//! safepref-loadgen as a library: the simulated annotators of the `load`
//! subcommand, so the scale-out test can drive them in process, and the
//! scripted chat-completions server that `safepref suggest` is tested and
//! benchmarked against.

pub mod fake_llm;
pub mod load;
