//! The gateway as a whole: connect to NATS, make sure the stream and the
//! lease bucket exist, run every node, serve actions and `/metrics`, and
//! shut down in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ami_tokio::Client;
use async_nats::connection::State;
use async_nats::jetstream::{self, context::ContextBuilder, stream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{GatewayConfig, Settings};
use crate::http::{self, Answer, Routes};
use crate::lease::Leases;
use crate::metrics::Metrics;
use crate::subjects::Subjects;
use crate::{actions, node};

/// The most actions one gateway runs at once; more get a `busy` reply.
const MAX_ACTIONS_IN_FLIGHT: usize = 4096;

/// Where the gateway is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Holding nodes, publishing, serving actions.
    Running,
    /// No new action is taken; those under way finish.
    Draining,
    /// Nodes log off, publish what they read, and release their leases.
    Closing,
}

/// What every task of the gateway shares.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) subjects: Subjects,
    pub(crate) nats: async_nats::Client,
    /// The publishing context: acks time out after `publish_timeout`.
    pub(crate) js: jetstream::Context,
    pub(crate) leases: Leases,
    pub(crate) metrics: Arc<Metrics>,
    /// Permits for actions in flight.
    pub(crate) actions: Arc<Semaphore>,
    /// The configured node names, in order (the metrics' order).
    names: Vec<String>,
    /// The nodes this gateway holds now, with their clients.
    held: Mutex<HashMap<String, Client>>,
}

impl Shared {
    fn held(&self) -> MutexGuard<'_, HashMap<String, Client>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The position of node `name` in the configuration.
    pub(crate) fn node_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The client of node `name`, if this gateway holds it.
    pub(crate) fn client(&self, name: &str) -> Option<Client> {
        self.held().get(name).cloned()
    }

    /// Node `name` is held, with `client`: actions may use it.
    pub(crate) fn hold(&self, name: &str, client: Client) {
        self.held().insert(name.to_owned(), client);
    }

    /// Node `name` is not held any more.
    pub(crate) fn let_go(&self, name: &str) {
        self.held().remove(name);
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// NATS could not be reached (the `ami` exit code 4).
    #[error("NATS: {0}")]
    Nats(String),
    /// JetStream refused the stream or the lease bucket.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// The metrics address could not be bound.
    #[error("metrics address {addr}: {error}")]
    Metrics {
        /// The configured address.
        addr: SocketAddr,
        /// Why it could not be bound.
        error: std::io::Error,
    },
}

/// A running gateway: its nodes, its action listener, its HTTP endpoint.
pub struct Gateway {
    shared: Arc<Shared>,
    phase: watch::Sender<Phase>,
    nodes: Vec<JoinHandle<()>>,
    actions: JoinHandle<()>,
    http: JoinHandle<()>,
    metrics_addr: SocketAddr,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("id", &self.shared.settings.id)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Connects to NATS, creates the stream and the lease bucket if they
    /// do not exist, binds the metrics address, and starts every node
    /// (each waits for its lease). Must run inside a tokio runtime.
    pub async fn start(config: GatewayConfig) -> Result<Gateway, StartError> {
        let GatewayConfig { settings, servers } = config;
        let names: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
        let metrics = Arc::new(Metrics::new(names.clone()));
        let nats = connect(&settings).await?;
        let subjects = Subjects::new(&settings.subject_prefix);

        let inflight = (settings.max_unacked * servers.len().max(1)).saturating_add(64);
        let js = ContextBuilder::new()
            .timeout(settings.publish_timeout)
            .max_ack_inflight(inflight)
            .backpressure_on_inflight(true)
            .build(nats.clone());
        let setup = ContextBuilder::new()
            .timeout(settings.publish_timeout.max(SETUP_TIMEOUT))
            .build(nats.clone());
        ensure_stream(&setup, &settings, &subjects).await?;
        let leases = Leases::open(
            &setup,
            &settings.lease_bucket,
            settings.lease_ttl,
            settings.stream_replicas,
            &settings.id,
        )
        .await
        .map_err(StartError::JetStream)?;

        let listener =
            http::bind(settings.metrics_addr)
                .await
                .map_err(|error| StartError::Metrics {
                    addr: settings.metrics_addr,
                    error,
                })?;
        let metrics_addr = listener.local_addr().map_err(|error| StartError::Metrics {
            addr: settings.metrics_addr,
            error,
        })?;
        let requests = nats
            .subscribe(subjects.all_actions())
            .await
            .map_err(|e| StartError::Nats(e.to_string()))?;

        let shared = Arc::new(Shared {
            settings,
            subjects,
            nats,
            js,
            leases,
            metrics,
            actions: Arc::new(Semaphore::new(MAX_ACTIONS_IN_FLIGHT)),
            names,
            held: Mutex::new(HashMap::new()),
        });
        let (phase, watcher) = watch::channel(Phase::Running);
        let nodes = servers
            .into_iter()
            .enumerate()
            .map(|(i, server)| tokio::spawn(node::run(shared.clone(), i, server, watcher.clone())))
            .collect();
        let actions = tokio::spawn(actions::serve(shared.clone(), requests, watcher));
        let http = tokio::spawn(http::serve(listener, Arc::new(Endpoints(shared.clone()))));
        tracing::info!(
            server = "-",
            action_id = "-",
            queue_depth = 0,
            gateway = %shared.settings.id,
            metrics = %metrics_addr,
            "gateway started"
        );
        Ok(Gateway {
            shared,
            phase,
            nodes,
            actions,
            http,
            metrics_addr,
        })
    }

