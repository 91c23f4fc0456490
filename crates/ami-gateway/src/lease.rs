//! Leases: which gateway holds which node, in a JetStream key-value bucket.
//!
//! One key per node; its value names the holder. A gateway takes a node by
//! creating the key (it fails while another holds it), renews it by an
//! update that names the revision it last wrote (compare-and-set: it fails
//! once anyone else wrote), and lets it go by deleting it at that revision.
//!
//! A lease ends by itself: the bucket's `max_age` is the lease time (NATS
//! 2.9 has no per-key TTL), so an unrenewed key is removed by the server
//! `max_age` after its last write, and another gateway's create then
//! succeeds. The holder only ever counts from the moment it *sent* its last
//! successful write, which is no later than the moment the server stored it:
//! the lease cannot expire before `sent + ttl`, so stopping before that
//! instant (see [`Fence`]) keeps two gateways from publishing one node at
//! once.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The fraction of the lease time after which a holder that could not
/// renew stops publishing: it keeps a quarter of the lease as a margin for
/// publishes already on their way.
const PUBLISH_FRACTION: (u32, u32) = (3, 4);

/// The bucket of leases.
pub(crate) struct Leases {
    /// Opened through the start-up context (its long timeout); each lease
    /// operation is bounded by [`op_timeout`](Self::op_timeout) instead.
    kv: kv::Store,
    ttl: Duration,
    /// A quarter of the lease: an answer later than that is no use to a
    /// renewal, which must land before the lease runs out.
    op_timeout: Duration,
    gateway: String,
}

/// What the key of a held node says.
#[derive(Serialize, Deserialize)]
struct Holder<'a> {
    gateway: &'a str,
    session: &'a str,
}

/// A lease this gateway holds.
#[derive(Debug)]
pub(crate) struct Held {
    key: String,
    value: Bytes,
    revision: u64,
}

/// Why a renewal failed.
#[derive(Debug)]
pub(crate) enum RenewError {
    /// Someone else wrote the key, or it expired: the node is not ours.
    Lost,
    /// NATS did not answer: the lease may still be ours until it expires.
    Unreachable(String),
}

impl Leases {
    /// Opens the bucket, creating it with `ttl` as its `max_age` if it does
    /// not exist. An existing bucket's `max_age` wins: every gateway must
    /// count with the age the server enforces.
    ///
    /// `js` is the start-up context: placing a replicated stream on a
    /// cluster just started can take seconds, far more than a lease
    /// operation may (a quarter of the lease timed out in CI).
    pub(crate) async fn open(
        js: &jetstream::Context,
        bucket: &str,
        ttl: Duration,
        replicas: usize,
        gateway: &str,
    ) -> Result<Leases, String> {
        let kv = match js.get_key_value(bucket).await {
            Ok(kv) => kv,
            Err(_) => {
                // The bucket's stream, made here rather than by
                // `create_key_value`, which first reads the account's
                // information in a form a 2.9 server does not send.
                js.get_or_create_stream(bucket_stream(bucket, ttl, replicas))
                    .await
                    .map_err(|e| format!("cannot create the lease bucket {bucket}: {e}"))?;
                js.get_key_value(bucket)
                    .await
                    .map_err(|e| format!("cannot open the lease bucket {bucket}: {e}"))?
            }
        };
        let status = kv
            .status()
            .await
            .map_err(|e| format!("cannot read the lease bucket {bucket}: {e}"))?;
        let enforced = status.max_age();
        if enforced.is_zero() {
            return Err(format!(
                "the lease bucket {bucket} has no max_age: leases would never expire; delete it or give it one"
            ));
        }
        if enforced != ttl {
            tracing::warn!(
                server = "-",
                action_id = "-",
                queue_depth = 0,
                bucket,
                configured_ms = ttl.as_millis() as u64,
                enforced_ms = enforced.as_millis() as u64,
                "the lease bucket exists with another max_age; using the bucket's"
            );
        }
        Ok(Leases {
            kv,
            ttl: enforced,
            op_timeout: enforced / 4,
            gateway: gateway.to_owned(),
        })
    }

