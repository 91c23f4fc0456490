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
use std::sync::OnceLock;

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
        static SLOTS: OnceLock<Box<[u16]>> = OnceLock::new();
        search(&SLOTS, LIST_ACTIONS, |entry| entry.name, name).map(|i| &LIST_ACTIONS[i])
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

/// The index of `name` (ASCII case ignored) in `table`, whose names are
/// distinct (case ignored), through `slots`: an open-addressed hash index
/// of the table's names, made on the first look-up.
///
/// Performance: every action sent is looked up in two tables (the
/// catalogue, the lists). A binary search by case-folding comparisons cost
/// about 300 instructions per look-up, a tenth of the core's CPU per action
/// sent; hashing the name once and comparing it with the one or two names
/// in its slots costs a fifth of that.
pub(crate) fn search<T>(
    slots: &OnceLock<Box<[u16]>>,
    table: &[T],
    name_of: impl Fn(&T) -> &str,
    name: &str,
) -> Option<usize> {
    let slots = slots.get_or_init(|| index(table, &name_of));
    let mask = slots.len() - 1;
    let mut slot = folded_hash(name) as usize & mask;
    // Bounded: a quarter of the slots at most are taken.
    loop {
        let at = usize::from(slots[slot]);
        if at == EMPTY {
            return None;
        }
        if name_of(&table[at]).eq_ignore_ascii_case(name) {
            return Some(at);
        }
        slot = (slot + 1) & mask;
    }
}

/// A free slot of a name index.
const EMPTY: usize = u16::MAX as usize;

/// The slots of `table`'s names: four per name at least (a power of two),
/// each name's index in the first free slot from its hash on.
fn index<T>(table: &[T], name_of: &impl Fn(&T) -> &str) -> Box<[u16]> {
    assert!(table.len() < EMPTY / 4, "a name table fits a u16 index");
    let len = (4 * table.len()).next_power_of_two().max(8);
    let mut slots = vec![EMPTY as u16; len].into_boxed_slice();
    for (at, entry) in table.iter().enumerate() {
        let mut slot = folded_hash(name_of(entry)) as usize & (len - 1);
        while usize::from(slots[slot]) != EMPTY {
            slot = (slot + 1) & (len - 1);
        }
        slots[slot] = at as u16;
    }
    slots
}

/// FNV-1a of `name`'s bytes, ASCII-lowercased.
fn folded_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |hash, b| {
        (hash ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
    })
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

    /// The hashed search finds what a scan of the table finds, for every
    /// name of both tables, in any case, and for names just beside them
    /// that are not there.
    #[test]
    fn the_hashed_search_finds_what_a_scan_finds() {
        let catalogue: Vec<&str> = crate::actions::ACTIONS.iter().map(|a| a.name).collect();
        let lists: Vec<&str> = LIST_ACTIONS.iter().map(|l| l.name).collect();
        let mut tried = 0;
        for name in catalogue.iter().chain(&lists) {
            let cut = &name[..name.len() - 1];
            let nul = format!("{cut}\0");
            let probes = [
                name.to_string(),
                name.to_ascii_lowercase(),
                name.to_ascii_uppercase(),
                format!("{name}x"),
                format!("{name}\0"),
                cut.to_string(),
                nul,
                String::new(),
            ];
            for probe in probes {
                let scan =
                    |names: &[&str]| names.iter().position(|n| n.eq_ignore_ascii_case(&probe));
                let found = crate::actions::find(&probe).map(|a| a.name);
                assert_eq!(found, scan(&catalogue).map(|i| catalogue[i]), "{probe:?}");
                let found = ListAction::find(&probe).map(|l| l.name);
                assert_eq!(found, scan(&lists).map(|i| lists[i]), "{probe:?}");
                tried += 1;
            }
        }
        assert!(tried > 1000);
    }

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
