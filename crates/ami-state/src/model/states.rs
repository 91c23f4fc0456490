//! Device and extension (hint) states.
//!
//! The list items of `DeviceStateList` and `ExtensionStateList` are
//! `DeviceStateChange` and `ExtensionStatus` events in all but their
//! ActionID and missing `Privilege`: both say what the state is now, so
//! both are applied the same way.

use std::sync::Arc;

use super::pair::write_pair;
use super::{shared, Model};
use crate::change::{KeyRef, Text};
use crate::device::{DeviceState, DeviceStatus, ExtensionState};
use crate::fields::{assign, assign_copy, key, number, Fields};

impl Model {
    /// A `DeviceStateChange`, live or listed.
    pub(super) fn on_device_state(&mut self, f: &Fields<'_>) {
        let Some(device) = key(f.device) else {
            self.stats.malformed += 1;
            return;
        };
        if let Some(resync) = &mut self.resync {
            resync.devices.remove(&*device);
        }
        let status = f.state.map(DeviceStatus::from_name);
        let full = self.devices.len() >= self.limits.devices;
        let (added, changed) = match self.devices.get_mut(&*device) {
            Some(state) => (false, assign_copy(&mut state.status, status)),
            None if full => {
                self.stats.overflow.devices += 1;
                return;
            }
            None => {
                let state = DeviceState {
                    device: device.to_string(),
                    status: status.unwrap_or_default(),
                };
                self.devices.insert(Arc::from(&*device), state);
                (true, true)
            }
        };
        if let Some(op) = Model::upsert_op(added, changed) {
            let shared = shared(&self.devices, &device);
            self.emit(op, KeyRef::Device(Text::or(&shared, &device)));
        }
    }

    /// An `ExtensionStatus`, live or listed. It can come before the
    /// `DeviceStateChange` that caused it; each is applied as it comes.
    pub(super) fn on_extension_status(&mut self, f: &Fields<'_>) {
        let (Some(exten), Some(context)) = (key(f.chan.exten), key(f.chan.context)) else {
            self.stats.malformed += 1;
            return;
        };
        let mut map_key = std::mem::take(&mut self.extension_key_buf);
        write_pair(&mut map_key, &exten, &context);
        let applied = self.apply_extension_status(&map_key, &exten, &context, f);
        self.extension_key_buf = map_key;
        let Some((added, changed)) = applied else {
            return;
        };
        if let Some(op) = Model::upsert_op(added, changed) {
            self.emit(op, KeyRef::Extension((&*exten).into(), (&*context).into()));
        }
    }

    /// Applies an `ExtensionStatus` to the state keyed `map_key`: whether
    /// it was added and whether it changed, or `None` when the bound kept
    /// it out.
    fn apply_extension_status(
        &mut self,
        map_key: &str,
        exten: &str,
        context: &str,
        f: &Fields<'_>,
    ) -> Option<(bool, bool)> {
        if let Some(resync) = &mut self.resync {
            resync.extensions.remove(map_key);
        }
        let full = self.extensions.len() >= self.limits.extensions;
        match self.extensions.get_mut(map_key) {
            Some(state) => Some((false, update_extension(state, f))),
            None if full => {
                self.stats.overflow.extensions += 1;
                None
            }
            None => {
                let mut state = ExtensionState {
                    exten: exten.to_owned(),
                    context: context.to_owned(),
                    ..ExtensionState::default()
                };
                update_extension(&mut state, f);
                self.extensions.insert(map_key.to_owned(), state);
                Some((true, true))
            }
        }
    }
}

fn update_extension(state: &mut ExtensionState, f: &Fields<'_>) -> bool {
    assign(&mut state.hint, f.hint)
        | assign_copy(&mut state.status, number(f.status))
        | assign(&mut state.status_text, f.status_text)
}
