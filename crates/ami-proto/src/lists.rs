//! Which actions answer with an event list, and when: the generated table and
//! its look-up.
//!
//! The table (`generated/lists.rs`) is made by `cargo xtask codegen` from the
//! catalogue of Asterisk 13 to 23 and from each handler read in Asterisk's
//! source. An action is in it only if a `Success` to it always opens a list
//! (conditional ones carry a [`ListWhen`] rule): the connection collects such
//! an action's items up to the list's end even when the server acknowledges it
//! with a plain `Success` and no `EventList: start`, as 1.8–11-era servers do,
//! so a wrong entry would make a plain answer wait for its timeout.

use std::cmp::Ordering;

use crate::action::Action;
use crate::generated::lists::LIST_ACTIONS;

/// An action known to answer with an event list.
#[derive(Debug)]
pub(crate) struct ListAction {
    /// The action's name, as Asterisk registers it.
    pub(crate) name: &'static str,
    /// When a `Success` to it opens a list.
    pub(crate) when: ListWhen,
    /// The event that ends its list in Asterisk 13 to 23.
    pub(crate) complete: &'static str,
}

/// When an action answers with an event list.
#[derive(Debug)]
pub(crate) enum ListWhen {
    /// Whenever it succeeds.
    Always,
    /// Only when the first value of `header` starts with `prefix` (after the
    /// leading blanks the server strips): `Hangup` lists the channels a
    /// `/regex/` hung up, and answers a plain `Success` for one named channel.
    HeaderStartsWith {
        /// The header's name (ASCII case ignored).
        header: &'static str,
        /// What its value starts with.
        prefix: &'static str,
    },
}

impl ListAction {
    /// The entry for the action named `name` (ASCII case ignored), if any.
    pub(crate) fn find(name: &str) -> Option<&'static ListAction> {
        LIST_ACTIONS
            .binary_search_by(|entry| cmp_ignore_ascii_case(entry.name, name))
            .ok()
            .map(|i| &LIST_ACTIONS[i])
    }

    /// Whether `action` (named like this entry) answers with a list.
    pub(crate) fn lists(&self, action: &Action) -> bool {
        match self.when {
            ListWhen::Always => true,
            ListWhen::HeaderStartsWith { header, prefix } => action
                .get(header)
                .is_some_and(|value| value.trim_start_matches(|c| c <= ' ').starts_with(prefix)),
        }
    }
}

/// Orders names as the generator sorts its tables (lists, actions, event
/// names): by ASCII-lowercase bytes.
pub(crate) fn cmp_ignore_ascii_case(a: &str, b: &str) -> Ordering {
    let a = a.bytes().map(|c| c.to_ascii_lowercase());
    a.cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Event;

    #[test]
    fn the_table_is_sorted_for_the_search_and_names_each_action_once() {
        for pair in LIST_ACTIONS.windows(2) {
            assert_eq!(
                cmp_ignore_ascii_case(pair[0].name, pair[1].name),
                Ordering::Less,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for entry in LIST_ACTIONS {
            let found = ListAction::find(&entry.name.to_ascii_uppercase());
            assert_eq!(found.map(|e| e.name), Some(entry.name));
        }
        assert!(ListAction::find("Ping").is_none());
        assert!(ListAction::find("").is_none());
    }

    #[test]
    fn every_known_list_end_is_recognised_without_an_eventlist_header() {
        // Old servers end lists with only the `...Complete` event (no
        // `EventList: Complete`): the connection's end test must see each.
        for entry in LIST_ACTIONS {
            let end = Event::from_pairs([("Event", entry.complete.as_bytes()), ("Items", b"0")]);
            assert!(end.completes_list(), "{}", entry.complete);
        }
    }

    #[test]
    fn conditional_lists_follow_their_rule() {
        let hangup = ListAction::find("hangup").expect("Hangup lists by regex");
        assert!(hangup.lists(&Action::new("Hangup").header("Channel", "/^PJSIP/")));
        assert!(hangup.lists(&Action::new("Hangup").header("channel", "  /x/")));
        assert!(!hangup.lists(&Action::hangup("PJSIP/100-00000001", None)));
        assert!(!hangup.lists(&Action::new("Hangup")));
        let status = ListAction::find("Status").expect("Status lists");
        assert!(status.lists(&Action::status(None)));
        assert_eq!(status.complete, "StatusComplete");
    }
}
