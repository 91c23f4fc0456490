//! One node's publishes in flight: at most `max_unacked` messages sent and
//! not yet acknowledged by JetStream, each retried with the same
//! `Nats-Msg-Id` until it is, so a publish whose ack was lost is stored once.
//!
//! The window is the back-pressure: the node's loop takes events from the
//! AMI session only while [`Window::has_room`], so a slow or absent
//! JetStream leaves events in the AMI event queue, whose configured policy
//! then decides (drop oldest, drop newest, or stop reading the socket), and
//! every drop is counted there. Nothing JetStream acknowledged is lost: the
//! stream is file-backed, and an unacknowledged message stays here until it
//! is acknowledged or the lease forbids publishing ([`Window::abandon`]).
//!
//! Order: messages are sent in order on one connection, and JetStream
//! stores them in that order. A message whose ack failed is sent again
//! after those already in flight, so after a JetStream failure a retried
//! event may be stored after later ones; `seq` tells consumers the order.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::jetstream;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::Subject;
use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};

use crate::lease::Fence;
use crate::metrics::{Metrics, NodeMetrics};

/// The first pause before failed publishes are sent again; it doubles
/// while they keep failing, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// One message to publish, kept until JetStream acknowledges it.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) subject: Subject,
    pub(crate) msg_id: String,
    pub(crate) payload: Bytes,
    /// An event (counted in `events_out`), not a marker.
    pub(crate) is_event: bool,
}

/// The ack of one publish.
type AckFuture = <PublishAckFuture as IntoFuture>::IntoFuture;

/// The publishes of one node awaiting their acks, and those to send again.
pub(crate) struct Window<'a> {
    js: &'a jetstream::Context,
    nats: async_nats::Client,
    fence: &'a Fence,
    metrics: &'a Metrics,
    node: &'a NodeMetrics,
    /// The acks awaited, oldest first, and beside them (same order) what
    /// they acknowledge and when it was sent.
    in_flight: FuturesOrdered<AckFuture>,
    sent: VecDeque<(Pending, Instant)>,
    retry: VecDeque<Pending>,
    retry_at: Option<Instant>,
    backoff: Duration,
    max: usize,
}

impl<'a> Window<'a> {
    pub(crate) fn new(
        js: &'a jetstream::Context,
        metrics: &'a Metrics,
        node: &'a NodeMetrics,
        fence: &'a Fence,
        max: usize,
    ) -> Self {
        Window {
            js,
            nats: js.client(),
            fence,
            metrics,
            node,
            in_flight: FuturesOrdered::new(),
            sent: VecDeque::new(),
            retry: VecDeque::new(),
            retry_at: None,
            backoff: FIRST_BACKOFF,
            max,
        }
    }

    /// Messages that may still be sent before the window is full.
    pub(crate) fn room(&self) -> usize {
        self.max.saturating_sub(self.held())
    }

    /// Whether another message may be sent now.
    pub(crate) fn has_room(&self) -> bool {
        self.room() > 0
    }

    /// Messages sent or waiting to be sent again, not yet acknowledged.
    pub(crate) fn held(&self) -> usize {
        self.in_flight.len() + self.retry.len()
    }

    /// Whether every message sent so far is acknowledged.
    pub(crate) fn is_empty(&self) -> bool {
        self.held() == 0
    }

    /// Whether acks are awaited (the loop polls [`next_ack`](Self::next_ack) only then).
    pub(crate) fn awaiting_acks(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// When messages waiting to be sent again are due, if any are.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at.filter(|_| !self.retry.is_empty())
    }

    /// Sends `p` and keeps it until its ack. A message NATS can never take
    /// (larger than its `max_payload`) is dropped and counted. Past the
    /// lease's fence nothing is sent.
    ///
    /// While the connection is down nothing is handed to the NATS client
    /// (which would buffer it and deliver it whenever it reconnects, maybe
    /// after the lease is gone): the message waits here to be sent again.
    pub(crate) async fn send(&mut self, p: Pending) {
        if !self.fence.open(Instant::now()) {
            // The lease may be gone: never send; the node's loop abandons it.
            self.retry.push_back(p);
            return;
        }
        if self.nats.connection_state() != State::Connected {
            self.failed(p, "NATS is disconnected");
            self.node.unacked.store(self.held() as u64, Relaxed);
            return;
        }
        let publish = PublishMessage::build()
            .payload(p.payload.clone())
            .message_id(&p.msg_id);
        let sent = Instant::now();
        match self.js.send_publish(p.subject.clone(), publish).await {
            Ok(ack) => {
                self.in_flight.push_back(ack.into_future());
                self.sent.push_back((p, sent));
            }
            Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                tracing::warn!(
                    server = %server_of(&p.msg_id),
                    action_id = "-",
                    queue_depth = self.held(),
                    subject = %p.subject,
                    bytes = p.payload.len(),
                    "event larger than the NATS max_payload: dropped"
                );
                self.node.events_dropped.fetch_add(1, Relaxed);
            }
            Err(e) => self.failed(p, &e.to_string()),
        }
        self.node.unacked.store(self.held() as u64, Relaxed);
    }

    /// Waits for the oldest ack; handles it. Call only while
    /// [`awaiting_acks`](Self::awaiting_acks).
    pub(crate) async fn next_ack(&mut self) {
        let Some(result) = self.in_flight.next().await else {
            return;
        };
        let (p, sent) = self
            .sent
            .pop_front()
            .expect("one message kept per ack awaited, in the same order");
        match result {
            Ok(_) => {
                self.metrics.observe_latency(sent.elapsed());
                if p.is_event {
                    self.node.events_out.fetch_add(1, Relaxed);
                }
                self.backoff = FIRST_BACKOFF;
            }
            Err(e) => self.failed(p, &e.to_string()),
        }
        self.node.unacked.store(self.held() as u64, Relaxed);
    }

    /// Sends again, in order, the messages whose publish failed.
    pub(crate) async fn resend(&mut self) {
        self.retry_at = None;
        let due = std::mem::take(&mut self.retry);
        self.node
            .publish_retries
            .fetch_add(due.len() as u64, Relaxed);
        for p in due {
            self.send(p).await;
        }
    }

    /// Gives up every message not yet acknowledged (the lease no longer
    /// allows publishing); returns how many. They may or may not be stored.
    pub(crate) fn abandon(&mut self) -> usize {
        let n = self.held();
        self.in_flight = FuturesOrdered::new();
        self.sent.clear();
        self.retry.clear();
        self.node.publishes_abandoned.fetch_add(n as u64, Relaxed);
        self.node.unacked.store(0, Relaxed);
        n
    }

    /// Queues `p` to be sent again after the current back-off.
    fn failed(&mut self, p: Pending, why: &str) {
        if self.retry.is_empty() {
            tracing::warn!(
                server = %server_of(&p.msg_id),
                action_id = "-",
                queue_depth = self.held(),
                error = why,
                retry_in_ms = self.backoff.as_millis() as u64,
                "publish not acknowledged; sending it again"
            );
            self.retry_at = Some(Instant::now() + self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
        self.retry.push_back(p);
    }
}

/// The server named in a message id (`server:session:seq`).
fn server_of(msg_id: &str) -> &str {
    msg_id.split(':').next().unwrap_or("-")
}
