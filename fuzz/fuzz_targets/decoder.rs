//! Any bytes, in any chunking: the decoder never panics and stays bounded.
//!
//! `cargo +nightly fuzz run decoder` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, Vec<u8>, Vec<u8>)| {
    let (small, cuts, data) = input;
    ami_proto::__fuzz::decoder(small, &cuts, &data);
});
