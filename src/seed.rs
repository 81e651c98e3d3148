//! The seed's examples in Rust (documentation only: every example below is a doctest).
#![doc = include_str!("seed.md")]
