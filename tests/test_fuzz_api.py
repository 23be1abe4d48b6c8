"""Hostile arguments to every public service method (issue 15, points 5 and 6).

Every public method of every service (``app.estates`` ... ``app.ticket_stats``), found by
introspection, is called with the valid arguments of tests/test_isolation.py's CALLS (the
table that test keeps complete) in estate A of its world, with one or more arguments
replaced by hostile values: ids out of range or of the wrong type, money beyond the
documented maximum or not a number, naive or far-off datetimes, dates out of range, text
with NUL or 100,000 characters long, wrong types where text is expected, and so on (the
catalogue below, by the kind of each parameter).

Each call must raise :class:`~propcare.errors.ValidationError` (a ``PropcareError``; a
float amount is ``MoneyTypeError``, also a ``TypeError``), or ``ConfigError`` for a name
the configuration lacks (an unknown gateway): checked at the boundary, before the storage
or the transition table is asked anything, so never ``NotFound``, ``InvalidTransition``,
a raw ``TypeError``, ``OverflowError`` or ``decimal.InvalidOperation``. A wrong Python
type is a ValidationError too: a caller catches ``PropcareError`` and has every refusal.
And no table may gain or lose a row, and no message may run past 1,000 characters.

Two sweeps: every hostile value of a parameter's kind, alone, for every parameter of every
method (deterministic: the probe of issue 15, grown), then Hypothesis replacing several
arguments at once, with generated values besides the catalogue's.

Where a value a parameter's kind lists would in fact be acceptable to one method, the
catalogue is wrong, not the method: an empty note is a note, so ``""`` is hostile only
for text that must not be empty, ``None`` only where the parameter is not optional.

What is not fuzzed, and why, is in ``NOT_FUZZED``; a new public method is fuzzed as soon as
it is in CALLS (test_isolation.py fails until it is), and a parameter whose name this
module does not know fails ``test_every_parameter_has_a_kind`` until it is given one.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, Propcare, Recipient, UnitSpec
from propcare.errors import ConfigError, ValidationError
from propcare.ledger.allocation import AsSpecified, ByPriority
from propcare.ledger.arrears import AgingBucket
from propcare.ledger.gateways import PaymentNotice
from propcare.service import Service
from test_isolation import CALLS, T0, build_world

# Methods that take a unit of work or nothing a caller gives: the services call the
# former themselves, inside their own checked calls.
NOT_FUZZED = {
    "tickets.open_in": "takes a unit of work: maintenance plans open tickets through it",
    "ledger.post_in": "takes a unit of work and a JournalEntry built and checked by a service",
    "ledger.issue_receipt_in": "takes a unit of work: payments and bills number receipts",
    "payments.apply_credit_in": "takes a unit of work: a bill run applies credit through it",
    "ledger.release_in": "takes a unit of work: reversals and corrections release through it",
    "notify.queue": "takes a unit of work and a Notification built by a service",
    "collection.quiet_hours": "takes no arguments (reads the configuration)",
    "commission.plan_types": "takes no arguments (the plugins' plan types)",
    "appraisal.metric_names": "takes no arguments (the metric names)",
}

# The fields each ``**changes`` method may change, fuzzed as if they were parameters.
CHANGES = {
    "estates.update": ("name", "timezone"),
    "estates.update_building": ("name",),
    "estates.update_unit": ("number", "floor_area", "use", "handover_date"),
    "owners.update": ("name", "phones", "id_card"),
    "staff.update_team": ("name", "kind", "leader_staff_id"),
    "staff.update": ("name", "roles", "team_id", "active_from", "active_to", "phone"),
    "vendors.update": ("name", "service", "contact_name", "phone"),
}

# --- the hostile catalogue -----------------------------------------------------------------

NUL = "ab\x00cd"
HUGE = "x" * 100_000
FUTURE = datetime(2031, 1, 1, 9, tzinfo=UTC)  # in range, but years ahead of the clock (T0)


class Built:
    """A hostile value that needs the world's records (ids) to be built."""

    def __init__(self, label: str, build: Callable[[dict[str, Any]], Any]) -> None:
        self.label, self.build = label, build

    def __repr__(self) -> str:
        return self.label


