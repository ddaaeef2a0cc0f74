"""Wire format of commands: versioned JSON. Decoding failures are MalformedMessage (dead-letter)."""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from typing import Any

from domain.commands import BY_WIRE_TYPE, Command
from domain.errors import MalformedMessage

VERSION = 1
MAX_BODY_BYTES = 64 * 1024


def encode(cmd: Command) -> tuple[str, bytes]:
    """Return (type, body) for a command."""
    name = cmd.route.wire_type
    payload = {f.name: _plain(getattr(cmd, f.name)) for f in dataclasses.fields(cmd)}  # type: ignore[arg-type]
    body = {"v": VERSION, "type": name, "message_id": cmd.message_id, "payload": payload}
    return name, json.dumps(body, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def decode(body: bytes) -> Command:
    if len(body) > MAX_BODY_BYTES:
        raise MalformedMessage(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedMessage("body is not a JSON object")
    if doc.get("v") != VERSION:
        raise MalformedMessage(f"unsupported message version {doc.get('v')!r}")
    name = doc.get("type")
    if name not in BY_WIRE_TYPE:
        raise MalformedMessage(f"unknown command type {name!r}")
    cls = BY_WIRE_TYPE[name]
    payload = doc.get("payload")
    if not isinstance(payload, dict):
        raise MalformedMessage("payload is not a JSON object")
    hints = _hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in payload:
            if field.default is not dataclasses.MISSING:
                continue  # added in a later version of the command: its default applies
            raise MalformedMessage(f"{name}: missing field {field.name!r}")
        kwargs[field.name] = _coerce(name, field.name, payload[field.name], hints[field.name])
    try:
        cmd = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"{name}: {exc}") from None
    if doc.get("message_id") not in (None, cmd.message_id):
        raise MalformedMessage(f"{name}: message_id does not match the payload")
    return cmd


@functools.cache
def _hints(cls: type[Command]) -> dict[str, Any]:
    # Resolving the annotations (strings, under `from __future__ import annotations`) is the
    # dearest part of decoding a message; they do not change.
    return typing.get_type_hints(cls)


def _coerce(cmd_name: str, field: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise MalformedMessage(f"{cmd_name}.{field} must be a list")
        return tuple(_coerce(cmd_name, field, v, item) for v in value)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool and not isinstance(value, bool):
        raise MalformedMessage(f"{cmd_name}.{field} must be true or false")
    # bool is an int subclass; a JSON true is never an account id.
    if hint is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise MalformedMessage(f"{cmd_name}.{field} must be an integer")
    if hint is str and not isinstance(value, str):
        raise MalformedMessage(f"{cmd_name}.{field} must be a string")
    return value
