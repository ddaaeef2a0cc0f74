"""Dead letters of every queue: why each failed; replay or purge (admin only)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from infra.amqp import QUEUES
from producers.console.web import action, broker, done, field, page, render
from producers.services import dead_letters
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


def _chosen(form: FormData) -> tuple[str | None, list[str]]:
    queue = field(form, "queue")
    message_id = field(form, "message_id")
    return (queue if queue in QUEUES else None), ([message_id] if message_id else [])


def replay(request: Request, form: FormData) -> Response:
    queue, ids = _chosen(form)
    if queue is None:
        return done(request, "/dead-letters", "Choose a queue.", "error")
    try:
        n = dead_letters.replay(broker(request), queue, ids)
    except BROKER_ERRORS as exc:
        return done(request, "/dead-letters", f"RabbitMQ did not answer ({type(exc).__name__}).", "error")
    return done(request, "/dead-letters", f"{n} message(s) replayed to {queue}.")


def purge(request: Request, form: FormData) -> Response:
    queue, ids = _chosen(form)
    if queue is None:
        return done(request, "/dead-letters", "Choose a queue.", "error")
    try:
        n = dead_letters.purge(broker(request), queue, ids)
    except BROKER_ERRORS as exc:
        return done(request, "/dead-letters", f"RabbitMQ did not answer ({type(exc).__name__}).", "error")
    return done(request, "/dead-letters", f"{n} message(s) purged from {queue}.")


routes = [
    page("/dead-letters", dead_letters_page),
    action("/dead-letters/replay", replay),
    action("/dead-letters/purge", purge),
]
