//! Frames, events, completions and live models as JSON values.
//!
//! Headers are an array of `[name, value]` pairs in wire order, so repeated
//! names (`Output`, `Variable`, `ChanVariable`) are all kept. Values are
//! lossy UTF-8. These are data written on stdout for the user, not logs:
//! they are shown as the server sent them.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ami_proto::{Completion, Event, Frame, Headers};
use ami_state::{CallPhase, Timestamp};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cmd::listen::state_word;
use crate::view::{state_name, ServerView};

/// Headers as `[name, value]` pairs in wire order.
type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Headers as `[[name, value], ...]` in wire order.
pub(crate) fn headers(headers: &Headers) -> Pairs<'_> {
    headers
        .iter()
        .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
        .collect()
}

/// Bytes as a string (lossy UTF-8).
pub(crate) fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// One JSON line; the types here hold only strings, which always serialize.
fn line(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("strings and arrays of strings always serialize")
}

/// One event received from `server` at `received`, as a JSON line:
/// `{"server", "event", "received", "headers"}`.
pub(crate) fn event(server: &str, event: &Event, received: SystemTime) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        server: &'a str,
        event: Cow<'a, str>,
        received: String,
        headers: Pairs<'a>,
    }
    line(&Line {
        server,
        event: event.name_str(),
        received: rfc3339(received),
        headers: headers(event.headers()),
    })
}

/// One decoded frame as a JSON line: `kind` is `banner` (with `text`),
/// `response`, `event`, `follows` (legacy Command output, its text under
/// `output`) or `other`, with `headers`.
pub(crate) fn frame(frame: &Frame) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Cow<'a, str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        headers: Option<Pairs<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Cow<'a, str>>,
    }
    fn of<'a>(kind: &'static str, h: &'a Headers) -> Line<'a> {
        Line {
            kind,
            text: None,
            headers: Some(headers(h)),
            output: None,
        }
    }
    line(&match frame {
        Frame::Banner(b) => Line {
            kind: "banner",
            text: Some(text(b)),
            headers: None,
            output: None,
        },
        Frame::Response(r) => match r.follows_text() {
            Some(out) => Line {
                output: Some(text(out)),
                ..of("follows", r.headers())
            },
            None => of("response", r.headers()),
        },
        Frame::Event(e) => of("event", e.headers()),
        Frame::Other(m) => of("other", m.headers()),
    })
}

/// An action's completion as a JSON line: `server`, `action`, `response`,
/// plus `items` and `complete` for an event list, `output` for a Command,
/// `event` for an async Originate.
pub(crate) fn completion(server: &str, action: &str, c: &Completion) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        server: &'a str,
        action: &'a str,
        response: Pairs<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        items: Option<Vec<Pairs<'a>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        complete: Option<Option<Pairs<'a>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Vec<Cow<'a, str>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<Pairs<'a>>,
    }
    let items = c.list_items();
    let l = Line {
        server,
        action,
        response: headers(c.response().headers()),
        items: items.map(|items| items.iter().map(|e| headers(e.headers())).collect()),
        complete: items.map(|_| c.list_complete().map(|e| headers(e.headers()))),
        output: c
            .command_lines()
            .map(|lines| lines.iter().map(|b| text(b)).collect()),
        event: c.originate().map(|o| headers(o.event.headers())),
    };
    line(&l)
}

