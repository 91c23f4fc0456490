//! Frames, events and completions as JSON values: the objects `ami listen`,
//! `ami action`, `ami decode` and the gateway write.
//!
//! Headers are an array of `[name, value]` pairs in wire order, so repeated
//! names (`Output`, `Variable`, `ChanVariable`) are all kept. Values are
//! lossy UTF-8. These are data written on stdout for the user, not logs:
//! they are shown as the server sent them.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use ami_proto::{Completion, Event, Frame, Headers};
use serde::Serialize;

/// Headers as `[name, value]` pairs in wire order.
pub type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Headers as `[[name, value], ...]` in wire order.
pub fn headers(headers: &Headers) -> Pairs<'_> {
    headers
        .iter()
        .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
        .collect()
}

/// Bytes as a string (lossy UTF-8).
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// One JSON line; the types here hold only strings, which always serialize.
fn line(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("strings and arrays of strings always serialize")
}

/// One event received from `server` at `received`, as a JSON line:
/// `{"server", "event", "received", "headers"}`.
pub fn event(server: &str, event: &Event, received: SystemTime) -> String {
    line(&EventJson::new(server, event, received))
}

/// The JSON object of one event, `{"server", "event", "received",
/// "headers"}`: [`event`] writes it alone; a program that adds fields of its
/// own (the gateway's `session` and `seq`) puts it in its own struct with
/// `#[serde(flatten)]`.
#[derive(Serialize, Debug)]
pub struct EventJson<'a> {
    server: &'a str,
    event: Cow<'a, str>,
    received: Cow<'a, str>,
    headers: HeaderPairs<'a>,
}

impl<'a> EventJson<'a> {
    /// The object of `event`, received from `server` at `received`.
    pub fn new(server: &'a str, event: &'a Event, received: SystemTime) -> Self {
        EventJson {
            server,
            event: event.name_str(),
            received: Cow::Owned(rfc3339(received)),
            headers: HeaderPairs(event.headers()),
        }
    }

    /// The same, with the time already written by [`rfc3339`]: for a batch
    /// of events received together, formatted once.
    pub fn at(server: &'a str, event: &'a Event, received: &'a str) -> Self {
        EventJson {
            server,
            event: event.name_str(),
            received: Cow::Borrowed(received),
            headers: HeaderPairs(event.headers()),
        }
    }
}

/// Headers serialized as `[[name, value], ...]` straight from the frame,
/// without collecting them first (one allocation less per event).
#[derive(Debug)]
struct HeaderPairs<'a>(&'a Headers);

impl Serialize for HeaderPairs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .iter()
                .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
        )
    }
}

/// A list item's headers, serialized as [`HeaderPairs`] are. The item is
/// held, not borrowed: a list makes its items when asked for
/// ([`ami_proto::ListItems`]).
#[derive(Debug)]
struct ItemPairs(Event);

impl Serialize for ItemPairs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HeaderPairs(self.0.headers()).serialize(serializer)
    }
}

/// One decoded frame as a JSON line: `kind` is `banner` (with `text`),
/// `response`, `event`, `follows` (legacy Command output, its text under
/// `output`) or `other`, with `headers`.
pub fn frame(frame: &Frame) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Cow<'a, str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        headers: Option<Pairs<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Cow<'a, str>>,
    }
    fn of<'a>(kind: &'static str, h: &'a Headers) -> Line<'a> {
        Line {
            kind,
            text: None,
            headers: Some(headers(h)),
            output: None,
        }
    }
    line(&match frame {
        Frame::Banner(b) => Line {
            kind: "banner",
            text: Some(text(b)),
            headers: None,
            output: None,
        },
        Frame::Response(r) => match r.follows_text() {
            Some(out) => Line {
                output: Some(text(out)),
                ..of("follows", r.headers())
            },
            None => of("response", r.headers()),
        },
        Frame::Event(e) => of("event", e.headers()),
        Frame::Other(m) => of("other", m.headers()),
    })
}

/// An action's completion as a JSON line: `server`, `action`, `response`,
/// plus `items` and `complete` for an event list, `output` for a Command,
/// `event` for an async Originate.
pub fn completion(server: &str, action: &str, c: &Completion) -> String {
    line(&CompletionJson::new(server, action, c))
}

/// The JSON object of one completion (see [`completion`]), for a program
/// that adds fields of its own with `#[serde(flatten)]`.
#[derive(Serialize, Debug)]
pub struct CompletionJson<'a> {
    server: &'a str,
    action: &'a str,
    response: Pairs<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Vec<ItemPairs>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    complete: Option<Option<Pairs<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Vec<Cow<'a, str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<Pairs<'a>>,
}

impl<'a> CompletionJson<'a> {
    /// The object of completion `c` of `action`, sent to `server`.
    pub fn new(server: &'a str, action: &'a str, c: &'a Completion) -> Self {
        let items = c.list_items();
        CompletionJson {
            server,
            action,
            response: headers(c.response().headers()),
            items: items.map(|items| items.iter().map(ItemPairs).collect()),
            complete: items.map(|_| c.list_complete().map(|e| headers(e.headers()))),
            output: c
                .command_lines()
                .map(|lines| lines.iter().map(|b| text(b)).collect()),
            event: c.originate().map(|o| headers(o.event.headers())),
        }
    }
}

/// `t` as an RFC 3339 UTC timestamp with milliseconds
/// (`2026-11-26T12:36:21.123Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_proto::Decoder;
    use std::time::Duration;

    #[test]
    fn repeated_headers_are_kept_in_order() {
        let mut d = Decoder::new(1 << 20);
        d.push(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nOutput: a\r\nMessage: m\r\nOutput: b\r\n\r\n");
        let banner = frame(&d.next_frame().unwrap().unwrap());
        assert_eq!(
            banner,
            r#"{"kind":"banner","text":"Asterisk Call Manager/11.0.0"}"#
        );
        let r = frame(&d.next_frame().unwrap().unwrap());
        assert_eq!(
            r,
            r#"{"kind":"response","headers":[["Response","Success"],["Output","a"],["Message","m"],["Output","b"]]}"#
        );
    }

    #[test]
    fn legacy_follows_output_is_kept() {
        let mut d = Decoder::without_banner(1 << 20);
        d.push(
            b"Response: Follows\r\nPrivilege: Command\r\nline 1\nline 2\n--END COMMAND--\r\n\r\n",
        );
        let f = frame(&d.next_frame().unwrap().unwrap());
        assert_eq!(
            f,
            r#"{"kind":"follows","headers":[["Response","Follows"],["Privilege","Command"]],"output":"line 1\nline 2\n"}"#
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_727_781_250);
        assert_eq!(rfc3339(t), "2026-11-26T21:16:21.250Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
