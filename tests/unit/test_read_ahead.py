"""Reading ahead keeps the order, raises errors where they happened, and stops when left."""

from __future__ import annotations

import threading

import pytest

from infra.harvest.read_ahead import read_ahead


def test_items_come_in_order_and_the_next_is_fetched_meanwhile():
    fetched: list[int] = []
    second_fetched = threading.Event()

    def pages():
        for i in range(5):
            fetched.append(i)
            if i == 1:
                second_fetched.set()
            yield [i]

    seen = []
    with read_ahead(pages()) as items:
        for page in items:
            if page == [0]:
                # While the caller still works on page 0, page 1 is on its way.
                assert second_fetched.wait(timeout=5)
            seen.append(page)
    assert seen == [[0], [1], [2], [3], [4]]


def test_an_error_is_raised_after_the_pages_before_it():
    def pages():
        yield [1]
        raise ConnectionError("Harvest went away")

    got = []
    with pytest.raises(ConnectionError, match="went away"), read_ahead(pages()) as items:
        for page in items:
            got.append(page)
    assert got == [[1]]


def test_leaving_early_stops_fetching_even_on_the_callers_own_error():
    fetched: list[int] = []

    def pages():
        for i in range(1000):
            fetched.append(i)
            yield [i]

    with pytest.raises(RuntimeError), read_ahead(pages()) as items:
        for page in items:
            if page == [2]:
                raise RuntimeError("storing the page failed")
    assert len(fetched) <= 5
    assert not [t for t in threading.enumerate() if t.name == "harvest-read-ahead"]


def test_pages_after_the_first_are_prepared_in_the_reading_thread_and_its_errors_reach_the_caller():
    threads = []

    def prepare(page):
        threads.append(threading.current_thread().name)
        if page == [2]:
            raise ValueError("unreadable page")
        return sum(page)

    got = []
    with pytest.raises(ValueError, match="unreadable"), read_ahead(iter([[1], [2]]), prepare) as totals:
        for total in totals:
            got.append(total)
    assert got == [1]
    # The first page is the caller's to wait for: fetched and prepared in its own thread.
    assert sorted(threads) == sorted([threading.current_thread().name, "harvest-read-ahead"])


def test_a_first_page_that_is_the_last_starts_no_thread():
    def pages():
        yield [0]
        raise AssertionError("nothing is read after the last page")

    threads = []
    with read_ahead(pages(), is_last=lambda page: True, name="read-ahead-under-test") as items:
        for page in items:
            threads = [t for t in threading.enumerate() if t.name == "read-ahead-under-test"]
            assert page == [0]
    assert threads == []


def test_a_later_last_page_is_read_ahead_as_before():
    second_fetched = threading.Event()

    def pages():
        yield [0]
        second_fetched.set()
        yield [1]

    seen = []
    with read_ahead(pages(), is_last=lambda page: page == [1]) as items:
        for page in items:
            if page == [0]:
                assert second_fetched.wait(timeout=5)
            seen.append(page)
    assert seen == [[0], [1]]
