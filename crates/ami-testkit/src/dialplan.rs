//! The fake PBX's dialplan (extensions.conf) and its devices: what a call
//! to `exten@context` or to `PJSIP/100` does.
//!
//! Two levels, both declarative:
//! - [`Destination`]: an outcome (answers, busy, congestion, no answer) for
//!   an `exten@context` or a device, which the model turns into the
//!   dialplan Asterisk would run for it;
//! - [`Extension`]: the priorities themselves (`NoOp`, `Answer`, `Set`,
//!   `Wait`, `UserEvent`, `Queue`, `Hangup`...), for tests that need the
//!   exact `Newexten`/`VarSet` stream of a real dialplan.
//!
//! Each priority is an application name and its data, as in
//! extensions.conf; the applications the model runs are listed on
//! [`Extension::app`]. A destination the dialplan lacks fails as in
//! Asterisk: `OriginateResponse` with `Response: Failure`, `Reason: 0`.

use std::time::Duration;

/// How a destination answers a call (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum Destination {
    /// Rings for `after` (no ringing when zero), answers, stays up for
    /// `hold` (until hung up when `None`), then hangs up.
    Answer {
        /// Ringing time before the answer.
        after: Duration,
        /// Talk time after the answer; `None`: until someone hangs up.
        hold: Option<Duration>,
    },
    /// Busy at once: an Originate ends with `Reason: 5`, `DialStatus: BUSY`.
    Busy,
    /// Congestion (all circuits busy) at once: `Reason: 8`.
    Congestion,
    /// Rings until the caller gives up (the Originate `Timeout`, 30 s by
    /// default): `Reason: 3`, `DialStatus: NOANSWER`.
    NoAnswer,
}

impl Destination {
    /// Answers after `after` of ringing and stays up for `hold`.
    pub fn answer_after(after: Duration, hold: Duration) -> Destination {
        Destination::Answer {
            after,
            hold: Some(hold),
        }
    }

    /// Answers at once and stays up until someone hangs up.
    pub fn answer_and_stay() -> Destination {
        Destination::Answer {
            after: Duration::ZERO,
            hold: None,
        }
    }

    /// The dialplan Asterisk runs for this destination as extension `name`.
    fn extension(&self, name: &str) -> Extension {
        let e = Extension::new(name);
        match self {
            Destination::Answer { after, hold } => {
                let e = if after.is_zero() {
                    e
                } else {
                    e.ringing().wait(*after)
                };
                let e = e.answer();
                match hold {
                    Some(hold) => e.wait(*hold).hangup(),
                    None => e.app("Echo", ""),
                }
            }
            Destination::Busy => e.app("Busy", ""),
            Destination::Congestion => e.app("Congestion", ""),
            Destination::NoAnswer => e.ringing().app("Echo", ""),
        }
    }
}

/// One extension: a name (exact, or an Asterisk pattern starting with `_`),
/// an optional hint and its priorities (1, 2, 3...).
///
/// # Examples
///
/// ```
/// use ami_testkit::Extension;
///
/// // `exten => 100,1,NoOp(test 100 on ${CHANNEL})` and so on.
/// let e = Extension::new("100")
///     .noop("test 100 on ${CHANNEL}")
///     .answer()
///     .set("FOO", "bar")
///     .wait_secs(5)
///     .hangup();
/// assert_eq!(e.priorities().len(), 5);
/// assert_eq!(e.priorities()[2], ("Set".to_string(), "FOO=bar".to_string()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    name: String,
    hint: Option<String>,
    priorities: Vec<(String, String)>,
}

impl Extension {
    /// An extension with no priority yet.
    pub fn new(name: &str) -> Extension {
        Extension {
            name: name.to_string(),
            hint: None,
            priorities: Vec::new(),
        }
    }

    /// Adds `exten => name,hint,<device>`: the extension's state follows the
    /// device's (`ExtensionStatus` events, `ExtensionStateList`).
    pub fn hint(mut self, device: &str) -> Extension {
        self.hint = Some(device.to_string());
        self
    }

