//! Arbitrary histories of failures, flaps, refused credentials and healthy
//! sessions at arbitrary times: every wait the reconnect policy asks for
//! ends, admits its attempt, and is bounded.
//!
//! `cargo +nightly fuzz run reconnect` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u64, Vec<ami_proto::__fuzz::PolicyOp>)| {
    let (seed, ops) = input;
    ami_proto::__fuzz::reconnect(seed, &ops);
});
