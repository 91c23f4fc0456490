//! Device states and extension (hint) states.

/// A device's state (`DeviceStateChange`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceState {
    /// The device (`PJSIP/alice`, `Custom:lamp1`, `Queue:support_avail`).
    pub device: String,
    /// Its state.
    pub status: DeviceStatus,
}

/// A device state (Asterisk's `enum ast_device_state`): the `State` of a
/// `DeviceStateChange` by name, the `Status` of a queue member by number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeviceStatus {
    /// 0, `UNKNOWN`.
    #[default]
    Unknown,
    /// 1, `NOT_INUSE`: idle.
    NotInUse,
    /// 2, `INUSE`.
    InUse,
    /// 3, `BUSY`.
    Busy,
    /// 4, `INVALID`.
    Invalid,
    /// 5, `UNAVAILABLE`.
    Unavailable,
    /// 6, `RINGING`.
    Ringing,
    /// 7, `RINGINUSE`: ringing while in use.
    RingInUse,
    /// 8, `ONHOLD`.
    OnHold,
}

const NAMES: [(DeviceStatus, &str); 9] = [
    (DeviceStatus::Unknown, "UNKNOWN"),
    (DeviceStatus::NotInUse, "NOT_INUSE"),
    (DeviceStatus::InUse, "INUSE"),
    (DeviceStatus::Busy, "BUSY"),
    (DeviceStatus::Invalid, "INVALID"),
    (DeviceStatus::Unavailable, "UNAVAILABLE"),
    (DeviceStatus::Ringing, "RINGING"),
    (DeviceStatus::RingInUse, "RINGINUSE"),
    (DeviceStatus::OnHold, "ONHOLD"),
];

impl DeviceStatus {
    /// The state for its number (0 to 8); any other number is `Unknown`.
    pub fn from_code(code: u8) -> Self {
        NAMES
            .get(usize::from(code))
            .map_or(DeviceStatus::Unknown, |(status, _)| *status)
    }

    /// The state for its name (`NOT_INUSE`, any case); unknown names are `Unknown`.
    pub fn from_name(name: &[u8]) -> Self {
        NAMES
            .iter()
            .find(|(_, n)| name.eq_ignore_ascii_case(n.as_bytes()))
            .map_or(DeviceStatus::Unknown, |(status, _)| *status)
    }

    /// Its number.
    pub fn code(self) -> u8 {
        NAMES
            .iter()
            .position(|(status, _)| *status == self)
            .and_then(|i| u8::try_from(i).ok())
            .unwrap_or(0)
    }

    /// Its name, as the server writes it.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(status, _)| *status == self)
            .map_or("UNKNOWN", |(_, name)| name)
    }

    /// Whether app_queue counts a member in this state as logged in.
    pub fn is_logged_in(self) -> bool {
        !matches!(self, DeviceStatus::Unavailable | DeviceStatus::Invalid)
    }

    /// Whether app_queue may ring a member in this state (idle or unknown).
    pub fn is_available(self) -> bool {
        matches!(self, DeviceStatus::NotInUse | DeviceStatus::Unknown)
    }
}

/// An extension's hint state (`ExtensionStatus`), keyed by extension and context.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtensionState {
    /// The extension.
    pub exten: String,
    /// Its context.
    pub context: String,
    /// The hint: the devices whose states make this one (`PJSIP/alice&Custom:dnd`).
    pub hint: String,
    /// The state as a number: -2 removed, -1 deleted, 0 idle, or a sum of
    /// 1 in use, 2 busy, 4 unavailable, 8 ringing, 16 on hold.
    pub status: i32,
    /// The state as text (`Idle`, `InUse`, `Ringing`, `InUse&Ringing`, ...).
    pub status_text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_agree() {
        for code in 0..9 {
            let status = DeviceStatus::from_code(code);
            assert_eq!(status.code(), code);
            assert_eq!(DeviceStatus::from_name(status.as_str().as_bytes()), status);
        }
        assert_eq!(
            DeviceStatus::from_name(b"not_inuse"),
            DeviceStatus::NotInUse
        );
        assert_eq!(DeviceStatus::from_name(b"???"), DeviceStatus::Unknown);
        assert_eq!(DeviceStatus::from_code(200), DeviceStatus::Unknown);
    }
}
