//! Shared by the integration tests and the benchmark: wire text to the
//! model's inputs, the repository's transcripts, and a simulated call
//! centre ([`pbx`]).
#![allow(dead_code, unreachable_pub)] // Each test crate uses its own part.

pub mod pbx;

use std::path::PathBuf;

use ami_proto::{ActionId, Completion, Decoder, Event, EventList, Frame, Response};
use ami_state::Model;

/// One thing for the model, in wire order.
#[derive(Debug)]
pub enum Input {
    /// An event no list collected.
    Event(Event),
    /// A completed event list, as the core delivers it.
    List(ActionId, Completion),
    /// A response that opened no list.
    Response(ActionId, Response),
}

/// The bytes of a transcript in the repository's copy of the corpus.
pub fn transcript(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/corpus/asterisk-22")
        .join(format!("{name}.raw"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes server bytes (with or without a banner) and groups list items
/// as the core does: a response with `EventList: start` opens a list for
/// its ActionID, the events carrying that ActionID are its items, and the
/// event that completes the list closes it.
pub fn inputs(raw: &[u8]) -> Vec<Input> {
    let banner = raw.starts_with(b"Asterisk Call Manager");
    let mut decoder = if banner {
        Decoder::new(4 << 20)
    } else {
        Decoder::without_banner(4 << 20)
    };
    decoder.push(raw);
    let mut open: Vec<(Vec<u8>, Response, Vec<Event>)> = Vec::new();
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        match frame.expect("test input decodes") {
            Frame::Response(response) => {
                let id = response.action_id().unwrap_or_default().to_vec();
                if response.starts_list() {
                    open.push((id, response, Vec::new()));
                } else {
                    out.push(Input::Response(action_id(&id), response));
                }
            }
            Frame::Event(event) => {
                let id = event.action_id().map(<[u8]>::to_vec);
                let list = id
                    .as_ref()
                    .and_then(|id| open.iter().position(|(open_id, ..)| open_id == id));
                match list {
                    Some(i) if event.completes_list() => {
                        let (id, response, items) = open.remove(i);
                        let completion = Completion::from(EventList {
                            response,
                            items: items.into(),
                            complete: Some(event),
                        });
                        out.push(Input::List(action_id(&id), completion));
                    }
                    Some(i) => open[i].2.push(event),
                    None => out.push(Input::Event(event)),
                }
            }
            Frame::Banner(_) | Frame::Other(_) => {}
        }
    }
    assert!(open.is_empty(), "a list never completed");
    out
}

fn action_id(id: &[u8]) -> ActionId {
    ActionId::from_bytes(id.to_vec().into())
}

/// Feeds inputs to the model as an adapter would.
pub fn feed(model: &mut Model, inputs: &[Input]) {
    for input in inputs {
        match input {
            Input::Event(event) => model.handle_event(event),
            Input::List(id, completion) => model.handle_completion(id, Ok(completion)),
            Input::Response(id, response) => {
                model.handle_completion(id, Ok(&Completion::Response(response.clone())))
            }
        }
    }
}

/// The events of some wire text.
pub fn events(wire: &str) -> Vec<Event> {
    inputs(wire.as_bytes())
        .into_iter()
        .map(|input| match input {
            Input::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        })
        .collect()
}

/// All changes waiting, drained.
pub fn drain(model: &mut Model) -> Vec<ami_state::Change> {
    std::iter::from_fn(|| model.poll_change()).collect()
}

/// One event as wire text: `Event`, `Privilege: call,all`, then `headers`.
pub fn event(name: &str, headers: &[(&str, String)]) -> String {
    let mut out = format!("Event: {name}\r\nPrivilege: call,all\r\n");
    for (n, v) in headers {
        out += &format!("{n}: {v}\r\n");
    }
    out + "\r\n"
}

/// A channel snapshot's fourteen headers, with `prefix` (`""`, `"Dest"`).
pub fn snapshot(prefix: &str, c: &pbx::Chan) -> Vec<(String, String)> {
    let desc = match c.state {
        0 => "Down",
        4 => "Ring",
        5 => "Ringing",
        6 => "Up",
        _ => "Unknown",
    };
    [
        ("Channel", c.name.clone()),
        ("ChannelState", c.state.to_string()),
        ("ChannelStateDesc", desc.to_owned()),
        ("CallerIDNum", c.cid_num.clone()),
        ("CallerIDName", c.cid_name.clone()),
        ("ConnectedLineNum", c.conn_num.clone()),
        ("ConnectedLineName", c.conn_name.clone()),
        ("Language", "en".to_owned()),
        ("AccountCode", String::new()),
        ("Context", c.context.clone()),
        ("Exten", c.exten.clone()),
        ("Priority", c.priority.to_string()),
        ("Uniqueid", c.uid.clone()),
        ("Linkedid", c.linkedid.clone()),
    ]
    .into_iter()
    .map(|(n, v)| (format!("{prefix}{n}"), v))
    .collect()
}