RECIPIENT = Recipient("业主", "13812345678")


def _forced(value: Any, **fields: Any) -> Any:
    """A copy of the attrs instance ``value`` with ``fields`` set past its own checks:
    what a plugin, or a program that mutates frozen objects, could hand over."""
    copy = attrs.evolve(value)
    for field, new in fields.items():
        object.__setattr__(copy, field, new)
    return copy


# Wrong types for anything that is not a container.
NOT_A_SCALAR = [object(), b"bytes", {"a": 1}, ["a"]]
TEXT = [*NOT_A_SCALAR, 123, 1.5, NUL, HUGE, " " + NUL]
IDS = [0, -1, 2**63, 2**64, -(2**63), True, False, "1", Decimal(1), 1.0, [1], object(), b"1"]
MONEY = [
    Decimal("1e30"),
    Decimal(10**10 + 1),
    Decimal("1e15"),
    10**17,
    2**63,
    -(2**63),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    1.5,
    float("nan"),
    float("inf"),
    True,
    "abc",
    "1e30",
    "1\x00",
    Decimal("0.001"),
    "0.001",
    Decimal(-1),
    object(),
    [1],
    b"1",
    HUGE,
]
DECIMALS = [  # scores, points, rates: not money, but numbers with limits all the same
    Decimal("1e30"),
    10**30,
    2**63,
    Decimal("NaN"),
    Decimal("Infinity"),
    1.5,
    float("nan"),
    True,
    "abc",
    "1\x00",
    object(),
    [1],
    b"1",
    HUGE,
]
DAYS = [
    date(1, 1, 1),
    date(9999, 12, 31),
    date(1899, 12, 31),
    date(2100, 1, 1),
    datetime(2026, 1, 1, tzinfo=UTC),
    "2026-01-01",
    20260101,
    object(),
    1.5,
]
INSTANTS = [
    datetime(2026, 11, 2, 9),
    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    datetime(1, 1, 2, tzinfo=UTC),
    datetime(2100, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, tzinfo=UTC),
    date(2026, 11, 2),
    "2026-11-02T09:00:00+08:00",
    1_700_000_000,
    object(),
]
ENUMS = ["no-such", "", NUL, 123, HUGE, object(), b"phone", 1.5, ["phone"]]
PERIODS = [
    "2026-13",
    "26-11",
    "2026-1",
    "0000-01",
    "2026-11\x00",
    202611,
    HUGE,
    object(),
    date(2026, 11, 1),
    "",
    "2026-11-01",
]
COUNTS = [-1, 2**63, True, "1", 1.5, Decimal(1), object(), 10**30]
FLAGS = ["no", "yes", "False", 2, object(), 1.5, b"1"]
ID_LISTS = [[0], [2**63], [True], ["1"], "12", 5, [None], object(), {1: 1}]
JUNK_CONTAINER = ["x", 5, 1.5, object(), b"xy", [5], [object()]]

