//! Channels: what the model knows of each, and how a snapshot updates it.

use crate::fields::{assign, assign_copy, number, Snap};
use crate::time::Timestamp;

/// A live channel, keyed by its Uniqueid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Channel {
    /// The Uniqueid: stable for the channel's life, never reused.
    pub uniqueid: String,
    /// The name (`PJSIP/alice-00000012`); it can change (masquerades).
    pub name: String,
    /// The channel state.
    pub state: ChannelState,
    /// The caller ID (`CallerIDNum`, `CallerIDName`), as the server writes
    /// it (`<unknown>` when unset).
    pub caller: Party,
    /// The connected line (`ConnectedLineNum`, `ConnectedLineName`).
    pub connected: Party,
    /// Where it is in the dialplan.
    pub dialplan: Dialplan,
    /// The application it runs (`Dial`, `Queue`, `Wait`), empty if none.
    pub application: String,
    /// The application's argument.
    pub application_data: String,
    /// The bridge it is in, if any.
    pub bridge: Option<String>,
    /// The Linkedid: the Uniqueid of the call's oldest channel. It changes
    /// when the channel is bridged, and only the next event that carries
    /// the channel (normally its `BridgeEnter`) shows the new value.
    pub linkedid: String,
    /// When the channel was created: the `Timestamp` of its `Newchannel`
    /// when events are timestamped, else the second its Uniqueid names.
    pub created: Option<Timestamp>,
    /// The queue it waits in as a caller, if any.
    pub waiting_in: Option<String>,
}

/// A caller ID or connected line: number and name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Party {
    /// The number.
    pub number: String,
    /// The name.
    pub name: String,
}

/// A position in the dialplan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dialplan {
    /// The context.
    pub context: String,
    /// The extension.
    pub exten: String,
    /// The priority.
    pub priority: u32,
}

/// A channel's state (`ChannelState`, Asterisk's `enum ast_channel_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelState {
    /// 0: down and available.
    #[default]
    Down,
    /// 1: down, but reserved.
    Reserved,
    /// 2: off hook.
    OffHook,
    /// 3: digits (or equivalent) have been dialled.
    Dialing,
    /// 4: the line is ringing (an incoming call being offered).
    Ring,
    /// 5: the remote end is ringing.
    Ringing,
    /// 6: answered.
    Up,
    /// 7: busy.
    Busy,
    /// 8: digits dialled while off hook.
    DialingOffhook,
    /// 9: the channel has detected an incoming call and is waiting for ring.
    PreRing,
    /// Any other code.
    Other(u8),
}

impl ChannelState {
    /// The state for a numeric `ChannelState` value.
    pub fn from_code(code: u8) -> Self {
        use ChannelState::*;
        match code {
            0 => Down,
            1 => Reserved,
            2 => OffHook,
            3 => Dialing,
            4 => Ring,
            5 => Ringing,
            6 => Up,
            7 => Busy,
            8 => DialingOffhook,
            9 => PreRing,
            other => Other(other),
        }
    }

    /// The numeric value, as the server writes it.
    pub fn code(self) -> u8 {
        use ChannelState::*;
        match self {
            Down => 0,
            Reserved => 1,
            OffHook => 2,
            Dialing => 3,
            Ring => 4,
            Ringing => 5,
            Up => 6,
            Busy => 7,
            DialingOffhook => 8,
            PreRing => 9,
            Other(code) => code,
        }
    }
}

impl Channel {
    /// A channel from a snapshot that names its Uniqueid.
    pub(crate) fn new(uniqueid: &str, snap: &Snap<'_>, created: Option<Timestamp>) -> Self {
        Channel::default().renew(uniqueid, snap, created)
    }