    /// Adds the next priority: application `app` with `data`. The model runs
    /// `Answer`, `Ringing`, `NoOp`, `Set`, `Wait` (seconds, decimals allowed),
    /// `Hangup` (an optional cause), `UserEvent` (`Name,Header: value,...`),
    /// `Busy`, `Congestion`, `Goto` (`context,exten,priority`), `Queue`
    /// (`name,,,,timeout`), `Echo` (stays until hung up); any other
    /// application gives its `Newexten` and goes on, like `NoOp`.
    /// `${CHANNEL}`, `${EXTEN}`, `${CONTEXT}`, `${UNIQUEID}` and variables
    /// are substituted in `data`, as Asterisk does before running it.
    pub fn app(mut self, app: &str, data: &str) -> Extension {
        self.priorities.push((app.to_string(), data.to_string()));
        self
    }

    /// `NoOp(text)`.
    pub fn noop(self, text: &str) -> Extension {
        self.app("NoOp", text)
    }

    /// `Answer()`.
    pub fn answer(self) -> Extension {
        self.app("Answer", "")
    }

    /// `Ringing()`.
    pub fn ringing(self) -> Extension {
        self.app("Ringing", "")
    }

    /// `Set(name=value)`.
    pub fn set(self, name: &str, value: &str) -> Extension {
        self.app("Set", &format!("{name}={value}"))
    }

    /// `Wait(seconds)`.
    pub fn wait(self, d: Duration) -> Extension {
        let secs = d.as_secs_f64();
        let data = if secs.fract() == 0.0 {
            format!("{}", d.as_secs())
        } else {
            format!("{secs}")
        };
        self.app("Wait", &data)
    }

    /// `Wait(seconds)` in whole seconds.
    pub fn wait_secs(self, secs: u64) -> Extension {
        self.wait(Duration::from_secs(secs))
    }

    /// `Hangup()`.
    pub fn hangup(self) -> Extension {
        self.app("Hangup", "")
    }

    /// `Queue(name,,,,timeout)`: waits in queue `name` for up to `timeout`.
    pub fn queue(self, name: &str, timeout: Duration) -> Extension {
        self.app("Queue", &format!("{name},,,,{}", timeout.as_secs()))
    }

    /// The extension's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hint's device, if any.
    pub fn hint_device(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The priorities: `(application, data)`, priority 1 first.
    pub fn priorities(&self) -> &[(String, String)] {
        &self.priorities
    }
}

/// The dialplan and the devices of the fake PBX. Build it with the
/// methods; contexts keep the order they were first named in.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ami_testkit::{Destination, Dialplan, Extension};
///
/// let plan = Dialplan::new()
///     .destination("100@sales", Destination::answer_after(Duration::from_secs(1), Duration::from_secs(10)))
///     .destination("200@sales", Destination::Busy)
///     .extension("sales", Extension::new("_3XX").answer().wait_secs(2).hangup())
///     .device("PJSIP/alice", Destination::NoAnswer);
/// assert!(plan.find("sales", "100").is_some());
/// assert!(plan.find("sales", "345").is_some(), "a pattern");
/// assert!(plan.find("sales", "999").is_none(), "fails as in Asterisk");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dialplan {
    contexts: Vec<(String, Vec<Extension>)>,
    devices: Vec<(String, Destination)>,
}

impl Dialplan {
    /// An empty dialplan: every destination is missing.
    pub fn new() -> Dialplan {
        Dialplan::default()
    }

    /// Adds (or replaces) extension `e` in `context`.
    pub fn extension(mut self, context: &str, e: Extension) -> Dialplan {
        let pos = match self.contexts.iter().position(|(c, _)| c == context) {
            Some(pos) => pos,
            None => {
                self.contexts.push((context.to_string(), Vec::new()));
                self.contexts.len() - 1
            }
        };
        let exts = &mut self.contexts[pos].1;
        exts.retain(|x| x.name != e.name);
        exts.push(e);
        self
    }

    /// Adds `exten@context` answering as `d` says.
    pub fn destination(self, exten_at_context: &str, d: Destination) -> Dialplan {
        let (exten, context) = exten_at_context
            .split_once('@')
            .unwrap_or((exten_at_context, "default"));
        let e = d.extension(exten);
        self.extension(context, e)
    }

