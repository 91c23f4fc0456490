//! The randomized soak of the shared connection (`ami-async`'s
//! `tests/support/soak.rs`) on smol: its global executor, and one thread
//! running an executor of the test's own for the client's task and the
//! callers.

#[path = "../../ami-async/tests/support/soak.rs"]
mod soak;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use ami_smol::{Client, ClientBuilder, ClientConfig, Smol};
use soak::{Exec, Task};

/// smol's global executor runs the client's task and the callers.
#[derive(Clone)]
struct Global;

impl Exec for Global {
    type Runtime = Smol;

    fn new() -> Self {
        Global
    }

    fn runtime(&self) -> Smol {
        Smol
    }

    fn frozen(&self, config: ClientConfig) -> (Client, Box<dyn Any>) {
        frozen(config)
    }

    fn spawn(&self, task: Task) -> Task {
        Box::pin(smol::spawn(task))
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
}

/// An executor run by the test's thread alone: the client's task (through
/// `spawn_with`) and every caller share one thread.
#[derive(Clone)]
struct OneThread(Arc<smol::Executor<'static>>);

impl Exec for OneThread {
    type Runtime = Smol;

    fn new() -> Self {
        OneThread(Arc::new(smol::Executor::new()))
    }

    fn runtime(&self) -> Smol {
        Smol
    }

    fn builder(&self, config: ClientConfig) -> ClientBuilder {
        let ex = self.0.clone();
        Client::builder(config).spawn_with(move |task| ex.spawn(task).detach())
    }

    fn frozen(&self, config: ClientConfig) -> (Client, Box<dyn Any>) {
        frozen(config)
    }

    fn spawn(&self, task: Task) -> Task {
        Box::pin(self.0.spawn(task))
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(self.0.run(f))
    }
}

/// A client whose task runs on an executor of its own, driven only while
/// it logs in.
fn frozen(config: ClientConfig) -> (Client, Box<dyn Any>) {
    let ex = Arc::new(smol::Executor::new());
    let spawner = ex.clone();
    let builder = Client::builder(config).spawn_with(move |task| spawner.spawn(task).detach());
    let client = smol::block_on(ex.run(builder.connect())).expect("login");
    (client, Box::new(ex))
}

#[test]
fn soak_on_the_global_executor() {
    soak::soak::<Global>("smol");
}

#[test]
fn soak_on_one_thread() {
    soak::soak::<OneThread>("smol one thread");
}

#[test]
fn flapping_on_the_global_executor() {
    soak::flapping::<Global>("smol");
}

#[test]
fn flapping_on_one_thread() {
    soak::flapping::<OneThread>("smol one thread");
}

#[test]
fn frozen_on_the_global_executor() {
    soak::frozen::<Global>("smol");
}

#[test]
fn frozen_on_one_thread() {
    soak::frozen::<OneThread>("smol one thread");
}
