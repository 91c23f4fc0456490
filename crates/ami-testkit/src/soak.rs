//! The actions of the adapters' seeded soaks (`ami-async`'s
//! `tests/support/soak.rs`, `ami-blocking`'s `tests/soak.rs`): actions the
//! fake server answers with something that says whose they are, and the
//! check that an answer is its own action's, so that an answer given to
//! the wrong action is caught whatever the timing.
//!
//! An action belongs to an *owner* (a task, a node): its DBGet reads the
//! owner's own key, its UserEvent carries the owner's number.

use ami_proto::{Action, Completion};

/// What an action asks the fake server; each answer says whose it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Ping with the test's ActionID.
    Ping,
    /// A Ping with a generated ActionID.
    GeneratedPing,
    /// A UserEvent: answered, then an event carrying the ActionID and the
    /// owner ([`OWNER`]).
    UserEvent,
    /// A DBGet of the owner's key: a list whose item holds the owner's
    /// value (stored by [`db_put`]).
    DbGet,
    /// CoreStatus: a response of several headers.
    CoreStatus,
}

/// Every kind, to draw from.
pub const KINDS: [Kind; 5] = [
    Kind::Ping,
    Kind::GeneratedPing,
    Kind::UserEvent,
    Kind::DbGet,
    Kind::CoreStatus,
];

/// The database family of the owners' keys.
pub const FAMILY: &str = "soak";
/// The name of the UserEvents the soak's actions raise.
pub const SOAK_EVENT: &str = "SoakEvt";
/// The header of a soak UserEvent (and its event) naming its owner.
pub const OWNER: &str = "Owner";

/// The owner's key in the fake server's database, and its value there.
pub fn db_key(owner: usize) -> (String, String) {
    (format!("k{owner}"), format!("value-of-{owner}"))
}

/// The DBPut that stores the owner's key, for its DBGets.
pub fn db_put(owner: usize) -> Action {
    let (key, value) = db_key(owner);
    Action::new("DBPut")
        .header("Family", FAMILY)
        .header("Key", key)
        .header("Val", value)
}

impl Kind {
    /// The action for `owner`, with ActionID `id` (none: generated).
    pub fn action(self, id: Option<&str>, owner: usize) -> Action {
        let action = match self {
            Kind::Ping | Kind::GeneratedPing => Action::ping(),
            Kind::UserEvent => Action::new("UserEvent")
                .header("UserEvent", SOAK_EVENT)
                .header(OWNER, owner.to_string()),
            Kind::DbGet => Action::new("DBGet")
                .header("Family", FAMILY)
                .header("Key", db_key(owner).0),
            Kind::CoreStatus => Action::new("CoreStatus"),
        };
        match id {
            Some(id) => action.with_action_id(id),
            None => action,
        }
    }

    /// Whether `done` is this action's answer for `owner`: its ActionID is
    /// `id` (when known) and its content is what the owner is answered.
    /// Returns the answer's ActionID.
    pub fn check(
        self,
        done: &Completion,
        id: Option<&str>,
        owner: usize,
    ) -> Result<Vec<u8>, String> {
        let response = done.response();
        let got = response.action_id().unwrap_or_default().to_vec();
        let name = id.unwrap_or("(generated)");
        if let Some(id) = id {
            if got != id.as_bytes() {
                return Err(format!(
                    "{id} ({self:?}, owner {owner}) got the answer of {:?}: {done:?}",
                    String::from_utf8_lossy(&got)
                ));
            }
        }
        let header = |name: &str| response.get_str(name).map(|v| v.into_owned());
        let fits = match self {
            Kind::Ping | Kind::GeneratedPing => header("Ping").as_deref() == Some("Pong"),
            Kind::UserEvent => header("Message").as_deref() == Some("Event Sent"),
            Kind::CoreStatus => header("CoreCurrentCalls").is_some(),
            Kind::DbGet => match done {
                Completion::List(list) => {
                    let value = db_key(owner).1;
                    list.items.len() == 1
                        && list.items.iter().all(|item| {
                            item.get_str("Val").as_deref() == Some(value.as_str())
                                && item.action_id() == Some(&got[..])
                        })
                }
                _ => false,
            },
        };
        match fits {
            true => Ok(got),
            false => Err(format!(
                "{name} ({self:?}, owner {owner}) got a foreign answer: {done:?}"
            )),
        }
    }
}
