//! AMI permission classes: a user's `read` and `write` lists (manager.conf),
//! an event's `Privilege:`, an action's authority, a session's `Events` mask.

use std::fmt;

/// A set of AMI permission classes (`system`, `call`, `agent`, ...), with
/// the bit values of Asterisk's `EVENT_FLAG_*`.
///
/// A session receives an event when its mask holds ALL the event's classes;
/// a user may run an action when its write classes share ANY class with the
/// action's authority (or the action needs none), as `main/manager.c` does.
///
/// # Examples
///
/// ```
/// use ami_testkit::Classes;
///
/// let read = Classes::parse("system,call");
/// assert!(read.contains(Classes::CALL));
/// assert!(!read.contains(Classes::parse("call,user")));
/// assert_eq!(Classes::parse("all"), Classes::ALL);
/// assert_eq!(Classes::CALL.to_string(), "call,all");
/// assert_eq!(Classes::NONE.to_string(), "<none>");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Classes(u32);

/// Each class and its name, in Asterisk's order (the order of `Privilege:`).
const NAMES: [(u32, &str); 19] = [
    (1 << 0, "system"),
    (1 << 1, "call"),
    (1 << 2, "log"),
    (1 << 3, "verbose"),
    (1 << 4, "command"),
    (1 << 5, "agent"),
    (1 << 6, "user"),
    (1 << 7, "config"),
    (1 << 8, "dtmf"),
    (1 << 9, "reporting"),
    (1 << 10, "cdr"),
    (1 << 11, "dialplan"),
    (1 << 12, "originate"),
    (1 << 13, "agi"),
    (1 << 15, "cc"),
    (1 << 16, "aoc"),
    (1 << 17, "test"),
    (1 << 18, "security"),
    (1 << 30, "message"),
];

impl Classes {
    /// No class at all (`<none>`).
    pub const NONE: Classes = Classes(0);
    /// Every class (`all`).
    pub const ALL: Classes = Classes(i32::MAX as u32);
    /// `system`: FullyBooted, Reload, and system actions.
    pub const SYSTEM: Classes = Classes(1 << 0);
    /// `call`: channel events, Hangup, Redirect, Setvar.
    pub const CALL: Classes = Classes(1 << 1);
    /// `command`: the `Command` action.
    pub const COMMAND: Classes = Classes(1 << 4);
    /// `agent`: queue and agent events and actions.
    pub const AGENT: Classes = Classes(1 << 5);
    /// `user`: UserEvent.
    pub const USER: Classes = Classes(1 << 6);
    /// `reporting`: status actions.
    pub const REPORTING: Classes = Classes(1 << 9);
    /// `cdr`: Cdr events.
    pub const CDR: Classes = Classes(1 << 10);
    /// `dialplan`: Newexten and VarSet events.
    pub const DIALPLAN: Classes = Classes(1 << 11);
    /// `originate`: the `Originate` action.
    pub const ORIGINATE: Classes = Classes(1 << 12);
    /// `security`: SuccessfulAuth, RequestBadFormat and friends.
    pub const SECURITY: Classes = Classes(1 << 18);

    /// The classes named in a comma-separated list, as manager.conf reads
    /// `read =` and `write =`: unknown names are ignored, `all` is every
    /// class, `none` (or nothing) is none.
    pub fn parse(list: &str) -> Classes {
        let mut bits = 0;
        for word in list.split(',').map(str::trim) {
            if word == "all" {
                return Classes::ALL;
            }
            if let Some((bit, _)) = NAMES.iter().find(|(_, name)| *name == word) {
                bits |= bit;
            }
        }
        Classes(bits)
    }

    /// An `Events:` / `EventMask:` value as Asterisk reads it: a number is a
    /// bit mask, a false word (`off`, `no`...) is nothing, a true word (`on`,
    /// `yes`...) is everything, anything else a class list. `None` for an
    /// empty value (Asterisk: `Invalid event mask`).
    pub fn parse_mask(value: &str) -> Option<Classes> {
        if value.is_empty() {
            return None;
        }
        if value.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Classes(value.parse::<i32>().unwrap_or(0).max(0) as u32));
        }
        if crate::wire::is_false(value) {
            return Some(Classes::NONE);
        }
        if crate::wire::is_true(value) {
            return Some(Classes::ALL);
        }
        Some(Classes::parse(value))
    }

    /// Whether every class of `other` is in `self` (how an event's classes
    /// are checked against a session's mask).
    pub fn contains(self, other: Classes) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `self` and `other` share a class (how a user's write classes
    /// are checked against an action's authority).
    pub fn intersects(self, other: Classes) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no class is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The classes in both.
    pub fn and(self, other: Classes) -> Classes {
        Classes(self.0 & other.0)
    }

    /// The classes in either.
    pub fn or(self, other: Classes) -> Classes {
        Classes(self.0 | other.0)
    }
}

impl fmt::Display for Classes {
    /// `call,all` (Asterisk appends `all` to every non-empty set), or `<none>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("<none>");
        }
        for (bit, name) in NAMES {
            if self.0 & bit != 0 {
                write!(f, "{name},")?;
            }
        }
        f.write_str("all")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_masks_and_privilege_text() {
        assert_eq!(Classes::parse("system,user").to_string(), "system,user,all");
        assert_eq!(Classes::parse("nonsense"), Classes::NONE);
        assert_eq!(
            Classes::parse(" call , cdr"),
            Classes::CALL.or(Classes::CDR)
        );
        assert_eq!(Classes::parse_mask(""), None);
        assert_eq!(Classes::parse_mask("off"), Some(Classes::NONE));
        assert_eq!(Classes::parse_mask("on"), Some(Classes::ALL));
        assert_eq!(Classes::parse_mask("2"), Some(Classes::CALL));
        assert_eq!(Classes::parse_mask("user"), Some(Classes::USER));
        assert!(Classes::ALL.contains(Classes::SECURITY));
        assert!(Classes::parse("system,call").intersects(Classes::parse("call,reporting")));
        assert!(!Classes::SYSTEM.intersects(Classes::ORIGINATE));
    }
}
