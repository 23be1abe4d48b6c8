"""The PostgreSQL migrations end at the schema the SQLite ones build, with the same rules.

One throwaway server for the module (propcare_postgres.testing.TemporaryServer). The
migrations run as the storage runs them: each file whole, in its own transaction. The SQLite
side is built by propcare's own ``migrate`` on ``:memory:`` and read back through PRAGMAs;
``schema_version`` is left out of the comparison because SQLite's ``migrate()`` creates it
in Python, outside the migration files (and the PostgreSQL files must not create it either).
"""

from __future__ import annotations

import contextlib
import re
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from propcare_postgres.testing import TemporaryServer, require_postgres
from psycopg import sql

from propcare.storage import sqlite as propcare_sqlite
from propcare.storage.migrate import Migration, migrations
from propcare.storage.sqlite_values import ts

require_postgres()

# The column types chosen where SQLite stores text (see the migrations' comments): aware
# datetimes written with ts() are timestamptz, dates written as ISO days are date; every
# other TEXT column stays text.
TIMESTAMPTZ = {
    "outbox": {"created_at"},
    "deliveries": {"next_attempt_at", "lease_until", "delivered_at"},
    "tickets": {
        "opened_at", "responded_at", "arrived_at", "resolved_at", "closed_at", "cancelled_at",
        "callback_at", "response_due", "arrival_due", "resolution_due", "callback_due",
    },
    "ticket_events": {"at"},
    "ticket_charges": {"at"},
    "sla_alerts": {"at"},
    "outages": {"starts_at", "ends_at", "announced_at"},
    "journal_entries": {"at"},
    "postings": {"at"},
    "receipts": {"issued_at", "voided_at"},
    "payment_notices": {"paid_at"},
    "payment_refunds": {"at"},
    "payment_anomalies": {"at"},
    "payment_orders": {"created_at"},
    "deposits": {"collected_at", "inspected_at", "refunded_at"},
    "dunning_campaigns": {"started_at"},
    "dunning_attempts": {"at"},
    "compensations": {"at"},
    "commission_plans": {"created_at"},
    "commission_settlements": {"settled_at"},
    "commission_statements": {"settled_at"},
    "appraisal_scorecards": {"created_at"},
    "appraisal_inputs": {"entered_at"},
    "appraisal_cycles": {"closed_at"},
    "vendor_deductions": {"recorded_at"},
    "role_grants": {"at"},
    "contact_reveals": {"at"},
}  # fmt: skip
DATES = {
    "units": {"handover_date"},
    "ownerships": {"start_date", "end_date"},
    "staff": {"active_from", "active_to"},
    "fee_assignments": {"start_date", "end_date"},
    "bills": {"due_date"},
    "collector_assignments": {"start_date", "end_date"},
    "dunning_attempts": {"promised_date"},
    "commission_plans": {"effective_from"},
    "commission_splits": {"start_date", "end_date"},
    "appraisal_scorecards": {"effective_from"},
}
# SQLite rowid aliases whose value is always another table's id: plain keys, not generated.
NOT_GENERATED = {("billed_ticket_charges", "charge_id"), ("late_fee_terms", "estate_id")}

