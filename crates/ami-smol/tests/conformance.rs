//! The conformance suite (`ami_testkit::conformance`) with the async client
//! on smol: every scenario over real TCP against the fake Asterisk.

#[path = "../../ami-async/tests/support/conformance.rs"]
mod support;

use std::future::Future;

use ami_smol::Smol;
use support::{Async, Executor};

/// smol's global executor runs the client's task; the test's thread waits.
struct OnSmol;

impl Executor for OnSmol {
    type Runtime = Smol;
    const NAME: &'static str = "smol";

    fn new() -> Self {
        OnSmol
    }

    fn runtime(&self) -> Smol {
        Smol
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
}

ami_testkit::conformance_suite!(Async<OnSmol>);
