//! Live models as JSON (`ami state --json`), and the JSON objects shared
//! with the gateway (frames, events, completions: `ami-json`), under one
//! name for the commands.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ami_state::{CallPhase, Timestamp};
use serde_json::{json, Value};

pub(crate) use ami_json::{completion, event, frame, rfc3339, text};

use crate::cmd::listen::state_word;
use crate::view::{state_name, ServerView};

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