    /// Adds a device (`PJSIP/100`, `SIP/alice`...) answering as `d` says. A
    /// device the dialplan does not list is unavailable (`Reason: 0`).
    pub fn device(mut self, device: &str, d: Destination) -> Dialplan {
        self.devices.retain(|(name, _)| name != device);
        self.devices.push((device.to_string(), d));
        self
    }

    /// The extension a call to `exten` in `context` runs: an exact name
    /// first, then the most specific matching pattern (Asterisk's order).
    pub fn find(&self, context: &str, exten: &str) -> Option<&Extension> {
        let (_, exts) = self.contexts.iter().find(|(c, _)| c == context)?;
        if let Some(e) = exts.iter().find(|e| e.name == exten) {
            return Some(e);
        }
        exts.iter()
            .filter(|e| pattern_matches(&e.name, exten))
            .min_by_key(|e| specificity(&e.name))
    }

    /// How device `device` answers, if it exists.
    pub fn find_device(&self, device: &str) -> Option<&Destination> {
        self.devices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(device))
            .map(|(_, d)| d)
    }

    /// Every `(context, extension)` with a hint, in dialplan order.
    pub fn hints(&self) -> impl Iterator<Item = (&str, &Extension)> {
        self.contexts.iter().flat_map(|(c, exts)| {
            exts.iter()
                .filter(|e| e.hint.is_some())
                .map(move |e| (c.as_str(), e))
        })
    }

    /// The dialplan of the Asterisk 22 captures (`dialplan show` in
    /// `07-command.raw`): contexts `default`, `agents` and `test`, with the
    /// hints 6001 (`Custom:lamp6001`), 6002 and 6003 (`Local/100@test`).
    pub fn asterisk_corpus() -> Dialplan {
        let to_100 =
            |name: &str, hint: &str| Extension::new(name).hint(hint).app("Goto", "test,100,1");
        let agent = |name: &str| {
            Extension::new(name)
                .noop("agent ${EXTEN} ringing")
                .ringing()
                .wait_secs(120)
                .hangup()
        };
        Dialplan::new()
            .extension("default", Extension::new("s").app("Goto", "test,100,1"))
            .extension("agents", agent("agent1"))
            .extension("agents", agent("agent2"))
            .extension("agents", agent("agent3"))
            .extension(
                "test",
                Extension::new("100")
                    .noop("test 100 on ${CHANNEL}")
                    .answer()
                    .set("FOO", "bar")
                    .wait_secs(5)
                    .hangup(),
            )
            .extension(
                "test",
                Extension::new("101")
                    .noop("vars and userevent")
                    .answer()
                    .set("CUSTOMVAR", "value101")
                    .set("__INHERITED", "inherit-me")
                    .app("UserEvent", "TestEvent,Foo: bar,Baz: 101,Chan: ${CHANNEL}")
                    .wait_secs(3)
                    .hangup(),
            )
            .extension(
                "test",
                Extension::new("200").answer().wait_secs(30).hangup(),
            )
            .extension("test", to_100("6001", "Custom:lamp6001"))
            .extension("test", to_100("6002", "Custom:lamp6002"))
            .extension("test", to_100("6003", "Local/100@test"))
            .extension("test", Extension::new("busy").app("Busy", "3"))
            .extension("test", Extension::new("congestion").app("Congestion", "3"))
            .extension(
                "test",
                Extension::new("echo").answer().app("Echo", "").hangup(),
            )
            .extension(
                "test",
                Extension::new("h").noop("hangup handler for ${CHANNEL}"),
            )
            .extension("test", Extension::new("hangup").app("Hangup", "17"))
            .extension(
                "test",
                Extension::new("long").answer().wait_secs(60).hangup(),
            )
            .extension(
                "test",
                Extension::new("queue")
                    .answer()
                    .app("Queue", "support,,,,60")
                    .hangup(),
            )
    }
}

