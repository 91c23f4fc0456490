"""The exceptions of the ``ami`` package, one class per typed error of the core.

Three families, named for when things went wrong:

- :class:`SendError`: the action was refused before anything was sent
  (malformed, an ActionID of the caller's that cannot be used, not logged
  in, too many pending, write buffer full, an async Originate that could
  never complete). Nothing reached the server.
- :class:`ActionError`: how a sent action ended, when it did not end well.
  Every action ends exactly once, with its result or one of these; none is
  ever a guess (a lost connection is :class:`ConnectionLost`, never success).
- :class:`LoginError`: why a session did not log in.

Each exception's message is the core's text; the fields of the core's error
are attributes (``ServerError.message``, ``ActionTimeout.timeout``, ...).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmiError",
    "ConfigError",
    "SendError",
    "InvalidAction",
    "MissingParameter",
    "InvalidActionId",
    "ActionIdTooLong",
    "DuplicateActionId",
    "NotReady",
    "TooManyPending",
    "WriteBufferFull",
    "NoCallEvents",
    "ActionError",
    "Refused",
    "ServerError",
    "Failed",
    "ActionTimeout",
    "ConnectionLost",
    "FrameTooLarge",
    "Cancelled",
    "Desync",
    "LoginError",
    "AuthenticationFailed",
    "LoginRefused",
    "LoginFailed",
    "LoginTimeout",
    "LoginConnectionLost",
    "BadBanner",
]


class AmiError(Exception):
    """The base of every error this package raises.

    ``AmiError(text, **fields)``: ``str(err)`` is ``text``, and each field is
    an attribute.
    """

    def __init__(self, text: str = "", **fields: Any) -> None:
        super().__init__(text)
        for name, value in fields.items():
            setattr(self, name, value)


class ConfigError(AmiError, ValueError):
    """A configuration value out of range, or two that contradict each other."""


# ---- refused before sending ----


class SendError(AmiError):
    """The action was refused before anything was queued: nothing was sent."""


class InvalidAction(SendError, ValueError):
    """The action is malformed: a CR or LF in a header (which would inject a
    second action), an invalid header name, a line over 1,024 bytes, or more
    than 128 lines. Fix the action. (An ``ActionID`` of the caller's that
    cannot be used has its own errors: :class:`InvalidActionId`,
    :class:`ActionIdTooLong`, :class:`DuplicateActionId`.)"""


class MissingParameter(InvalidAction):
    """The action lacks a ``parameter`` that every Asterisk version
    documenting ``action`` requires: the server would only refuse it."""

    action: str
    parameter: str


class InvalidActionId(SendError, ValueError):
    """The ``ActionID`` header of the caller's is empty, holds a byte outside
    printable ASCII (a space, a control character, non-ASCII), or the action
    carries more than one (``id`` is the second). Choose another."""

    id: str


class ActionIdTooLong(SendError, ValueError):
    """The ``ActionID`` of the caller's is ``len`` bytes, over the
    connection's ``max_action_id`` (``max``): servers keep only so much of
    one, and a cut id would match nothing. Shorten it."""

    len: int
    max: int


class DuplicateActionId(SendError):
    """Another action of this connection is pending under the caller's
    ``ActionID`` ``id`` (or timed out and may still be answered): their
    answers would be indistinguishable. Wait for it, or choose another."""

    id: str


class NotReady(SendError):
    """The session is not logged in (still logging in, reconnecting, or
    closed). ``state`` says which; wait for the client to be ready."""

    state: str


class TooManyPending(SendError):
    """``max`` actions are already awaiting answers. Wait for completions."""

    max: int


class WriteBufferFull(SendError):
    """The write buffer holds ``buffered`` of its ``max`` bytes: the server is
    not reading. Wait (back-pressure) or give up."""

    buffered: int
    max: int


class NoCallEvents(SendError):
    """An async Originate on a session that receives no call events: its
    ``OriginateResponse`` would never arrive. ``setting`` names the setting
    that turned them off (``Events: off``, ``EventMask: system``). Log in with
    call events, or send the Originate synchronously (``async_=False``)."""

    setting: str


# ---- how a sent action ended ----


class ActionError(AmiError):
    """How a sent action ended, when it did not end well."""


class Refused(ActionError):
    """The server answered, and not with success: :class:`ServerError` or
    :class:`Failed`. ``message`` says why in the server's words."""

    message: str


class ServerError(Refused):
    """The server answered ``Response: Error``; ``message`` is its
    ``Message`` (and any output lines)."""


class Failed(Refused):
    """The server answered with a status that is not success for this
    action (``Failure``, an unknown word, an empty one). ``status`` is the
    ``Response`` value verbatim. Treat it as a refusal; whether the module
    acted before answering depends on the module."""

    status: str


class ActionTimeout(ActionError, TimeoutError):
    """No (complete) answer within ``timeout`` seconds. The server may still
    have carried the action out: check before repeating side effects."""

    timeout: float


class ConnectionLost(ActionError, ConnectionError):
    """The connection closed before the action completed. The server may or
    may not have carried it out."""


class FrameTooLarge(ActionError):
    """The answer (or the collected list, or Command output) exceeded its
    ``limit`` in bytes and was discarded; the connection goes on."""

    limit: int


class Cancelled(ActionError):
    """The action was cancelled; a late answer is ignored."""


class Desync(ActionError):
    """The server's answers could not be matched to this action (it answered
    a later one first). ``reason`` says how."""

    reason: str


# ---- login ----


class LoginError(AmiError):
    """The session did not log in."""


class AuthenticationFailed(LoginError):
    """The server refused the credentials. Retrying with the same ones fails
    again: the reconnect policy waits 30 to 45 s, never a hot loop."""

    message: str


class LoginRefused(LoginError):
    """The server refused the login for another reason (the Challenge)."""

    message: str


class LoginFailed(LoginError):
    """The login was answered with a status other than Success or Error."""

    status: str
    message: str


class LoginTimeout(LoginError, TimeoutError):
    """No banner, challenge or login answer within the login timeout."""


class LoginConnectionLost(LoginError, ConnectionError):
    """The connection closed during the login."""


class BadBanner(LoginError):
    """The first line was not an AMI banner: wrong port or protocol."""

    banner: str