T = "'2026-11-01T00:00:00.000000+00:00'"
# Rows for the behaviour checks, in SQL both databases read the same way.
SEED = f"""
INSERT INTO estates (id, name, timezone) VALUES (1, '翠苑小区', 'Asia/Shanghai');
INSERT INTO buildings (id, estate_id, name) VALUES (1, 1, '1栋');
INSERT INTO units (id, estate_id, building_id, number, floor_area, use, handover_date)
    VALUES (1, 1, 1, '101', '88.50', 'residential', '2020-01-01');
INSERT INTO owners (id, estate_id, name) VALUES (1, 1, '张三');
INSERT INTO ownerships (id, estate_id, unit_id, owner_id, start_date)
    VALUES (1, 1, 1, 1, '2020-01-01');
INSERT INTO staff (id, estate_id, name, roles, active_from)
    VALUES (1, 1, '李四', '["collector"]', '2020-01-01');
INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor)
    VALUES (1, 1, 'bill', {T}, 'k1', 'test');
INSERT INTO postings (id, entry_id, estate_id, account, unit_id, fee_item, period, amount_fen, at)
    VALUES (1, 1, 1, 'receivable', 1, 'mgmt', '2026-11', 5000, {T}),
           (2, 1, 1, 'revenue', NULL, NULL, NULL, -5000, {T});
INSERT INTO payment_notices (id, estate_id, provider, provider_txn_id, amount_fen, paid_at,
    entry_id, status) VALUES (1, 1, 'wechat', 'tx1', 5000, {T}, 1, 'posted');
INSERT INTO compensations (id, estate_id, unit_id, entry_id, amount_fen, reason,
    approver_staff_id, actor, at) VALUES (1, 1, 1, 1, 100, '漏水', 1, 'test', {T});
INSERT INTO commission_plans (id, estate_id, name, version, effective_from, kind, params,
    staff_id, created_at, actor) VALUES (1, 1, 'p', 1, '2026-01-01', 'flat', '{{}}', 1, {T}, 't');
INSERT INTO commission_settlements (estate_id, period, settled_at, actor, uncommissioned)
    VALUES (1, '2026-10', {T}, 'test', '{{}}');
INSERT INTO commission_statements (id, estate_id, staff_id, period, sequence, plan_id,
    plan_name, plan_version, total_fen, lines, inputs, settled_at, actor)
    VALUES (1, 1, 1, '2026-10', 0, 1, 'p', 1, 0, '[]', '{{}}', {T}, 'test');
INSERT INTO appraisal_inputs (id, estate_id, period, subject_kind, subject_id, kind, value,
    entered_by, entered_at) VALUES (1, 1, '2026-10', 'staff', 1, 'training', '90', 't', {T});
INSERT INTO appraisal_cycles (estate_id, period, closed_at, closed_by, calibration)
    VALUES (1, '2026-10', {T}, 'test', '{{}}');
INSERT INTO appraisal_results (id, estate_id, period, subject_kind, subject_id, body)
    VALUES (1, 1, '2026-10', 'staff', 1, '{{}}');
INSERT INTO tickets (id, estate_id, category, channel, priority, status, unit_id,
    first_contact_staff_id, opened_at, closed_at, needs_callback, response_due, policy,
    last_seq, state)
    VALUES (1, 1, 'home_repair', 'phone', 'normal', 'closed', 1, 1, {T}, {T}, 1, {T}, 'repair',
    2, '{{}}');
INSERT INTO ticket_events (ticket_id, seq, action, at, actor, data)
    VALUES (1, 1, 'open', {T}, 'test', '{{}}'), (1, 2, 'charge', {T}, 'test', '{{}}');
INSERT INTO ticket_charges (id, ticket_id, estate_id, unit_id, seq, item, quantity,
    unit_price_fen, amount_fen, at) VALUES (1, 1, 1, 1, 2, '阀门', '1', 100, 100, {T});
INSERT INTO sla_alerts (ticket_id, target, level, at) VALUES (1, 'response', 'warning', {T});
INSERT INTO role_grants (id, estate_id, staff_id, added, removed, actor, actor_roles, at)
    VALUES (1, 1, 1, '["collector"]', '[]', 'system', '["admin"]', {T});
INSERT INTO contact_reveals (id, estate_id, owner_id, ticket_id, purpose, actor, actor_roles, at)
    VALUES (1, 1, 1, 1, 'callback', '李四', '["front_desk"]', {T});
"""

# A trigger refuses every UPDATE or DELETE of its table, or (WHEN ...) only those that break
# a rule: the tickets rows of migration 0019.
_SQLITE_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) BEFORE (UPDATE|DELETE) ON (\w+)\s+"
    r"(?:(WHEN) .*?\s+)?BEGIN SELECT RAISE\(ABORT, '([^']*)'\); END",
    re.IGNORECASE | re.DOTALL,
)


# --- fixtures -------------------------------------------------------------------------


def pg_migrations() -> list[Migration]:
    return migrations("migrations", package="propcare_postgres")


def apply_all(url: str) -> None:
    """Each file whole, in its own transaction: how the storage is to run them."""
    with psycopg.connect(url) as conn:
        for step in pg_migrations():
            with conn.transaction():
                conn.execute(step.sql.encode())


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as pg:
        yield pg


@pytest.fixture(scope="module")
def pg(server: TemporaryServer) -> Iterator[psycopg.Connection[Any]]:
    url = server.create_database("schema_test")
    apply_all(url)
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(SEED.encode())
            # SEED gives ids, as the copy command does; an identity does not move past a
            # given value, so its sequence is set past the largest id afterwards.
            for table, column in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND is_identity = 'YES'"
            ).fetchall():
                conn.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, {c}), "
                        "COALESCE(MAX({col}), 0) + 1, false) FROM {table}"
                    ).format(
                        t=table,
                        c=column,
                        col=sql.Identifier(column),
                        table=sql.Identifier(table),
                    )
                )
        yield conn


