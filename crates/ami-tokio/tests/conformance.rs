//! The conformance suite (`ami_testkit::conformance`) with the async client
//! on tokio: every scenario over real TCP against the fake Asterisk.

mod common;
#[path = "../../ami-async/tests/support/conformance.rs"]
mod support;

use std::future::Future;

use ami_tokio::Tokio;
use support::{Async, Executor};

/// A multi-thread runtime of two workers per client runs its task; the
/// test's thread waits.
struct OnTokio(tokio::runtime::Runtime);

impl Executor for OnTokio {
    type Runtime = Tokio;
    const NAME: &'static str = "tokio";

    fn new() -> Self {
        OnTokio(common::runtime(true))
    }

    fn runtime(&self) -> Tokio {
        Tokio::new(self.0.handle().clone())
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}

ami_testkit::conformance_suite!(Async<OnTokio>);
