//! Action to wire bytes, refusing anything the server would misread.
//!
//! Every line is checked before it is written, and nothing of a refused
//! action stays: an action that would inject a second action (CR or LF),
//! exceed the server's 1,024-byte line or 128-line limits, or carry two
//! `ActionID` headers is refused with a [`SendError`] and the output buffer
//! is left exactly as it was.

use bytes::{BufMut, BytesMut};

use crate::action::Action;
use crate::action_id::ActionId;
use crate::error::SendError;

/// Longest request line the server accepts, CRLF included.
pub(crate) const MAX_LINE: usize = 1024;
/// Most lines the server accepts in one action (blank line excluded).
pub(crate) const MAX_LINES: usize = 128;

/// Bytes of `": "` plus `"\r\n"` around a header's name and value.
const OVERHEAD: usize = 4;

/// Appends `action` to `out` as `Action: <name>`, `ActionID: <id>` (when
/// given), each header in order, then a blank line. Returns the bytes written.
///
/// The action's own `ActionID` header (a chosen id, any case) is not written
/// where it stands: the caller passes its value as `id`, written second.
/// `id` is one the connection generated or checked
/// ([`check_chosen`](crate::action_id::check_chosen)): printable ASCII, so
/// it is not searched for line breaks again.
///
/// On error nothing is written. Refused: a line break anywhere
/// ([`SendError::LineBreak`]); an empty action or header name, or a header
/// name with `:` or surrounding spaces ([`SendError::InvalidName`]); a
/// second `ActionID` header ([`SendError::InvalidActionId`]); a line over
/// [`MAX_LINE`] bytes ([`SendError::LineTooLong`]); more than [`MAX_LINES`]
/// lines ([`SendError::TooManyLines`]).
pub(crate) fn encode(
    action: &Action,
    id: Option<&ActionId>,
    out: &mut BytesMut,
) -> Result<usize, SendError> {
    let before = out.len();
    let written = put_checked(action, id, out);
    if written.is_err() {
        out.truncate(before);
    }
    written.map(|()| out.len() - before)
}

fn is_action_id(name: &str) -> bool {
    name.eq_ignore_ascii_case("ActionID")
}

/// Writes the action, each line checked before it is written; on error,
/// [`encode`] takes back what was written. The checks come in one order
/// whatever fails: the action's own ids and the count of lines, the name,
/// the id, then each header in turn.
///
/// Performance: one pass over the headers, where checking the whole
/// action first and writing it after took two (and a third to count the
/// lines' bytes).
fn put_checked(
    action: &Action,
    id: Option<&ActionId>,
    out: &mut BytesMut,
) -> Result<(), SendError> {
    let mut own_ids = action.headers().filter(|(n, _)| is_action_id(n));
    let own = own_ids.next();
    if let Some((_, second)) = own_ids.next() {
        return Err(SendError::InvalidActionId { id: second.into() });
    }
    let lines =
        1 + usize::from(id.is_some()) + action.headers().count() - usize::from(own.is_some());
    if lines > MAX_LINES {
        return Err(SendError::TooManyLines {
            lines,
            max: MAX_LINES,
        });
    }
    let name = action.name();
    // A name of this crate's is a word of letters (see `Action::named`).
    if !action.built_name() && has_line_break(name.as_bytes()) {
        return Err(SendError::LineBreak {
            name: "Action".into(),
        });
    }
    if name.is_empty() {
        return Err(SendError::InvalidName {
            name: String::new(),
        });
    }
    line_len("Action", name.as_bytes())?;
    // The fixed names with their `: ` (a copy less each).
    out.put_slice(b"Action: ");
    out.put_slice(name.as_bytes());
    if let Some(id) = id {
        debug_assert!(id.as_bytes().iter().all(u8::is_ascii_graphic), "{id:?}");
        line_len("ActionID", id.as_bytes())?;
        out.put_slice(b"\r\nActionID: ");
        out.put_slice(id.as_bytes());
    }
    out.put_slice(b"\r\n");
    for (name, value) in action.headers().filter(|(name, _)| !is_action_id(name)) {
        if has_line_break(name.as_bytes()) || has_line_break(value.as_bytes()) {
            return Err(SendError::LineBreak { name: name.into() });
        }
        if name.is_empty()
            || name.contains(':')
            || name.starts_with([' ', '\t'])
            || name.ends_with([' ', '\t'])
        {
            return Err(SendError::InvalidName { name: name.into() });
        }
        line_len(name, value.as_bytes())?;
        put_line(out, name.as_bytes(), value.as_bytes());
    }
    // The blank line that ends the action.
    out.put_slice(b"\r\n");
    Ok(())
}

