//! Event filters of one session (the `Filter` action), matched as
//! `main/manager.c` matches them: on the whole event text, or on one
//! header's value; by regular expression or a plain string test.
//!
//! With include filters only, an event must match one; with exclude
//! filters only, it must match none; with both, it must match an include
//! filter and no exclude filter.

use regex::Regex;

/// How a filter tests the text.
#[derive(Clone, Debug)]
enum Method {
    Regex(Regex),
    Exact(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    /// Matches anything (a filter on the event name alone).
    None,
}

/// One filter.
#[derive(Clone, Debug)]
struct Filter {
    /// Only events of this name.
    name: Option<String>,
    /// Test this header's value (`Name:`), not the whole event.
    header: Option<String>,
    method: Method,
}

/// Why a `Filter` action failed (its `Message:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FilterError {
    /// `Filter did not compile.  Check the syntax of the filter given.`
    Compile,
    /// `Filter was formatted incorrectly.  Check the syntax of the filter given.`
    Format,
}

impl FilterError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            FilterError::Compile => {
                "Filter did not compile.  Check the syntax of the filter given."
            }
            FilterError::Format => {
                "Filter was formatted incorrectly.  Check the syntax of the filter given."
            }
        }
    }
}

/// A session's filters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filters {
    include: Vec<Filter>,
    exclude: Vec<Filter>,
}

impl Filters {
    /// Adds a filter from a `Filter` action's `MatchCriteria` (may be
    /// empty: a legacy filter) and `Filter` (a leading `!` excludes).
    pub(crate) fn add(&mut self, criteria: &str, pattern: &str) -> Result<(), FilterError> {
        let (mut exclude, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let mut name = None;
        let mut header = None;
        // A legacy filter is a regex; an advanced one matches nothing by
        // pattern unless it names a method.
        let mut method_name = if criteria.is_empty() { "regex" } else { "none" };
        if criteria.is_empty() && pattern.is_empty() {
            return Err(FilterError::Format);
        }
        if !criteria.is_empty() {
            let mut any = false;
            for option in criteria.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                let (key, value) = option
                    .split_once('(')
                    .and_then(|(k, v)| v.strip_suffix(')').map(|v| (k.trim(), v.trim())))
                    .filter(|(_, v)| !v.is_empty())
                    .ok_or(FilterError::Format)?;
                match key {
                    "action" => {
                        exclude = match value {
                            "include" => false,
                            "exclude" => true,
                            _ => return Err(FilterError::Format),
                        }
                    }
                    "name" => name = Some(value.to_string()),
                    "header" => header = Some(format!("{}:", value.trim_end_matches(':'))),
                    "method" => method_name = value_method(value)?,
                    _ => return Err(FilterError::Format),
                }
                any = true;
            }
            let none = method_name == "none";
            if !any || (pattern.is_empty() != none) || (none && name.is_none() && header.is_none())
            {
                return Err(FilterError::Format);
            }
        }
        let method = match method_name {
            "regex" => Method::Regex(Regex::new(pattern).map_err(|_| FilterError::Compile)?),
            "exact" => Method::Exact(pattern.to_string()),
            "starts_with" => Method::StartsWith(pattern.to_string()),
            "ends_with" => Method::EndsWith(pattern.to_string()),
            "contains" => Method::Contains(pattern.to_string()),
            _ => Method::None,
        };
        let filter = Filter {
            name,
            header,
            method,
        };
        if exclude {
            self.exclude.push(filter);
        } else {
            self.include.push(filter);
        }
        Ok(())
    }

    /// Whether an event (its whole text) passes the filters.
    pub(crate) fn accepts(&self, text: &str) -> bool {
        let any = |filters: &[Filter]| filters.iter().any(|f| f.matches(text));
        match (self.include.is_empty(), self.exclude.is_empty()) {
            (true, true) => true,
            (false, true) => any(&self.include),
            (true, false) => !any(&self.exclude),
            (false, false) => any(&self.include) && !any(&self.exclude),
        }
    }
}

fn value_method(value: &str) -> Result<&'static str, FilterError> {
    Ok(match value {
        "regex" => "regex",
        "exact" => "exact",
        "starts_with" => "starts_with",
        "ends_with" => "ends_with",
        "contains" => "contains",
        "none" => "none",
        _ => return Err(FilterError::Format),
    })
}

impl Method {
    fn matches(&self, text: &str) -> bool {
        match self {
            Method::Regex(r) => r.is_match(text),
            Method::Exact(s) => text == s,
            Method::StartsWith(s) => text.starts_with(s.as_str()),
            Method::EndsWith(s) => text.ends_with(s.as_str()),
            Method::Contains(s) => text.contains(s.as_str()),
            Method::None => true,
        }
    }
}

impl Filter {
    fn matches(&self, text: &str) -> bool {
        if let Some(name) = &self.name {
            let event = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("Event: "))
                .map(str::trim_end);
            if event != Some(name.as_str()) {
                return false;
            }
        }
        match &self.header {
            None => self.method.matches(text),
            Some(h) => text
                .split("\r\n")
                .filter_map(|line| line.strip_prefix(h.as_str()))
                .map(|v| v.trim_start_matches([' ', '\t']))
                .filter(|v| !v.is_empty())
                .any(|v| self.method.matches(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANGUP: &str =
        "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/1-00000001\r\nCause: 16\r\n\r\n";
    const NEW: &str =
        "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/2-00000002\r\n\r\n";

    #[test]
    fn legacy_regex_include_and_exclude() {
        let mut f = Filters::default();
        assert!(f.accepts(HANGUP) && f.accepts(NEW));
        f.add("", "Event: Hangup").expect("compiles");
        assert!(f.accepts(HANGUP) && !f.accepts(NEW));
        f.add("", "!Cause: 16").expect("compiles");
        assert!(!f.accepts(HANGUP), "include and exclude both match");
        assert_eq!(f.add("", "Event: (Hang"), Err(FilterError::Compile));
        assert_eq!(f.add("", ""), Err(FilterError::Format));
    }

    #[test]
    fn advanced_criteria() {
        let mut f = Filters::default();
        f.add("name(Newchannel)", "").expect("name only");
        assert!(f.accepts(NEW) && !f.accepts(HANGUP));
        let mut f = Filters::default();
        f.add("header(Channel),method(starts_with)", "PJSIP/1")
            .expect("valid");
        assert!(f.accepts(HANGUP) && !f.accepts(NEW));
        let mut f = Filters::default();
        f.add("action(exclude),name(Hangup)", "").expect("valid");
        assert!(!f.accepts(HANGUP) && f.accepts(NEW));
        assert_eq!(f.add("bogus(1)", "x").err(), Some(FilterError::Format));
    }
}
