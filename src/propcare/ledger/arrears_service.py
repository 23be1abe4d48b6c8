"""Arrears roster, aging and collection rate (``app.arrears``)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Generator, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

import attrs

from propcare.access import Actor, Resource
from propcare.clock import require_instant
from propcare.errors import ValidationError
from propcare.ledger.arrears import (
    DEFAULT_BUCKETS,
    NOT_DUE,
    AgingBucket,
    ArrearsLine,
    CollectionRate,
    bucket_of,
    check_buckets,
    collection_cutoff,
    credit_sources,
)
from propcare.ledger.billing import parse_period
from propcare.money import ZERO, from_fen
from propcare.registry.contact import mask_phone
from propcare.registry.model import EstateId, RevealPurpose
from propcare.registry.service import audit_reveal
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.validators import flag, optional_record_id

__all__ = ["ArrearsService"]

_SORTS = ("amount", "unit", "oldest")
_KEPT = 4096  # values kept as shown while a roster is read (phones, amounts)
_GROUPS = (None, "building", "collector")
LATE_FEE = "late_fee"  # the ledger's own fee item of late fees: out of the collection rate


class ArrearsService(Service):
    def roster(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        as_of: datetime | None = None,
        building_id: int | None = None,
        collector_staff_id: int | None = None,
        sort_by: str = "amount",
        show_phones: bool = False,
        include_not_due: bool = False,
    ) -> list[ArrearsLine]:
        """Every unit's fee items past due at ``as_of`` (default now): owner, phone
        (masked unless ``show_phones`` and the role allows ``owner.reveal_contact``),
        periods and years, amount, the earliest due date and the days past it, the
        collector on that day, the latest dunning attempt by when it happened; only a
        building's units, or a collector's, when asked; sorted by amount, unit or oldest.
        ``include_not_due`` adds what is billed but not yet due (its part of each line in
        ``not_due``).

        The lines of :meth:`iter_roster`, in a list: for a whole estate's roster written
        to a file, iterate that instead (its memory does not grow with the lines)."""
        return list(
            self.iter_roster(
                actor, estate_id, as_of=as_of, building_id=building_id,
                collector_staff_id=collector_staff_id, sort_by=sort_by,
                show_phones=show_phones, include_not_due=include_not_due,
            )
        )  # fmt: skip

    def iter_roster(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        as_of: datetime | None = None,
        building_id: int | None = None,
        collector_staff_id: int | None = None,
        sort_by: str = "amount",
        show_phones: bool = False,
        include_not_due: bool = False,
    ) -> Generator[ArrearsLine, None, None]:
        """The lines of :meth:`roster`, read as they are iterated: sorted by the database,
        so memory stays flat however long the roster is (what the CLI writes files from).

        The arguments, the estate and the permissions are checked when this is called,
        before any line is read; a roster with full phones is audited then, in a
        transaction of its own committed before any phone is shown. The lines are read in
        one read transaction on the app's connection, held until the iterator is used up
        or closed (``close()``, ``contextlib.closing``): meanwhile the app's calls from
        other threads wait, and one from this thread is a StorageError (its own, or on
        PostgreSQL the iterator's), so use the lines up or close them first."""
        actor = self._actor(actor)
        if sort_by not in _SORTS:
            raise ValidationError("sort_by", sort_by, f"must be one of: {', '.join(_SORTS)}")
        optional_record_id("building_id", building_id)
        optional_record_id("collector_staff_id", collector_staff_id)
        flag("show_phones", show_phones)
        flag("include_not_due", include_not_due)
        when = self._at(as_of, "as_of")
        with self._app.unit_of_work(readonly=not show_phones) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            if show_phones:
                # Full phone numbers are shown only after a row of the reveal audit. The
                # lines are read afterwards, in a read transaction, so a long roster never
                # holds the write lock while it is written out.
                self._authorize(actor, "owner.reveal_contact", Resource("owner", estate.id))
                audit_reveal(
                    uow, self._publish, actor, self._app.clock.now(), estate.id, None,
                    RevealPurpose.ROSTER,
                )  # fmt: skip
                uow.commit()
        zone = self._app.zone(estate.timezone)
        day = when.astimezone(zone).date()
        query = _RosterQuery(
            estate.id, when, day, zone, building_id, collector_staff_id, sort_by,
            show_phones, include_not_due,
        )  # fmt: skip
        return self._roster_lines(query)

    def _roster_lines(self, q: _RosterQuery) -> Generator[ArrearsLine, None, None]:
        # Values repeat from line to line (a unit's phone, amounts of whole months, due
        # dates): each is worked out once, in caches bounded whatever the roster's length.
        shown: dict[str, str] = {}  # phones JSON -> as shown
        money: dict[int, Decimal] = {}  # fen -> yuan
        zone, day, full = q.zone, q.day, q.show_phones
        with self._app.unit_of_work(readonly=True) as uow:
            rows = uow.arrears.roster_lines(
                q.estate_id, q.when, day, _day_start(day, zone),
                include_not_due=q.include_not_due, building_id=q.building_id,
                collector_staff_id=q.collector_staff_id, sort_by=q.sort_by,
            )  # fmt: skip
            for (
                unit_id, b_name, number, owner, phones, item, joined, fen, bill_due,
                charged, not_due, collector, at, method, outcome,
            ) in rows:  # fmt: skip
                periods = tuple(sorted(joined.split(",")))
                phone = shown.get(phones)
                if phone is None:
                    if len(shown) >= _KEPT:
                        shown.clear()
                    phone = shown[phones] = _shown(phones, full)
                amount = money.get(fen)
                if amount is None:
                    if len(money) >= _KEPT:
                        money.clear()
                    amount = money[fen] = from_fen(fen)
                pending = money.get(not_due)
                if pending is None:
                    pending = money[not_due] = from_fen(not_due)
                due = bill_due if charged is None else _earliest_due(bill_due, charged, zone)
                first, final = periods[0][:4], periods[-1][:4]
                yield ArrearsLine(
                    unit_id=unit_id,
                    building=b_name,
                    unit=number,
                    owner=owner,
                    phone=phone,
                    fee_item=item,
                    periods=periods,
                    years=(int(first),)
                    if first == final
                    else tuple(sorted({int(p[:4]) for p in periods})),
                    amount=amount,
                    collector_staff_id=collector,
                    last_attempt=""
                    if at is None
                    else f"{at.astimezone(zone).date()} {method} {outcome}",
                    due_date=due,
                    days_past_due=(day - due).days,
                    not_due=pending,
                )

    def aging(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        as_of: datetime | None = None,
        buckets: Sequence[AgingBucket] = DEFAULT_BUCKETS,
        include_not_due: bool = False,
    ) -> list[tuple[str, Decimal]]:
        """What is past due at ``as_of`` (default now) by the days past its due date;
        the buckets sum to the roster's total. ``include_not_due`` puts what is billed
        but not yet due first, labelled ``"not_due"``."""
        check_buckets(buckets)
        flag("include_not_due", include_not_due)
        actor = self._actor(actor)
        when = self._at(as_of, "as_of")
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            zone = self._app.zone(estate.timezone)
            owed = uow.arrears.owed_by_due_date(estate.id, when)
        day = when.astimezone(zone).date()
        totals = {b.label: 0 for b in buckets}
        not_due = 0
        for bill_due, first_charged, fen in owed:
            due = _earliest_due(bill_due, first_charged, zone)
            days = (day - due).days
            if days <= 0:
                not_due += fen
            else:
                totals[bucket_of(days, buckets).label] += fen
        shown = [(b.label, from_fen(totals[b.label])) for b in buckets]
        return [(NOT_DUE, from_fen(not_due)), *shown] if include_not_due else shown

    def collection_rate(
        self,
        actor: Actor,
        estate_id: EstateId,
        first_period: str,
        last_period: str | None = None,
        *,
        group_by: str | None = None,
        as_of: datetime | None = None,
    ) -> list[CollectionRate]:
        """收缴率 of the bills of ``first_period``..``last_period``: the cash collected for
        them over what was billed for them, with the credits that settled them without
        cash (compensation, other credits) beside it; for the estate, or per building or
        collector. As of ``as_of``, by default the last instant of ``last_period`` in the
        estate's time zone (or now while it runs): every caller that leaves it out, the
        monthly report, the demo and the appraisal among them, gets the same figures.
        Each value states its cut-off (``as_of``)."""
        if group_by not in _GROUPS:
            raise ValidationError("group_by", group_by, "must be None, building or collector")
        last = first_period if last_period is None else last_period
        for field, value in (("first_period", first_period), ("last_period", last)):
            parse_period(value, field)
        actor = self._actor(actor)
        cutoff = None if as_of is None else require_instant("as_of", as_of)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            zone = self._app.zone(estate.timezone)
            when = cutoff or collection_cutoff(last, zone, self._app.clock.now())
            rows = uow.arrears.billed_and_collected(estate.id, first_period, last, when)
            moves = uow.arrears.credit_moves(estate.id, when)
            key = self._grouper(uow, estate.id, group_by, when.astimezone(zone).date())
        # Owner credit applied counts as cash unless it came from a compensation or
        # another credit (or a correction gave back what such a credit had settled).
        moved: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for unit_id, unit_moves in moves.items():
            for _at, item, period, source, fen in credit_sources(unit_moves):
                if item != LATE_FEE and first_period <= period <= last:
                    moved[unit_id][source] += fen
        sums: dict[str | int | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for unit_id, billed, cash, compensation, other in rows:
            to_compensation = moved[unit_id]["compensation"]
            to_other = moved[unit_id]["other_credits"]
            total = sums[key(unit_id)]
            total[0] += billed
            total[1] += cash - to_compensation - to_other
            total[2] += compensation + to_compensation
            total[3] += other + to_other
        groups = sorted(sums, key=lambda g: (g is None, str(g)))
        rates = [_rate(g, sums[g], when) for g in groups]
        return rates or [CollectionRate(None, ZERO, ZERO, ZERO, ZERO, as_of=when)]

    def recovery(
        self,
        actor: Actor,
        estate_id: EstateId,
        start: datetime,
        end: datetime,
        *,
        group_by: str | None = None,
    ) -> list[tuple[str | int | None, Decimal]]:
        """历史欠费清缴: cash collected in [start, end) for bills of years before
        ``start``'s year (credits such as compensation are not recovered cash)."""
        if group_by not in _GROUPS:
            raise ValidationError("group_by", group_by, "must be None, building or collector")
        start, end = require_instant("start", start), require_instant("end", end)
        if end <= start:
            raise ValidationError("end", end, "must be after the start")
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            local = start.astimezone(self._app.zone(estate.timezone))
            before = f"{local.year}-01"
            rows = uow.arrears.recovered_before(estate.id, before, start, end)
            moves = uow.arrears.credit_moves(estate.id, end - timedelta(microseconds=1))
            key = self._grouper(uow, estate.id, group_by, local.date())
        sums: dict[str | int | None, int] = defaultdict(int)
        for unit_id, fen in rows:
            sums[key(unit_id)] += fen
        # Owner credit from a compensation or another credit is not cash recovered.
        for unit_id, unit_moves in moves.items():
            for at, item, period, _source, fen in credit_sources(unit_moves):
                if item != LATE_FEE and period < before and start <= at < end:
                    sums[key(unit_id)] -= fen
        return [(g, from_fen(sums[g])) for g in sorted(sums, key=lambda g: (g is None, str(g)))]

    def _grouper(
        self, uow: UnitOfWork, estate_id: int, group_by: str | None, day: date
    ) -> Callable[[int], str | int | None]:
        """The group of a unit: none, its building's name, or its collector on ``day``
        (a unit's own collector beats its building's; the latest start wins)."""
        if group_by is None:
            return lambda _unit_id: None
        building_of = uow.arrears.unit_buildings(estate_id)
        if group_by == "building":
            names: dict[int, str] = {
                b.id: b.name for b in uow.buildings.in_estate(EstateId(estate_id))
            }
            return lambda unit_id: names[building_of[unit_id]]
        by_unit: dict[int, tuple[tuple[date, int], int]] = {}
        by_building: dict[int, tuple[tuple[date, int], int]] = {}
        for a in uow.collection.assignments(estate_id):
            if not a.covers(day):
                continue
            place, key = (
                (by_unit, a.unit_id) if a.unit_id is not None else (by_building, a.building_id)
            )
            assert key is not None
            rank = (a.start, a.id)
            if key not in place or place[key][0] < rank:
                place[key] = (rank, a.staff_id)
        unit_collector = {u: s for u, (_r, s) in by_unit.items()}
        building_collector = {b: s for b, (_r, s) in by_building.items()}

        def collector(unit_id: int) -> int | None:
            found = unit_collector.get(unit_id)
            if found is None:
                found = building_collector.get(building_of[unit_id])
            return found

        return collector


@attrs.frozen
class _RosterQuery:
    """What a roster reads, checked: the estate, the cut-off and its day in the estate's
    zone, the filters, the order and what to show."""

    estate_id: int
    when: datetime
    day: date
    zone: tzinfo
    building_id: int | None
    collector_staff_id: int | None
    sort_by: str
    show_phones: bool
    include_not_due: bool


def _shown(phones_json: str, full: bool) -> str:
    """The owner's first phone as the roster shows it: masked unless ``full``."""
    # Stored numbers were normalised when the owner was saved (digits and a +, nothing
    # JSON escapes): the first is read without a JSON parser when it can be.
    end = phones_json.find('"', 2)
    if phones_json.startswith('["') and end > 2 and phones_json.find("\\", 2, end) < 0:
        first = phones_json[2:end]
    else:
        phones = json.loads(phones_json)
        if not phones:
            return ""
        first = str(phones[0])
    # Masked as they are.
    return first if full else mask_phone(first)


def _day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of ``day`` in the estate's time zone."""
    return datetime.combine(day, time(), zone)


def _earliest_due(bill_due: date | None, first_charged: datetime | None, zone: tzinfo) -> date:
    """The earlier of a bill's due date and the local day a line without a bill was first
    charged (it is due that day); at least one is given."""
    charged = None if first_charged is None else first_charged.astimezone(zone).date()
    found = [d for d in (bill_due, charged) if d is not None]
    assert found, "a receivable line is either billed or charged"
    return min(found)


def _rate(group: str | int | None, fen: list[int], as_of: datetime) -> CollectionRate:
    billed, cash, compensation, other = (from_fen(f) for f in fen)
    return CollectionRate(group, billed, cash, compensation, other, as_of=as_of)
