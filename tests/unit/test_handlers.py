"""The handlers' rules through the real pipeline, with an in-memory unit of work and a Harvest
that pages from a list: no PostgreSQL, RabbitMQ or HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from itertools import pairwise

import pytest

from consumers import resume
from consumers.backfill import backfill_part
from consumers.pipeline import AccountBusy, Pipeline, Step
from consumers.time_entries import backfill_in_progress, sync_actuals
from domain.actuals import PersonFacts, ProjectFacts
from domain.commands import BackfillPart, Lock, SyncActuals
from tests.unit.fakes import T0, FakeDatabase, FakeHarvest, FakeUnitOfWork, account, harvest_entry

DAY = date(2026, 11, 30)
ALICE, BOB = 101, 102  # Harvest user ids
SITE = 201  # a Harvest project id


def _agency(days: int = 10) -> tuple[FakeDatabase, FakeHarvest]:
    db = FakeDatabase()
    db.accounts.records[1] = account(1)
    db.lookups.people_by_harvest_id[ALICE] = PersonFacts(person_id=1, role_id=11, role_is_unknown=False)
    db.lookups.people_by_harvest_id[BOB] = PersonFacts(person_id=2, role_id=12, role_is_unknown=True)
    db.lookups.projects_by_harvest_id[SITE] = ProjectFacts(project_id=5, sync_off=False)
    entries = [
        harvest_entry(1000 + 2 * n + i, DAY - timedelta(days=n), user=user, project=SITE)
        for n in range(days)
        for i, user in enumerate((ALICE, BOB))
    ]
    return db, FakeHarvest(entries)


def _pipeline(db: FakeDatabase, harvest: FakeHarvest, *, part_entries: int = 0) -> tuple[Pipeline, list]:
    published: list = []
    pipeline = Pipeline(
        uow=lambda account_id=None: FakeUnitOfWork(db, account_id),
        steps={
            SyncActuals: Step(
                partial(sync_actuals, harvest_for=lambda a, **_: harvest, backfill_part_entries=part_entries),
                guard=backfill_in_progress,
            ),
            BackfillPart: Step(partial(backfill_part, harvest_for=lambda a, **_: harvest)),
        },
        publish_many=published.extend,
        clock=lambda: T0,
    )
    return pipeline, published


def test_an_entry_whose_person_has_no_role_is_held_not_counted():
    db, harvest = _agency()
    pipeline, _ = _pipeline(db, harvest)
    stats = pipeline(SyncActuals(1, "first"))
    assert stats["held.role_unknown"] == 10
    rows = db.store.entries.rows
    assert {s.hold_reason for i, s in rows.items() if s.entry.harvest_user_id == BOB} == {"role_unknown"}
    # Alice's ten days count; Bob's hours count nowhere until his role is set.
    assert len(db.store.actuals) == 10 and all(key[0] == 1 for key in db.store.actuals)
    assert db.runs.rows["sync-actuals:1:first"]["status"] == "succeeded"


def test_a_held_entry_counts_once_its_cause_is_fixed():
    db, harvest = _agency()
    pipeline, _ = _pipeline(db, harvest)
    pipeline(SyncActuals(1, "first"))
    db.lookups.people_by_harvest_id[BOB] = PersonFacts(person_id=2, role_id=12, role_is_unknown=False)
    stats = pipeline(SyncActuals(1, "next"))
    assert not any(s.hold_reason for s in db.store.entries.rows.values())
    assert len(db.store.actuals) == 20 and stats.get("held.role_unknown", 0) == 0


def test_the_same_command_twice_changes_nothing_the_second_time():
    db, harvest = _agency()
    pipeline, _ = _pipeline(db, harvest)
    cmd = SyncActuals(1, "once")
    pipeline(cmd)
    requests, actuals = len(harvest.requests), dict(db.store.actuals)
    assert pipeline(cmd) == {}
    assert len(harvest.requests) == requests and db.store.actuals == actuals


def test_a_busy_account_is_retried_later_and_nothing_is_claimed():
    db, harvest = _agency()
    db.held_elsewhere.add((Lock.ACTUALS, 1))
    pipeline, _ = _pipeline(db, harvest)
    with pytest.raises(AccountBusy, match="actuals lock"):
        pipeline(SyncActuals(1, "busy"))
    assert db.inbox == set() and harvest.requests == []
    assert db.runs.rows["sync-actuals:1:busy"]["status"] == "retrying"


def test_a_large_first_sync_hands_out_parts_that_finish_it():
    db, harvest = _agency(days=30)
    pipeline, published = _pipeline(db, harvest, part_entries=20)
    stats = pipeline(SyncActuals(1, "first"))
    assert stats["backfill.parts"] == len(published) == 3
    assert all(isinstance(p, BackfillPart) for p in published)
    assert db.runs.rows["sync-actuals:1:first"]["status"] == "running"  # the parts finish it
    # A sync arriving meanwhile only makes sure the parts are on their way.
    assert pipeline(SyncActuals(1, "meanwhile")) == {"backfill.parts_pending": 3}
    for part in published[:3]:
        pipeline(part)
    assert db.runs.rows["sync-actuals:1:first"]["status"] == "succeeded"
    assert len(db.store.entries.rows) == 60 and db.accounts.state[(1, "actuals")]["cursor"] == T0


def test_a_growing_history_is_split_into_parts_of_about_equal_entries():
    db, harvest = _agency(days=0)
    # 90 days, one entry a day at first and ten a day by the end: equal days would give the
    # newest quarter about three times the oldest's entries.
    harvest.entries = [
        harvest_entry(5000 + 100 * n + i, DAY - timedelta(days=89 - n), user=ALICE, project=SITE)
        for n in range(90)
        for i in range(1 + n // 10)
    ]
    total = len(harvest.entries)
    pipeline, published = _pipeline(db, harvest, part_entries=-(-total // 4))
    pipeline(SyncActuals(1, "first"))
    assert len(published) == 4
    spans = [(date.fromisoformat(p.start), date.fromisoformat(p.end)) for p in published]
    assert spans[0][0] == DAY - timedelta(days=89) and spans[-1][1] == DAY
    assert all(a[1] + timedelta(days=1) == b[0] for a, b in pairwise(spans))
    sizes = [
        sum(start.isoformat() <= e["spent_date"] <= end.isoformat() for e in harvest.entries)
        for start, end in spans
    ]
    assert sum(sizes) == total and max(sizes) <= 1.15 * min(sizes), sizes
    assert sum(kind == "count" for kind, _ in harvest.requests) <= 11 + 6 * 3
    for part in published:
        pipeline(part)
    assert db.runs.rows["sync-actuals:1:first"]["status"] == "succeeded"
    assert len(db.store.entries.rows) == total


def test_a_deletion_is_found_by_counts_and_only_its_span_is_listed():
    db, harvest = _agency(days=40)
    harvest.per_page = 4  # spans of at most 8 entries are listed
    pipeline, _ = _pipeline(db, harvest)
    pipeline(SyncActuals(1, "first"))
    gone = next(e for e in harvest.entries if e["user"]["id"] == ALICE and e["spent_date"] == "2026-11-01")
    harvest.entries.remove(gone)
    harvest.requests.clear()
    stats = pipeline(SyncActuals(1, "daily"))
    assert stats["entries.deleted"] == 1 and gone["id"] not in db.store.entries.rows
    assert stats["deletions.spans_listed"] == 1 and stats["deletions.entries_listed"] <= 8
    assert stats["deletions.counts"] >= 3
    assert (1, 5, 11, date(2026, 11, 1)) not in db.store.actuals


def _pieces_of(monkeypatch: pytest.MonkeyPatch, pages: int) -> None:
    monkeypatch.setattr(resume, "PIECE_PAGES", pages)


class _Interrupted(Exception):
    pass


def _fail_after(harvest: FakeHarvest, pages: int) -> None:
    """The next listings stop with an error once `pages` pages have been served."""
    served = harvest.listing

    def listing(*args, **kwargs):
        for page in served(*args, **kwargs):
            if sum(kind == "list" for kind, _ in harvest.requests) > pages:
                raise _Interrupted("Harvest went away")
            yield page

    harvest.listing = listing  # type: ignore[method-assign]


def test_a_sync_out_of_time_hands_on_and_its_pieces_are_one_run(monkeypatch):
    _pieces_of(monkeypatch, 2)
    db, harvest = _agency(days=30)
    harvest.per_page = 4
    pipeline, published = _pipeline(db, harvest)
    pipeline.max_message_s = 0  # every piece is the last of its message
    cmd: SyncActuals | BackfillPart = SyncActuals(1, "first")
    messages = 0
    while True:
        messages += 1
        published.clear()
        stats = pipeline(cmd)
        if not published:
            break
        (cmd,) = published
        assert cmd.run_id == "sync-actuals:1:first" and cmd.piece == messages
    assert messages > 3
    run = db.runs.rows["sync-actuals:1:first"]
    assert run["status"] == "succeeded" and run["counts"]["run.checkpoints"] >= messages - 1
    assert len(db.store.entries.rows) == 60 and stats["entries.received"] >= 60
    assert db.checkpoints.saved == {}  # the completed sync took its checkpoint with it


def test_a_sync_that_fails_part_way_resumes_from_its_last_piece(monkeypatch):
    _pieces_of(monkeypatch, 2)
    db, harvest = _agency(days=30)
    harvest.per_page = 4
    pipeline, _ = _pipeline(db, harvest)
    undisturbed = FakeHarvest(list(harvest.entries), per_page=4)
    _pipeline(_agency(days=30)[0], undisturbed)[0](SyncActuals(1, "first"))
    _fail_after(harvest, 10)
    with pytest.raises(_Interrupted):
        pipeline(SyncActuals(1, "first"))
    assert db.checkpoints.saved and len(db.store.entries.rows) > 0  # committed pieces stay
    harvest.listing = FakeHarvest.listing.__get__(harvest)  # type: ignore[method-assign]
    stats = pipeline(SyncActuals(1, "first"))
    assert stats["run.resumed"] == 1 and len(db.store.entries.rows) == 60
    # Only the piece in flight is read again, not the whole history.
    assert len(harvest.requests) < len(undisturbed.requests) + 5


def test_a_new_run_waits_for_one_that_is_part_way(monkeypatch):
    _pieces_of(monkeypatch, 2)
    db, harvest = _agency(days=30)
    harvest.per_page = 4
    pipeline, _ = _pipeline(db, harvest)
    _fail_after(harvest, 10)
    with pytest.raises(_Interrupted):
        pipeline(SyncActuals(1, "first"))
    harvest.listing = FakeHarvest.listing.__get__(harvest)  # type: ignore[method-assign]
    with pytest.raises(AccountBusy, match="part way"):
        pipeline(SyncActuals(1, "scheduled"))
    db.checkpoints.age_s = resume.OTHER_RUN_STALE_S  # that run died: start over
    assert pipeline(SyncActuals(1, "scheduled"))["entries.received"] >= 60


def test_a_checkpoint_that_nothing_interrupts_costs_no_request(monkeypatch):
    requests, checkpoints = [], []
    for pages in (2, 1000):
        _pieces_of(monkeypatch, pages)
        db, harvest = _agency(days=30)
        harvest.per_page = 4
        stats = _pipeline(db, harvest)[0](SyncActuals(1, "first"))
        requests.append(len(harvest.requests))
        checkpoints.append(stats.get("run.checkpoints", 0))
        assert len(db.store.entries.rows) == 60
    assert checkpoints[0] >= 5 and checkpoints[1] == 0
    assert requests[0] == requests[1]
