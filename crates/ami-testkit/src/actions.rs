//! The actions of Asterisk 22.10.1, with the write classes each one needs
//! (their authority, from a real `ListCommands`; see `08-listcommands.raw`).
//!
//! The fake server lists all of them and checks permissions for all of them,
//! as Asterisk does; the ones it simulates are answered, the others get an
//! error that says so (see [`simulated`]).

use crate::perm::Classes;

/// `(name, authority)` in the order Asterisk 22 lists them. An empty
/// authority means anybody logged in may run the action.
const ACTIONS: &[(&str, &str)] = &[
    ("AbsoluteTimeout", "system,call"),
    ("AGI", "agi"),
    ("AOCMessage", "aoc"),
    ("Atxfer", "call"),
    ("BlindTransfer", "call"),
    ("Bridge", "call"),
    ("BridgeDestroy", ""),
    ("BridgeInfo", ""),
    ("BridgeKick", ""),
    ("BridgeList", ""),
    ("BridgeTechnologyList", ""),
    ("BridgeTechnologySuspend", ""),
    ("BridgeTechnologyUnsuspend", ""),
    ("CancelAtxfer", "call"),
    ("Challenge", ""),
    ("Command", "command"),
    ("ControlPlayback", "call"),
    ("CoreSettings", "system,reporting"),
    ("CoreShowChannelMap", "system,reporting"),
    ("CoreShowChannels", "system,reporting"),
    ("CoreStatus", "system,reporting"),
    ("CreateConfig", "config"),
    ("DBDel", "system"),
    ("DBDelTree", "system"),
    ("DBGet", "system,reporting"),
    ("DBGetTree", "system,reporting"),
    ("DBPut", "system"),
    ("DeviceStateList", "call,reporting"),
    ("DialplanExtensionAdd", "system"),
    ("DialplanExtensionRemove", "system"),
    ("Events", ""),
    ("ExtensionState", "call,reporting"),
    ("ExtensionStateList", "call,reporting"),
    ("FAXSession", "call"),
    ("FAXSessions", "call"),
    ("FAXStats", "reporting"),
    ("Filter", "system"),
    ("GetConfig", "system,config"),
    ("GetConfigJSON", "system,config"),
    ("Getvar", "call,reporting"),
    ("Hangup", "system,call"),
    ("ListCategories", "config"),
    ("ListCommands", ""),
    ("LocalOptimizeAway", "system,call"),
    ("LoggerRotate", "system,reporting"),
    ("Login", ""),
    ("Logoff", ""),
    ("MailboxCount", "call,reporting"),
    ("MailboxStatus", "call,reporting"),
    ("MessageSend", "message"),
    ("MixMonitor", "system"),
    ("MixMonitorMute", "system,call"),
    ("ModuleCheck", "system"),
    ("ModuleLoad", "system"),
    ("MuteAudio", "system"),
    ("Originate", "originate"),
    ("Park", "call"),
    ("ParkedCalls", "call"),
    ("Parkinglots", "call"),
    ("Ping", ""),
    ("PlayDTMF", "call"),
    ("PlayMF", "call"),
    ("PresenceState", "call,reporting"),
    ("PresenceStateList", "call,reporting"),
    ("QueueAdd", "agent"),
    ("QueueChangePriorityCaller", ""),
    ("QueueLog", "agent"),
    ("QueueMemberRingInUse", "agent"),
    ("QueuePause", "agent"),
    ("QueuePenalty", "agent"),
    ("QueueReload", ""),
    ("QueueRemove", "agent"),
    ("QueueReset", ""),
    ("QueueRule", ""),
    ("QueueStatus", ""),
    ("QueueSummary", ""),
    ("QueueWithdrawCaller", ""),
    ("Redirect", "call"),
    ("Reload", "system,config"),
    ("SendFlash", "call"),
    ("SendText", "call"),
    ("Setvar", "call"),
    ("ShowDialPlan", "config,reporting"),
    ("SorceryMemoryCacheExpire", "system"),
    ("SorceryMemoryCacheExpireObject", "system"),
    ("SorceryMemoryCachePopulate", "system"),
    ("SorceryMemoryCacheStale", "system"),
    ("SorceryMemoryCacheStaleObject", "system"),
    ("Status", "system,call,reporting"),
    ("StopMixMonitor", "system,call"),
    ("UpdateConfig", "config"),
    ("UserEvent", "user"),
    ("WaitEvent", ""),
];

/// One action of the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActionInfo {
    /// The name as Asterisk spells it in `ListCommands`.
    pub(crate) name: &'static str,
    /// The write classes of which the user needs at least one.
    pub(crate) authority: Classes,
}

/// Every action, in `ListCommands` order.
pub(crate) fn all() -> impl Iterator<Item = ActionInfo> {
    ACTIONS.iter().map(|&(name, classes)| ActionInfo {
        name,
        authority: Classes::parse(classes),
    })
}

/// The action called `name` (any case), if Asterisk 22 has it.
pub(crate) fn find(name: &str) -> Option<ActionInfo> {
    all().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The actions the fake server simulates, with what `ListCommands` says of
/// them (in our words).
const SIMULATED: &[(&str, &str)] = &[
    ("BridgeList", "Lists the bridges."),
    ("Challenge", "Gives a nonce for an MD5 login."),
    ("Command", "Runs a CLI command and returns its output."),
    ("CoreSettings", "Versions and core limits."),
    ("CoreShowChannels", "Lists the live channels."),
    ("CoreStatus", "Start time, reload time and call counts."),
    ("DBDel", "Deletes one AstDB key."),
    ("DBDelTree", "Deletes an AstDB family or key tree."),
    ("DBGet", "Reads one AstDB key."),
    ("DBGetTree", "Lists AstDB keys under a family or key."),
    ("DBPut", "Writes one AstDB key."),
    ("DeviceStateList", "Lists the cached device states."),
    ("Events", "Sets which event classes this session receives."),
    ("ExtensionState", "The state of one hint."),
    ("ExtensionStateList", "Lists the states of all hints."),
    ("Filter", "Adds an event filter to this session."),
    ("Getvar", "Reads a variable or a dialplan function."),
    ("Hangup", "Hangs a channel up."),
    ("ListCommands", "Lists the actions this user may run."),
    ("Login", "Logs in."),
    ("Logoff", "Logs off and closes the session."),
    ("Originate", "Places a call."),
    ("Ping", "Answers Pong: a keepalive."),
    ("QueuePause", "Pauses or unpauses a queue member."),
    ("QueueStatus", "Lists queues, members and callers."),
    ("QueueSummary", "One summary line per queue."),
    ("Redirect", "Sends a channel to another dialplan place."),
    ("Setvar", "Sets a variable or a dialplan function."),
    ("Status", "Lists the channels with their details."),
    ("UserEvent", "Sends an event of the caller's making."),
    ("WaitEvent", "Waits for an event, then returns it."),
];

/// What `ListCommands` says about an action the fake server simulates, or
/// `None` for one it only lists.
pub(crate) fn simulated(name: &str) -> Option<&'static str> {
    SIMULATED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, synopsis)| synopsis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_capture_and_simulated_names_exist() {
        assert_eq!(all().count(), 93);
        assert_eq!(
            find("originate").expect("listed").authority,
            Classes::ORIGINATE
        );
        assert!(find("Ping").expect("listed").authority.is_empty());
        for (name, _) in SIMULATED {
            assert_eq!(
                find(name).map(|a| a.name),
                Some(*name),
                "spelt as Asterisk does"
            );
        }
    }
}
