"""Dead letters of every queue: why each failed; replay or purge (admin only)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from infra.amqp import QUEUES
from producers.console.web import action, broker, done, field, page, render
from producers.services import dead_letters
from producers.services.dead_letters import Broker
from producers.services.errors import BROKER_ERRORS

SHOWN = 100


def dead_letters_page(request: Request) -> Response:
    try:
        letters = dead_letters.all_dead_letters(broker(request), limit=SHOWN)
        error = None
    except BROKER_ERRORS as exc:
        letters, error = {}, f"RabbitMQ did not answer ({type(exc).__name__}): is it running?"
    return render(
        request,
        "dead_letters.html",
        letters=letters,
        error=error,
        account_of=dead_letters.account_of,
        shown=SHOWN,
    )


def replay(request: Request, form: FormData) -> Response:
    return _settle(request, form, dead_letters.replay, "replayed to")


def purge(request: Request, form: FormData) -> Response:
    return _settle(request, form, dead_letters.purge, "purged from")


def _settle(
    request: Request, form: FormData, how: Callable[[Broker, str, list[str]], int], done_: str
) -> Response:
    """Replay or purge one dead letter (message_id given) or all of a queue's."""
    queue, message_id = field(form, "queue"), field(form, "message_id")
    if queue not in QUEUES:
        return done(request, "/dead-letters", "Choose a queue.", "error")
    try:
        n = how(broker(request), queue, [message_id] if message_id else [])
    except BROKER_ERRORS as exc:
        return done(request, "/dead-letters", f"RabbitMQ did not answer ({type(exc).__name__}).", "error")
    return done(request, "/dead-letters", f"{n} message(s) {done_} {queue}.")


routes = [
    page("/dead-letters", dead_letters_page),
    action("/dead-letters/replay", replay),
    action("/dead-letters/purge", purge),
]