/// The length of `name: value\r\n`, refused above [`MAX_LINE`].
fn line_len(name: &str, value: &[u8]) -> Result<usize, SendError> {
    let len = name.len() + value.len() + OVERHEAD;
    if len > MAX_LINE {
        return Err(SendError::LineTooLong {
            name: name.into(),
            len,
            max: MAX_LINE,
        });
    }
    Ok(len)
}

fn has_line_break(bytes: &[u8]) -> bool {
    memchr::memchr2(b'\r', b'\n', bytes).is_some()
}

fn put_line(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Originate;
    use bytes::Bytes;

    fn id(text: &'static str) -> ActionId {
        ActionId::from_bytes(Bytes::from_static(text.as_bytes()))
    }

    fn encoded(action: &Action, id: Option<&ActionId>) -> Result<Vec<u8>, SendError> {
        let mut out = BytesMut::new();
        let n = encode(action, id, &mut out)?;
        assert_eq!(n, out.len());
        Ok(out.to_vec())
    }

    /// Encodes after some existing bytes and checks they are all that remain.
    fn refused(action: &Action, id: Option<&ActionId>) -> SendError {
        let mut out = BytesMut::from(&b"earlier"[..]);
        let err = encode(action, id, &mut out).unwrap_err();
        assert_eq!(&out[..], b"earlier");
        err
    }

    #[test]
    fn ping_bytes() {
        assert_eq!(
            encoded(&Action::ping(), Some(&id("ami-abc-1"))).unwrap(),
            b"Action: Ping\r\nActionID: ami-abc-1\r\n\r\n"
        );
    }

    #[test]
    fn zero_headers_without_id() {
        assert_eq!(
            encoded(&Action::ping(), None).unwrap(),
            b"Action: Ping\r\n\r\n"
        );
    }

    #[test]
    fn appends_after_existing_bytes() {
        let mut out = BytesMut::from(&b"x"[..]);
        let n = encode(&Action::logoff(), None, &mut out).unwrap();
        assert_eq!(n, 18);
        assert_eq!(&out[..], b"xAction: Logoff\r\n\r\n");
    }

    #[test]
    fn originate_bytes() {
        let a = Action::originate(
            Originate::new("PJSIP/100")
                .extension("from-internal", "200", 1)
                .variable("A", "x,y")
                .variable("B", r#"q"b\"#)
                .async_(true),
        );
        let expected = "Action: Originate\r\n\
                        ActionID: n-1\r\n\
                        Channel: PJSIP/100\r\n\
                        Context: from-internal\r\n\
                        Exten: 200\r\n\
                        Priority: 1\r\n\
                        Variable: A=x\\,y\r\n\
                        Variable: B=q\\\"b\\\\\r\n\
                        Async: true\r\n\
                        \r\n";
        assert_eq!(
            String::from_utf8(encoded(&a, Some(&id("n-1"))).unwrap()).unwrap(),
            expected
        );
    }

    #[test]
    fn line_breaks_are_refused() {
        for value in ["x\r\nAction: Hangup", "x\n", "\rx"] {
            let a = Action::new("Setvar").header("Value", value);
            assert_eq!(
                refused(&a, None),
                SendError::LineBreak {
                    name: "Value".into()
                }
            );
        }
        let a = Action::new("Setvar").header("Val\r\nAction: Hangup", "x");
        assert!(matches!(refused(&a, None), SendError::LineBreak { .. }));
        let a = Action::new("Ping\r\nAction: Hangup");
        assert_eq!(
            refused(&a, None),
            SendError::LineBreak {
                name: "Action".into()
            }
        );
    }

    /// The connection refuses a chosen id with a line break before it comes
    /// here (`chosen_action_ids_keep_the_generated_ones_bounds_and_characters`
    /// in `tests/action_ids.rs`), and generated ids are printable: the
    /// encoder only asserts it.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "ActionId")]
    fn an_id_with_a_line_break_never_reaches_the_encoder() {
        let _ = encode(&Action::ping(), Some(&id("a\r\nb")), &mut BytesMut::new());
    }

    #[test]
    fn invalid_names_are_refused() {
        for name in ["", "A:B", " Lead", "Trail ", "Tab\t"] {
            let a = Action::new("Setvar").header(name, "x");
            assert_eq!(
                refused(&a, None),
                SendError::InvalidName { name: name.into() },
                "{name:?}"
            );
        }
        assert!(matches!(
            refused(&Action::new(""), None),
            SendError::InvalidName { .. }
        ));
        // Spaces inside a name are the server's business.
        assert!(encoded(&Action::new("Setvar").header("A B", "x"), None).is_ok());
    }

    #[test]
    fn the_actions_own_action_id_is_written_once_second() {
        for name in ["ActionID", "actionid", "ACTIONID"] {
            let a = Action::new("Setvar")
                .header(name, "mine")
                .header("Variable", "V");
            assert_eq!(
                encoded(&a, Some(&id("mine"))).unwrap(),
                b"Action: Setvar\r\nActionID: mine\r\nVariable: V\r\n\r\n"
            );
        }
        let twice = Action::ping()
            .header("ActionID", "a")
            .header("actionid", "b");
        assert_eq!(
            refused(&twice, Some(&id("a"))),
            SendError::InvalidActionId { id: "b".into() }
        );
        // The header is not a line of its own: 126 others still fit.
        let full = (0..126).fold(Action::new("UserEvent").with_action_id("x"), |a, i| {
            a.header(format!("H{i}"), "v")
        });
        assert!(encoded(&full, Some(&id("x"))).is_ok());
    }

    #[test]
    fn line_limit() {
        // "X: " + value + CRLF = 1,024 bytes.
        let fits = Action::new("Setvar").header("X", "v".repeat(MAX_LINE - 5));
        assert!(encoded(&fits, Some(&id("a-b-1"))).is_ok());
        let over = Action::new("Setvar").header("X", "v".repeat(MAX_LINE - 4));
        assert_eq!(
            refused(&over, None),
            SendError::LineTooLong {
                name: "X".into(),
                len: 1025,
                max: 1024
            }
        );
        let long_name = Action::new("a".repeat(MAX_LINE - 9));
        assert!(matches!(
            refused(&long_name, None),
            SendError::LineTooLong { .. }
        ));
        assert!(encoded(&Action::new("a".repeat(MAX_LINE - 10)), None).is_ok());
    }

    #[test]
    fn lines_limit() {
        let with = |n: usize| {
            (0..n).fold(Action::new("UserEvent"), |a, i| {
                a.header(format!("H{i}"), "v")
            })
        };
        // Action + ActionID + 126 headers = 128 lines.
        assert!(encoded(&with(126), Some(&id("a-b-1"))).is_ok());
        assert_eq!(
            refused(&with(127), Some(&id("a-b-1"))),
            SendError::TooManyLines {
                lines: 129,
                max: 128
            }
        );
        // Without an id, 127 headers fit.
        assert!(encoded(&with(127), None).is_ok());
        assert!(matches!(
            refused(&with(128), None),
            SendError::TooManyLines { lines: 129, .. }
        ));
    }
}
