//! Device and hint states: what `DeviceStateChange`, `ExtensionStatus`,
//! `ExtensionStateList` and `DEVICE_STATE()` show.

use crate::pbx::PbxState;
use crate::perm::Classes;

impl PbxState {
    /// The state of a device: cached (`Custom:`, `Queue:`: `UNKNOWN` until
    /// set), else derived from the live channels: in use while one of its
    /// channels exists (a Local device from its dial on, as `local_devicestate`
    /// counts it), else idle when it exists and unavailable when not.
    pub(crate) fn device_state(&self, device: &str) -> &'static str {
        if let Some(s) = self.devices.get(device) {
            return s;
        }
        if device.starts_with("Custom:") || device.starts_with("Queue:") {
            return "UNKNOWN";
        }
        if self.chans.values().any(|c| c.device == device) {
            return "INUSE";
        }
        let known = match &self.config.dialplan {
            None => true,
            Some(d) => match device.strip_prefix("Local/") {
                Some(dest) => {
                    let (exten, context) = dest.split_once('@').unwrap_or((dest, "default"));
                    d.find(context, exten).is_some()
                }
                None => d.find_device(device).is_some(),
            },
        };
        if known {
            "NOT_INUSE"
        } else {
            "UNAVAILABLE"
        }
    }

    /// Every hint: `(context, exten, device)`.
    pub(crate) fn hints(&self) -> Vec<(String, String, String)> {
        self.config
            .dialplan
            .iter()
            .flat_map(|d| {
                d.hints().map(|(ctx, e)| {
                    (
                        ctx.to_string(),
                        e.name().to_string(),
                        e.hint_device().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect()
    }

    /// `ExtensionStatus` code and text of a hint on `device`.
    pub(crate) fn hint_status(&self, device: &str) -> (u32, &'static str) {
        match self.device_state(device) {
            "INUSE" => (1, "InUse"),
            "BUSY" => (2, "Busy"),
            "UNAVAILABLE" | "INVALID" => (4, "Unavailable"),
            "RINGING" => (8, "Ringing"),
            "RINGINUSE" => (9, "InUse&Ringing"),
            "ONHOLD" => (16, "Hold"),
            _ => (0, "Idle"),
        }
    }

    /// Publishes a device's (re)computed state: `ExtensionStatus` for each
    /// hint on it when the hint's status changed (Asterisk may send it
    /// before or after), then `DeviceStateChange`.
    pub(crate) fn device_changed(&mut self, device: &str) {
        let state = self.device_state(device);
        let status = self.hint_status(device);
        if self.hints_seen.get(device).is_some_and(|s| *s != status) {
            self.hints_seen.insert(device.to_string(), status);
            for (ctx, exten, dev) in self.hints() {
                if dev == device {
                    self.emit(Classes::CALL, "ExtensionStatus", |w| {
                        w.h("Exten", &exten)
                            .h("Context", &ctx)
                            .h("Hint", &dev)
                            .h("Status", status.0.to_string())
                            .h("StatusText", status.1)
                    });
                }
            }
        }
        let device = device.to_string();
        self.emit(Classes::CALL, "DeviceStateChange", |w| {
            w.h("Device", &device).h("State", state)
        });
    }

    /// Sets a cached device state (`DEVICE_STATE(Custom:x)=INUSE`).
    pub(crate) fn set_device(&mut self, device: &str, state: &str) {
        const STATES: [&str; 9] = [
            "UNKNOWN",
            "NOT_INUSE",
            "INUSE",
            "BUSY",
            "INVALID",
            "UNAVAILABLE",
            "RINGING",
            "RINGINUSE",
            "ONHOLD",
        ];
        let Some(state) = STATES.iter().find(|s| s.eq_ignore_ascii_case(state)) else {
            return;
        };
        self.devices.insert(device.to_string(), state);
        self.device_changed(device);
    }
}
