//! The parts of `catalogue/ami-catalogue.json` the generators read, as typed Rust.
//!
//! serde ignores every field not named here, so a generator that needs more
//! adds the field to these structs and nothing else changes.
//! `catalogue/README.md` describes each field.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::Result;

/// The whole catalogue: Asterisk's manager actions and events across the
/// covered releases.
#[derive(Debug, Deserialize)]
pub(crate) struct Catalogue {
    /// The Asterisk tags covered, oldest first (`13.38.3` ... `23.4.1`).
    pub(crate) versions: Vec<String>,
    /// Every action by its registered name.
    pub(crate) actions: BTreeMap<String, Action>,
    /// Every documented event by its name.
    pub(crate) events: BTreeMap<String, Event>,
    /// The header names of each standard header set (`channel_snapshot`,
    /// `bridge_snapshot`) that an event's `includes` names.
    pub(crate) snapshots: BTreeMap<String, Vec<String>>,
    /// Per tag: counts and gap lists.
    pub(crate) per_version: BTreeMap<String, PerVersion>,
}

/// One manager action.
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    /// Its parameters, in the newest tag's order (`ActionID` among them).
    #[serde(default)]
    pub(crate) parameters: Vec<Field>,
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

/// One documented manager event.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    /// Its class (`EVENT_FLAG_CALL`, ...).
    #[serde(default)]
    pub(crate) class: String,
    /// The headers its docs list, in the newest tag's order.
    #[serde(default)]
    pub(crate) headers: Vec<Field>,
    /// The standard header sets it carries, each under a prefix.
    #[serde(default)]
    pub(crate) includes: Vec<Include>,
    /// The tags whose docs describe it.
    #[serde(default)]
    pub(crate) versions: Vec<String>,
}

/// An action's parameter or an event's header, and the tags that have it.
#[derive(Debug, Deserialize)]
pub(crate) struct Field {
    /// The name, in the newest tag's spelling.
    pub(crate) name: String,
    /// Required (actions: in the newest tag that has it, unless `required_in`
    /// says otherwise; events: only where the docs say `required="true"`).
    #[serde(default)]
    pub(crate) required: bool,
    /// The tags where it is required, when that changed between tags.
    #[serde(default)]
    pub(crate) required_in: Option<Vec<String>>,
    /// The first tag that has it.
    #[serde(default)]
    pub(crate) added_in: Option<String>,
    /// The first tag (after one that had it) that no longer has it.
    #[serde(default)]
    pub(crate) removed_in: Option<String>,
    /// The tags that have it, when that is not a simple range.
    #[serde(default)]
    pub(crate) versions: Option<Vec<String>>,
}

/// A standard header set an event includes: `prefix` goes before each name.
#[derive(Debug, Deserialize)]
pub(crate) struct Include {
    /// `channel_snapshot` or `bridge_snapshot`.
    pub(crate) name: String,
    /// Put in front of each of the set's header names (`Dest`, or empty).
    pub(crate) prefix: String,
}

/// What one tag's scan found beyond the docs.
#[derive(Debug, Deserialize)]
pub(crate) struct PerVersion {
    /// Event names the code raises that no docs describe (`Newexten`, ...).
    #[serde(default)]
    pub(crate) raised_in_code_but_undocumented_events: Vec<String>,
    /// Event names the docs refer to without describing them (`QueueMember`).
    #[serde(default)]
    pub(crate) referenced_but_undocumented_events: Vec<String>,
}

impl Catalogue {
    /// Reads and parses the catalogue at `path`.
    pub(crate) fn load(path: &Path) -> Result<Catalogue> {
        let text = fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        serde_json::from_str(&text).map_err(|err| format!("cannot parse {}: {err}", path.display()))
    }

    /// `tags` for a person: `13.38.3 to 23.4.1` for a run of consecutive
    /// catalogue tags, else the tags one by one.
    pub(crate) fn describe(&self, tags: &[String]) -> String {
        let all = &self.versions;
        let position = |tag: &String| all.iter().position(|t| t == tag);
        let positions: Vec<Option<usize>> = tags.iter().map(position).collect();
        let consecutive = positions.windows(2).all(|pair| match pair {
            [Some(a), Some(b)] => b == &(a + 1),
            _ => false,
        });
        match tags {
            [] => "(no tag)".to_owned(),
            [only] => only.clone(),
            [first, .., last] if consecutive => format!("{first} to {last}"),
            tags => tags.join(", "),
        }
    }

    /// The tags among `of` (an action's or event's) that have `field`.
    pub(crate) fn tags_with(&self, field: &Field, of: &[String]) -> Vec<String> {
        if let Some(versions) = &field.versions {
            return versions.clone();
        }
        let position = |tag: &str| self.versions.iter().position(|t| t == tag);
        let from = field.added_in.as_deref().and_then(position).unwrap_or(0);
        let until = field
            .removed_in
            .as_deref()
            .and_then(position)
            .unwrap_or(usize::MAX);
        of.iter()
            .filter(|tag| position(tag).is_some_and(|p| from <= p && p < until))
            .cloned()
            .collect()
    }

    /// Every event name the code raises or the docs refer to without
    /// describing it, in any tag, sorted.
    pub(crate) fn undocumented_events(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .per_version
            .values()
            .flat_map(|v| {
                v.raised_in_code_but_undocumented_events
                    .iter()
                    .chain(&v.referenced_but_undocumented_events)
            })
            .map(String::as_str)
            .filter(|name| !self.events.contains_key(*name))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl Action {
    /// Whether the docs or the code scan say it answers with an event list.
    pub(crate) fn may_list(&self) -> bool {
        self.list || self.list_in_code
    }
}

impl Field {
    /// The tags among `tags_with` (those that have it) where it is required.
    pub(crate) fn required_tags(&self, tags_with: &[String]) -> Vec<String> {
        match &self.required_in {
            Some(tags) => tags.clone(),
            None if self.required => tags_with.to_vec(),
            None => Vec::new(),
        }
    }
}
