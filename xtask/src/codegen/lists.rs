//! Generates `crates/ami-proto/src/generated/lists.rs`: the actions that answer
//! with an event list, when they do, and the event that ends each list.
//!
//! The catalogue says which actions *may* list (`list` from the docs,
//! `list_in_code` from a scan of the handlers). That is not enough for the
//! core, which collects a list even when the server acknowledges it with a
//! plain `Success` (1.8–11-era servers send no `EventList: start`): an action
//! in the table that sometimes answers a plain `Success` *without* a list
//! would wait for its timeout. So every such action needs a [`Checked`] entry
//! below, read from its handler in Asterisk's source at each catalogue tag;
//! the generator fails on an action the catalogue flags and nobody checked,
//! and on a checked name the catalogue no longer flags.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::catalogue::{Action, Catalogue};
use crate::Result;

/// Where the generated file goes, relative to the workspace root.
pub(crate) const OUTPUT: &str = "crates/ami-proto/src/generated/lists.rs";

/// What Asterisk's source (13.38.3 to 23.4.1) shows about one action the
/// catalogue flags as a list.
enum Checked {
    /// Every `Success` opens a list (failures are `Response: Error`), ended by
    /// the event named here (`astman_send_list_complete_start`).
    Always(&'static str),
    /// Lists only when the first value of `header` starts with `prefix`;
    /// otherwise a plain `Success`.
    When {
        header: &'static str,
        prefix: &'static str,
        complete: &'static str,
    },
    /// Sometimes answers a plain `Success` with no list (the branch is quoted):
    /// left out of the table, so that such an answer completes the action.
    /// A list it does open is still collected (`EventList: start`).
    Sometimes(&'static str),
}

use Checked::{Always, Sometimes, When};

/// Every action the catalogue flags as a list, as its handler behaves at each
/// catalogue tag: every branch that answers (`astman_send_ack`,
/// `astman_send_listack`, `astman_send_error`, a literal `Response:`), the
/// handler's helpers included, and the name given to
/// `astman_send_list_complete_start`. Errors never matter here: an `Error`
/// completes any action.
const CHECKED: &[(&str, Checked)] = &[
    ("Agents", Always("AgentsComplete")),
    ("BridgeInfo", Always("BridgeInfoComplete")),
    ("BridgeList", Always("BridgeListComplete")),
    (
        "BridgeTechnologyList",
        Always("BridgeTechnologyListComplete"),
    ),
    ("ConfbridgeList", Always("ConfbridgeListComplete")),
    ("ConfbridgeListRooms", Always("ConfbridgeListRoomsComplete")),
    ("CoreShowChannelMap", Always("CoreShowChannelMapComplete")),
    ("CoreShowChannels", Always("CoreShowChannelsComplete")),
    ("DAHDIShowChannels", Always("DAHDIShowChannelsComplete")),
    ("DAHDIShowStatus", Always("DAHDIShowStatusComplete")),
    ("DBGet", Always("DBGetComplete")),
    ("DBGetTree", Always("DBGetTreeComplete")),
    ("DeviceStateList", Always("DeviceStateListComplete")),
    ("ExtensionStateList", Always("ExtensionStateListComplete")),
    ("FAXSessions", Always("FAXSessionsComplete")),
    // `ast_manager_hangup_helper`: a channel name hangs up one channel and
    // answers `astman_send_ack(s, m, "Channel Hungup")`; a `/regex/` lists.
    (
        "Hangup",
        When {
            header: "Channel",
            prefix: "/",
            complete: "ChannelsHungupListComplete",
        },
    ),
    ("IAXpeerlist", Always("PeerlistComplete")),
    ("IAXpeers", Always("PeerlistComplete")),
    ("IAXregistry", Always("RegistrationsComplete")),
    ("MWIGet", Always("MWIGetComplete")),
    ("MeetmeList", Always("MeetmeListComplete")),
    ("MeetmeListRooms", Always("MeetmeListRoomsComplete")),
    ("PJSIPShowAors", Always("AorListComplete")),
    ("PJSIPShowAuths", Always("AuthListComplete")),
    ("PJSIPShowContacts", Always("ContactListComplete")),
    ("PJSIPShowEndpoint", Always("EndpointDetailComplete")),
    ("PJSIPShowEndpoints", Always("EndpointListComplete")),
    (
        "PJSIPShowMaintenance",
        Always("PJSIPMaintenanceStatusComplete"),
    ),
    (
        "PJSIPShowRegistrationInboundContactStatuses",
        Always("ContactStatusDetailComplete"),
    ),
    (
        "PJSIPShowRegistrationsInbound",
        Always("InboundRegistrationDetailComplete"),
    ),
    (
        "PJSIPShowRegistrationsOutbound",
        Always("OutboundRegistrationDetailComplete"),
    ),
    (
        "PJSIPShowResourceLists",
        Always("ResourceListDetailComplete"),
    ),
    (
        "PJSIPShowSubscriptionsInbound",
        Always("InboundSubscriptionDetailComplete"),
    ),
    (
        "PJSIPShowSubscriptionsOutbound",
        Always("OutboundSubscriptionDetailComplete"),
    ),
    ("PRIShowSpans", Always("PRIShowSpansComplete")),
    ("ParkedCalls", Always("ParkedCallsComplete")),
    ("Parkinglots", Always("ParkinglotsComplete")),
    ("PresenceStateList", Always("PresenceStateListComplete")),
    ("QueueStatus", Always("QueueStatusComplete")),
    ("QueueSummary", Always("QueueSummaryComplete")),
    ("SIPpeers", Always("PeerlistComplete")),
    ("SIPpeerstatus", Always("SIPpeerstatusComplete")),
    ("SIPshowregistry", Always("RegistrationsComplete")),
    ("SKINNYdevices", Always("DevicelistComplete")),
    ("SKINNYlines", Always("LinelistComplete")),
    ("ShowDialPlan", Always("ShowDialPlanComplete")),
    ("Status", Always("StatusComplete")),
    (
        "VoicemailBoxSummary",
        Sometimes("astman_send_ack(s, m, \"There is no voicemail user matching the given user.\")"),
    ),
    (
        "VoicemailUserStatus",
        Sometimes("astman_send_ack(s, m, \"There is no voicemail user of the given info.\")"),
    ),
    (
        "VoicemailUsersList",
        Sometimes("astman_send_ack(s, m, \"There are no voicemail users currently defined.\")"),
    ),
];

/// The generated file's text (before rustfmt).
pub(crate) fn generate(catalogue: &Catalogue) -> Result<String> {
    check_coverage(catalogue)?;
    let mut entries: Vec<(&str, &Checked)> = CHECKED
        .iter()
        .filter(|(_, checked)| !matches!(checked, Sometimes(_)))
        .map(|(name, checked)| (*name, checked))
        .collect();
    // The order `ami_proto`'s look-up searches in.
    entries.sort_by_key(|(name, _)| name.to_ascii_lowercase());

    let mut out = String::new();
    out.push_str(
        "//! Actions that answer with an event list: when, and the event that ends\n\
         //! the list. From `catalogue/ami-catalogue.json` and the handlers checked\n\
         //! in `xtask/src/codegen/lists.rs`.\n\
         //!\n\
         //! @generated by `cargo xtask codegen`. Do not edit: change the generator.\n\n\
         use crate::lists::{ListAction, ListWhen};\n\n\
         /// Sorted by ASCII-lowercase name, for [`ListAction::find`].\n\
         pub(crate) static LIST_ACTIONS: &[ListAction] = &[\n",
    );
    for (name, checked) in entries {
        let action = &catalogue.actions[name];
        let (when, complete) = match checked {
            Always(complete) => ("ListWhen::Always".to_owned(), *complete),
            When {
                header,
                prefix,
                complete,
            } => (
                format!("ListWhen::HeaderStartsWith {{ header: {header:?}, prefix: {prefix:?} }}"),
                *complete,
            ),
            Sometimes(_) => unreachable!("filtered out above"),
        };
        let _ = writeln!(
            out,
            "    // Asterisk {}",
            catalogue.describe(&action.versions)
        );
        let _ = writeln!(
            out,
            "    ListAction {{ name: {name:?}, when: {when}, complete: {complete:?} }},"
        );
    }
    out.push_str("];\n");
    out.push_str(
        "\n// Left out: these sometimes answer a plain `Success` with no list. A list\n\
         // they do open (`EventList: start`) is still collected.\n",
    );
    for (name, checked) in CHECKED {
        if let Sometimes(branch) = checked {
            let _ = writeln!(out, "// - {name}: `{branch}`");
        }
    }
    Ok(out)
}

/// Fails unless every action the catalogue flags is checked, every checked
/// action is flagged, and the docs' `...Complete` events agree with ours.
fn check_coverage(catalogue: &Catalogue) -> Result<()> {
    let flagged: BTreeSet<&str> = catalogue
        .actions
        .iter()
        .filter(|(_, action)| action.may_list())
        .map(|(name, _)| name.as_str())
        .collect();
    let checked: BTreeSet<&str> = CHECKED.iter().map(|(name, _)| *name).collect();
    if checked.len() != CHECKED.len() {
        return Err(format!("{}: an action is checked twice", file!()));
    }
    if let Some(name) = flagged.difference(&checked).next() {
        return Err(format!(
            "the catalogue says `{name}` answers with an event list, but {} has no entry \
             for it: read its handler in Asterisk's source (does every `Success` open a \
             list? which event ends it?) and add one",
            file!()
        ));
    }
    if let Some(name) = checked.difference(&flagged).next() {
        return Err(format!(
            "{} checks `{name}`, which the catalogue does not flag as a list: remove it",
            file!()
        ));
    }
    for (name, checked) in CHECKED {
        let complete = match checked {
            Always(complete) | When { complete, .. } => complete,
            Sometimes(_) => continue,
        };
        let documented = documented_end(&catalogue.actions[*name]);
        if documented.is_some_and(|doc| doc != *complete) {
            return Err(format!(
                "`{name}`: the docs end its list with `{}`, {} says `{complete}`",
                documented.unwrap_or_default(),
                file!()
            ));
        }
    }
    Ok(())
}

/// The `...Complete` event the docs name for an action's list, if any.
fn documented_end(action: &Action) -> Option<&str> {
    action
        .response_events
        .iter()
        .map(String::as_str)
        .find(|event| event.ends_with("Complete"))
}
