"""Fetch the next page while the caller stores this one.

A sync alternates between waiting on Harvest and writing to PostgreSQL; reading one page ahead
in a thread overlaps the two (both wait on other processes, so the GIL is free for most of
it). Memory grows by one page at most. The first page is fetched in the caller's thread, which
waits for it either way; a listing whose first page is its last (most daily syncs') starts no
thread at all.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")

_POLL_S = 0.1
_DONE = object()


@contextmanager
def read_ahead(
    pages: Iterable[T],
    prepare: Callable[[T], U] | None = None,
    *,
    is_last: Callable[[T], bool] = lambda page: False,
    name: str = "harvest-read-ahead",
) -> Iterator[Iterator[U]]:
    """`with read_ahead(pages) as items:` what `pages` yields, in order, with the next item
    fetched (and passed through `prepare`, pure work such as parsing) in a thread meanwhile;
    `is_last(page)`: nothing follows it, so nothing is read ahead. An error while fetching or
    preparing is raised at the item it stopped before. Leaving the block, however it is
    left, stops the thread after the fetch in flight: an error raised by the caller's own
    work must not leave a thread fetching."""
    items = _read_ahead(iter(pages), prepare or _same, is_last, name)
    try:
        yield items
    finally:
        items.close()


def _same(page: T) -> T:
    return page


def _read_ahead(
    pages: Iterator[T], prepare: Callable[[T], U], is_last: Callable[[T], bool], name: str
) -> Iterator[U]:
    first = next(pages, _DONE)
    if first is _DONE:
        return
    if is_last(first):  # type: ignore[arg-type]
        yield prepare(first)  # type: ignore[arg-type]
        return
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not put((prepare(page), None)):
                    return
        except BaseException as exc:  # handed to the caller's thread, raised there
            put((_DONE, exc))
            return
        put((_DONE, None))

    # Started before the first page is handed over: the second is fetched while it is stored.
    thread = threading.Thread(target=fetch, name=name, daemon=True)
    thread.start()
    try:
        yield prepare(first)  # type: ignore[arg-type]
        while True:
            page, error = handoff.get()
            if page is _DONE:
                if error is not None:
                    raise error
                return
            yield page  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
