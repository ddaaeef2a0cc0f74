"""A refused service call as the CLI reports it: one line, naming the option where one is wrong."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import click

from producers.services.errors import InvalidInput, ServiceError


@contextmanager
def refused(options: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn a ServiceError into click's one-line failure; `options` maps an input's field name
    to the option that gave it (e.g. {"timezone": "--timezone"})."""
    try:
        yield
    except InvalidInput as exc:
        hint = (options or {}).get(exc.field)
        if hint:
            raise click.BadParameter(str(exc), param_hint=hint) from None
        raise click.ClickException(str(exc)) from None
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