/// Live models as one JSON document (`ami state --json`; the shape is
/// documented in [`crate::cmd::state`]): `taken`, then one object per
/// server.
pub(crate) fn snapshot(servers: &[ServerView<'_>], taken: SystemTime) -> String {
    let servers: Vec<Value> = servers.iter().map(server_value).collect();
    let doc = json!({ "taken": rfc3339(taken), "servers": servers });
    serde_json::to_string_pretty(&doc).expect("JSON values always serialize")
}

fn server_value(view: &ServerView<'_>) -> Value {
    let s = &view.snapshot;
    json!({
        "server": view.name,
        "state": state_word(&view.state),
        "synced": view.synced,
        "clock": s.clock.map(time),
        "channels": s.channels.iter().map(|c| json!({
            "uniqueid": c.uniqueid,
            "name": c.name,
            "state": state_name(c.state),
            "state_code": c.state.code(),
            "caller": { "number": c.caller.number, "name": c.caller.name },
            "connected": { "number": c.connected.number, "name": c.connected.name },
            "context": c.dialplan.context,
            "exten": c.dialplan.exten,
            "priority": c.dialplan.priority,
            "application": c.application,
            "application_data": c.application_data,
            "bridge": c.bridge,
            "linkedid": c.linkedid,
            "created": c.created.map(time),
            "waiting_in": c.waiting_in,
        })).collect::<Vec<_>>(),
        "bridges": s.bridges.iter().map(|b| json!({
            "id": b.id,
            "type": b.kind,
            "technology": b.technology,
            "creator": b.creator,
            "name": b.name,
            "channels": b.channels,
        })).collect::<Vec<_>>(),
        "queues": s.queues.iter().map(|q| json!({
            "name": q.name,
            "strategy": q.params.strategy,
            "max": q.params.max,
            "weight": q.params.weight,
            "hold_time": q.params.hold_time,
            "talk_time": q.params.talk_time,
            "completed": q.params.completed,
            "abandoned": q.params.abandoned,
            "service_level": q.params.service_level,
            "service_level_perf": q.params.service_level_perf,
            "members": q.members.iter().map(|m| json!({
                "interface": m.interface,
                "name": m.name,
                "state_interface": m.state_interface,
                "membership": m.membership,
                "penalty": m.penalty,
                "calls_taken": m.calls_taken,
                "last_call": m.last_call,
                "last_pause": m.last_pause,
                "login_time": m.login_time,
                "in_call": m.in_call,
                "status": m.status.as_str(),
                "paused": m.paused,
                "paused_reason": m.paused_reason,
                "ringinuse": m.ringinuse,
                "wrapup_time": m.wrapup_time,
            })).collect::<Vec<_>>(),
            "callers": q.callers.iter().map(|c| json!({
                "uniqueid": c.uniqueid,
                "channel": c.channel,
                "position": c.position,
                "wait_start": c.wait_start.map(time),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "devices": s.devices.iter().map(|d| json!({
            "device": d.device,
            "status": d.status.as_str(),
        })).collect::<Vec<_>>(),
        "extensions": s.extensions.iter().map(|e| json!({
            "exten": e.exten,
            "context": e.context,
            "hint": e.hint,
            "status": e.status,
            "status_text": e.status_text,
        })).collect::<Vec<_>>(),
        "calls": s.calls.iter().map(|c| json!({
            "action_id": c.action_id,
            "requested": c.requested,
            "phase": phase_name(c.phase),
            "uniqueid": c.uniqueid,
            "channel": c.channel,
            "linkedid": c.linkedid,
            "channels": c.channels,
            "reason": c.reason,
            "error": c.error,
            "answered_at": c.answered_at.map(time),
            "agent": c.agent.as_ref().map(|a| json!({
                "uniqueid": a.uniqueid,
                "channel": a.channel,
                "queue": a.queue,
                "interface": a.interface,
                "name": a.name,
            })),
            "bridge": c.bridge,
            "connected_at": c.connected_at.map(time),
            "hangup_cause": c.hangup_cause,
            "hangup_text": c.hangup_text,
            "ended_at": c.ended_at.map(time),
        })).collect::<Vec<_>>(),
        "stats": {
            "events": s.stats.events,
            "lists": s.stats.lists,
            "unplaced": s.stats.unplaced,
            "malformed": s.stats.malformed,
            "overflow": s.stats.overflow.total(),
            "calls_evicted": s.stats.calls_evicted,
            "changes_lost": s.stats.changes_lost,
        },
    })
}

/// A server time as RFC 3339.
fn time(t: Timestamp) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_micros(t.as_micros()))
}

/// A call's phase in lower case.
fn phase_name(phase: CallPhase) -> &'static str {
    match phase {
        CallPhase::Dialing => "dialing",
        CallPhase::Answered => "answered",
        CallPhase::Connected => "connected",
        CallPhase::Ended => "ended",
        CallPhase::Failed => "failed",
        _ => "unknown",
    }
}

/// `t` as an RFC 3339 UTC timestamp with milliseconds
/// (`2026-11-26T12:36:21.123Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_proto::Decoder;
    use std::time::Duration;

    #[test]
    fn repeated_headers_are_kept_in_order() {
        let mut d = Decoder::new(1 << 20);
        d.push(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nOutput: a\r\nMessage: m\r\nOutput: b\r\n\r\n");
        let banner = frame(&d.next_frame().unwrap().unwrap());
        assert_eq!(
            banner,
            r#"{"kind":"banner","text":"Asterisk Call Manager/11.0.0"}"#
        );
        let r = frame(&d.next_frame().unwrap().unwrap());
        assert_eq!(
            r,
            r#"{"kind":"response","headers":[["Response","Success"],["Output","a"],["Message","m"],["Output","b"]]}"#
        );
    }

    #[test]
    fn legacy_follows_output_is_kept() {
        let mut d = Decoder::without_banner(1 << 20);
        d.push(
            b"Response: Follows\r\nPrivilege: Command\r\nline 1\nline 2\n--END COMMAND--\r\n\r\n",
        );
        let f = frame(&d.next_frame().unwrap().unwrap());
        assert_eq!(
            f,
            r#"{"kind":"follows","headers":[["Response","Follows"],["Privilege","Command"]],"output":"line 1\nline 2\n"}"#
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_727_781_250);
        assert_eq!(rfc3339(t), "2026-11-26T21:16:21.250Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
