//! The randomized soak of the shared connection (`ami-async`'s
//! `tests/support/soak.rs`) on tokio: a current-thread runtime (the client's
//! task and every caller on one thread) and a multi-thread one.

mod common;
#[path = "../../ami-async/tests/support/soak.rs"]
mod soak;

use std::any::Any;
use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use ami_tokio::{BackgroundTask, Client, ClientConfig, Tokio};
use soak::{Exec, Task};

/// A tokio runtime of the flavour `MULTI` says (two workers), shared by the
/// client's task and the callers.
#[derive(Clone)]
struct OnTokio<const MULTI: bool>(Arc<tokio::runtime::Runtime>);

impl<const MULTI: bool> Exec for OnTokio<MULTI> {
    type Runtime = Tokio;

    fn new() -> Self {
        OnTokio(Arc::new(common::runtime(MULTI)))
    }

    fn runtime(&self) -> Tokio {
        Tokio::new(self.0.handle().clone())
    }

    fn frozen(&self, config: ClientConfig) -> (Client, Box<dyn Any>) {
        let freeze = Arc::new(Freeze::default());
        let (handle, f) = (self.0.handle().clone(), freeze.clone());
        let builder = Client::builder_on(self.runtime(), config)
            .spawn_with(move |task| drop(handle.spawn(Freezable(task, f))));
        let client = self.0.block_on(builder.connect()).expect("login");
        freeze.frozen.store(true, Ordering::SeqCst);
        // On worker threads the task may be in a turn (holding the
        // session's lock): frozen once that turn is over.
        while freeze.in_poll.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        (client, Box::new(()))
    }

    fn spawn(&self, task: Task) -> Task {
        let join = self.0.spawn(task);
        Box::pin(async move {
            if let Err(e) = join.await {
                panic::resume_unwind(e.into_panic());
            }
        })
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}

/// Whether the client's task is frozen, and whether it is being polled.
#[derive(Default)]
struct Freeze {
    frozen: AtomicBool,
    in_poll: AtomicBool,
}

/// The client's task, polled until it is frozen and never after (its
/// socket stays registered with the runtime's reactor, which callers use).
struct Freezable(BackgroundTask, Arc<Freeze>);

impl Future for Freezable {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Marked before `frozen` is read (both sequentially consistent): a
        // poll that missed the freeze is seen by the freezer, which waits.
        self.1.in_poll.store(true, Ordering::SeqCst);
        let poll = match self.1.frozen.load(Ordering::SeqCst) {
            true => Poll::Pending,
            false => self.0.as_mut().poll(cx),
        };
        self.1.in_poll.store(false, Ordering::SeqCst);
        poll
    }
}

#[test]
fn soak_on_current_thread() {
    soak::soak::<OnTokio<false>>("tokio current_thread");
}

#[test]
fn soak_on_multi_thread() {
    soak::soak::<OnTokio<true>>("tokio multi_thread");
}

#[test]
fn flapping_on_current_thread() {
    soak::flapping::<OnTokio<false>>("tokio current_thread");
}

#[test]
fn flapping_on_multi_thread() {
    soak::flapping::<OnTokio<true>>("tokio multi_thread");
}

#[test]
fn frozen_on_current_thread() {
    soak::frozen::<OnTokio<false>>("tokio current_thread");
}

#[test]
fn frozen_on_multi_thread() {
    soak::frozen::<OnTokio<true>>("tokio multi_thread");
}