    /// This (finished) channel's storage made into the channel a snapshot
    /// describes, as [`Channel::new`] would make it: its strings keep their
    /// capacity, so a new channel seldom allocates.
    pub(crate) fn renew(
        mut self,
        uniqueid: &str,
        snap: &Snap<'_>,
        created: Option<Timestamp>,
    ) -> Self {
        // Every field by name: one added later cannot be forgotten here.
        let Channel {
            uniqueid: old_uniqueid,
            name,
            state,
            caller,
            connected,
            dialplan,
            application,
            application_data,
            bridge,
            linkedid,
            created: old_created,
            waiting_in,
        } = &mut self;
        for text in [
            &mut *name,
            &mut caller.number,
            &mut caller.name,
            &mut connected.number,
            &mut connected.name,
            &mut dialplan.context,
            &mut dialplan.exten,
            &mut *application,
            &mut *application_data,
            &mut *linkedid,
        ] {
            text.clear();
        }
        old_uniqueid.clear();
        old_uniqueid.push_str(uniqueid);
        *state = ChannelState::default();
        dialplan.priority = 0;
        *bridge = None;
        *waiting_in = None;
        *old_created = created;
        self.update(snap);
        self
    }

    /// Applies the values `snap` carries; whether anything changed.
    pub(crate) fn update(&mut self, snap: &Snap<'_>) -> bool {
        // `|` rather than `||`: every field is applied.
        assign(&mut self.name, snap.channel)
            | assign_copy(
                &mut self.state,
                number::<u8>(snap.state).map(ChannelState::from_code),
            )
            | assign(&mut self.caller.number, snap.caller_num)
            | assign(&mut self.caller.name, snap.caller_name)
            | assign(&mut self.connected.number, snap.connected_num)
            | assign(&mut self.connected.name, snap.connected_name)
            | assign(&mut self.dialplan.context, snap.context)
            | assign(&mut self.dialplan.exten, snap.exten)
            | assign_copy(&mut self.dialplan.priority, number(snap.priority))
            | assign(&mut self.linkedid, snap.linkedid)
    }

    /// Sets the application and its argument; whether they changed.
    pub(crate) fn set_application(&mut self, app: Option<&[u8]>, data: Option<&[u8]>) -> bool {
        assign(&mut self.application, app) | assign(&mut self.application_data, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_codes_round_trip() {
        for code in 0..=12 {
            assert_eq!(ChannelState::from_code(code).code(), code);
        }
        assert_eq!(ChannelState::from_code(6), ChannelState::Up);
    }

    #[test]
    fn a_renewed_channel_is_a_new_one() {
        let full = Snap {
            channel: Some(b"PJSIP/a-1"),
            state: Some(b"6"),
            caller_num: Some(b"100"),
            caller_name: Some(b"Alice"),
            connected_num: Some(b"200"),
            connected_name: Some(b"Bob"),
            context: Some(b"from-internal"),
            exten: Some(b"200"),
            priority: Some(b"3"),
            uniqueid: Some(b"1.1"),
            linkedid: Some(b"1.0"),
        };
        let mut old = Channel::new("1.1", &full, Some(Timestamp::from_secs(1)));
        old.set_application(Some(b"Dial"), Some(b"PJSIP/200"));
        old.bridge = Some("b-1".into());
        old.waiting_in = Some("support".into());
        let sparse = Snap {
            channel: Some(b"PJSIP/c-2"),
            ..Snap::default()
        };
        for (snap, created) in [(&sparse, None), (&full, Some(Timestamp::from_secs(2)))] {
            let renewed = old.clone().renew("2.2", snap, created);
            assert_eq!(renewed, Channel::new("2.2", snap, created));
        }
    }

    #[test]
    fn update_reports_only_real_changes() {
        let snap = Snap {
            channel: Some(b"PJSIP/a-1"),
            state: Some(b"4"),
            priority: Some(b"2"),
            ..Snap::default()
        };
        let mut c = Channel::new("1.1", &snap, None);
        assert_eq!(c.state, ChannelState::Ring);
        assert_eq!(c.dialplan.priority, 2);
        assert!(!c.update(&snap), "the same values change nothing");
        let up = Snap {
            state: Some(b"6"),
            ..Snap::default()
        };
        assert!(c.update(&up));
        assert_eq!(c.state, ChannelState::Up);
        assert_eq!(c.name, "PJSIP/a-1", "absent headers leave fields alone");
    }
}
