//! Many named servers: one client (and one task) per node, routing, a merged
//! event stream, and a graceful shutdown.
//!
//! Every configured server is connected from the start, concurrently, and
//! kept connected by its own supervisor task: a node that floods, stalls or
//! flaps only ever occupies its own task, and each task reads at most its
//! `read_budget` per wake before yielding.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ami_proto::{instant_after, Action, Completion, ConfigError, ConnState, Event};
use futures_lite::{future, Stream};

use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::events::EventStream;
use crate::runtime::Runtime;
use crate::stats::ClientStats;

/// How [`Cluster::send`] picks a node. Both only pick nodes that are ready,
/// and move on to the next one when a node refuses the action before
/// sending it (so nothing is ever sent twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// Calls take the ready nodes in turn.
    RoundRobin,
    /// The first ready node in configuration order.
    Failover,
}

/// Why a cluster operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// No node has this name.
    UnknownNode(String),
    /// No node is ready to take an action.
    NoNodeReady,
    /// A node's configuration is invalid; nothing was started.
    Config {
        /// The node.
        node: String,
        /// What is wrong.
        error: ConfigError,
    },
    /// The node that took the action reported this.
    Node {
        /// The node.
        node: Arc<str>,
        /// Its error.
        error: ClientError,
    },
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::UnknownNode(n) => write!(f, "no node named {n:?}"),
            ClusterError::NoNodeReady => f.write_str("no node is ready"),
            ClusterError::Config { node, error } => write!(f, "node {node:?}: {error}"),
            ClusterError::Node { node, error } => write!(f, "node {node:?}: {error}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Config { error, .. } => Some(error),
            ClusterError::Node { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Many named AMI servers driven at once.
///
/// # Examples
///
/// ```no_run
/// use ami_smol::{Action, ClientConfig, Cluster, Config, Route};
/// use futures_lite::StreamExt;
///
/// smol::block_on(async {
///     let node = |addr: &str| ClientConfig::new(addr, Config::new("", "admin", "secret"));
///     let (cluster, mut events) = Cluster::with_events(vec![
///         ("pbx1".into(), node("10.0.0.1:5038")),
///         ("pbx2".into(), node("10.0.0.2:5038")),
///     ])?;
///     cluster.wait_ready(std::time::Duration::from_secs(5)).await;
///     let (node, _pong) = cluster.send(Action::ping(), Route::RoundRobin).await?;
///     println!("answered by {node}");
///     if let Some((node, event)) = events.next().await {
///         println!("{node}: {}", event.name_str());
///     }
///     cluster.shutdown(std::time::Duration::from_secs(2)).await;
///     Ok::<_, ami_smol::ClusterError>(())
/// })
/// .unwrap();
/// ```
pub struct Cluster<R: Runtime> {
    nodes: Vec<(Arc<str>, Client<R>)>,
    next: AtomicUsize,
}

impl<R: Runtime> fmt::Debug for Cluster<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Cluster<R> {
    /// Starts every node now, each in its own task, connecting concurrently
    /// and retrying per its reconnect policy. Each node's name becomes its
    /// `proto.server` (logs, ActionIDs, the `server` span field).
    pub fn new(nodes: Vec<(String, ClientConfig)>) -> Result<Self, ClusterError> {
        Ok(Self::build(nodes, false)?.0)
    }

    /// Like [`new`](Self::new), with a merged event stream subscribed
    /// before any node logs in.
    pub fn with_events(
        nodes: Vec<(String, ClientConfig)>,
    ) -> Result<(Self, ClusterEvents), ClusterError> {
        Self::build(nodes, true)
    }

    fn build(
        nodes: Vec<(String, ClientConfig)>,
        events: bool,
    ) -> Result<(Self, ClusterEvents), ClusterError> {
        let mut builders = Vec::with_capacity(nodes.len());
        for (name, mut config) in nodes {
            config.proto.server = name.clone();
            if let Err(error) = config.validate() {
                return Err(ClusterError::Config { node: name, error });
            }
            builders.push((Arc::<str>::from(name), Client::<R>::builder(config)));
        }
        let mut streams = Vec::new();
        let mut clients = Vec::with_capacity(builders.len());
        for (name, mut builder) in builders {
            if events {
                streams.push((name.clone(), builder.events()));
            }
            let client = builder.start().map_err(|error| ClusterError::Config {
                node: name.to_string(),
                error,
            })?;
            clients.push((name, client));
        }
        let cluster = Cluster {
            nodes: clients,
            next: AtomicUsize::new(0),
        };
        Ok((cluster, ClusterEvents::new(streams)))
    }

    /// Waits until every node is ready or `timeout` passes; returns the
    /// names of the nodes that are not ready (empty when all are).
    pub async fn wait_ready(&self, timeout: Duration) -> Vec<Arc<str>> {
        let deadline = instant_after(Instant::now(), timeout);
        for (_, client) in &self.nodes {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = client.wait_ready(left).await;
        }
        self.nodes
            .iter()
            .filter(|(_, c)| !c.is_ready())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&Client<R>> {
        self.nodes
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, c)| c)
    }

    /// The node names, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.nodes.iter().map(|(n, _)| &**n)
    }

    /// Sends `action` to the node named `name` and waits for its completion.
    pub async fn send_to(&self, name: &str, action: Action) -> Result<Completion, ClusterError> {
        let (node, client) = self
            .nodes
            .iter()
            .find(|(n, _)| &**n == name)
            .ok_or_else(|| ClusterError::UnknownNode(name.to_owned()))?;
        client
            .send(action)
            .await
            .map_err(|error| ClusterError::Node {
                node: node.clone(),
                error,
            })
    }

    /// Sends `action` to a node chosen by `route`; returns the node's name
    /// with the completion. A node that refuses the action before sending
    /// it (not ready, write buffer full) passes it to the next ready node;
    /// a node that sent it reports its outcome, good or bad.
    pub async fn send(
        &self,
        action: Action,
        route: Route,
    ) -> Result<(Arc<str>, Completion), ClusterError> {
        let ready: Vec<_> = self.nodes.iter().filter(|(_, c)| c.is_ready()).collect();
        let n = ready.len();
        let start = match route {
            Route::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed),
            Route::Failover => 0,
        };
        let mut last = None;
        for i in 0..n {
            let (node, client) = ready[(start + i) % n];
            match client.send(action.clone()).await {
                Ok(done) => return Ok((node.clone(), done)),
                Err(
                    error
                    @ (ClientError::Send(_) | ClientError::Disconnected | ClientError::Closed),
                ) => {
                    last = Some(ClusterError::Node {
                        node: node.clone(),
                        error,
                    });
                }
                Err(error) => {
                    return Err(ClusterError::Node {
                        node: node.clone(),
                        error,
                    })
                }
            }
        }
        Err(last.unwrap_or(ClusterError::NoNodeReady))
    }

    /// A merged event stream of every node, from now on.
    pub fn events(&self) -> ClusterEvents {
        let streams = self
            .nodes
            .iter()
            .map(|(n, c)| (n.clone(), c.events()))
            .collect();
        ClusterEvents::new(streams)
    }

    /// Each node's counters, in configuration order.
    pub fn stats(&self) -> Vec<(Arc<str>, ClientStats)> {
        self.nodes
            .iter()
            .map(|(n, c)| (n.clone(), c.stats()))
            .collect()
    }

    /// Each node's state, in configuration order.
    pub fn states(&self) -> Vec<(Arc<str>, ConnState)> {
        self.nodes
            .iter()
            .map(|(n, c)| (n.clone(), c.state()))
            .collect()
    }

    /// Logs off every node at once, lets pending actions complete until
    /// `deadline` passes, closes every socket; no node reconnects after it.
    /// Returns when every node's task has finished.
    pub async fn shutdown(&self, deadline: Duration) {
        let mut closing: Vec<_> = self
            .nodes
            .iter()
            .map(|(_, c)| Some(Box::pin(c.close_within(deadline))))
            .collect();
        // Every node's close polled together: one slow node does not delay
        // the Logoff of the others.
        future::poll_fn(|cx| {
            let mut all = true;
            for slot in &mut closing {
                if let Some(close) = slot {
                    match close.as_mut().poll(cx) {
                        Poll::Ready(_) => *slot = None,
                        Poll::Pending => all = false,
                    }
                }
            }
            match all {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }
}

/// The events of every node of a [`Cluster`], each tagged with its node's
/// name. Each node keeps its own bounded queue (and policy), so a flooding
/// node fills only its own; nodes are polled in turn, so none starves
/// another here either. Ends when every node has closed.
pub struct ClusterEvents {
    streams: Vec<(Arc<str>, EventStream)>,
    next: usize,
    /// A batch taken from one node with one lock, handed out before the next
    /// scan: scanning every node per event would cost O(nodes) locks each.
    batch: std::collections::VecDeque<(Arc<str>, Event)>,
    scratch: Vec<Event>,
}

/// Events taken from one node per turn of the round-robin scan.
const BATCH: usize = 64;

impl fmt::Debug for ClusterEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterEvents")
            .field("nodes", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl ClusterEvents {
    fn new(streams: Vec<(Arc<str>, EventStream)>) -> Self {
        ClusterEvents {
            streams,
            next: 0,
            batch: std::collections::VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// Events dropped by each node's queue, in configuration order.
    pub fn dropped(&self) -> Vec<(Arc<str>, u64)> {
        self.streams
            .iter()
            .map(|(n, s)| (n.clone(), s.dropped()))
            .collect()
    }
}

impl Stream for ClusterEvents {
    type Item = (Arc<str>, Event);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(tagged) = this.batch.pop_front() {
            return Poll::Ready(Some(tagged));
        }
        let n = this.streams.len();
        let mut ended = 0;
        for i in 0..n {
            let k = (this.next + i) % n;
            let (name, stream) = &mut this.streams[k];
            match stream.poll_batch(cx, &mut this.scratch, BATCH) {
                Poll::Ready(0) => ended += 1,
                Poll::Ready(_) => {
                    this.next = k + 1;
                    let name = name.clone();
                    this.batch
                        .extend(this.scratch.drain(..).map(|e| (name.clone(), e)));
                    return Poll::Ready(this.batch.pop_front());
                }
                Poll::Pending => {}
            }
        }
        match ended == n {
            true => Poll::Ready(None),
            false => Poll::Pending,
        }
    }
}
