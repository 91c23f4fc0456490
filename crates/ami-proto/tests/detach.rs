//! Frames are slices of 64 KiB receive chunks; `detach` makes an owned copy
//! of exactly a frame's bytes, and the library detaches what it keeps long.

mod common;

use std::time::Duration;

use ami_proto::{Action, Completion, Decoder, Frame, Headers};
use bytes::Bytes;
use common::{config, success, Session};

/// The size of the allocation behind `raw`, if `raw` is its only handle
/// (`None`: something else still holds the buffer).
fn allocation(raw: Bytes) -> Option<usize> {
    raw.try_into_mut().ok().map(|b| b.capacity())
}

/// A 64 KiB chunk of events, decoded as a socket read would be.
fn events_in_one_chunk() -> Vec<ami_proto::Event> {
    let mut chunk = Vec::new();
    while chunk.len() < 64 << 10 {
        let n = chunk.len();
        chunk.extend_from_slice(
            format!("Event: Newstate\r\nChannel: PJSIP/{n}\r\nUniqueid: {n}.1\r\n\r\n").as_bytes(),
        );
    }
    let mut decoder = Decoder::without_banner(4 << 20);
    decoder.push_bytes(Bytes::from(chunk));
    let mut events = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        match frame.expect("well formed") {
            Frame::Event(e) => events.push(e),
            other => panic!("{other:?}"),
        }
    }
    events
}

#[test]
fn a_kept_event_pins_its_chunk_unless_detached() {
    let mut events = events_in_one_chunk();
    assert!(events.len() > 1000);
    let first = events.swap_remove(0);
    let detached = first.detach();
    assert_eq!(detached.headers().raw(), first.headers().raw());
    assert_eq!(detached.get("Channel"), Some(&b"PJSIP/0"[..]));
    drop(events);

    // The slice keeps the whole chunk alive...
    let raw = first.headers().raw().clone();
    drop(first);
    assert!(allocation(raw).expect("the last handle") >= 64 << 10);
    // ...the detached copy holds exactly its frame.
    let len = detached.headers().raw().len();
    let raw = detached.headers().raw().clone();
    drop(detached);
    assert_eq!(allocation(raw), Some(len));
}

#[test]
fn detach_keeps_every_view_of_the_frame() {
    let bytes = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\nline 1\nline 2\n--END COMMAND--\r\n\r\n";
    let mut decoder = Decoder::without_banner(4 << 20);
    decoder.push(bytes);
    let frame = decoder.next_frame().expect("a frame").expect("well formed");
    let copy = frame.detach();
    let (Frame::Response(a), Frame::Response(b)) = (&frame, &copy) else {
        panic!("{frame:?}")
    };
    assert_eq!(a.headers().raw(), b.headers().raw());
    assert_eq!(a.follows_text(), b.follows_text());
    assert_eq!(b.action_id(), Some(&b"7"[..]));
    assert_eq!(
        b.output_lines().collect::<Vec<_>>(),
        [&b"line 1"[..], b"line 2"]
    );
    assert_eq!(format!("{a:?}"), format!("{b:?}"));

    let built = Headers::from_pairs([("Event", &b"X"[..])]);
    assert_eq!(built.detach().raw(), built.raw());
    let banner = Frame::Banner(Bytes::from_static(b"Asterisk Call Manager/11.0.0"));
    assert!(matches!(banner.detach(), Frame::Banner(b) if b == "Asterisk Call Manager/11.0.0"));
}

/// The first bytes of a 64 KiB read: a frame, then unrelated traffic.
fn in_a_big_read(frame: &str) -> Vec<u8> {
    let mut read = frame.as_bytes().to_vec();
    while read.len() < 60 << 10 {
        read.extend_from_slice(b"Event: VarSet\r\nVariable: x\r\nValue: y\r\n\r\n");
    }
    read
}

#[test]
fn an_async_originate_keeps_detached_copies_while_it_waits() {
    let originate = || {
        Action::new("Originate")
            .header("Channel", "Local/100@test")
            .header("Async", "true")
            .header("Timeout", "30000")
    };
    // The acknowledgement first, kept for up to the dial timeout.
    let mut s = Session::ready(config());
    let id = s.send(originate());
    s.input(&in_a_big_read(&success(&id)));
    s.wait(Duration::from_secs(20));
    s.input(
        format!(
            "Event: OriginateResponse\r\nActionID: {id}\r\nResponse: Success\r\nReason: 4\r\n\r\n"
        )
        .as_bytes(),
    );
    let Ok(Completion::Originate(outcome)) = s.only(&id).clone() else {
        panic!("{:?}", s.only(&id))
    };
    drop(s);
    let raw = outcome.response.headers().raw().clone();
    drop(outcome);
    let len = raw.len();
    assert_eq!(allocation(raw), Some(len));

    // The outcome first (it may overtake the acknowledgement), kept until
    // the acknowledgement comes.
    let mut s = Session::ready(config());
    let id = s.send(originate());
    let early = format!(
        "Event: OriginateResponse\r\nActionID: {id}\r\nResponse: Failure\r\nReason: 5\r\n\r\n"
    );
    s.input(&in_a_big_read(&early));
    s.input(success(&id).as_bytes());
    let Ok(Completion::Originate(outcome)) = s.only(&id).clone() else {
        panic!("{:?}", s.only(&id))
    };
    drop(s);
    assert_eq!(outcome.reason(), Some(5));
    let raw = outcome.event.headers().raw().clone();
    drop(outcome);
    let len = raw.len();
    assert_eq!(allocation(raw), Some(len));
}
