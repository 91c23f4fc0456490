//! Actions in: requests on `<prefix>.<server>.action`, answered with the
//! completion or a typed error.
//!
//! Every gateway subscribes to the wildcard, so each request reaches all of
//! them. The holder of the node answers; the others stay silent, except for
//! a server no gateway is configured with, which each answers with
//! `unknown_server` (the requester takes the first reply). A request for a
//! node nobody holds gets no reply: the requester's timeout (or NATS's "no
//! responders" when no gateway runs) says so.
//!
//! Nothing malformed reaches Asterisk: the body must be the JSON of a
//! [`Request`]; `Login`, `Logoff` and `Challenge` belong to the gateway's
//! session and are refused; a missing required parameter is refused by
//! [`Action::check_required`]; CR/LF in a header, an over-long line or
//! too many lines are refused by the core's encoder before anything is
//! queued ([`ClientError::Send`](ami_tokio::ClientError::Send)).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use ami_proto::Action;
use async_nats::{Message, Subject};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{watch, OwnedSemaphorePermit};

use crate::gateway::{Phase, Shared};
use crate::payload::{self, ErrorKind, Request};

/// Actions that would take the session away from the gateway.
const GATEWAY_ONLY: [&str; 3] = ["Login", "Logoff", "Challenge"];

/// Serves requests until the gateway starts draining; returns once every
/// request taken has been answered.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut requests: async_nats::Subscriber,
    mut phase: watch::Receiver<Phase>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            changed = phase.changed() => {
                // Draining, or the gateway is gone.
                if changed.is_err() || *phase.borrow() != Phase::Running {
                    break;
                }
            }
            msg = requests.next() => {
                let Some(msg) = msg else { break };
                let Some(reply) = msg.reply.clone() else { continue };
                match shared.actions.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tasks.spawn(answer(shared.clone(), msg, reply, permit));
                    }
                    Err(_) => {
                        let server = shared.subjects.action_server(&msg.subject).unwrap_or("-");
                        let body = payload::failure(server, None, ErrorKind::Busy, "too many actions in flight", None);
                        respond(&shared, reply, body).await;
                    }
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // No new request; those under way are finished (their replies sent).
    let _ = requests.unsubscribe().await;
    while tasks.join_next().await.is_some() {}
}

/// Answers one request (if this gateway is the one to).
async fn answer(shared: Arc<Shared>, msg: Message, reply: Subject, _permit: OwnedSemaphorePermit) {
    let Some(server) = shared.subjects.action_server(&msg.subject) else {
        return;
    };
    let Some(index) = shared.node_index(server) else {
        let body = payload::failure(
            server,
            None,
            ErrorKind::UnknownServer,
            "no gateway is configured with this server",
            None,
        );
        return respond(&shared, reply, body).await;
    };
    let Some(client) = shared.client(server) else {
        return; // Another gateway holds it (or nobody: no reply).
    };
    let metrics = shared.metrics.node(index);
    let body = match run(&client, server, &msg.payload).await {
        Ok(body) => {
            metrics.actions_ok.fetch_add(1, Relaxed);
            body
        }
        Err(body) => {
            metrics.actions_failed.fetch_add(1, Relaxed);
            body
        }
    };
    respond(&shared, reply, body).await;
}

/// Parses, checks and runs one request; the reply body either way.
async fn run(client: &ami_tokio::Client, server: &str, body: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let request = Request::parse(body)
        .map_err(|e| payload::failure(server, None, ErrorKind::BadRequest, &e, None))?;
    let name = request.action.as_str();
    let refuse =
        |message: &str| payload::failure(server, Some(name), ErrorKind::Refused, message, None);
    if GATEWAY_ONLY.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return Err(refuse(
            "the gateway owns the session: Login, Logoff and Challenge are refused",
        ));
    }
    let mut action = Action::new(name);
    for (n, v) in &request.headers {
        action = action.header(n.as_str(), v.as_str());
    }
    if let Some(timeout) = request.timeout() {
        action = action.with_timeout(timeout);
    }
    action
        .check_required()
        .map_err(|e| refuse(&e.to_string()))?;
    match client.send(action).await {
        Ok(completion) => Ok(payload::success(server, name, &completion)),
        Err(e) => Err(payload::client_error(server, name, &e)),
    }
}

/// Sends a reply; a requester that went away is not an error of ours.
async fn respond(shared: &Shared, reply: Subject, body: Vec<u8>) {
    if let Err(e) = shared.nats.publish(reply, Bytes::from(body)).await {
        tracing::debug!(server = "-", action_id = "-", queue_depth = 0, error = %e, "reply not sent");
    }
}