# kind -> its hostile values (None is added for a parameter that is not optional, for the
# kinds in NONE_IS_HOSTILE_UNLESS_OPTIONAL)
KINDS: dict[str, list[Any]] = {
    "actor": [
        None,
        "admin",
        object(),
        {"roles": ["admin"]},
        Actor.system,
        _forced(Actor.system(), name=NUL),
        _forced(Actor.system(), name=HUGE),
        _forced(Actor.system(), name=5),
        _forced(Actor.system(), staff_id=2**63),
    ],
    "id": IDS,
    "ids": ID_LISTS,
    "text": [*TEXT, "x" * 2001],  # free text that may be empty (a note, a comment)
    "label": [*TEXT, "x" * 201],  # a short text that may be empty (a location)
    "name": [*TEXT, "", "   ", "x" * 201],  # names and short labels, 1-200 characters
    "summary": [*TEXT, "", "   ", "x" * 501],
    "note": [*TEXT, "", "   ", "x" * 2001],  # reasons, notes that must say something
    "key": [*TEXT, "x" * 201],  # idempotency keys, slip and refund numbers
    "enum": ENUMS,
    "period": PERIODS,
    "span": [*PERIODS, "2026-Q5", "2026-H3", "0000"],
    "day": DAYS,
    "money_day": [*DAYS, date(2030, 1, 1), date(2026, 11, 5)],  # money dated ahead
    "instant": INSTANTS,
    "money_at": [*INSTANTS, FUTURE, T0 + timedelta(days=2)],
    "money": MONEY,
    "decimal": DECIMALS,
    "area": [
        Decimal("1e30"),
        2**63,
        Decimal("0.001"),
        Decimal("0.5"),
        Decimal("100000.01"),
        Decimal("89.57501"),
        0,
        -1,
        Decimal("NaN"),
        1.5,
        "abc",
        True,
        object(),
    ],
    "count": COUNTS,
    "flag": FLAGS,
    "phone": [
        "123456",
        "99999999999",
        "12345678901",
        13812345678,
        "1381234567\x00",
        HUGE,
        "138123456789",
        "+86 99999999999",
        object(),
    ],
    "phones": [
        "123456",
        ["99999999999"],
        13812345678,
        [13812345678],
        {"a": 1},
        "1381234567\x00",
        [HUGE],
        object(),
    ],
    "id_card": ["110105194912310021", 110105194912310020, NUL, HUGE, object()],
    "timezone": ["Mars/Base", "", NUL, 5, HUGE, object(), "../../etc/passwd"],
    "roles": [[], "", ["no-such"], 5, [5], NUL, [HUGE], object(), [None]],
    "mapping": [
        "x",
        5,
        ["a"],
        {5: "x"},
        {"a": object()},
        {"a\x00": 1},
        {"a": HUGE},
        {"a": float("nan")},
        object(),
        {"x" * 201: 1},
    ],
    "decimal_map": [
        "x",
        5,
        {5: Decimal(1)},
        {"a": Decimal("1e30")},
        {"a": 1.5},
        {"a\x00": Decimal(1)},
        {"a": "abc"},
        object(),
    ],
    "rates": [
        "x",
        5,
        {5: "1"},
        {"residential": Decimal("1e30")},
        {"residential": 1.5},
        {"residential": "abc"},
        {"residential": NUL},
        object(),
    ],
    "shares": [
        "x",
        5,
        object(),
        {2**63: 100},
        {True: 100},
        {0: 100},
        {"1": 100},
        Built("{staff: 1e30}", lambda r: {r["staff"]: Decimal("1e30")}),
        Built("{staff: 1.5}", lambda r: {r["staff"]: 1.5}),
        Built("{staff: NaN}", lambda r: {r["staff"]: Decimal("NaN")}),
    ],
    "headers": ["x", 5, {5: "x"}, {"a": 5}, {"a": NUL}, object(), ["a"]],
    "body": [5, None, "{}", {"a": 1}, object(), b"x" * 1_100_000, b"\xff\xfe"],
    "notice": [
        None,
        "x",
        {},
        object(),
        Built("notice estate 2**63", lambda r: _notice(r, estate_id=2**63)),
        Built("notice estate True", lambda r: _notice(r, estate_id=True)),
        Built("notice unit 2**63", lambda r: _notice(r, unit_id=2**63)),
        Built("notice unit '1'", lambda r: _notice(r, unit_id="1")),
        Built("notice paid 2031", lambda r: _notice(r, paid_at=FUTURE)),
        Built(
            "notice paid 9999",
            lambda r: _notice(r, paid_at=datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
        ),
        Built("notice txn NUL", lambda r: _notice(r, provider_txn_id=NUL)),
        Built("notice txn huge", lambda r: _notice(r, provider_txn_id=HUGE)),
        Built("notice order 5", lambda r: _notice(r, unit_id=None, order_id=5)),
        Built("notice method NUL", lambda r: _notice(r, method=NUL)),
    ],
    "recipient": [
        "13812345678",
        None,
        object(),
        _forced(RECIPIENT, address=NUL),
        _forced(RECIPIENT, address=HUGE),
        _forced(RECIPIENT, name=NUL),
        _forced(RECIPIENT, name=HUGE),
        _forced(RECIPIENT, name=5),
    ],
    "specs": [
        "x",
        5,
        None,
        [5],
        object(),
        [UnitSpec("9", Decimal("1e30"))],
        [UnitSpec("9", 2**63)],  # type: ignore[arg-type]
        [UnitSpec("9", Decimal("0.001"))],
        [UnitSpec(NUL, Decimal(9))],
        [UnitSpec(HUGE, Decimal(9))],
        [UnitSpec("9", Decimal(9), "no-such")],
        [UnitSpec("9", Decimal(9), handover_date=date(1, 1, 1))],
        [UnitSpec(5, Decimal(9))],  # type: ignore[arg-type]
    ],
    "source": [5, None, object(), NUL, "/nonexistent/archive.csv", HUGE, b"bytes", 1.5],
    "histories": [5, "x", None, [5], [[object()]], [[]], object()],
    "allocation": [
        "oldest",
        5,
        object(),
        _forced(ByPriority([]), fee_items=(NUL,)),
        _forced(ByPriority([]), fee_items=(5,)),
        _forced(AsSpecified([]), lines=(("property_fee", "2026-11", 2**63),)),
        _forced(AsSpecified([]), lines=(("property_fee", "2026-11", True),)),
    ],
    "progress": [5, "x", object()],
    "kpis": JUNK_CONTAINER,
    "bands": JUNK_CONTAINER,
    "buckets": [
        *JUNK_CONTAINER,
        [AgingBucket("a", -1, 5)],
        [AgingBucket("a", 0, 2**63)],
        [AgingBucket(NUL, 0, None)],
        [AgingBucket("a", True, None)],
    ],
    "deposit_deductions": JUNK_CONTAINER,
    "inspection_deductions": [
        *JUNK_CONTAINER,
        [("x", Decimal("1e30"))],
        [(NUL, Decimal(1))],
        [("x", 1.5)],
        [(HUGE, Decimal(1))],
        [("x",)],
    ],
    "rrule": ["FREQ=NEVER", "", NUL, 5, HUGE, object(), "FREQ=MONTHLY;COUNT=" + "9" * 30],
    "due": [367, -1, 2**63, "x", True, 1.5, NUL, object()],  # days after the period start
    "year": [0, -1, 10**6, 2**63, True, "2026", 1.5, object()],
    "ratio": [*DECIMALS, Decimal(-1), "-1"],
    "quantity": [*DECIMALS, 0, -1, Decimal("0.0001")],
    "promised": ["11月6日", "2026-13-01", 5, NUL, HUGE, "9999-12-31", "0001-01-01", object()],
    # fee item codes given as a list (a bare string would be its letters)
    "codes": [[], "property_fee", [NUL], [5], [None], ["x" * 201], [HUGE], 5, object(), {"a": 1}],
}
# Kinds where None is a value of the parameter's type only when it is optional.
# fmt: off
NONE_IS_HOSTILE_UNLESS_OPTIONAL = {
    "id", "text", "name", "summary", "note", "key", "enum", "period", "span", "day",
    "money_day", "instant", "money_at", "money", "decimal", "area", "count", "ratio",
    "quantity", "mapping", "decimal_map", "rates", "shares", "headers", "rrule", "due", "year",
    "kpis", "bands", "roles", "timezone", "phones", "ids",
}
# fmt: on

# Parameter name -> kind, written by kind; (method, parameter) overrides where one name means
# two things.
_NAMES_OF_KIND = {
    "actor": "actor",
    "day": "active_from active_to active_on effective_from on handover_date promised_date",
    "flag": (
        "all_failed all_or_nothing fixed include_not_due open_only passed reveal_contacts "
        "show_phones"
    ),
    "codes": "fee_items",
    "allocation": "allocation",
    "bands": "bands",
    "kpis": "kpis",
    "buckets": "buckets",
    "money": "amount unit_price floor base_bonus cap",
    "decimal": "points score base praise_points vendor_threshold",
    "ratio": "daily_rate vacancy_rate vendor_deduction_rate",
    "quantity": "quantity",
    "area": "floor_area",
    "count": "batch limit grace_days households number",
    "year": "year",
    "due": "due",
    "body": "body",
    "headers": "headers",
    "notice": "notice",
    "recipient": "recipient",
    "mapping": "params",
    "decimal_map": "calibration multipliers inspection_weights",
    "rates": "rates",
    "shares": "shares",
    "ids": "building_ids unit_ids delivery_ids",
    "enum": (
        "category channel priority satisfaction callback_policy kind schedule use method "
        "outcome non_working status sort_by group_by lang locale provider calendar level "
        "role template"
    ),
    "name": "purpose name title party item code service",
    "period": "period first_period last_period corrects_period",
    "span": "span",
    "label": "location reporter_name contact_name",
    "summary": "summary",
    "note": "reason text",
    "text": "note comment",
    "key": "key txn_id",
    "promised": "promised",
    "id_card": "id_card",
    "phone": "phone",
    "phones": "phones",
    "timezone": "timezone",
    "roles": "roles",
    "rrule": "rule",
    "source": "source",
    "histories": "histories",
    "progress": "progress",
    "specs": "specs",
    "instant": "dtstart starts_at ends_at now",
}
BY_NAME = {name: kind for kind, names in _NAMES_OF_KIND.items() for name in names.split()}
# Money events: dated by the app's clock, never ahead of it.
MONEY_METHODS = {
    "payments.pay_at_counter",
    "payments.refund",
    "payments.reverse",
    "payments.compensate",
    "payments.apply_credit",
    "payments.resolve_suspense",
    "payments.confirm_refund",
    "deposits.collect",
    "deposits.inspect",
    "deposits.refund",
    "ledger.reverse",
    "ledger.void_receipt",
    "billing.run",
    "billing.correct",
}
OVERRIDES = {
    ("estates.add_unit", "number"): "name",
    ("payments.refund", "refund_id"): "key",
    ("billing.set_late_fees", "cap"): "ratio",
    ("deposits.refund", "deductions"): "deposit_deductions",
    ("appraisal.record_inspection", "deductions"): "inspection_deductions",
    ("billing.assess_late_fees", "as_of"): "money_day",
    ("ticket_stats.metrics", "source"): "enum",  # intake, patrol or all
    ("tickets.outside_done", "order"): "count",  # an outside order's number, from 1
}


def _is_id(name: str) -> bool:
    return name.endswith("_id") or name == "id"


def kind_of(method: str, name: str, annotation: str) -> str | None:
    """The kind of a parameter, by the method and its name (and its annotation for the
    names that are a date in one method and an instant in another)."""
    if (method, name) in OVERRIDES:
        return OVERRIDES[(method, name)]
    if name in BY_NAME:
        return BY_NAME[name]
    if name in ("start", "end", "as_of", "at"):
        if "datetime" in annotation:
            return "money_at" if method in MONEY_METHODS else "instant"
        return "day"
    return "id" if _is_id(name) else None


@attrs.frozen
class Param:
    name: str
    kind: str
    optional: bool
    change: bool = False  # a field of **changes

    def hostile(self) -> list[Any]:
        values = list(KINDS[self.kind])
        if self.kind in NONE_IS_HOSTILE_UNLESS_OPTIONAL and not self.optional:
            values.append(None)
        return values


def _services(app: Propcare) -> dict[str, Service]:
    return {name: svc for name, svc in vars(app).items() if isinstance(svc, Service)}


def public_methods(app: Propcare) -> dict[str, Callable[..., Any]]:
    return {
        f"{attr}.{name}": method
        for attr, svc in _services(app).items()
        for name, method in inspect.getmembers(svc, inspect.ismethod)
        if not name.startswith("_")
    }


def params_of(name: str, method: Callable[..., Any]) -> list[Param]:
    out = []
    for p in inspect.signature(method).parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out += [Param(f, _field_kind(f), True, change=True) for f in CHANGES[name]]
            continue
        annotation = str(p.annotation)
        kind = kind_of(name, p.name, annotation)
        assert kind is not None, f"{name}({p.name}: {annotation}): give the parameter a kind"
        optional = p.default is not inspect.Parameter.empty and (
            p.default is None or "None" in annotation
        )
        out.append(Param(p.name, kind, optional))
    return out


def _field_kind(field: str) -> str:
    kind = "id" if _is_id(field) else BY_NAME.get(field, "")
    if field in ("active_from", "active_to", "handover_date"):
        kind = "day"
    if field == "number":
        kind = "name"  # a unit number, text
    assert kind, f"give the change field {field} a kind"
    return kind


def _notice(records: dict[str, Any], **changes: Any) -> PaymentNotice:
    """A counter notice for the world's unit, then changed past its own checks (a notice
    built by a gateway plugin is a plain object, and its fields are what the plugin put)."""
    notice = PaymentNotice(
        records["estate"],
        "counter",
        "fuzz-1",
        Decimal(1),
        T0,
        unit_id=records["unit"],
        method="cash",
    )
    return _forced(notice, **changes)  # type: ignore[no-any-return]


# --- the calls -----------------------------------------------------------------------------


class _Recorder:
    """Stands in for the app in a CALLS entry: records the arguments it is called with."""

    def __init__(self) -> None:
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}

    def __getattr__(self, _service: str) -> Any:
        recorder = self

        class _Service:
            def __getattr__(self, _method: str) -> Callable[..., None]:
                def record(*args: Any, **kwargs: Any) -> None:
                    recorder.args, recorder.kwargs = args, kwargs

                return record

        return _Service()