    /// The lease time the server enforces.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes `node` for `session` if nobody holds it. `Ok(Err(holder))`
    /// names the gateway that does (`"?"` if it cannot be read).
    pub(crate) async fn try_acquire(
        &self,
        node: &str,
        session: &str,
    ) -> Result<Result<(Held, Instant), String>, String> {
        let entry = self.bounded(self.kv.entry(node)).await?;
        if let Some(entry) = entry.map_err(|e| e.to_string())? {
            if entry.operation == kv::Operation::Put {
                return Ok(Err(holder_name(&entry.value)));
            }
        }
        let value = Bytes::from(
            serde_json::to_vec(&Holder {
                gateway: &self.gateway,
                session,
            })
            .expect("strings always serialize"),
        );
        let sent = Instant::now();
        match self.bounded(self.kv.create(node, value.clone())).await? {
            Ok(revision) => Ok(Ok((
                Held {
                    key: node.to_owned(),
                    value,
                    revision,
                },
                sent,
            ))),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(Err("?".into())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Renews `held`: returns the instant the renewal was sent, from which
    /// the lease runs for another [`ttl`](Self::ttl).
    pub(crate) async fn renew(&self, held: &mut Held) -> Result<Instant, RenewError> {
        let sent = Instant::now();
        let update = self.kv.update(&held.key, held.value.clone(), held.revision);
        match self
            .bounded(update)
            .await
            .map_err(RenewError::Unreachable)?
        {
            Ok(revision) => {
                held.revision = revision;
                Ok(sent)
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Err(RenewError::Lost),
            Err(e) => Err(RenewError::Unreachable(e.to_string())),
        }
    }

    /// Lets `held` go at once, if it is still ours (a delete at our
    /// revision), so another gateway need not wait for it to expire.
    pub(crate) async fn release(&self, held: Held) -> Result<(), String> {
        self.bounded(
            self.kv
                .delete_expect_revision(&held.key, Some(held.revision)),
        )
        .await?
        .map_err(|e| e.to_string())
    }

    /// Runs a lease operation for at most [`op_timeout`](Self::op_timeout).
    async fn bounded<T>(&self, op: impl Future<Output = T>) -> Result<T, String> {
        tokio::time::timeout(self.op_timeout, op)
            .await
            .map_err(|_| format!("no answer within {:?}", self.op_timeout))
    }
}

/// The stream of a key-value bucket of leases: what `create_key_value`
/// makes for `history: 1` (one value per key, deletes as markers, reads
/// straight from the stream), with `max_age` the lease time.
fn bucket_stream(bucket: &str, ttl: Duration, replicas: usize) -> jetstream::stream::Config {
    use jetstream::stream::{Config, DiscardPolicy, StorageType};
    Config {
        name: format!("KV_{bucket}"),
        description: Some("ami-gateway leases: which gateway holds which node".into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: StorageType::File,
        num_replicas: replicas,
        discard: DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        ..Default::default()
    }
}

/// The gateway named in a lease's value.
fn holder_name(value: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Name {
        gateway: String,
    }
    serde_json::from_slice::<Name>(value)
        .map(|n| n.gateway)
        .unwrap_or_else(|_| "?".into())
}

/// Until when the holder of a lease may publish: a fixed fraction of the
/// lease time after the last write it knows the server took.
#[derive(Debug)]
pub(crate) struct Fence {
    until: Mutex<Instant>,
    ttl: Duration,
}

impl Fence {
    /// A fence for a lease whose last write was sent at `sent`.
    pub(crate) fn new(sent: Instant, ttl: Duration) -> Self {
        let fence = Fence {
            until: Mutex::new(sent),
            ttl,
        };
        fence.renewed(sent);
        fence
    }

    /// The lease was written again at `sent`.
    pub(crate) fn renewed(&self, sent: Instant) {
        let (num, den) = PUBLISH_FRACTION;
        let until = sent + self.ttl * num / den;
        let mut guard = self.until.lock().unwrap_or_else(|e| e.into_inner());
        *guard = (*guard).max(until);
    }

    /// The instant publishing must stop unless the lease is renewed.
    pub(crate) fn until(&self) -> Instant {
        *self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a publish may be sent at `now`.
    pub(crate) fn open(&self, now: Instant) -> bool {
        now < self.until()
    }

    /// How often to renew: four times per lease, so two renewals can fail
    /// before the fence closes.
    pub(crate) fn renew_every(ttl: Duration) -> Duration {
        ttl / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_closes_a_quarter_of_the_lease_before_it_can_expire() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(8);
        let fence = Fence::new(t0, ttl);
        assert!(fence.open(t0 + Duration::from_millis(5_999)));
        assert!(!fence.open(t0 + Duration::from_secs(6)));
        // A renewal moves it; a late answer to an older renewal never
        // moves it back.
        fence.renewed(t0 + Duration::from_secs(2));
        assert_eq!(fence.until(), t0 + Duration::from_secs(8));
        fence.renewed(t0 + Duration::from_secs(1));
        assert_eq!(fence.until(), t0 + Duration::from_secs(8));
        assert!(Fence::renew_every(ttl) * 2 < ttl * 3 / 4);
    }

    #[test]
    fn holder_names_are_read_leniently() {
        assert_eq!(holder_name(br#"{"gateway":"gw-a","session":"1"}"#), "gw-a");
        assert_eq!(holder_name(b"garbage"), "?");
    }
}
