"""The journal: balanced by construction, append-only in the database, gapless receipts."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propcare import Actor, Propcare
from propcare.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from propcare.ledger.journal import JournalEntry, Posting, reversal

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SH)
ADMIN = Actor.system()


def bill(estate: int, unit: int, fen: int, key: str, period: str = "2026-11") -> JournalEntry:
    return JournalEntry(
        estate_id=estate,
        kind="bill",
        at=T0,
        key=key,
        actor="system",
        postings=(
            Posting("receivable", fen, unit, "property_fee", period),
            Posting("revenue", -fen, sub="property_fee"),
        ),
    )


@given(st.lists(st.integers(-(10**9), 10**9).filter(bool), min_size=1, max_size=8))
def test_an_entry_balances_or_cannot_be_built(amounts: list[int]) -> None:
    postings = [Posting("cash", a) for a in amounts]
    total = sum(amounts)
    if total != 0:
        postings.append(Posting("suspense", -total))
    entry = JournalEntry(1, "suspense", T0, "k", "x", postings)
    assert sum(p.amount_fen for p in entry.postings) == 0
    with pytest.raises(ValidationError, match="balance"):
        JournalEntry(1, "suspense", T0, "k", "x", [*postings, Posting("cash", 1)])


@given(st.integers(1, 10**9))
def test_a_reversal_exactly_undoes_its_entry(fen: int) -> None:
    entry = bill(1, 2, fen, "b")
    undo = reversal(entry, 7, at=T0 + timedelta(days=3), actor="出纳", reason="重复开单")
    assert undo.reverses == 7 and undo.at == T0 + timedelta(days=3)
    assert [p.amount_fen for p in undo.postings] == [-p.amount_fen for p in entry.postings]
    with pytest.raises(ValidationError, match="not reversed"):
        reversal(undo, 8, at=T0, actor="x", reason="y")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Posting("cash", 0), "amount_fen"),
        (lambda: Posting("cash", 1.5), "amount_fen"),  # type: ignore[arg-type]
        (lambda: Posting("receivable", 100, None, "property_fee", "2026-11"), "posting"),
        (lambda: Posting("receivable", 100, 1, "property_fee", "2026-13"), "period"),
        (lambda: Posting("owner_credit", -100), "posting"),
        (lambda: Posting("petty_cash", 100), "account"),
        (lambda: JournalEntry(1, "bill", datetime(2026, 1, 1), "k", "x", ()), "at"),
        (lambda: JournalEntry(1, "bill", T0, "k", "x", (Posting("cash", 5),)), "postings"),
    ],
)
def test_bad_postings_and_entries_name_the_field(build: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()  # type: ignore[operator]
    assert info.value.field == field


@pytest.fixture
def ledger() -> object:
    app = Propcare.open("sqlite://:memory:", load_entrypoints=False)
    estate = app.estates.create(ADMIN, "翠苑")
    building = app.estates.add_building(ADMIN, estate.id, "1栋")
    unit = app.estates.add_unit(ADMIN, building.id, "101", Decimal("88"))
    yield app, estate.id, unit.id
    app.close()


def test_posting_is_idempotent_by_key_and_refuses_a_changed_entry(ledger: object) -> None:
    app, estate, unit = ledger  # type: ignore[misc]
    with app.unit_of_work() as uow:
        first, new = app.ledger.post_in(uow, bill(estate, unit, 26850, "bill-101-2026-11"))
        again, new_again = app.ledger.post_in(uow, bill(estate, unit, 26850, "bill-101-2026-11"))
        uow.commit()
    assert (first, new, new_again) == (again, True, False)
    with pytest.raises(Conflict, match="different entry"), app.unit_of_work() as uow:
        app.ledger.post_in(uow, bill(estate, unit, 99, "bill-101-2026-11"))
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("268.50")
    assert app.ledger.open_receivables(ADMIN, unit) == [
        ("property_fee", "2026-11", Decimal("268.50"))
    ]


def test_the_database_refuses_to_change_or_delete_money(ledger: object) -> None:
    app, estate, unit = ledger  # type: ignore[misc]
    with app.unit_of_work() as uow:
        app.ledger.post_in(uow, bill(estate, unit, 100, "b1"))
        uow.commit()
    conn = app.storage.conn
    for sql in (
        "UPDATE postings SET amount_fen = 1",
        "DELETE FROM postings",
        "UPDATE journal_entries SET memo = 'x'",
        "DELETE FROM journal_entries",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)


def test_a_reversal_is_posted_once_and_never_reversed(ledger: object) -> None:
    app, estate, unit = ledger  # type: ignore[misc]
    with app.unit_of_work() as uow:
        entry_id, _ = app.ledger.post_in(uow, bill(estate, unit, 5000, "b2"))
        uow.commit()
    undo = app.ledger.reverse(ADMIN, entry_id, "开错单")
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("0.00")
    assert app.ledger.entry(ADMIN, undo).reverses == entry_id
    with pytest.raises(InvalidTransition, match="reversed already"):
        app.ledger.reverse(ADMIN, entry_id, "再来一次")
    with pytest.raises(InvalidTransition, match="not reversed"):
        app.ledger.reverse(ADMIN, undo, "撤销撤销")
    with pytest.raises(ValidationError, match="reason"):
        with app.unit_of_work() as uow:
            entry_id2, _ = app.ledger.post_in(uow, bill(estate, unit, 1, "b3"))
            uow.commit()
        app.ledger.reverse(ADMIN, entry_id2, " ")
    clerk = Actor("客服", {"front_desk"}, {estate})
    with pytest.raises(PermissionDenied, match="ledger.reverse"):
        app.ledger.reverse(clerk, entry_id2, "无权")
    # The trial balance is zero, and every account shows as it normally stands.
    balances = app.ledger.trial_balance(ADMIN, estate)
    assert balances == {"receivable": Decimal("0.01"), "revenue:property_fee": Decimal("0.01")}


def test_receipt_numbers_are_gapless_per_estate_and_year_and_voids_keep_theirs(
    ledger: object,
) -> None:
    app, estate, unit = ledger  # type: ignore[misc]
    for i in range(3):
        with app.unit_of_work() as uow:
            entry_id, _ = app.ledger.post_in(uow, bill(estate, unit, 100 + i, f"r{i}"))
            app.ledger.issue_receipt_in(uow, estate, entry_id, T0)
            uow.commit()
    with pytest.raises(RuntimeError), app.unit_of_work() as uow:  # a failed payment
        entry_id, _ = app.ledger.post_in(uow, bill(estate, unit, 999, "lost"))
        app.ledger.issue_receipt_in(uow, estate, entry_id, T0)
        raise RuntimeError("the card was declined after all")
    app.ledger.void_receipt(ADMIN, estate, 2026, 2, "打印错误")
    with app.unit_of_work() as uow:
        entry_id, _ = app.ledger.post_in(uow, bill(estate, unit, 7, "r3"))
        app.ledger.issue_receipt_in(uow, estate, entry_id, T0)
        app.ledger.issue_receipt_in(
            uow,
            estate,
            app.ledger.post_in(uow, bill(estate, unit, 8, "r4"))[0],
            T0 + timedelta(days=60),
        )
        uow.commit()
    receipts = app.ledger.receipts(ADMIN, estate, 2026)
    assert [r.number for r in receipts] == [1, 2, 3, 4]
    assert [r.label for r in app.ledger.receipts(ADMIN, estate, 2027)] == ["2027-000001"]
    assert receipts[1].voided_at is not None and receipts[1].void_reason == "打印错误"
    with pytest.raises(Conflict, match="already void"):
        app.ledger.void_receipt(ADMIN, estate, 2026, 2, "再作废")
