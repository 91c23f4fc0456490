//! The text view of servers' live models: what `ami top` redraws and
//! `ami state` prints.
//!
//! One block per server: a status line, then its queues (each member and
//! each caller waiting), its bridges and its channels, each list sorted as
//! the snapshot is (by name or key). Ages and waits are from `now`. Lines
//! are cut at `width` when one is given (a terminal's), never otherwise.

use ami_proto::ConnState;
use ami_smol::Client;
use ami_state::{Channel, ChannelState, Member, Queue, Snapshot, Timestamp};

use crate::cmd::listen::state_word;

/// One server as the view shows it.
pub(crate) struct ServerView<'a> {
    pub(crate) name: &'a str,
    pub(crate) state: ConnState,
    /// The model holds the server's whole picture (its lists applied).
    pub(crate) synced: bool,
    pub(crate) snapshot: Snapshot,
}

impl<'a> ServerView<'a> {
    /// Server `name` as `client` and its live model show it now.
    pub(crate) fn of(name: &'a str, client: &Client) -> Self {
        let model = client.model().expect("connected with a model");
        ServerView {
            name,
            state: client.state(),
            synced: model.is_synced(),
            snapshot: model.snapshot(),
        }
    }
}

/// The lines of one frame.
pub(crate) fn render(
    servers: &[ServerView<'_>],
    now: Timestamp,
    width: Option<usize>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        if i > 0 {
            out.push(String::new());
        }
        server_block(&mut out, server, now);
    }
    let width = width.unwrap_or(usize::MAX);
    out.iter()
        .map(|l| cut(l, width).trim_end().to_owned())
        .collect()
}

fn server_block(out: &mut Vec<String>, server: &ServerView<'_>, now: Timestamp) {
    let s = &server.snapshot;
    let callers: usize = s.queues.iter().map(|q| q.callers.len()).sum();
    out.push(format!(
        "{}  {}  {}  channels {}  bridges {}  queues {}  waiting {}  events {}",
        server.name,
        state_word(&server.state),
        if server.synced { "synced" } else { "syncing" },
        s.channels.len(),
        s.bridges.len(),
        s.queues.len(),
        callers,
        s.stats.events,
    ));
    if !s.queues.is_empty() {
        out.push("QUEUES".into());
        for q in &s.queues {
            queue_lines(out, q, s, now);
        }
    }
    if !s.bridges.is_empty() {
        out.push("BRIDGES".into());
        for b in &s.bridges {
            let members: Vec<&str> = b.channels.iter().map(|uid| channel_name(s, uid)).collect();
            out.push(format!(
                "  {:<36}  {:<8}  {:<14}  {}",
                b.id,
                b.kind,
                b.technology,
                members.join(", ")
            ));
        }
    }
    if !s.channels.is_empty() {
        let name = column(s.channels.iter().map(|c| c.name.as_str()), "NAME");
        out.push("CHANNELS".into());
        out.push(format!(
            "  {:<name$}  {:<8}  {:<20}  {:<24}  {:<24}  {:>7}",
            "NAME", "STATE", "CALLER", "AT", "APPLICATION", "AGE"
        ));
        for c in &s.channels {
            out.push(channel_line(c, name, now));
        }
    }
}

fn queue_lines(out: &mut Vec<String>, q: &Queue, s: &Snapshot, now: Timestamp) {
    let summary = q.summary();
    out.push(format!(
        "  {}  {}  waiting {}  members {} ({} free)  completed {}  abandoned {}  hold {}s  talk {}s",
        q.name,
        q.params.strategy,
        q.callers.len(),
        q.members.len(),
        summary.available,
        q.params.completed,
        q.params.abandoned,
        q.params.hold_time,
        q.params.talk_time,
    ));
    let widths = (
        column(q.members.iter().map(|m| m.name.as_str()), ""),
        column(q.members.iter().map(|m| m.interface.as_str()), ""),
    );
    for m in &q.members {
        out.push(member_line(m, widths));
    }
    for c in &q.callers {
        let name = match c.channel.is_empty() {
            true => channel_name(s, &c.uniqueid),
            false => c.channel.as_str(),
        };
        let waited = c.wait_start.map(|t| age(t, now)).unwrap_or_default();
        out.push(format!(
            "    caller  {:>3}  {name}  waiting {waited}",
            c.position
        ));
    }
}

