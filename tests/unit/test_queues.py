"""Which queues a command travels on, and which a worker consumes."""

from domain.commands import QUEUES, BackfillPart, SyncActuals, consumed_queues


def test_backfill_parts_have_a_queue_of_their_own_beside_the_dailies():
    assert BackfillPart.route.queue == "backfill" != SyncActuals.route.queue == "time_entries"
    assert "backfill" in QUEUES


def test_a_part_left_on_time_entries_by_an_older_version_is_still_its_own():
    assert BackfillPart.route.accepts("backfill") and BackfillPart.route.accepts("time_entries")
    assert not BackfillPart.route.accepts("entities")
    assert not SyncActuals.route.accepts("backfill")


def test_a_worker_of_time_entries_consumes_the_parts_too_unless_told_only_what_it_names():
    assert consumed_queues(["time_entries"]) == ("time_entries", "backfill")
    assert consumed_queues(["entities", "time_entries", "autofill"]) == (
        "entities",
        "time_entries",
        "backfill",
        "autofill",
    )
    assert consumed_queues(["time_entries", "backfill"]) == ("time_entries", "backfill")
    assert consumed_queues(["time_entries"], only_named=True) == ("time_entries",)
    assert consumed_queues(["backfill"]) == ("backfill",)
    assert consumed_queues(["entities"]) == ("entities",)
