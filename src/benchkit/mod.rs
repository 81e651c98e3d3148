//! Measurement helpers shared by the benches (`benches/`) and `mdp bench`; not part of the
//! engine's API (hidden from the docs, no stability promise).
//!
//! They live in the library so that each exists once: the cross-core hop probe that tells
//! near from far placement ([`probe`]) and the sink-side work a fair baseline does per batch,
//! the same as a pipeline's sink stage ([`BaselineSink`]).

pub mod probe;
mod sink;

pub use sink::BaselineSink;
