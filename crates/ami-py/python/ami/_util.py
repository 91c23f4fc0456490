"""Helpers both adapters share: building an action, a client's config."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from ._core import Action, Config

#: Default AMI port.
PORT = 5038


def action(action: Union[Action, str], headers: Mapping[str, Any]) -> Action:
    """``action`` itself, or ``Action(action, **headers)`` for a name."""
    if type(action) is str:
        return Action(action, **headers)
    if headers:
        raise TypeError("pass headers to Action(...), not beside an Action")
    return action


def config(
    host: str,
    port: int,
    username: str,
    secret: str,
    config: Optional[Config],
    options: Mapping[str, Any],
) -> Config:
    """``config`` if given (then no other option may be), else a new one."""
    if config is not None:
        if options or username or secret:
            raise TypeError("give either config= or credentials and options, not both")
        return config
    return Config(f"{host}:{port}", username, secret, **options)
