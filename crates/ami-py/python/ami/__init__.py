"""An Asterisk Manager Interface (AMI) client: the ``ami-proto`` Rust core.

The protocol (framing, login, ActionID correlation, event lists, Command
output, async Originate, timeouts, heartbeat, bounded queues, the reconnect
policy) lives in the compiled core, ``ami._core``; two thin adapters drive
it over a socket:

- :mod:`ami.aio`: ``await client.send(...)``, ``async for event in
  client.events(...)``, reconnecting by itself;
- :mod:`ami.blocking`: the same on a plain socket, one session.

Errors are classes of :mod:`ami.errors`. The sans-IO :class:`Connection` is
public too, for other event loops.
"""

from ._core import (
    Action,
    CloseReason,
    CommandOutput,
    Completion,
    Config,
    Connection,
    Event,
    EventList,
    EventQueue,
    Message,
    OriginateOutcome,
    ReconnectPolicy,
    Response,
    State,
    __version__,
)
from . import aio, blocking, errors
from .errors import (
    ActionError,
    ActionTimeout,
    AmiError,
    Cancelled,
    ConnectionLost,
    Desync,
    FrameTooLarge,
    LoginError,
    SendError,
    ServerError,
)

__all__ = [
    "Action",
    "ActionError",
    "ActionTimeout",
    "AmiError",
    "Cancelled",
    "CloseReason",
    "CommandOutput",
    "Completion",
    "Config",
    "Connection",
    "ConnectionLost",
    "Desync",
    "Event",
    "EventList",
    "EventQueue",
    "FrameTooLarge",
    "LoginError",
    "Message",
    "OriginateOutcome",
    "ReconnectPolicy",
    "Response",
    "SendError",
    "ServerError",
    "State",
    "__version__",
    "aio",
    "blocking",
    "errors",
]
