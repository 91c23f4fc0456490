//! The generated event views (`ami_proto::events`) over the real Asterisk 22
//! transcripts: every event name Asterisk sent is known to the catalogue,
//! every documented one has a view, and accessors read what the generic API
//! reads, snapshot headers under their prefix included.

use ami_proto::events::{self, EventView};
use ami_proto::{Decoder, Event, Frame};
use ami_tests::corpus_dir;

/// Every event of every transcript, in order.
fn corpus_events() -> Vec<Event> {
    let mut paths: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("the corpus folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "raw"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let mut decoder = Decoder::new(4 << 20);
        decoder.push(&std::fs::read(&path).expect("a transcript"));
        while let Some(frame) = decoder.next_frame() {
            if let Ok(Frame::Event(event)) = frame {
                out.push(event);
            }
        }
    }
    out
}

/// A view's accessor.
type Accessor<'a, T> = fn(&T) -> Option<std::borrow::Cow<'a, str>>;

/// Asserts that each `T` in `events` is viewed as one, that each accessor
/// returns what `Event::get_str` returns for its header, and that every
/// header listed was present in at least one of them. Returns how many.
fn check<'a, T: EventView<'a>>(
    events: &'a [Event],
    accessors: &[(&str, Accessor<'a, T>)],
) -> usize {
    let mut seen = vec![false; accessors.len()];
    let mut count = 0;
    for event in events.iter().filter(|e| e.is(T::NAME)) {
        let view = event.view::<T>().expect("named so");
        count += 1;
        for (i, (header, accessor)) in accessors.iter().enumerate() {
            assert_eq!(
                accessor(&view),
                event.get_str(header),
                "{} {header}",
                T::NAME
            );
            seen[i] |= accessor(&view).is_some();
        }
    }
    assert!(count > 0, "no {} in the corpus", T::NAME);
    for ((header, _), seen) in accessors.iter().zip(seen) {
        assert!(seen, "{} never carried {header}", T::NAME);
    }
    count
}

#[test]
fn every_event_name_asterisk_sent_is_known() {
    let events = corpus_events();
    assert!(events.len() > 200, "{} events", events.len());
    for event in &events {
        let name = event.name_str();
        assert!(events::is_known(&name), "{name}");
    }
    // `QueueMember` is raised but undocumented: known, without a view.
    assert!(events.iter().any(|e| e.is("QueueMember")));
    assert!(!events::NAMES.contains(&"QueueMember"));
}

#[test]
fn views_read_what_the_generic_api_reads() {
    use events::{DialBegin, Hangup, Newchannel, OriginateResponse, QueueParams, Status};
    let events = corpus_events();
    check::<Hangup<'_>>(
        &events,
        &[
            ("Channel", Hangup::channel),
            ("Uniqueid", Hangup::uniqueid),
            ("Linkedid", Hangup::linkedid),
            ("Cause", Hangup::cause),
            ("Cause-txt", Hangup::cause_txt),
            ("CallerIDNum", Hangup::caller_id_num),
        ],
    );
    check::<Newchannel<'_>>(
        &events,
        &[
            ("ChannelState", Newchannel::channel_state),
            ("Exten", Newchannel::exten),
        ],
    );
    // A snapshot included under a prefix (an Originate's DialBegin has
    // no caller channel, so no unprefixed one).
    check::<DialBegin<'_>>(
        &events,
        &[
            ("DialString", DialBegin::dial_string),
            ("DestChannel", DialBegin::dest_channel),
            ("DestUniqueid", DialBegin::dest_uniqueid),
            ("DestLinkedid", DialBegin::dest_linkedid),
        ],
    );
    check::<OriginateResponse<'_>>(
        &events,
        &[
            ("Response", OriginateResponse::response),
            ("Reason", OriginateResponse::reason),
            ("Uniqueid", OriginateResponse::uniqueid),
        ],
    );
    // Headers Asterisk sends that its docs leave out.
    check::<QueueParams<'_>>(
        &events,
        &[
            ("Queue", QueueParams::queue),
            ("Weight", QueueParams::weight),
        ],
    );
    check::<Status<'_>>(&events, &[("Variable", Status::variable)]);
}
