"""actuals' references to people, projects and roles as statement triggers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:45:00

A first sync inserts an actual per key; its three foreign keys cost a check per row and key
(RI_FKey_check_ins: a SELECT ... FOR KEY SHARE of the person, the project and the role),
about a quarter of PostgreSQL's CPU in a 742k-entry first sync, plus the row locks' WAL and
multixacts when two workers insert actuals of the same people. What the keys gave stays, as
for the account key of migration 0006:

- deleting a person or a project (by anyone: other tools share this database) deletes its
  actuals: a statement trigger on people and on projects (`<table>_delete_actuals`);
- deleting a role that actuals still use is refused, as the key's NO ACTION did: a
  statement trigger on roles raising foreign_key_violation (`roles_keep_actuals`); so is
  changing the key (account_id, id) of a person, project or role actuals use
  (`<table>_keep_actuals_keys`);
- no actual is left pointing at a person or project a concurrent transaction deleted: a
  sync holds its account row FOR KEY SHARE while it writes (AccountRepository.hold, every
  message's first statement), and these triggers lock the account rows concerned FOR UPDATE
  before they look at actuals. The two conflict, so a delete waits for a running sync to
  commit and then sees (and deletes) what it wrote; a sync started after the delete waits for
  it and then no longer sees the person or project.

The delete triggers are statement triggers with a transition table: one statement per delete, not
one per deleted row (an account's deletion cascades all its people and projects in one
statement each). The keys were on the partitioned parent when the actuals are
hash-partitioned (0011, DB_HASH_PARTITIONS); dropping or adding them there does it for every
partition, and the triggers are on people, projects and roles, which are never partitioned:
the same statements serve both layouts.

What is not kept: the check on insert. Like time_entries' account_id (0006), an actual's
person, project and role are taken as the writer gives them; the sync writes them under the
account's hold, from what it resolved. An insert naming a person, project or role that does
not exist (one deleted before the sync's transaction began) is no longer refused.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# (column of actuals, referenced table, ON DELETE): the keys this migration replaces, named as
# 0011 named them.
REFERENCES = (
    ("person_id", "people", "CASCADE"),
    ("project_id", "projects", "CASCADE"),
    ("role_id", "roles", None),
)

# Run first by every trigger below: the accounts of the deleted rows, locked FOR UPDATE, in id
# order (two deletes spanning the same accounts then wait for each other instead of
# deadlocking). FOR UPDATE conflicts with the FOR KEY SHARE a sync holds its account by, so
# this waits for running syncs of these accounts to commit; in READ COMMITTED the statements
# after it see what they wrote (each statement of a plpgsql function takes a new snapshot).
# Not so at REPEATABLE READ or SERIALIZABLE: such a delete keeps the snapshot it started with
# and would miss actuals a sync committed while it waited (the keys raised a serialization
# failure there). Delete people and projects at READ COMMITTED, PostgreSQL's default.
# An account no longer visible is being (or was) deleted: its actuals went with it (trigger
# accounts_delete_rows, before its people, projects and roles cascade), so there is nothing
# left to delete or check there, and an account's deletion costs no scan of actuals here.
_LOCK_ACCOUNTS = """
            held := ARRAY(SELECT id FROM accounts WHERE id IN (SELECT account_id FROM gone)
                          ORDER BY id FOR UPDATE);"""


def _delete_actuals(column: str) -> str:
    """What ON DELETE CASCADE did: the deleted rows' actuals go with them."""
    return f"""{_LOCK_ACCOUNTS}
            DELETE FROM actuals AS a USING gone AS g
            WHERE g.account_id = ANY(held) AND a.account_id = g.account_id AND a.{column} = g.id;"""


TRIGGERS = {
    # trigger name: (table, function, body)
    "people_delete_actuals": ("people", "delete_person_actuals", _delete_actuals("person_id")),
    "projects_delete_actuals": ("projects", "delete_project_actuals", _delete_actuals("project_id")),
    # The key had no ON DELETE (NO ACTION): checked once the statement is done, so a statement
    # that deletes a role's actuals too may delete the role; so may this.
    "roles_keep_actuals": (
        "roles",
        "refuse_role_in_actuals",
        f"""{_LOCK_ACCOUNTS}
            SELECT g.account_id, g.id INTO used FROM gone AS g
            WHERE g.account_id = ANY(held)
              AND EXISTS (SELECT FROM actuals AS a WHERE a.account_id = g.account_id AND a.role_id = g.id)
            LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'update or delete on table "roles" violates the reference from table "actuals"'
                    USING ERRCODE = 'foreign_key_violation', TABLE = 'actuals',
                          DETAIL = format('Key (account_id, id)=(%s, %s) is still referenced from table "actuals".',
                                          used.account_id, used.id);
            END IF;""",
    ),
}


# The keys had no ON UPDATE (NO ACTION) either: a person's, project's or role's key cannot change
# while actuals use it. A row trigger, fired only when the key does change (WHEN): people and
# projects are updated by every entities sync, never in their keys.
KEY_CHANGES = {
    # trigger name: (table, column of actuals)
    "people_keep_actuals_keys": ("people", "person_id"),
    "projects_keep_actuals_keys": ("projects", "project_id"),
    "roles_keep_actuals_keys": ("roles", "role_id"),
}
_KEY_CHANGE = """
    CREATE FUNCTION refuse_key_change_in_actuals() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        referenced boolean;
    BEGIN
        PERFORM FROM accounts WHERE id = OLD.account_id FOR UPDATE;  -- as _LOCK_ACCOUNTS
        EXECUTE format('SELECT EXISTS (SELECT FROM actuals WHERE account_id = $1 AND %I = $2)'
                       ' AND NOT EXISTS (SELECT FROM %I WHERE account_id = $1 AND id = $2)',
                       TG_ARGV[0], TG_TABLE_NAME)
            INTO STRICT referenced USING OLD.account_id, OLD.id;
        IF referenced THEN
            RAISE EXCEPTION 'update or delete on table "%" violates the reference from table "actuals"',
                            TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', TABLE = 'actuals',
                      DETAIL = format('Key (account_id, id)=(%s, %s) is still referenced from table "actuals".',
                                      OLD.account_id, OLD.id);
        END IF;
        RETURN NULL;
    END $$
"""


def upgrade() -> None:
    op.execute(
        "ALTER TABLE actuals "
        + ", ".join(f"DROP CONSTRAINT actuals_account_id_{column}_fkey" for column, _t, _d in REFERENCES)
    )
    for name, (table, function, body) in TRIGGERS.items():
        op.execute(
            f"""
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                held bigint[];
                used record;
            BEGIN{body}
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER DELETE ON {table} REFERENCING OLD TABLE AS gone"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    op.execute(_KEY_CHANGE)
    for name, (table, column) in KEY_CHANGES.items():
        op.execute(
            f"CREATE TRIGGER {name} AFTER UPDATE OF account_id, id ON {table} FOR EACH ROW"
            " WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id OR OLD.id IS DISTINCT FROM NEW.id)"
            f" EXECUTE FUNCTION refuse_key_change_in_actuals('{column}')"
        )


def downgrade() -> None:
    for name, (table, _column) in KEY_CHANGES.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION refuse_key_change_in_actuals()")
    for name, (table, function, _body) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
    for column, target, on_delete in REFERENCES:
        action = f" ON DELETE {on_delete}" if on_delete else ""
        op.execute(
            f"ALTER TABLE actuals ADD CONSTRAINT actuals_account_id_{column}_fkey"
            f" FOREIGN KEY (account_id, {column}) REFERENCES {target} (account_id, id){action}"
        )
