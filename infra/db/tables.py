"""SQLAlchemy Core tables. Migrations in infra/db/migrations create them; keep both in step.

Every row carries account_id and every query filters on it: one account never sees another's
data. Harvest ids are BIGINT (time-entry ids already pass 2^31).

Ready to shard (migration 0011): every primary and unique key of a per-account table leads
with account_id, and a reference between two of them is (account_id, x_id) -> (account_id,
id), so no key crosses accounts (tests/integration/test_shard_ready.py reads the catalog).
The hot tables (HASH_PARTITIONED) are hash-partitioned by account_id when `harvest-sync
migrate` ran with DB_HASH_PARTITIONS >= 2; the columns, keys and indexes are the same either
way, so these tables describe both.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = sa.MetaData()

PROJECT_TYPES = ("time_and_materials", "fixed_price", "non_billable")
ACCOUNT_STATUSES = ("active", "needs_attention", "disabled")
RUN_STATUSES = ("queued", "running", "retrying", "succeeded", "failed", "skipped")
ENTITY_TYPES = ("client", "project", "person")
# Hash-partitioned by account_id if DB_HASH_PARTITIONS >= 2 at migration 0011.
HASH_PARTITIONED = ("time_entries", "actuals", "import_ledger", "processed_messages", "sync_runs")
# Tables of no one account (Citus reference tables, README "The path to Citus").
GLOBAL_TABLES = ("accounts", "console_users", "console_login_failures")


def _account_fk() -> sa.Column:
    return sa.Column(
        "account_id", sa.BigInteger, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )


def _same_account(column: str, table: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    """A reference to a row of the same account: (account_id, column) -> table (account_id, id)
    (migration 0011). No key crosses accounts, so Citus can co-locate the two tables."""
    return sa.ForeignKeyConstraint(
        ["account_id", column], [f"{table}.account_id", f"{table}.id"], ondelete=ondelete
    )


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("harvest_account_id", sa.BigInteger, nullable=False),
    sa.Column("token_sealed", sa.LargeBinary, nullable=False),
    sa.Column("import_clients_projects", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("import_people", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("import_actuals", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("autofill", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("timezone", sa.Text, nullable=False, server_default="UTC"),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("status_reason", sa.Text),
    # Actuals: history starts here (null: all of it). Every sync compares counts over all of
    # it; every `full_reconcile_days` it is listed in full as well, the safety net.
    sa.Column("actuals_start_date", sa.Date),
    sa.Column("full_reconcile_days", sa.Integer, nullable=False, server_default="7"),
    # Autofill: ISO weekdays (Monday = 1) on which a scheduled day without hours gets a zero.
    sa.Column("working_days", ARRAY(sa.SmallInteger), nullable=False, server_default="{1,2,3,4,5}"),
    _created_at(),
    # When the token was last set (migration 0009): the console shows this, never the token.
    sa.Column("token_set_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(f"status IN {ACCOUNT_STATUSES}", name="accounts_status_valid"),
)

account_sync_state = sa.Table(
    "account_sync_state",
    metadata,
    _account_fk(),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("last_success_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.DateTime(timezone=True)),
    # Where the next incremental sync starts (updated_since); moves only when a sync completes.
    sa.Column("cursor", sa.DateTime(timezone=True)),
    sa.Column("last_full_reconcile_at", sa.DateTime(timezone=True)),
    # What the entries held at the last sync were held by (infra.db.lookups.HOLD_FACTS_SQL).
    sa.Column("hold_facts", sa.Text),
    sa.PrimaryKeyConstraint("account_id", "kind"),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    _created_at(),
    sa.PrimaryKeyConstraint("account_id", "id"),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("name", sa.Text, nullable=False),
    # Matching is case- and space-insensitive; the key enforces one role per spelling family.
    sa.Column("match_key", sa.Text, nullable=False),
    _created_at(),
    sa.PrimaryKeyConstraint("account_id", "id"),
    sa.UniqueConstraint("account_id", "match_key", name="roles_account_match_key"),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("client_id", sa.BigInteger),
    sa.Column("project_type", sa.Text, nullable=False),
    sa.Column("budget", sa.Numeric(14, 2)),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    _created_at(),
    sa.CheckConstraint(f"project_type IN {PROJECT_TYPES}", name="projects_type_valid"),
    sa.PrimaryKeyConstraint("account_id", "id"),
    _same_account("client_id", "clients", ondelete="SET NULL (client_id)"),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("first_name", sa.Text, nullable=False),
    sa.Column("last_name", sa.Text, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("role_id", sa.BigInteger, nullable=False),
    sa.Column("cost", sa.Numeric(12, 2)),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    _created_at(),
    sa.PrimaryKeyConstraint("account_id", "id"),
    _same_account("role_id", "roles"),
)

external_refs = sa.Table(
    "external_refs",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("entity_type", sa.Text, nullable=False),
    sa.Column("client_id", sa.BigInteger),
    sa.Column("project_id", sa.BigInteger),
    sa.Column("person_id", sa.BigInteger),
    sa.Column("harvest_id", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default="import"),
    _created_at(),
    # A Harvest id belongs to at most one entity per account and type; an entity may hold many.
    sa.UniqueConstraint("account_id", "entity_type", "harvest_id", name="external_refs_one_owner"),
    sa.PrimaryKeyConstraint("account_id", "id"),
    _same_account("client_id", "clients", ondelete="CASCADE"),
    _same_account("project_id", "projects", ondelete="CASCADE"),
    _same_account("person_id", "people", ondelete="CASCADE"),
    sa.CheckConstraint(f"entity_type IN {ENTITY_TYPES}", name="external_refs_type_valid"),
    sa.CheckConstraint(
        "(entity_type = 'client' AND client_id IS NOT NULL AND project_id IS NULL AND person_id IS NULL)"
        " OR (entity_type = 'project' AND project_id IS NOT NULL AND client_id IS NULL AND person_id IS NULL)"
        " OR (entity_type = 'person' AND person_id IS NOT NULL AND client_id IS NULL AND project_id IS NULL)",
        name="external_refs_one_target",
    ),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("person_id", sa.BigInteger, nullable=False),
    sa.Column("project_id", sa.BigInteger, nullable=False),
    sa.Column("role_id", sa.BigInteger, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("minutes_per_day", sa.Integer, nullable=False),
    _created_at(),
    sa.CheckConstraint("end_date >= start_date", name="assignments_dates_ordered"),
    sa.CheckConstraint("minutes_per_day >= 0", name="assignments_minutes_non_negative"),
    sa.PrimaryKeyConstraint("account_id", "id"),
    _same_account("person_id", "people", ondelete="CASCADE"),
    _same_account("project_id", "projects", ondelete="CASCADE"),
    _same_account("role_id", "roles"),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("counts", JSONB, nullable=False, server_default="{}"),
    sa.Column("progress", JSONB, nullable=False, server_default="{}"),
    sa.Column("requested_at", sa.DateTime(timezone=True)),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("account_id", "message_id", name="sync_runs_one_per_message"),
    sa.PrimaryKeyConstraint("account_id", "id"),
    sa.CheckConstraint(f"status IN {RUN_STATUSES}", name="sync_runs_status_valid"),
)

# Room on each page for an edited row's new version, for tables a daily sync edits rows of at
# random (migration 0007): see time_entries.
HOT_UPDATE_ROOM = {"fillfactor": 90}

import_ledger = sa.Table(
    "import_ledger",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("record_type", sa.Text, nullable=False),
    sa.Column("harvest_id", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False, server_default="{}"),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("account_id", "record_type", "harvest_id", name="import_ledger_one_per_record"),
    sa.PrimaryKeyConstraint("account_id", "id"),
    postgresql_with=HOT_UPDATE_ROOM,  # an edited held entry rewrites its detail
)

processed_messages = sa.Table(
    "processed_messages",
    metadata,
    _account_fk(),  # migration 0011: the inbox is per account too
    sa.Column("consumer", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.PrimaryKeyConstraint("account_id", "consumer", "message_id"),
)

sa.Index("external_refs_client", external_refs.c.client_id)
sa.Index("external_refs_project", external_refs.c.project_id)
sa.Index("external_refs_person", external_refs.c.person_id)
sa.Index("assignments_lookup", assignments.c.account_id, assignments.c.person_id, assignments.c.project_id)
sa.Index("sync_runs_account_kind", sync_runs.c.account_id, sync_runs.c.kind, sync_runs.c.id)


# --- actuals (migration 0002) -------------------------------------------------------------


def _account_ref() -> sa.Column:
    """account_id without a foreign key, for the tables a sync writes a row per time entry
    into: a key check per row was a sixth of a first sync's database CPU. What the key
    gave is kept otherwise (migration 0006): deleting an account deletes these rows (a
    trigger on accounts), and a sync holds the account row FOR KEY SHARE while it writes
    (consumers.entry_apply.EntryStore.open), so the account cannot go away meanwhile."""
    return sa.Column("account_id", sa.BigInteger, nullable=False)


time_entries = sa.Table(
    "time_entries",
    metadata,
    _account_ref(),
    sa.Column("harvest_id", sa.BigInteger, nullable=False),
    # The latest version Harvest gave us.
    sa.Column("harvest_user_id", sa.BigInteger, nullable=False),
    sa.Column("harvest_project_id", sa.BigInteger, nullable=False),
    sa.Column("spent_date", sa.Date, nullable=False),
    sa.Column("hours", sa.Numeric(12, 6), nullable=False),
    sa.Column("billable", sa.Boolean, nullable=False),
    sa.Column("is_running", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("harvest_updated_at", sa.DateTime(timezone=True), nullable=False),
    # What of it counts in actuals now (null when nothing does); actuals are sums of these.
    sa.Column("applied_person_id", sa.BigInteger),
    sa.Column("applied_project_id", sa.BigInteger),
    sa.Column("applied_role_id", sa.BigInteger),
    sa.Column("applied_date", sa.Date),
    sa.Column("applied_minutes", sa.Integer),
    sa.Column("applied_billable", sa.Boolean),
    sa.Column("hold_reason", sa.Text),
    # Set when Harvest no longer lists the entry but we keep it (it counts for a sync_off
    # project): a deletion check then no longer counts it as one of Harvest's (migration 0007).
    sa.Column("harvest_deleted_at", sa.DateTime(timezone=True)),
    sa.PrimaryKeyConstraint("account_id", "harvest_id"),
    # Room on every page for an edited row's new version: an edit that keeps the indexed
    # columns (hours, billable) is then a HOT update, with no index entries and half the WAL
    # (migration 0007). Most edits are such; a first sync only appends.
    postgresql_with=HOT_UPDATE_ROOM,
)

actuals = sa.Table(
    "actuals",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_ref(),
    sa.Column("person_id", sa.BigInteger, nullable=False),
    sa.Column("project_id", sa.BigInteger, nullable=False),
    sa.Column("role_id", sa.BigInteger, nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("billable_minutes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("nonbillable_minutes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("autofilled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint(
        "account_id", "person_id", "project_id", "role_id", "date", name="actuals_one_per_key"
    ),
    sa.PrimaryKeyConstraint("account_id", "id"),
    # No foreign keys to people, projects and roles (migration 0012): a check per row and key
    # was a quarter of a first sync's database CPU. What they gave is kept by triggers the
    # migration creates: deleting a person or a project deletes its actuals; deleting a role
    # actuals use, or changing the key of a person, project or role they use, is refused
    # (foreign_key_violation); and those triggers lock the account rows FOR UPDATE first,
    # against the FOR KEY SHARE a sync holds while it writes (AccountRepository.hold), so no
    # actual is left pointing at a row a concurrent transaction deleted. Not kept: the check
    # on insert (the sync writes what it resolved under the hold, as for account_id).
    postgresql_with=HOT_UPDATE_ROOM,  # an actual's minutes change in place, as an entry's do
)

actuals_dirty_people = sa.Table(
    "actuals_dirty_people",
    metadata,
    _account_fk(),
    sa.Column("person_id", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("account_id", "person_id"),
    _same_account("person_id", "people", ondelete="CASCADE"),
)

sa.Index(
    "time_entries_applied_key",
    time_entries.c.account_id,
    time_entries.c.applied_person_id,
    time_entries.c.applied_project_id,
    time_entries.c.applied_role_id,
    time_entries.c.applied_date,
)
# harvest_deleted_at included: the daily deletion check counts entries per day from the
# index alone (an index-only scan), without reading the rows.
sa.Index(
    "time_entries_spent_date",
    time_entries.c.account_id,
    time_entries.c.spent_date,
    postgresql_include=["harvest_deleted_at"],
)
sa.Index(
    "time_entries_held",
    time_entries.c.account_id,
    postgresql_where=time_entries.c.hold_reason.isnot(None),
)
sa.Index("actuals_account_date", actuals.c.account_id, actuals.c.date)


# --- autofill and scheduling (migration 0003) ---------------------------------------------

time_off = sa.Table(
    "time_off",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    _account_fk(),
    sa.Column("person_id", sa.BigInteger, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    _created_at(),
    sa.CheckConstraint("end_date >= start_date", name="time_off_dates_ordered"),
    sa.PrimaryKeyConstraint("account_id", "id"),
    _same_account("person_id", "people", ondelete="CASCADE"),
)

autofill_weeks = sa.Table(
    "autofill_weeks",
    metadata,
    _account_fk(),
    sa.Column("week_start", sa.Date, nullable=False),
    sa.Column("filled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.PrimaryKeyConstraint("account_id", "week_start"),
)

scheduler_slots = sa.Table(
    "scheduler_slots",
    metadata,
    _account_fk(),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # One command per account, kind and slot, however many schedulers run.
    sa.PrimaryKeyConstraint("account_id", "kind", "slot_at"),
)

sa.Index("time_off_person", time_off.c.account_id, time_off.c.person_id)


# --- shared Harvest rate limit (migration 0004) ---------------------------------------------

harvest_request_log = sa.Table(
    "harvest_request_log",
    metadata,
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # Harvest limits /reports/* apart from the rest (migration 0008): one log per limit.
    sa.Column("bucket", sa.Text, nullable=False, server_default="api"),
)
sa.Index(
    "harvest_request_log_account_at",
    harvest_request_log.c.account_id,
    harvest_request_log.c.bucket,
    harvest_request_log.c.at,
)

# What the limiter learned from Harvest's 429s (migration 0010): the rate it allows itself now,
# lowered on a refusal that the shared count had let through, raised again step by step.
harvest_rate_state = sa.Table(
    "harvest_rate_state",
    metadata,
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("bucket", sa.Text, nullable=False),
    sa.Column("learned_limit", sa.Float, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("account_id", "bucket"),
)


# --- split backfills (migration 0005) ----------------------------------------------------------

backfills = sa.Table(
    "backfills",
    metadata,
    _account_fk(),
    sa.Column("backfill_id", sa.Text, nullable=False),
    # The next incremental sync asks for changes since this moment.
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("parts", sa.Integer, nullable=False),
    sa.Column("parts_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.PrimaryKeyConstraint("account_id", "backfill_id"),
)

backfill_parts = sa.Table(
    "backfill_parts",
    metadata,
    _account_fk(),
    sa.Column("backfill_id", sa.Text, nullable=False),
    sa.Column("part", sa.Integer, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True)),
    sa.Column("worker", sa.Text),
    sa.Column("counts", JSONB, nullable=False, server_default="{}"),
    sa.PrimaryKeyConstraint("account_id", "backfill_id", "part"),
)


# --- exact after every sync (migration 0008) ---------------------------------------------------

# Our entries per spent date, as Harvest counts them (not those kept after Harvest deleted
# them), kept by statement triggers on time_entries: the daily deletion check compares all
# history with Harvest's count without counting an account's entries each time.
entry_day_counts = sa.Table(
    "entry_day_counts",
    metadata,
    _account_ref(),
    sa.Column("spent_date", sa.Date, nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("account_id", "spent_date"),
)

# `admin verify` and the weekly check: Harvest's time reports against our stored entries.
verification_runs = sa.Table(
    "verification_runs",
    metadata,
    _account_fk(),
    sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("range_from", sa.Date, nullable=False),
    sa.Column("range_to", sa.Date, nullable=False),
    sa.Column("differences", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # admin | scheduled
    sa.PrimaryKeyConstraint("account_id", "id"),
)

verification_rows = sa.Table(
    "verification_rows",
    metadata,
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),  # project | person
    sa.Column("harvest_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text),  # as Harvest's report names it (untrusted text)
    sa.Column("harvest_hours", sa.Numeric(14, 2), nullable=False),
    sa.Column("our_hours", sa.Numeric(14, 2), nullable=False),
    # In any piece of the range (Harvest reports at most 365 days at a time).
    sa.Column("differs", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("account_id", "run_id", "subject", "harvest_id"),
    sa.ForeignKeyConstraint(
        ["account_id", "run_id"],
        ["verification_runs.account_id", "verification_runs.id"],
        ondelete="CASCADE",
    ),
)

# --- the console (migration 0009) ----------------------------------------------------------

CONSOLE_ROLES = ("admin", "viewer")

console_users = sa.Table(
    "console_users",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    # argon2id, in its self-describing encoded form (parameters and salt included).
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    _created_at(),
    sa.CheckConstraint(f"role IN {CONSOLE_ROLES}", name="console_users_role_valid"),
)

# Failed sign-ins per key ("user:NAME" or "address:IP"); each one makes the next attempt wait.
console_login_failures = sa.Table(
    "console_login_failures",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
)


# --- resumable syncs (migration 0010) ----------------------------------------------------------

# Where a sync stopped, committed with the data it covers: a retried, redelivered or continued
# message carries on from here instead of starting over. One per account and scope (a run of
# the actuals sync, or one backfill part); gone when the sync completes.
sync_checkpoints = sa.Table(
    "sync_checkpoints",
    metadata,
    sa.Column("account_id", sa.BigInteger, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("state", JSONB, nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.PrimaryKeyConstraint("account_id", "scope"),
)
