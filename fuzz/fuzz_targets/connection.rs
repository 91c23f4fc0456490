//! Arbitrary server bytes, answers, sends, cancels, timeouts and closes:
//! no panic, bounded queues and deadline heap, every action completes
//! exactly once.
//!
//! `cargo +nightly fuzz run connection` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, Vec<ami_proto::__fuzz::Op>)| {
    let (policy, ops) = input;
    ami_proto::__fuzz::connection(policy, &ops);
});