def valid_arguments(
    name: str, method: Callable[..., Any], records: dict[str, Any], actor: Actor
) -> inspect.BoundArguments:
    call = CALLS[name]
    assert call is not None, name
    recorder = _Recorder()
    call(recorder, actor, records)  # type: ignore[arg-type]
    return inspect.signature(method).bind(*recorder.args, **recorder.kwargs)


def with_hostile(
    bound: inspect.BoundArguments, changes: Mapping[Param, Any], records: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    arguments = dict(bound.arguments)
    for param, value in changes.items():
        value = value.build(records) if isinstance(value, Built) else value
        if param.change:
            arguments["changes"] = {**arguments.get("changes", {}), param.name: value}
        else:
            arguments[param.name] = value
    new = inspect.BoundArguments(bound.signature, arguments)  # type: ignore[arg-type]
    return list(new.args), dict(new.kwargs)


def row_counts(app: Propcare) -> dict[str, int]:
    """The number of rows of every table of the database (SQLite or PostgreSQL)."""
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        if isinstance(conn, sqlite3.Connection):
            listing = (
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        else:
            listing = (
                "SELECT table_name FROM information_schema.tables WHERE table_type = "
                "'BASE TABLE' AND table_schema = current_schema() ORDER BY table_name"
            )
        tables = [r[0] for r in conn.execute(listing).fetchall()]
        query = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM \"{t}\"" for t in tables)
        return dict(conn.execute(query).fetchall())


Refusal = ValidationError | ConfigError


def refuses(
    app: Propcare, method: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Refusal | str:
    """The error the call raises, or what went wrong instead (as text). A refusal is a
    ValidationError, or a ConfigError for a name the configuration lacks (a gateway, a
    channel, a calendar): both are raised before the storage is asked anything."""
    before = row_counts(app)
    try:
        result = method(*args, **kwargs)
    except (ValidationError, ConfigError) as exc:
        refused: Refusal | str = exc
    except Exception as exc:  # anything else is the finding
        refused = f"raised {type(exc).__module__}.{type(exc).__qualname__}: {str(exc)[:300]}"
    else:
        refused = f"accepted it and returned {str(result)[:200]}"
    after = row_counts(app)
    if after != before:
        changed = {t: (before.get(t), n) for t, n in after.items() if before.get(t) != n}
        return f"changed row counts {changed}; {refused}"
    if not isinstance(refused, str) and len(str(refused)) > 1000:
        return f"gave a message of {len(str(refused))} characters: {str(refused)[:200]}"
    return refused


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def fuzz_app() -> Iterator[Propcare]:
    # No auto-dispatch: a delivery written by the worker would change a row count.
    with Propcare.open(
        "sqlite://:memory:",
        load_entrypoints=False,
        clock=FixedClock(T0),
        config={"dispatch": {"auto": False}},
    ) as app:
        yield app


@pytest.fixture
def world(fuzz_app: Propcare) -> tuple[Propcare, dict[str, Any]]:
    """The app with test_isolation.py's world in it: the records' ids by kind."""
    return fuzz_app, build_world(fuzz_app, Actor.system())[0]


FUZZED = sorted(n for n in CALLS if n not in NOT_FUZZED)


def test_every_public_method_is_fuzzed_or_says_why_not(fuzz_app: Propcare) -> None:
    methods = set(public_methods(fuzz_app))
    assert methods == set(FUZZED) | set(NOT_FUZZED)
    assert all(CALLS[n] is not None for n in FUZZED)


def test_every_parameter_has_a_kind(fuzz_app: Propcare) -> None:
    for name, method in public_methods(fuzz_app).items():
        if name not in NOT_FUZZED:
            assert params_of(name, method), name


def _sweep(app: Propcare, records: dict[str, Any], name: str) -> list[str]:
    """Every hostile value of each parameter's kind, alone, in a call of ``name``: what
    went wrong, one line a call (nothing when every call was refused and wrote nothing).
    The PostgreSQL adapter's tests run it too."""
    method = public_methods(app)[name]
    bound = valid_arguments(name, method, records, Actor.system())
    failures = []
    for param in params_of(name, method):
        for value in param.hostile():
            args, kwargs = with_hostile(bound, {param: value}, records)
            outcome = refuses(app, method, args, kwargs)
            if isinstance(outcome, str):
                failures.append(f"{name}({param.name}={_short(value)}): {outcome}")
    return failures


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:50]}...({len(text)} chars)"


