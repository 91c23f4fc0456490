//! The parts of `catalogue/ami-catalogue.json` the generators read, as typed Rust.
//!
//! serde ignores every field not named here, so a generator that needs more
//! (parameters for typed builders, event headers for typed views) adds the field
//! to these structs and nothing else changes. `catalogue/README.md` describes
//! each field.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::Result;

/// The whole catalogue: Asterisk's manager actions across the covered releases.
#[derive(Debug, Deserialize)]
pub(crate) struct Catalogue {
    /// The Asterisk tags covered, oldest first (`13.38.3` ... `23.4.1`).
    pub(crate) versions: Vec<String>,
    /// Every action by its registered name.
    pub(crate) actions: BTreeMap<String, Action>,
}

/// One manager action.
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    /// The docs give it `<list-elements>`: it answers with an event list.
    #[serde(default)]
    pub(crate) list: bool,
    /// A scan of its handler found `astman_send_listack` or `EventList: start`.
    #[serde(default)]
    pub(crate) list_in_code: bool,
    /// Events the docs name in its answer, the list's `...Complete` event among them.
    #[serde(default)]
    pub(crate) response_events: Vec<String>,
    /// The tags whose docs describe it.
    #[serde(default)]
    pub(crate) versions: Vec<String>,
}

impl Catalogue {
    /// Reads and parses the catalogue at `path`.
    pub(crate) fn load(path: &Path) -> Result<Catalogue> {
        let text = fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        serde_json::from_str(&text).map_err(|err| format!("cannot parse {}: {err}", path.display()))
    }
}

impl Action {
    /// Whether the docs or the code scan say it answers with an event list.
    pub(crate) fn may_list(&self) -> bool {
        self.list || self.list_in_code
    }
}