    /// Where `/metrics` and `/health` are served (the bound port when the
    /// configuration said port 0).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// This gateway's id.
    pub fn id(&self) -> &str {
        &self.shared.settings.id
    }

    /// Shuts down in order: no new action is taken and those under way
    /// finish; then every node logs off, publishes the events it has read
    /// and waits for their acks, publishes a `released` marker and releases
    /// its lease; then NATS is flushed. Whatever is still running after
    /// `shutdown_timeout` is stopped (unacknowledged publishes may then be
    /// missing, and leases expire on their own).
    pub async fn shutdown(self) {
        let budget = self.shared.settings.shutdown_timeout;
        let deadline = tokio::time::Instant::now() + budget;
        let _ = self.phase.send(Phase::Draining);
        if tokio::time::timeout_at(deadline, self.actions)
            .await
            .is_err()
        {
            warn("actions still running at the shutdown deadline");
        }
        let _ = self.phase.send(Phase::Closing);
        for node in self.nodes {
            let abort = node.abort_handle();
            if tokio::time::timeout_at(deadline, node).await.is_err() {
                abort.abort();
                warn("a node was still closing at the shutdown deadline");
            }
        }
        self.http.abort();
        let flush = tokio::time::timeout(Duration::from_secs(2), self.shared.nats.flush());
        if !matches!(flush.await, Ok(Ok(()))) {
            warn("NATS not flushed");
        }
    }
}

fn warn(what: &str) {
    tracing::warn!(server = "-", action_id = "-", queue_depth = 0, "{what}");
}

/// Connects to the configured NATS servers; logs the connection's events.
async fn connect(settings: &Settings) -> Result<async_nats::Client, StartError> {
    let addrs = settings
        .nats
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartError::Nats(e.to_string()))?;
    async_nats::ConnectOptions::new()
        .name(format!("ami-gateway {}", settings.id))
        .connection_timeout(Duration::from_secs(5))
        .event_callback(|event| async move {
            tracing::info!(server = "-", action_id = "-", queue_depth = 0, %event, "NATS");
        })
        .connect(addrs)
        .await
        .map_err(|e| StartError::Nats(e.to_string()))
}

/// How long a request of the start-up (creating or reading the stream and
/// the lease bucket) may take at least: a cluster just started can take
/// seconds to place a replicated stream, far longer than a publish or a
/// lease renewal may wait.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the stream if it does not exist; an existing one is used as it
/// is (its bounds are the operator's), with a warning if they differ.
async fn ensure_stream(
    js: &jetstream::Context,
    settings: &Settings,
    subjects: &Subjects,
) -> Result<(), StartError> {
    let config = stream::Config {
        name: settings.stream.clone(),
        description: Some("AMI events and gateway markers (ami-gateway)".into()),
        subjects: subjects.stream_subjects(),
        max_age: settings.stream_max_age,
        max_bytes: settings.stream_max_bytes,
        duplicate_window: settings.duplicate_window,
        storage: stream::StorageType::File,
        num_replicas: settings.stream_replicas,
        ..Default::default()
    };
    let mut stream = js
        .get_or_create_stream(config.clone())
        .await
        .map_err(|e| StartError::JetStream(format!("stream {}: {e}", settings.stream)))?;
    let info = stream
        .info()
        .await
        .map_err(|e| StartError::JetStream(format!("stream {}: {e}", settings.stream)))?;
    let have = &info.config;
    if have.max_age != config.max_age
        || have.max_bytes != config.max_bytes
        || have.subjects != config.subjects
    {
        warn("the stream exists with other bounds or subjects; using it as it is");
    }
    Ok(())
}

/// `/metrics` and `/health`.
struct Endpoints(Arc<Shared>);

impl Routes for Endpoints {
    fn get(&self, path: &str) -> Option<Answer> {
        let shared = &self.0;
        let connected = shared.nats.connection_state() == State::Connected;
        shared
            .metrics
            .nats_connected
            .store(connected, std::sync::atomic::Ordering::Relaxed);
        match path {
            "/metrics" => Some((
                "200 OK",
                "text/plain; version=0.0.4",
                shared.metrics.render(),
            )),
            "/health" => {
                let held: Vec<String> = {
                    let mut v: Vec<String> = shared.held().keys().cloned().collect();
                    v.sort();
                    v
                };
                let body = serde_json::json!({
                    "gateway": shared.settings.id,
                    "nats": if connected { "connected" } else { "disconnected" },
                    "held": held,
                })
                .to_string();
                let status = if connected {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                Some((status, "application/json", body))
            }
            _ => None,
        }
    }
}
