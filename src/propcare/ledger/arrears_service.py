"""Arrears roster, aging and collection rate (``app.arrears``)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal

from propcare.access import Actor, Resource
from propcare.clock import require_instant
from propcare.errors import ValidationError
from propcare.ledger.arrears import (
    DEFAULT_BUCKETS,
    AgingBucket,
    ArrearsLine,
    CollectionRate,
    bucket_of,
    check_buckets,
    period_start,
)
from propcare.ledger.billing import parse_period
from propcare.ledger.collection import collector_on
from propcare.money import ZERO, from_fen
from propcare.registry.contact import mask_phone
from propcare.registry.model import EstateId
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.validators import flag, optional_record_id

__all__ = ["ArrearsService"]

_SORTS = ("amount", "unit", "oldest")
_GROUPS = (None, "building", "collector")


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
    ) -> list[ArrearsLine]:
        """Every unit's unpaid fee items: owner, phone (masked unless ``show_phones`` and the
        role allows ``owner.reveal_contact``), periods and years, amount, the last dunning
        attempt; filtered by building or collector, sorted by amount, unit or oldest."""
        actor = self._actor(actor)
        if sort_by not in _SORTS:
            raise ValidationError("sort_by", sort_by, f"must be one of: {', '.join(_SORTS)}")
        optional_record_id("building_id", building_id)
        optional_record_id("collector_staff_id", collector_staff_id)
        flag("show_phones", show_phones)
        when = self._at(as_of, "as_of")
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            if show_phones:
                self._authorize(actor, "owner.reveal_contact", Resource("owner", estate.id))
            zone = self._app.zone(estate.timezone)
            day = when.astimezone(zone).date()
            rows = uow.arrears.roster_rows(estate.id, when, day)
            assignments = uow.collection.assignments(estate.id)
            last = uow.collection.last_attempts(estate.id)
        shown: dict[str, str] = {}  # phones JSON -> as shown; a unit has several lines
        out: list[ArrearsLine] = []
        for unit_id, b_id, b_name, number, owner, phones, item, joined, fen in rows:
            if building_id is not None and b_id != building_id:
                continue
            collector = collector_on(assignments, unit_id, b_id, day)
            if collector_staff_id is not None and collector != collector_staff_id:
                continue
            attempt = last.get(unit_id)
            periods = tuple(sorted(joined.split(",")))
            phone = shown.get(phones)
            if phone is None:
                phone = shown[phones] = _shown(phones, show_phones)
            out.append(
                ArrearsLine(
                    unit_id=unit_id,
                    building=b_name,
                    unit=number,
                    owner=owner,
                    phone=phone,
                    fee_item=item,
                    periods=periods,
                    years=tuple(sorted({int(p[:4]) for p in periods})),
                    amount=from_fen(int(fen)),
                    collector_staff_id=collector,
                    last_attempt=""
                    if attempt is None
                    else f"{attempt.at.astimezone(zone).date()} {attempt.method} {attempt.outcome}",
                )
            )
        keys = {
            "amount": lambda line: (-line.amount, line.building, line.unit, line.fee_item),
            "unit": lambda line: (line.building, line.unit, line.fee_item),
            "oldest": lambda line: (line.periods[0], line.building, line.unit, line.fee_item),
        }
        return sorted(out, key=keys[sort_by])

    def aging(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        as_of: datetime | None = None,
        buckets: Sequence[AgingBucket] = DEFAULT_BUCKETS,
    ) -> list[tuple[str, Decimal]]:
        """Outstanding receivables by age of their period; the buckets sum to the total."""
        check_buckets(buckets)
        actor = self._actor(actor)
        when = self._at(as_of, "as_of")
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            day = when.astimezone(self._app.zone(estate.timezone)).date()
            lines = uow.arrears.outstanding(estate.id, when)
        totals = {b.label: 0 for b in buckets}
        for _unit, _item, period, fen in lines:
            totals[bucket_of((day - period_start(period)).days, buckets).label] += fen
        return [(b.label, from_fen(totals[b.label])) for b in buckets]

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
        """收缴率 of the bills of ``first_period``..``last_period``: collected for them over
        billed for them, as of ``as_of``; for the estate, or per building or collector."""
        if group_by not in _GROUPS:
            raise ValidationError("group_by", group_by, "must be None, building or collector")
        last = first_period if last_period is None else last_period
        for field, value in (("first_period", first_period), ("last_period", last)):
            parse_period(value, field)
        actor = self._actor(actor)
        when = self._at(as_of, "as_of")
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            rows = uow.arrears.billed_and_collected(estate.id, first_period, last, when)
            key = self._grouper(uow, estate.id, group_by, when.astimezone(
                self._app.zone(estate.timezone)).date())  # fmt: skip
        billed: dict[str | int | None, int] = defaultdict(int)
        collected: dict[str | int | None, int] = defaultdict(int)
        for unit_id, b, c in rows:
            group = key(unit_id)
            billed[group] += b
            collected[group] += c
        groups = sorted(billed, key=lambda g: (g is None, str(g)))
        return [CollectionRate(g, from_fen(billed[g]), from_fen(collected[g])) for g in groups] or [
            CollectionRate(None, ZERO, ZERO)
        ]

    def recovery(
        self,
        actor: Actor,
        estate_id: EstateId,
        start: datetime,
        end: datetime,
        *,
        group_by: str | None = None,
    ) -> list[tuple[str | int | None, Decimal]]:
        """历史欠费清缴: collected in [start, end) for bills of years before ``start``'s year."""
        if group_by not in _GROUPS:
            raise ValidationError("group_by", group_by, "must be None, building or collector")
        start, end = require_instant("start", start), require_instant("end", end)
        if end <= start:
            raise ValidationError("end", end, "must be after the start")
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            local = start.astimezone(self._app.zone(estate.timezone))
            rows = uow.arrears.recovered_before(estate.id, f"{local.year}-01", start, end)
            key = self._grouper(uow, estate.id, group_by, local.date())
        sums: dict[str | int | None, int] = defaultdict(int)
        for unit_id, fen in rows:
            sums[key(unit_id)] += fen
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


def _shown(phones_json: str, full: bool) -> str:
    """The owner's first phone as the roster shows it: masked unless ``full``."""
    phones = json.loads(phones_json)
    if not phones:
        return ""
    # Stored numbers were normalised when the owner was saved: mask them as they are.
    return str(phones[0]) if full else mask_phone(str(phones[0]))