fn member_line(m: &Member, (name, interface): (usize, usize)) -> String {
    let mut flags = Vec::new();
    if m.in_call {
        flags.push("in call".to_owned());
    }
    if m.paused {
        flags.push(match m.paused_reason.is_empty() {
            true => "paused".to_owned(),
            false => format!("paused ({})", m.paused_reason),
        });
    }
    format!(
        "    member  {:<name$}  {:<interface$}  {:<11}  penalty {:<2}  taken {:<4}  {}",
        m.name,
        m.interface,
        m.status.as_str(),
        m.penalty,
        m.calls_taken,
        flags.join(", ")
    )
}

fn channel_line(c: &Channel, name: usize, now: Timestamp) -> String {
    let caller = match c.caller.name.as_str() {
        "" | "<unknown>" => c.caller.number.clone(),
        name => format!("{name} <{}>", c.caller.number),
    };
    let at = format!(
        "{},{},{}",
        c.dialplan.context, c.dialplan.exten, c.dialplan.priority
    );
    let app = match c.application_data.is_empty() {
        true => c.application.clone(),
        false => format!("{}({})", c.application, c.application_data),
    };
    let age = c.created.map(|t| age(t, now)).unwrap_or_default();
    format!(
        "  {:<name$}  {:<8}  {:<20}  {:<24}  {:<24}  {:>7}",
        c.name,
        state_name(c.state),
        cut(&caller, 20),
        cut(&at, 24),
        cut(&app, 24),
        age
    )
}

/// The width of a column of `values` under `title`: the widest, at most
/// 48 characters (longer values overflow their column).
fn column<'a>(values: impl Iterator<Item = &'a str>, title: &str) -> usize {
    values
        .map(|v| v.chars().count())
        .chain([title.len()])
        .max()
        .unwrap_or(0)
        .min(48)
}

/// A channel's name from its Uniqueid (the Uniqueid if the model lacks it).
fn channel_name<'a>(s: &'a Snapshot, uid: &'a str) -> &'a str {
    s.channels
        .iter()
        .find(|c| c.uniqueid == uid)
        .map_or(uid, |c| c.name.as_str())
}

/// `ChannelStateDesc` as Asterisk writes it.
pub(crate) fn state_name(state: ChannelState) -> &'static str {
    match state {
        ChannelState::Down => "Down",
        ChannelState::Reserved => "Rsrvd",
        ChannelState::OffHook => "OffHook",
        ChannelState::Dialing => "Dialing",
        ChannelState::Ring => "Ring",
        ChannelState::Ringing => "Ringing",
        ChannelState::Up => "Up",
        ChannelState::Busy => "Busy",
        ChannelState::DialingOffhook => "Dialing Offhook",
        ChannelState::PreRing => "Pre-ring",
        _ => "Unknown",
    }
}

/// `h:mm:ss` (or `m:ss`) from `since` to `now`.
fn age(since: Timestamp, now: Timestamp) -> String {
    let secs = now.as_secs().saturating_sub(since.as_secs());
    match secs / 3600 {
        0 => format!("{}:{:02}", secs / 60, secs % 60),
        h => format!("{h}:{:02}:{:02}", secs / 60 % 60, secs % 60),
    }
}

/// `text` cut to `width` characters.
fn cut(text: &str, width: usize) -> &str {
    match text.char_indices().nth(width) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_cuts() {
        let t = |s| Timestamp::from_secs(s);
        assert_eq!(age(t(100), t(100)), "0:00");
        assert_eq!(age(t(100), t(172)), "1:12");
        assert_eq!(age(t(0), t(3_725)), "1:02:05");
        assert_eq!(
            age(t(200), t(100)),
            "0:00",
            "a clock behind never goes negative"
        );
        assert_eq!(cut("Local/agent1@agents", 5), "Local");
        assert_eq!(cut("é€x", 2), "é€");
        assert_eq!(cut("ab", 5), "ab");
    }

    #[test]
    fn an_empty_server_is_one_status_line() {
        let view = ServerView {
            name: "pbx1",
            state: ConnState::Ready,
            synced: true,
            snapshot: Snapshot::default(),
        };
        let lines = render(&[view], Timestamp::from_secs(0), Some(34));
        assert_eq!(lines, ["pbx1  ready  synced  channels 0  b"]);
    }
}