@pytest.fixture(scope="module")
def lite() -> Iterator[sqlite3.Connection]:
    conn = propcare_sqlite.connect(":memory:")
    propcare_sqlite.migrate(conn)
    conn.executescript(SEED)
    yield conn
    conn.close()


def sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name <> 'schema_version' ORDER BY name"
    )
    return [r[0] for r in rows]


def sqlite_columns(conn: sqlite3.Connection, table: str) -> list[sqlite3.Row]:
    return list(conn.execute(f"PRAGMA table_info({table})"))


def pg_columns(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT column_name, data_type, is_nullable, column_default, is_identity, "
        "identity_generation FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()


def sqlite_outcome(conn: sqlite3.Connection, statement: str) -> str | None:
    """The constraint message SQLite refuses ``statement`` with (None: accepted); rolled back."""
    conn.execute("BEGIN")
    try:
        conn.execute(statement)
    except sqlite3.IntegrityError as exc:
        return str(exc)
    finally:
        conn.execute("ROLLBACK")
    return None


def pg_error(conn: psycopg.Connection[Any], statement: str) -> psycopg.Error | None:
    """The error PostgreSQL refuses ``statement`` with (None: accepted); rolled back."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement.encode())
    except psycopg.Error as exc:
        return exc
    return None


# --- files -------------------------------------------------------------------------------


def test_files_have_the_sqlite_numbers_and_names() -> None:
    ours = [(m.version, m.name) for m in pg_migrations()]
    theirs = [(m.version, m.name) for m in migrations("sqlite")]
    assert ours == theirs
    assert len(ours) == 24


def test_files_do_not_record_their_version() -> None:
    # The runner records each version with its file, as SQLite's migrate() does.
    for step in pg_migrations():
        assert "schema_version" not in step.sql, step.name


# --- tables and columns --------------------------------------------------------------------


def test_same_tables(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    rows = pg.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "ORDER BY table_name"
    )
    assert sorted(r[0] for r in rows) == sqlite_tables(lite)


def test_same_columns_in_the_same_order(
    pg: psycopg.Connection[Any], lite: sqlite3.Connection
) -> None:
    for table in sqlite_tables(lite):
        theirs = [c["name"] for c in sqlite_columns(lite, table)]
        assert [c[0] for c in pg_columns(pg, table)] == theirs, table


def test_column_types(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    """INTEGER (ids, fen, counts, 0/1 flags) is bigint; TEXT is timestamptz, date or text."""
    seen_ts: dict[str, set[str]] = {}
    seen_dates: dict[str, set[str]] = {}
    for table in sqlite_tables(lite):
        types = {c[0]: c[1] for c in pg_columns(pg, table)}
        for col in sqlite_columns(lite, table):
            name, declared, got = col["name"], col["type"], types[col["name"]]
            if declared == "INTEGER":
                assert got == "bigint", (table, name)
                continue
            assert declared == "TEXT", (table, name, declared)
            if name in TIMESTAMPTZ.get(table, ()):
                assert got == "timestamp with time zone", (table, name)
                seen_ts.setdefault(table, set()).add(name)
            elif name in DATES.get(table, ()):
                assert got == "date", (table, name)
                seen_dates.setdefault(table, set()).add(name)
            else:
                assert got == "text", (table, name)
    # Every column the lists name exists (a renamed column would otherwise pass silently).
    assert seen_ts == TIMESTAMPTZ
    assert seen_dates == DATES


def test_money_and_ids_are_64_bit(pg: psycopg.Connection[Any]) -> None:
    rows = pg.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND (column_name LIKE '%fen' OR column_name = 'id' "
        "OR column_name LIKE '%\\_id')"
    ).fetchall()
    assert len(rows) > 100
    # The only text ids are the providers' and gateways' own numbers.
    assert {(t, c) for t, c, kind in rows if kind != "bigint"} == {
        ("payment_notices", "order_id"),
        ("payment_orders", "order_id"),
        ("payment_notices", "provider_txn_id"),
        ("payment_anomalies", "provider_txn_id"),
        ("payment_refunds", "provider_refund_id"),
    }
    assert all(kind == "bigint" for _, c, kind in rows if c.endswith("fen"))


def test_nullability_and_defaults(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    for table in sqlite_tables(lite):
        ours = {c[0]: c for c in pg_columns(pg, table)}
        for col in sqlite_columns(lite, table):
            name = col["name"]
            _, _, nullable, default, identity, _ = ours[name]
            # SQLite lets a non-INTEGER primary key column hold NULL (a legacy quirk that
            # the code never uses); PostgreSQL's keys are NOT NULL.
            assert (nullable == "NO") == bool(col["notnull"] or col["pk"]), (table, name)
            if identity == "YES":
                assert col["dflt_value"] is None, (table, name)
                continue
            normal = None if default is None else re.sub(r"::text$", "", default)
            assert normal == col["dflt_value"], (table, name)


def test_rowid_keys_are_identity_by_default(
    pg: psycopg.Connection[Any], lite: sqlite3.Connection
) -> None:
    """An SQLite INTEGER PRIMARY KEY numbers new rows and takes given ones (the copy
    command gives them): GENERATED BY DEFAULT AS IDENTITY does both."""
    for table in sqlite_tables(lite):
        cols = sqlite_columns(lite, table)
        keys = [c for c in cols if c["pk"]]
        ours = {c[0]: c for c in pg_columns(pg, table)}
        identities = {name for name, c in ours.items() if c[4] == "YES"}
        rowid_alias = len(keys) == 1 and keys[0]["type"] == "INTEGER"
        if rowid_alias and (table, keys[0]["name"]) not in NOT_GENERATED:
            assert identities == {keys[0]["name"]}, table
            assert ours[keys[0]["name"]][5] == "BY DEFAULT", table
        else:
            assert identities == set(), table


# --- keys, indexes, constraints -------------------------------------------------------------

# An index's columns in order; an expression (0 in indkey) as NULL, as SQLite lists it.
_PG_INDEXES = """
SELECT i.relname, t.relname, x.indisunique, x.indpred IS NOT NULL,
       array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(num, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.num
             ORDER BY k.ord)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relnamespace = 'public'::regnamespace
"""


def test_every_sqlite_index_exists(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    named = lite.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    assert len(named) >= 30
    in_pg = {r[0]: r[1] for r in pg.execute("SELECT indexname, tablename FROM pg_indexes")}
    details = {r[0]: r[1:] for r in pg.execute(_PG_INDEXES)}
    for name, table in named:
        assert in_pg.get(name) == table, name
        (_, unique, origin, partial) = next(
            r[1:] for r in lite.execute(f"PRAGMA index_list({table})") if r[1] == name
        )
        columns = [r[2] for r in lite.execute(f"PRAGMA index_info({name})")]
        assert origin == "c"
        assert details[name] == (table, bool(unique), bool(partial), columns), name


def test_same_unique_keys(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    """Primary keys and UNIQUE constraints: the same column lists per table."""
    ours: dict[str, set[tuple[str, ...]]] = {}
    for _, table, unique, partial, columns in pg.execute(_PG_INDEXES):
        if unique and not partial:
            ours.setdefault(table, set()).add(tuple(columns))
    for table in sqlite_tables(lite):
        theirs: set[tuple[str, ...]] = set()
        keys = sorted((c["pk"], c["name"]) for c in sqlite_columns(lite, table) if c["pk"])
        theirs.add(tuple(name for _, name in keys))
        for _, name, unique, _, partial in lite.execute(f"PRAGMA index_list({table})"):
            if unique and not partial:
                theirs.add(tuple(r[2] for r in lite.execute(f"PRAGMA index_info({name})")))
        assert ours.get(table, set()) == theirs, table


def test_same_foreign_keys(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    ours = {
        (r[0], tuple(r[1]), r[2], tuple(r[3]))
        for r in pg.execute(
            "SELECT c.conrelid::regclass::text, "
            "array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, ord) "
            "  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num "
            "  ORDER BY k.ord), "
            "c.confrelid::regclass::text, "
            "array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, ord) "
            "  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num "
            "  ORDER BY k.ord) "
            "FROM pg_constraint c WHERE c.contype = 'f' "
            "AND c.connamespace = 'public'::regnamespace"
        )
    }
    theirs: set[tuple[str, tuple[str, ...], str, tuple[str, ...]]] = set()
    for table in sqlite_tables(lite):
        grouped: dict[int, list[sqlite3.Row]] = {}
        for r in lite.execute(f"PRAGMA foreign_key_list({table})"):
            grouped.setdefault(r["id"], []).append(r)
        for rows in grouped.values():
            rows.sort(key=lambda r: r["seq"])
            theirs.add(
                (
                    table,
                    tuple(r["from"] for r in rows),
                    rows[0]["table"],
                    tuple(r["to"] for r in rows),
                )
            )
    assert len(theirs) > 80
    assert ours == theirs


def test_same_number_of_checks(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    counts = dict(
        pg.execute(
            "SELECT conrelid::regclass::text, count(*) FROM pg_constraint WHERE contype = 'c' "
            "AND connamespace = 'public'::regnamespace GROUP BY 1"
        ).fetchall()
    )
    for table, ddl in lite.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ):
        assert counts.get(table, 0) == len(re.findall(r"\bCHECK\s*\(", ddl)), table


# The same statement on both databases, after SEED: SQLite and PostgreSQL agree on refusing
# it (with a class 23 SQLSTATE in PostgreSQL) or accepting it.
CASES = [
    (f"INSERT INTO postings (entry_id, estate_id, account, amount_fen, at) "
     f"VALUES (1, 1, 'cash', 0, {T})", False),
    (f"INSERT INTO outbox (kind, topic, payload, idem_key, created_at) "
     f"VALUES ('mail', 't', '{{}}', 'o1', {T})", False),
    (f"INSERT INTO outbox (kind, topic, payload, idem_key, created_at) "
     f"VALUES ('event', 't', '{{}}', 'o1', {T})", True),
    ("INSERT INTO collector_assignments (estate_id, staff_id, start_date) "
     "VALUES (1, 1, '2026-01-01')", False),
    ("INSERT INTO collector_assignments (estate_id, staff_id, building_id, unit_id, start_date) "
     "VALUES (1, 1, 1, 1, '2026-01-01')", False),
    ("INSERT INTO collector_assignments (estate_id, staff_id, unit_id, start_date) "
     "VALUES (1, 1, 1, '2026-01-01')", True),
    (f"INSERT INTO commission_plans (estate_id, name, version, effective_from, kind, params, "
     f"staff_id, role, created_at, actor) VALUES (1, 'q', 1, '2026-01-01', 'flat', '{{}}', 1, "
     f"'collector', {T}, 't')", False),
    (f"INSERT INTO commission_plans (estate_id, name, version, effective_from, kind, params, "
     f"role, created_at, actor) VALUES (1, 'q', 1, '2026-01-01', 'flat', '{{}}', 'collector', "
     f"{T}, 't')", True),
    (f"INSERT INTO commission_plans (estate_id, name, version, effective_from, kind, params, "
     f"role, created_at, actor) VALUES (1, 'p', 1, '2026-01-01', 'flat', '{{}}', 'collector', "
     f"{T}, 't')", False),
    ("INSERT INTO commission_targets (estate_id, staff_id, period, amount_fen) "
     "VALUES (1, 1, '2026-11', 0)", False),
    ("INSERT INTO commission_targets (estate_id, staff_id, period, households) "
     "VALUES (1, 1, '2026-11', 30)", True),
    (f"INSERT INTO payment_refunds (payment_id, entry_id, amount_fen, reason, actor, at, status) "
     f"VALUES (1, 1, 10, 'r', 'a', {T}, 'bogus')", False),
    (f"INSERT INTO payment_refunds (payment_id, entry_id, amount_fen, reason, actor, at, status) "
     f"VALUES (1, 1, 10, 'r', 'a', {T}, 'requested')", True),
    (f"INSERT INTO payment_notices (estate_id, provider, provider_txn_id, amount_fen, paid_at, "
     f"entry_id, status) VALUES (1, 'wechat', 'tx1', 100, {T}, 1, 'posted')", False),
    (f"INSERT INTO payment_notices (estate_id, provider, provider_txn_id, amount_fen, paid_at, "
     f"entry_id, status) VALUES (1, 'wechat', 'tx2', 0, {T}, 1, 'posted')", False),
    (f"INSERT INTO appraisal_inputs (estate_id, period, subject_kind, subject_id, kind, value, "
     f"entered_by, entered_at) VALUES (1, '2026-11', 'staff', 1, 'gossip', '1', 't', {T})", False),
    ("INSERT INTO ownerships (estate_id, unit_id, owner_id, start_date) "
     "VALUES (1, 1, 1, '2021-01-01')", False),
    ("INSERT INTO ownerships (estate_id, unit_id, owner_id, start_date, end_date) "
     "VALUES (1, 1, 1, '2019-01-01', '2020-01-01')", True),
    ("INSERT INTO buildings (estate_id, name) VALUES (99, '2栋')", False),
    ("INSERT INTO buildings (estate_id, name) VALUES (1, '1栋')", False),
    ("INSERT INTO estates (name) VALUES ('no zone')", False),
    (f"INSERT INTO journal_entries (estate_id, kind, at, idem_key, actor) "
     f"VALUES (1, 'bill', {T}, 'k1', 'a')", False),
    (f"INSERT INTO journal_entries (estate_id, kind, at, idem_key, actor, reverses) "
     f"VALUES (1, 'reversal', {T}, 'r1', 'a', 1), (1, 'reversal', {T}, 'r2', 'a', 1)", False),
    (f"INSERT INTO journal_entries (estate_id, kind, at, idem_key, actor, reverses) "
     f"VALUES (1, 'reversal', {T}, 'r1', 'a', 1)", True),
    ("INSERT INTO payment_refunds (payment_id, entry_id, amount_fen, reason, actor, at) "
     f"VALUES (1, 1, 5, 'r', 'a', {T}), (1, 1, 5, 'r', 'a', {T})", False),
    # One anomaly per distinct notice (0022): a keyed re-send is refused, or skipped by ON
    # CONFLICT DO NOTHING; rows without a key (those before 0022) may repeat.
    (f"INSERT INTO payment_anomalies (estate_id, provider, provider_txn_id, kind, detail, at, "
     f"notice_key) VALUES (1, 'wechat', 'tx1', 'amount_mismatch', 'd', {T}, 'k1'), "
     f"(1, 'wechat', 'tx1', 'amount_mismatch', 'd', {T}, 'k1')", False),
    (f"INSERT INTO payment_anomalies (estate_id, provider, provider_txn_id, kind, detail, at, "
     f"notice_key) VALUES (1, 'wechat', 'tx1', 'amount_mismatch', 'd', {T}, 'k1'), "
     f"(1, 'wechat', 'tx1', 'amount_mismatch', 'd', {T}, 'k1') ON CONFLICT DO NOTHING", True),
    (f"INSERT INTO payment_anomalies (estate_id, provider, provider_txn_id, kind, detail, at) "
     f"VALUES (1, 'wechat', 'tx1', 'amount_mismatch', 'd', {T}), "
     f"(1, 'wechat', 'tx1', 'amount_mismatch', 'd', {T})", True),
    ("UPDATE receipt_counters SET last_number = last_number + 1", True),
    ("UPDATE ownerships SET end_date = '2026-01-01' WHERE id = 1", True),
    ("DELETE FROM owners WHERE id = 1", False),
    (f"INSERT INTO contact_reveals (estate_id, owner_id, purpose, actor, actor_roles, at) "
     f"VALUES (1, 1, 'callback', 'a', '[]', {T})", False),  # a callback names its ticket
    (f"INSERT INTO contact_reveals (estate_id, purpose, actor, actor_roles, at) "
     f"VALUES (1, 'archive', 'a', '[]', {T})", True),
    (f"INSERT INTO contact_reveals (estate_id, purpose, actor, actor_roles, at) "
     f"VALUES (1, 'roster', 'a', '[]', {T})", True),
    (f"INSERT INTO contact_reveals (estate_id, owner_id, purpose, actor, actor_roles, at) "
     f"VALUES (1, 1, 'archive', 'a', '[]', {T})", False),  # an export names no one owner
    (f"INSERT INTO contact_reveals (estate_id, purpose, actor, actor_roles, at) "
     f"VALUES (1, 'gossip', 'a', '[]', {T})", False),
]  # fmt: skip


@pytest.mark.parametrize(("statement", "accepted"), CASES)
def test_constraints_refuse_what_sqlite_refuses(
    pg: psycopg.Connection[Any], lite: sqlite3.Connection, statement: str, accepted: bool
) -> None:
    assert (sqlite_outcome(lite, statement) is None) == accepted
    error = pg_error(pg, statement)
    if accepted:
        assert error is None
    else:
        assert error is not None
        assert (error.sqlstate or "").startswith("23"), error


# --- append-only tables ----------------------------------------------------------------------


def sqlite_refusals(
    lite: sqlite3.Connection, *, conditional: bool | None = False
) -> list[tuple[str, str, str, str]]:
    """(trigger, UPDATE/DELETE, table, message) of every SQLite trigger that refuses every
    change (``conditional`` False), only some (True), or either (None)."""
    found: list[tuple[str, str, str, str]] = []
    for (ddl,) in lite.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"):
        match = _SQLITE_TRIGGER.search(ddl)
        assert match is not None, f"a trigger this test cannot read: {ddl}"
        trigger, event, table, when, message = match.groups()
        if conditional is None or conditional == bool(when):
            found.append((trigger, event.upper(), table, message))
    assert found
    return found


def test_same_triggers(pg: psycopg.Connection[Any], lite: sqlite3.Connection) -> None:
    refusals = sqlite_refusals(lite, conditional=None)
    protected = {table for _, _, table, _ in refusals}
    assert protected == {
        "journal_entries", "postings", "compensations", "commission_plans",
        "commission_statements", "commission_settlements", "appraisal_inputs",
        "appraisal_results", "appraisal_cycles", "tickets", "ticket_events", "ticket_charges",
        "sla_alerts", "role_grants", "contact_reveals",
    }  # fmt: skip
    rows = pg.execute(
        "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
    ).fetchall()
    ours = {(name, table) for name, table, _ in rows}
    theirs = {(name, table) for name, _, table, _ in refusals}
    assert theirs <= ours
    # The rest refuse TRUNCATE, which skips row triggers: one per protected table.
    extra = [(table, ddl) for name, table, ddl in rows if (name, table) not in theirs]
    assert sorted(table for table, _ in extra) == sorted(protected)
    assert all(" BEFORE TRUNCATE " in ddl for _, ddl in extra)
    for name, table, ddl in rows:
        if (name, table) in theirs:
            assert " FOR EACH ROW " in ddl and " BEFORE " in ddl, ddl


def test_append_only_tables_refuse_update_and_delete(
    pg: psycopg.Connection[Any], lite: sqlite3.Connection
) -> None:
    for trigger, event, table, message in sqlite_refusals(lite):
        # A row trigger fires only for rows: the seed must have one.
        assert pg.execute(f"SELECT count(*) FROM {table}").fetchone() != (0,), table
        first = sqlite_columns(lite, table)[0]["name"]  # ticket_events has no estate_id
        statement = (
            f"UPDATE {table} SET {first} = {first}" if event == "UPDATE" else f"DELETE FROM {table}"
        )
        assert sqlite_outcome(lite, statement) == message, trigger
        error = pg_error(pg, statement)
        assert error is not None, trigger
        assert isinstance(error, psycopg.IntegrityError), trigger
        assert error.sqlstate == "23000", trigger
        assert error.diag.message_primary == message, trigger


def test_append_only_tables_refuse_truncate(
    pg: psycopg.Connection[Any], lite: sqlite3.Connection
) -> None:
    deleting = {table: msg for _, event, table, msg in sqlite_refusals(lite) if event == "DELETE"}
    for table, message in deleting.items():
        error = pg_error(pg, f"TRUNCATE {table} CASCADE")
        assert error is not None, table
        assert error.sqlstate == "23000", table
        assert error.diag.message_primary == message, table
    # Other tables can still be emptied.
    assert pg_error(pg, "TRUNCATE outages") is None


# A ticket row changes only as the code changes it (migration 0019): each statement on the
# seeded closed ticket, and the trigger that refuses it (None: accepted).
T2 = "'2026-11-02T00:00:00.000000+00:00'"
TICKET_UPDATES = [
    ("UPDATE tickets SET channel = 'visit'", "tickets_intake_fixed"),
    ("UPDATE tickets SET opened_at = " + T2, "tickets_intake_fixed"),
    ("UPDATE tickets SET last_seq = 3", "tickets_last_seq_is_latest_event"),
    ("UPDATE tickets SET last_seq = 1", "tickets_last_seq_is_latest_event"),
    ("UPDATE tickets SET status = 'received'", "tickets_state_needs_an_event"),
    ("UPDATE tickets SET state = '[]'", "tickets_state_needs_an_event"),
    ("UPDATE tickets SET response_due = " + T2, "tickets_closed_deadlines_kept"),
    ("UPDATE tickets SET policy = 'other'", "tickets_closed_deadlines_kept"),
    ("UPDATE tickets SET response_due = NULL", None),  # cleared: recompute fills it in
    ("UPDATE tickets SET arrival_due = " + T2, None),  # missing: filled in
    ("UPDATE tickets SET estate_id = estate_id", None),
]


@pytest.mark.parametrize(("statement", "trigger"), TICKET_UPDATES)
def test_ticket_rows_change_only_as_the_code_changes_them(
    pg: psycopg.Connection[Any], lite: sqlite3.Connection, statement: str, trigger: str | None
) -> None:
    messages = {name: msg for name, _, _, msg in sqlite_refusals(lite, conditional=True)}
    wanted = None if trigger is None else messages[trigger]
    assert sqlite_outcome(lite, statement) == wanted
    error = pg_error(pg, statement)
    if wanted is None:
        assert error is None, error
    else:
        assert isinstance(error, psycopg.IntegrityError), statement
        assert error.sqlstate == "23000", statement
        assert error.diag.message_primary == wanted, statement


# --- values ---------------------------------------------------------------------------------

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
_moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=_zones
)


@_SETTINGS
@given(fen=st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1).filter(bool))
def test_fen_beyond_32_bits_round_trip(pg: psycopg.Connection[Any], fen: int) -> None:
    with pg.transaction(force_rollback=True):
        row = pg.execute(
            "INSERT INTO postings (entry_id, estate_id, account, amount_fen, at) "
            "VALUES (1, 1, 'cash', %s, %s) RETURNING amount_fen",
            (fen, ts(datetime(2026, 11, 1, tzinfo=UTC))),
        ).fetchone()
    assert row == (fen,)


@_SETTINGS
@given(moments=st.lists(_moments, min_size=1, max_size=8))
def test_ts_text_is_the_same_instant_in_the_same_order(
    pg: psycopg.Connection[Any], moments: list[datetime]
) -> None:
    """What the SQLite backend writes (ts text) is read as the same instant, and timestamptz
    sorts as that fixed-width text sorts, which the SQLite queries rely on."""
    with pg.transaction(force_rollback=True):
        for i, moment in enumerate(moments):
            pg.execute(
                "INSERT INTO outbox (kind, topic, payload, idem_key, created_at) "
                "VALUES ('event', 't', '{}', %s, %s)",
                (f"h{i}", ts(moment)),
            )
        rows = pg.execute(
            "SELECT idem_key, created_at FROM outbox WHERE topic = 't' "
            "ORDER BY created_at, idem_key"
        ).fetchall()
    assert {key: at for key, at in rows} == {f"h{i}": m for i, m in enumerate(moments)}
    by_text = sorted((ts(m), f"h{i}") for i, m in enumerate(moments))
    assert [key for key, _ in rows] == [key for _, key in by_text]


@_SETTINGS
@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)))
def test_iso_day_text_is_the_same_date(pg: psycopg.Connection[Any], day: date) -> None:
    with pg.transaction(force_rollback=True):
        row = pg.execute(
            "UPDATE ownerships SET end_date = %s WHERE id = 1 RETURNING end_date",
            (day.isoformat(),),
        ).fetchone()
    assert row == (day,)


# --- the server itself ----------------------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("body_raises", [False, True])
def test_server_stops_and_goes_away(body_raises: bool) -> None:
    seen: dict[str, Any] = {}

    class Boom(Exception):
        pass

    with pytest.raises(Boom) if body_raises else contextlib.nullcontext(), TemporaryServer() as pg:
        seen.update(port=pg.port, directory=pg.directory)
        assert pg.url == f"postgresql://test@127.0.0.1:{pg.port}/postgres"
        assert _port_open(pg.port)
        assert pg.directory.is_dir()
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            version = conn.execute("SHOW server_version_num").fetchone()
            assert version is not None and int(version[0]) // 10000 == 15
        if body_raises:
            raise Boom
    assert not _port_open(seen["port"])
    assert not Path(seen["directory"]).exists()


def test_create_database_and_terminate_backends(server: TemporaryServer) -> None:
    url = server.create_database("两个 words")
    assert url == f"postgresql://test@127.0.0.1:{server.port}/%E4%B8%A4%E4%B8%AA%20words"
    victim = psycopg.connect(url, autocommit=True)
    other = psycopg.connect(server.url, autocommit=True)  # another database: left alone
    try:
        assert victim.execute("SELECT current_database()").fetchone() == ("两个 words",)
        assert server.terminate_backends("两个 words") == 1
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert other.execute("SELECT 1").fetchone() == (1,)
        assert server.terminate_backends("两个 words") == 0
    finally:
        victim.close()
        other.close()


def test_missing_binaries_name_the_package(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="postgresql-15"):
        TemporaryServer(bindir=tmp_path)


def test_not_running_outside_the_with_block() -> None:
    server = TemporaryServer()
    with pytest.raises(RuntimeError, match="with block"):
        _ = server.url