@pytest.mark.parametrize("name", FUZZED)
def test_each_hostile_value_alone_is_refused_and_writes_nothing(
    world: tuple[Propcare, dict[str, Any]], name: str
) -> None:
    failures = _sweep(*world, name)
    assert not failures, "\n".join(failures)


@st.composite
def _hostile_changes(draw: st.DrawFn, params: Sequence[Param]) -> dict[Param, Any]:
    chosen = draw(
        st.lists(st.sampled_from(params), min_size=1, max_size=min(3, len(params)), unique=True)
    )
    return {p: draw(_hostile_value(p)) for p in chosen}


def _hostile_value(param: Param) -> st.SearchStrategy[Any]:
    catalogue = st.sampled_from(param.hostile())
    generated = GENERATED.get(param.kind)
    return catalogue if generated is None else st.one_of(catalogue, generated)


_nul_text = st.text(max_size=20).flatmap(
    lambda s: st.integers(0, len(s)).map(lambda i: s[:i] + "\x00" + s[i:])
)
GENERATED: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.integers(max_value=0), st.integers(min_value=2**63)),
    "text": _nul_text,
    "name": st.one_of(_nul_text, st.text(min_size=201, max_size=300)),
    "note": st.one_of(_nul_text, st.just(" \t\n")),
    "money": st.one_of(
        st.decimals(min_value=Decimal(10**10) + Decimal("0.01"), places=2),
        st.floats(),
        st.integers(min_value=10**10 + 1),
        st.sampled_from([Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN")]),
        st.decimals(min_value=-(10**9), max_value=10**9, places=5).filter(
            lambda d: d != d.quantize(Decimal("0.01"))  # a third decimal
        ),
    ),
    "day": st.one_of(st.dates(max_value=date(1899, 12, 31)), st.dates(min_value=date(2100, 1, 1))),
    "instant": st.one_of(
        st.datetimes(),  # naive
        st.datetimes(min_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
        st.datetimes(max_value=datetime(1969, 12, 31), timezones=st.just(UTC)),
    ),
    "money_at": st.datetimes(
        min_value=datetime(2026, 11, 4), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ),
}


@pytest.mark.parametrize("name", FUZZED)
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_arguments_together_are_refused_and_write_nothing(
    world: tuple[Propcare, dict[str, Any]], name: str, data: st.DataObject
) -> None:
    # One world for all the examples of a method: each must leave it as it was, which is
    # what is tested (so the fixture's scope is no hazard here).
    app, records = world
    method = public_methods(app)[name]
    bound = valid_arguments(name, method, records, Actor.system())
    changes = data.draw(_hostile_changes(params_of(name, method)), label="hostile")
    args, kwargs = with_hostile(bound, changes, records)
    outcome = refuses(app, method, args, kwargs)
    assert not isinstance(outcome, str), f"{name}: {outcome}"
