//! The randomized soak of the shared connection (`ami-async`'s
//! `tests/support/soak.rs`) on tokio: a current-thread runtime (the client's
//! task and every caller on one thread) and a multi-thread one.

#[path = "../../ami-async/tests/support/soak.rs"]
mod soak;

use std::future::Future;
use std::panic;
use std::sync::Arc;

use ami_tokio::Tokio;
use soak::{Exec, Task};

/// A tokio runtime of the flavour `MULTI` says (two workers), shared by the
/// client's task and the callers.
#[derive(Clone)]
struct OnTokio<const MULTI: bool>(Arc<tokio::runtime::Runtime>);

impl<const MULTI: bool> Exec for OnTokio<MULTI> {
    type Runtime = Tokio;

    fn new() -> Self {
        let rt = match MULTI {
            true => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
            false => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        };
        OnTokio(Arc::new(rt.expect("a tokio runtime")))
    }

    fn runtime(&self) -> Tokio {
        Tokio::new(self.0.handle().clone())
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