/// Whether Asterisk pattern `pattern` (`_NXX`, `_X.`, `_1[2-4]!`) matches
/// `exten`; a name without the leading `_` never matches as a pattern.
pub(crate) fn pattern_matches(pattern: &str, exten: &str) -> bool {
    let Some(p) = pattern.strip_prefix('_') else {
        return false;
    };
    fn go(p: &[u8], e: &[u8]) -> bool {
        let Some((&c, rest)) = p.split_first() else {
            return e.is_empty();
        };
        match c {
            b'.' => !e.is_empty(),
            b'!' => true,
            b'[' => {
                let Some(end) = rest.iter().position(|&b| b == b']') else {
                    return false;
                };
                let Some((&x, e_rest)) = e.split_first() else {
                    return false;
                };
                class_has(&rest[..end], x) && go(&rest[end + 1..], e_rest)
            }
            _ => {
                let Some((&x, e_rest)) = e.split_first() else {
                    return false;
                };
                let ok = match c.to_ascii_uppercase() {
                    b'X' => x.is_ascii_digit(),
                    b'Z' => (b'1'..=b'9').contains(&x),
                    b'N' => (b'2'..=b'9').contains(&x),
                    _ => c == x,
                };
                ok && go(rest, e_rest)
            }
        }
    }
    go(p.as_bytes(), exten.as_bytes())
}

/// Whether `x` is in a `[...]` class such as `2-4` or `135`.
fn class_has(class: &[u8], x: u8) -> bool {
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == b'-' {
            if (class[i]..=class[i + 2]).contains(&x) {
                return true;
            }
            i += 3;
        } else {
            if class[i] == x {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// A sort key: lower is more specific. Position by position, the number of
/// characters each pattern element accepts (Asterisk compares patterns so).
fn specificity(pattern: &str) -> Vec<u32> {
    let p = pattern.trim_start_matches('_').as_bytes();
    let mut key = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let width = match p[i].to_ascii_uppercase() {
            b'X' => 10,
            b'Z' => 9,
            b'N' => 8,
            b'.' | b'!' => 1000,
            b'[' => {
                let end = p[i..]
                    .iter()
                    .position(|&b| b == b']')
                    .map_or(p.len(), |e| i + e);
                let n = (0..=255u8)
                    .filter(|&x| class_has(&p[i + 1..end], x))
                    .count() as u32;
                i = end;
                n
            }
            _ => 1,
        };
        key.push(width);
        i += 1;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_asterisk() {
        for (p, e, ok) in [
            ("_XXX", "123", true),
            ("_XXX", "12", false),
            ("_NXX", "123", false),
            ("_NXX", "223", true),
            ("_Z!", "1", true),
            ("_1.", "1", false),
            ("_1.", "12", true),
            ("_[2-4]X", "35", true),
            ("_[2-4]X", "55", false),
            ("100", "100", false),
        ] {
            assert_eq!(pattern_matches(p, e), ok, "{p} {e}");
        }
    }

    #[test]
    fn exact_before_specific_before_general() {
        let plan = Dialplan::new()
            .extension("c", Extension::new("_X.").noop("general"))
            .extension("c", Extension::new("_1XX7").noop("specific"))
            .extension("c", Extension::new("1007").noop("exact"));
        let data = |e: &str| plan.find("c", e).map(|x| x.priorities()[0].1.clone());
        assert_eq!(data("1007").as_deref(), Some("exact"));
        assert_eq!(data("1017").as_deref(), Some("specific"));
        assert_eq!(data("1018").as_deref(), Some("general"));
        assert_eq!(plan.find("nope", "1"), None);
    }

    #[test]
    fn destinations_become_the_dialplan_asterisk_runs() {
        let plan = Dialplan::new()
            .destination(
                "1@d",
                Destination::answer_after(Duration::from_secs(2), Duration::from_millis(1500)),
            )
            .destination("2@d", Destination::Busy)
            .destination("3@d", Destination::NoAnswer);
        let apps = |e: &str| -> Vec<String> {
            plan.find("d", e)
                .expect("defined")
                .priorities()
                .iter()
                .map(|(a, d)| format!("{a}({d})"))
                .collect()
        };
        assert_eq!(
            apps("1"),
            ["Ringing()", "Wait(2)", "Answer()", "Wait(1.5)", "Hangup()"]
        );
        assert_eq!(apps("2"), ["Busy()"]);
        assert_eq!(apps("3"), ["Ringing()", "Echo()"]);
        assert_eq!(Dialplan::asterisk_corpus().hints().count(), 3);
    }
}
