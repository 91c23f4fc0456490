//! A deterministic, time-boxed run of the fuzz harnesses (`fuzz/` runs the
//! same ones under libFuzzer). Seeds are fixed, so a failure reproduces: the
//! panic message names the seed. `AMI_FUZZ_SECONDS` sets the budget.

use std::time::{Duration, Instant};

use ami_proto::__fuzz;
use arbitrary::{Arbitrary, Unstructured};

/// SplitMix64, to make input bytes from a seed.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Frame-shaped noise: real header lines, blank lines, garbage and splits.
fn protocol_noise(seed: u64, len: usize) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"Response: Success\r\n",
        b"Response: Follows\r\nPrivilege: Command\r\n",
        b"Response: Failure\r\n",
        b"Event: StatusComplete\r\nItems: 0\r\n",
        b"Event: Newchannel\r\n",
        b"ActionID: x\r\n",
        b"EventList: start\r\n",
        b"actionid:y\r\n",
        b"EVENTLIST: Complete\r\n",
        b"ActionIDX: z\r\n",
        b"--END COMMAND--\r\n",
        b"\r\n",
        b"\n",
        b"Output: line\r\n",
        b"no colon\r\n",
        b"Key:value",
        b"\x00\xff",
    ];
    let raw = bytes(seed, len);
    let mut out = Vec::new();
    for b in raw {
        out.extend_from_slice(PIECES[b as usize % PIECES.len()]);
    }
    out
}

fn budget() -> Duration {
    let secs = std::env::var("AMI_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs / 2.0)
}

#[test]
fn decoder_never_panics_and_stays_bounded() {
    let deadline = Instant::now() + budget();
    let mut runs = 0u64;
    for seed in 0u64.. {
        if Instant::now() >= deadline || runs >= 1_000_000 {
            break;
        }
        let data = if seed % 2 == 0 {
            protocol_noise(seed, 512)
        } else {
            bytes(seed, 2048)
        };
        let cuts = bytes(seed ^ 0xABCD, 16);
        __fuzz::decoder(seed % 3 == 0, &cuts, &data);
        runs += 1;
    }
    eprintln!("{runs} runs");
    assert!(runs > 10, "only {runs} runs");
}

#[test]
fn connection_completes_every_action_exactly_once() {
    let deadline = Instant::now() + budget();
    let mut runs = 0u64;
    for seed in 0u64.. {
        if Instant::now() >= deadline || runs >= 1_000_000 {
            break;
        }
        let raw = bytes(seed, 4096);
        let mut u = Unstructured::new(&raw);
        let ops: Vec<__fuzz::Op> = match Vec::arbitrary(&mut u) {
            Ok(ops) => ops,
            Err(_) => continue,
        };
        let result = std::panic::catch_unwind(|| __fuzz::connection(seed as u8, &ops));
        assert!(result.is_ok(), "seed {seed} failed: {ops:?}");
        runs += 1;
    }
    eprintln!("{runs} runs");
    assert!(runs > 10, "only {runs} runs");
}

#[test]
fn reconnect_policy_waits_end_and_stay_bounded() {
    let deadline = Instant::now() + budget() / 4;
    let mut runs = 0u64;
    for seed in 0u64.. {
        if Instant::now() >= deadline || runs >= 100_000 {
            break;
        }
        let raw = bytes(seed, 1024);
        let mut u = Unstructured::new(&raw);
        let ops: Vec<__fuzz::PolicyOp> = match Vec::arbitrary(&mut u) {
            Ok(ops) => ops,
            Err(_) => continue,
        };
        let result = std::panic::catch_unwind(|| __fuzz::reconnect(seed, &ops));
        assert!(result.is_ok(), "seed {seed} failed: {ops:?}");
        runs += 1;
    }
    eprintln!("{runs} runs");
    assert!(runs > 10, "only {runs} runs");
}
