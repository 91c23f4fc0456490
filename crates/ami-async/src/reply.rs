//! A one-shot reply: the driver completes an action once; its caller awaits
//! the outcome.
//!
//! Performance: an `async-channel` per action cost two allocations and an
//! event-listener registration on each side; this is one allocation and an
//! uncontended mutex.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A new reply slot: the half that sends, and the half that waits.
#[cfg(test)]
pub(crate) fn reply<T>() -> (Reply<T>, Waiting<T>) {
    reply_in(None)
}

/// A new reply slot, in `spare`'s memory if given (no allocation).
pub(crate) fn reply_in<T>(spare: Option<Spare<T>>) -> (Reply<T>, Waiting<T>) {
    let slot = match spare {
        Some(Spare(slot)) => slot,
        None => Arc::new(Mutex::new(Slot {
            value: None,
            waker: None,
            sender_gone: false,
        })),
    };
    (Reply(Some(slot.clone())), Waiting(slot))
}

/// An emptied slot nobody else holds, kept for the next reply
/// ([`Waiting::into_spare`]).
pub(crate) struct Spare<T>(Arc<Mutex<Slot<T>>>);

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

fn lock<T>(slot: &Mutex<Slot<T>>) -> MutexGuard<'_, Slot<T>> {
    // No code panics while holding the lock; a poisoned slot is still whole.
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending half. Dropped without [`send`](Reply::send), the waiter gets
/// `None`.
pub(crate) struct Reply<T>(Option<Arc<Mutex<Slot<T>>>>);

impl<T> Reply<T> {
    /// Hands over the outcome (kept even if nobody waits any more).
    pub(crate) fn send(mut self, value: T) {
        self.finish(|v| *v = Some(value), true);
    }

    /// Hands over the outcome without waking the waiter: for a waiter that
    /// is itself sending it, and looks at the slot right after. A wake-up
    /// would only have its task polled once more for nothing.
    pub(crate) fn send_quiet(mut self, value: T) {
        self.finish(|v| *v = Some(value), false);
    }

    /// Lets go of the slot without a value or the sender's end: for a
    /// waiter that will never look, whose outcome went another way (a
    /// direct send's own answer, which its turn returns and whose slot it
    /// recycles at once, see `Link::try_send`).
    ///
    /// Performance: ending the slot's wait locked and unlocked it, about
    /// 50 instructions per round trip, for a wait nobody has.
    #[inline(always)]
    pub(crate) fn dismiss(mut self) {
        drop(self.0.take());
    }

    /// Leaves the value (`put` writes it in place: an outcome is moved
    /// once, not through an `Option` first) and the sender's end in the
    /// slot, with one lock; wakes the waiter if asked.
    fn finish(&mut self, put: impl FnOnce(&mut Option<T>), wake: bool) {
        let Some(slot) = self.0.take() else {
            return;
        };
        let mut slot = lock(&slot);
        put(&mut slot.value);
        slot.sender_gone = true;
        let waker = slot.waker.take();
        drop(slot);
        if let Some(waker) = waker.filter(|_| wake) {
            waker.wake();
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        self.finish(|_| {}, true);
    }
}

/// The waiting half: resolves to the value sent, or `None` if the sender
/// was dropped without sending.
pub(crate) struct Waiting<T>(Arc<Mutex<Slot<T>>>);

impl<T> Waiting<T> {
    /// The slot, emptied, if nobody else holds it any more (its sender is
    /// done with it): for [`reply_in`], so that the next reply costs no
    /// allocation.
    pub(crate) fn into_spare(mut self) -> Option<Spare<T>> {
        let slot = Arc::get_mut(&mut self.0)?;
        let slot = slot.get_mut().unwrap_or_else(|e| e.into_inner());
        slot.value = None;
        slot.waker = None;
        slot.sender_gone = false;
        Some(Spare(self.0))
    }
}

impl<T> Future for Waiting<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = lock(&self.0);
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Some(value));
        }
        if slot.sender_gone {
            return Poll::Ready(None);
        }
        match &mut slot.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_sent_arrives_even_across_threads() {
        let (tx, rx) = reply();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.send(7);
        });
        assert_eq!(smol::block_on(rx), Some(7));
        sender.join().unwrap();
    }

    #[test]
    fn a_sender_dropped_without_sending_ends_the_wait() {
        let (tx, rx) = reply::<u32>();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(tx);
        });
        assert_eq!(smol::block_on(rx), None);
        sender.join().unwrap();
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A caller reading for its own answer hands it over quietly: the
    /// value is there when it looks, and its task is not woken for it.
    #[test]
    fn a_quiet_send_leaves_the_value_without_a_wake_up() {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let woken = || count.0.load(std::sync::atomic::Ordering::SeqCst);

        let (tx, mut rx) = reply();
        assert!(Pin::new(&mut rx).poll(&mut cx).is_pending());
        tx.send_quiet(1);
        assert_eq!(woken(), 0, "no wake-up");
        assert_eq!(Pin::new(&mut rx).poll(&mut cx), Poll::Ready(Some(1)));

        let (tx, mut rx) = reply();
        assert!(Pin::new(&mut rx).poll(&mut cx).is_pending());
        tx.send(2);
        assert_eq!(woken(), 1, "a plain send wakes the waiter");
        assert_eq!(Pin::new(&mut rx).poll(&mut cx), Poll::Ready(Some(2)));
    }

    /// A slot is kept for the next reply only once its sender is done with
    /// it, and comes back empty: no value, no waker, a sender present.
    #[test]
    fn a_slot_is_reused_empty_once_its_sender_is_done() {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);

        let (tx, mut rx) = reply();
        assert!(Pin::new(&mut rx).poll(&mut cx).is_pending());
        let (tx2, rx2) = reply::<u32>();
        assert!(rx2.into_spare().is_none(), "its sender still holds it");
        drop(tx2);
        tx.send(1);
        assert_eq!(Pin::new(&mut rx).poll(&mut cx), Poll::Ready(Some(1)));
        let first = Arc::as_ptr(&rx.0);
        let spare = rx.into_spare().expect("nobody else holds it");

        let (tx, mut rx) = reply_in(Some(spare));
        assert_eq!(Arc::as_ptr(&rx.0), first, "the same memory");
        {
            let slot = lock(&rx.0);
            assert!(slot.value.is_none() && slot.waker.is_none() && !slot.sender_gone);
        }
        assert!(Pin::new(&mut rx).poll(&mut cx).is_pending());
        tx.send(2);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(Pin::new(&mut rx).poll(&mut cx), Poll::Ready(Some(2)));
    }

    /// A dismissed sender lets go of the slot untouched: it is free for
    /// the next reply at once, and nobody is woken.
    #[test]
    fn a_dismissed_sender_frees_the_slot_without_a_wake_up() {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let (tx, rx) = reply::<u32>();
        lock(&rx.0).waker = Some(waker);
        tx.dismiss();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        let slot = rx.into_spare().expect("nobody else holds it");
        let (tx, mut rx) = reply_in(Some(slot));
        tx.send(3);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(Pin::new(&mut rx).poll(&mut cx), Poll::Ready(Some(3)));
    }

    #[test]
    fn a_value_sent_before_the_wait_is_kept() {
        let (tx, rx) = reply();
        tx.send("done");
        assert_eq!(smol::block_on(rx), Some("done"));
    }
}
