//! How the fake server writes frames: `Key: Value\r\n` lines and a blank line,
//! in the header order Asterisk uses.

use bytes::Bytes;

/// Builds one frame: `Key: Value\r\n` lines, then the blank line.
#[derive(Debug)]
pub(crate) struct W(pub(crate) Vec<u8>);

impl W {
    /// `Response: <status>`, then the ActionID when the request had one.
    pub(crate) fn response(status: &str, action_id: Option<&[u8]>) -> W {
        W(Vec::with_capacity(128))
            .h("Response", status)
            .aid(action_id)
    }

    /// `Event: <name>`.
    pub(crate) fn event(name: &str) -> W {
        W(Vec::with_capacity(512)).h("Event", name)
    }

    /// One `name: value` line.
    pub(crate) fn h(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> W {
        self.0.extend_from_slice(name.as_ref());
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value.as_ref());
        self.0.extend_from_slice(b"\r\n");
        self
    }

    /// `ActionID: <id>` when there is one.
    pub(crate) fn aid(self, action_id: Option<&[u8]>) -> W {
        match action_id {
            Some(id) => self.h("ActionID", id),
            None => self,
        }
    }

    /// The finished frame.
    pub(crate) fn done(mut self) -> Bytes {
        self.0.extend_from_slice(b"\r\n");
        Bytes::from(self.0)
    }
}

/// `Response: Error` with `Message: <message>`.
pub(crate) fn error(action_id: Option<&[u8]>, message: impl AsRef<[u8]>) -> W {
    W::response("Error", action_id).h("Message", message)
}

/// `Response: Success` with `Message: <message>`.
pub(crate) fn ack(action_id: Option<&[u8]>, message: impl AsRef<[u8]>) -> W {
    W::response("Success", action_id).h("Message", message)
}

/// Asterisk's `ast_true`: yes, true, y, t, 1, on (any case).
pub(crate) fn is_true(v: &str) -> bool {
    ["yes", "true", "y", "t", "1", "on"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}

/// Asterisk's `ast_false`: no, false, n, f, 0, off (any case).
pub(crate) fn is_false(v: &str) -> bool {
    ["no", "false", "n", "f", "0", "off"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}
