//! The JSON the gateway writes and reads: published events, markers,
//! action requests and their replies. `schema/gateway.schema.json` in this
//! crate describes each one; a test checks examples against it.

use std::time::{Duration, SystemTime};

use ami_json::{CompletionJson, EventJson};
use ami_proto::{ActionError, Completion, Event};
use ami_tokio::ClientError;
use serde::{Deserialize, Serialize};

/// One published event: the object `ami listen` prints, plus the session
/// that read it and its place in that session.
#[derive(Serialize)]
struct Published<'a> {
    #[serde(flatten)]
    event: EventJson<'a>,
    /// The gateway's tenure of this node that read the event.
    session: &'a str,
    /// 1, 2, 3... within `session`, in the order the node sent the events.
    seq: u64,
}

/// The payload of event `seq` of `session`, read from `server` at
/// `received` (written by [`ami_json::rfc3339`]).
pub(crate) fn event(server: &str, session: &str, seq: u64, ev: &Event, received: &str) -> Vec<u8> {
    let published = Published {
        event: EventJson::at(server, ev, received),
        session,
        seq,
    };
    // Room for the headers and the fixed fields at once: no regrowth.
    let headers: usize = ev
        .headers()
        .iter()
        .map(|(n, v)| n.len() + v.len() + 8)
        .sum();
    let mut out = Vec::with_capacity(headers + server.len() + session.len() + 160);
    serde_json::to_writer(&mut out, &published).expect("strings and numbers always serialize");
    out
}

/// What a marker says happened to a node.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MarkerKind {
    /// A gateway took the node (after another released it or died, or at
    /// start): events between the previous session's last one and this
    /// one's first are missing, since AMI cannot replay them.
    Acquired,
    /// The AMI session was replaced within a tenure (a reconnect): events
    /// of the gap are missing. The new session's state arrives beside its
    /// events, so the gap lies at or a few events before `last_seq`.
    Reconnected,
    /// The gateway let the node go on shutdown.
    Released,
}

/// A marker on `<prefix>.<server>.gateway`.
#[derive(Serialize)]
struct Marker<'a> {
    marker: MarkerKind,
    server: &'a str,
    gateway: &'a str,
    session: &'a str,
    /// The holder seen before this one took the node, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<&'a str>,
    /// Events of `session` published before the marker (for `released`
    /// and `reconnected`: the last `seq` before the gap).
    last_seq: u64,
    time: String,
}

/// The payload of a marker.
pub(crate) fn marker(
    kind: MarkerKind,
    server: &str,
    gateway: &str,
    session: &str,
    previous: Option<&str>,
    last_seq: u64,
) -> Vec<u8> {
    serde_json::to_vec(&Marker {
        marker: kind,
        server,
        gateway,
        session,
        previous,
        last_seq,
        time: ami_json::rfc3339(SystemTime::now()),
    })
    .expect("strings and numbers always serialize")
}

/// The body of a request on `<prefix>.<server>.action`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Request {
    /// The action's name (`Originate`, `Command`, ...).
    pub(crate) action: String,
    /// Its headers, `[name, value]` in order (repeats kept: `Variable`).
    #[serde(default)]
    pub(crate) headers: Vec<(String, String)>,
    /// Its timeout; the node's `action_timeout_ms` when absent.
    pub(crate) timeout_ms: Option<u64>,
}

impl Request {
    /// Parses a request body; the error says what is wrong with it.
    pub(crate) fn parse(body: &[u8]) -> Result<Request, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }

    /// The timeout asked for, if any.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }
}

/// Why a request got no completion.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorKind {
    /// The body is not the JSON of a request.
    BadRequest,
    /// No configured server has that name.
    UnknownServer,
    /// The action was refused as malformed before anything was sent (CR/LF
    /// in a header, a missing required parameter, an action the gateway
    /// keeps for itself).
    Refused,
    /// The node has no session right now (reconnecting); nothing was sent.
    NotConnected,
    /// The gateway is letting the node go; nothing was sent.
    Closed,
    /// Too many actions in flight on this gateway; nothing was sent.
    Busy,
    /// The server answered `Response: Error` (or another status).
    Server,
    /// No answer in time. The server may have carried the action out.
    Timeout,
    /// The session ended before the answer. The server may have carried it out.
    ConnectionLost,
    /// The answer exceeded a limit.
    FrameTooLarge,
    /// The action was cancelled.
    Cancelled,
    /// The answer could not be matched to the action.
    Desync,
}

/// A failed request's reply.
#[derive(Serialize)]
struct Failure<'a> {
    ok: bool,
    server: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: ErrorKind,
    message: &'a str,
    /// The `Response:` status of a server refusal (`Error`, `Failure`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
}

/// The reply to a request that failed.
pub(crate) fn failure(
    server: &str,
    action: Option<&str>,
    kind: ErrorKind,
    message: &str,
    status: Option<&str>,
) -> Vec<u8> {
    serde_json::to_vec(&Failure {
        ok: false,
        server,
        action,
        error: ErrorBody {
            kind,
            message,
            status,
        },
    })
    .expect("strings always serialize")
}

/// A successful request's reply: the completion as `ami action` prints it.
#[derive(Serialize)]
struct Success<'a> {
    ok: bool,
    #[serde(flatten)]
    completion: CompletionJson<'a>,
}

/// The reply carrying completion `c` of `action` on `server`.
pub(crate) fn success(server: &str, action: &str, c: &Completion) -> Vec<u8> {
    serde_json::to_vec(&Success {
        ok: true,
        completion: CompletionJson::new(server, action, c),
    })
    .expect("strings always serialize")
}

/// The reply to an action the client could not complete.
pub(crate) fn client_error(server: &str, action: &str, err: &ClientError) -> Vec<u8> {
    let message = err.to_string();
    let (kind, status) = match err {
        ClientError::Send(_) => (ErrorKind::Refused, None),
        ClientError::Disconnected => (ErrorKind::NotConnected, None),
        ClientError::Closed => (ErrorKind::Closed, None),
        ClientError::Action(e) => match e {
            ActionError::Server { .. } => (ErrorKind::Server, Some("Error")),
            ActionError::Failed { status, .. } => (ErrorKind::Server, Some(status.as_str())),
            ActionError::Timeout(_) => (ErrorKind::Timeout, None),
            ActionError::ConnectionLost => (ErrorKind::ConnectionLost, None),
            ActionError::FrameTooLarge { .. } => (ErrorKind::FrameTooLarge, None),
            ActionError::Cancelled => (ErrorKind::Cancelled, None),
            _ => (ErrorKind::Desync, None),
        },
        _ => (ErrorKind::Closed, None),
    };
    failure(server, Some(action), kind, &message, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly() {
        let r = Request::parse(br#"{"action":"Ping","headers":[["A","1"]],"timeout_ms":5}"#)
            .expect("valid");
        assert_eq!(r.action, "Ping");
        assert_eq!(r.headers, vec![("A".to_owned(), "1".to_owned())]);
        assert_eq!(r.timeout(), Some(Duration::from_millis(5)));
        assert!(Request::parse(br#"{"action":"Ping","header":[]}"#).is_err());
        assert!(Request::parse(br#"{"headers":[]}"#).is_err());
        assert!(Request::parse(b"Action: Ping").is_err());
    }

    #[test]
    fn failures_name_their_kind() {
        let body = client_error(
            "pbx1",
            "Ping",
            &ClientError::Action(ActionError::Timeout(Duration::from_secs(1))),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["kind"], "timeout");
        assert_eq!(v["server"], "pbx1");
    }
}
