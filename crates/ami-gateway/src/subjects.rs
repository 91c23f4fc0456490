//! The subjects and message ids the gateway uses, in one place.
//!
//! | subject | what |
//! |---|---|
//! | `<prefix>.<server>.event.<EventName>` | one AMI event (stored in the stream) |
//! | `<prefix>.<server>.gateway` | a marker: a gateway took the node, released it, or its session was replaced (stored) |
//! | `<prefix>.<server>.action` | a request: run one action, reply with its completion (not stored) |

use std::collections::HashMap;

use async_nats::Subject;

/// One node's event subjects, made once per event name: a publish then
/// shares the subject's bytes instead of formatting and copying it. At most
/// [`EventSubjects::MAX`] names are kept (a server could send endless new
/// ones); past that, each is made anew.
#[derive(Debug, Default)]
pub(crate) struct EventSubjects {
    made: HashMap<Box<[u8]>, Subject>,
}

impl EventSubjects {
    /// More than every event name of Asterisk 13 to 23 (about 200).
    pub(crate) const MAX: usize = 1024;

    /// The subject of `event` from `server` (see [`Subjects::event`]).
    pub(crate) fn get(&mut self, subjects: &Subjects, server: &str, event: &[u8]) -> Subject {
        if let Some(subject) = self.made.get(event) {
            return subject.clone();
        }
        let subject = Subject::from(subjects.event(server, event));
        if self.made.len() < Self::MAX {
            self.made.insert(event.into(), subject.clone());
        }
        subject
    }
}

/// The subject names of one gateway's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    prefix: String,
}

impl Subjects {
    pub(crate) fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.to_owned(),
        }
    }

    /// The subjects the stream keeps: events and markers, never requests.
    pub(crate) fn stream_subjects(&self) -> Vec<String> {
        let p = &self.prefix;
        vec![format!("{p}.*.event.>"), format!("{p}.*.gateway")]
    }

    /// Where the events of `server` named `event` go. An event name that
    /// is not a valid subject token (a `.`, `*`, `>`, white space) has
    /// those bytes replaced by `_`: the payload keeps the real name.
    pub(crate) fn event(&self, server: &str, event: &[u8]) -> String {
        let mut s = String::with_capacity(self.prefix.len() + server.len() + event.len() + 8);
        s.push_str(&self.prefix);
        s.push('.');
        s.push_str(server);
        s.push_str(".event.");
        if event.is_empty() {
            s.push('_');
        }
        s.extend(event.iter().map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => b as char,
            _ => '_',
        }));
        s
    }

    /// Where the markers of `server` go.
    pub(crate) fn marker(&self, server: &str) -> String {
        format!("{}.{server}.gateway", self.prefix)
    }

    /// The request subjects of every server: one wildcard subscription.
    pub(crate) fn all_actions(&self) -> String {
        format!("{}.*.action", self.prefix)
    }

    /// The server a request subject names, if it is one of ours.
    pub(crate) fn action_server<'a>(&self, subject: &'a str) -> Option<&'a str> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        let server = rest.strip_suffix(".action")?;
        (!server.contains('.')).then_some(server)
    }
}

/// The `Nats-Msg-Id` of event `seq` of `session` on `server`: the same for
/// every retry of one publish, different for every other event ever.
pub(crate) fn msg_id(server: &str, session: &str, seq: u64) -> String {
    format!("{server}:{session}:{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kept subjects are the ones `Subjects::event` makes, and no more
    /// than `MAX` names are kept.
    #[test]
    fn event_subjects_are_made_once_and_bounded() {
        let s = Subjects::new("ami");
        let mut kept = EventSubjects::default();
        for _ in 0..2 {
            assert_eq!(
                kept.get(&s, "pbx1", b"Hangup").as_str(),
                "ami.pbx1.event.Hangup"
            );
            assert_eq!(kept.get(&s, "pbx1", b"a.b").as_str(), "ami.pbx1.event.a_b");
        }
        assert_eq!(kept.made.len(), 2);
        for i in 0..2 * EventSubjects::MAX {
            let name = format!("E{i}");
            let subject = kept.get(&s, "pbx1", name.as_bytes());
            assert_eq!(subject.as_str(), s.event("pbx1", name.as_bytes()));
        }
        assert_eq!(kept.made.len(), EventSubjects::MAX);
    }

    #[test]
    fn names() {
        let s = Subjects::new("ami");
        assert_eq!(s.event("pbx1", b"Hangup"), "ami.pbx1.event.Hangup");
        assert_eq!(s.event("pbx1", b"a.b *>"), "ami.pbx1.event.a_b___");
        assert_eq!(s.event("pbx1", b""), "ami.pbx1.event._");
        assert_eq!(s.marker("pbx1"), "ami.pbx1.gateway");
        assert_eq!(s.action_server("ami.pbx1.action"), Some("pbx1"));
        assert_eq!(s.action_server("ami.a.b.action"), None);
        assert_eq!(s.action_server("amix.pbx1.action"), None);
        assert_eq!(msg_id("pbx1", "9f", 7), "pbx1:9f:7");
    }
}
