from datetime import UTC, datetime, timedelta

from domain.commands import AutofillWeek, SyncActuals, SyncEntities
from domain.schedule import AccountSchedule, daily_offset, due_slots, next_slot, slots_between


def _acct(account_id=1, tz="UTC", **flags):
    on = dict(clients_projects=True, people=True, actuals=True, autofill=True) | flags
    return AccountSchedule(account_id, tz, **on)


def test_offsets_spread_accounts_over_the_day():
    offsets = [daily_offset(i).total_seconds() for i in range(10_000)]
    hours = [int(o // 3600) for o in offsets]
    # Every hour of the day gets a share, none more than twice its fair share.
    assert all(300 < hours.count(h) < 2 * 10_000 / 24 for h in range(24))
    # Derived from the id alone, never from the process (Python's hash() would change per run):
    # every scheduler replica, and every restart, gives an account the same time of day.
    assert daily_offset(42) == timedelta(hours=18, minutes=3, seconds=57)


def test_one_day_gives_one_entity_and_one_actuals_slot():
    start = datetime(2026, 11, 17, tzinfo=UTC)  # a Tuesday: no autofill
    slots = slots_between(_acct(), start, start + timedelta(days=1))
    assert [s.kind for s in slots] == ["entities", "actuals"]
    assert isinstance(slots[0].command, SyncEntities) and isinstance(slots[1].command, SyncActuals)
    assert slots[1].at - slots[0].at == timedelta(minutes=30)


def test_imports_switched_off_are_not_scheduled():
    start = datetime(2026, 11, 17, tzinfo=UTC)
    slots = slots_between(_acct(people=False, actuals=False), start, start + timedelta(days=1))
    assert [s.kind for s in slots] == ["entities"]
    assert slots[0].command.kinds == ("clients_projects",)


def test_autofill_is_weekly_for_the_week_that_ended_locally():
    start = datetime(2026, 11, 22, tzinfo=UTC)
    slots = [
        s
        for s in slots_between(_acct(tz="Pacific/Auckland"), start, start + timedelta(days=7))
        if s.kind == "autofill"
    ]
    assert len(slots) == 1
    assert isinstance(slots[0].command, AutofillWeek)
    assert slots[0].command.week == "2026-W47"


def test_due_slots_catch_up_once_each_and_ids_are_stable():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    accounts = [_acct(i) for i in range(1, 50)]
    first = due_slots(accounts, now, timedelta(days=2))
    again = due_slots(accounts, now, timedelta(days=2))
    assert [s.command.message_id for s in first] == [s.command.message_id for s in again]
    assert len({(s.account_id, s.kind, s.at) for s in first}) == len(first)
    assert all(now - timedelta(days=2) < s.at <= now for s in first)


def test_next_slot_is_in_the_future():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    nxt = next_slot(_acct(), "actuals", now)
    assert nxt is not None and now < nxt <= now + timedelta(days=1)


def test_each_account_verifies_once_a_week_on_a_day_of_its_own():
    start = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday
    weekdays = []
    for account_id in range(1, 200):
        actuals = [s for s in slots_between(_acct(account_id), start, start + timedelta(days=7))
                   if s.kind == "actuals"]  # fmt: skip
        verifying = [s for s in actuals if s.command.verify]
        assert len(actuals) == 7 and len(verifying) == 1
        assert verifying[0].command.message_id.endswith(":verify")
        weekdays.append(verifying[0].at.isoweekday())
    assert len(set(weekdays)) == 7  # spread over the week, not all on Monday
