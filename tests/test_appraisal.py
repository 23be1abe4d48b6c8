"""Appraisal (绩效考核): scoring rules by hand, properties, metrics from the records,
cycles, calibration, pay and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.appraisal.kpi import (
    Band,
    Kpi,
    Rule,
    Scorecard,
    calibrate,
    check_bands,
    grade_of,
    rank_within,
    score,
)
from propcare.errors import Conflict, PermissionDenied, PropcareError, ValidationError

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
D = Decimal
BANDS = [Band("D", D(0), D(60)), Band("C", D(60), D(75)), Band("B", D(75), D(90)),
         Band("A", D(90), D(100))]  # fmt: skip
PAY = {"A": D("1.5"), "B": D("1.2"), "C": D(1), "D": D(0)}


def card(*kpis: Kpi, **kw: Any) -> Scorecard:
    kw.setdefault("multipliers", PAY)
    return Scorecard(
        estate_id=1, role="front_desk", effective_from=date(2026, 10, 1), kpis=kpis,
        bands=BANDS, base_bonus=D(1000), **kw,
    )  # fmt: skip


# --- the rules, by hand -------------------------------------------------------------------


def test_linear_scores_between_the_floor_and_the_target() -> None:
    rule = Rule("linear", target=D("0.98"), floor=D("0.80"))
    assert rule.points(D("0.89")) == 50  # halfway
    assert rule.points(D("0.80")) == 0 and rule.points(D("0.70")) == 0
    assert rule.points(D("0.98")) == 100 and rule.points(D("0.99")) == 100


def test_threshold_is_all_or_nothing() -> None:
    rule = Rule("threshold", target=D(80))
    assert (rule.points(D(80)), rule.points(D("79.99"))) == (100, 0)


def test_inverse_scores_lower_values_higher() -> None:
    rework = Rule("inverse", target=D("0.02"), floor=D("0.10"))  # 2% rework or less is perfect
    assert rework.points(D("0.06")) == 50
    assert rework.points(D("0.01")) == 100 and rework.points(D("0.12")) == 0


def test_stepped_bands_either_way() -> None:
    up = Rule("stepped", steps=((D(0), D(0)), (D(60), D(60)), (D(80), D(85)), (D(95), D(100))))
    assert [up.points(D(v)) for v in ("59", "60", "82", "95")] == [0, 60, 85, 100]
    down = Rule(
        "stepped", steps=((D(5), D(50)), (D(2), D(80)), (D(0), D(100))), lower_is_better=True
    )
    assert [down.points(D(v)) for v in ("6", "3", "1", "0")] == [0, 50, 80, 100]


def test_a_worked_scorecard_with_a_cap_an_exclusion_and_fixed_points() -> None:
    c = card(
        Kpi("satisfaction_rate", D(40), Rule("linear", target=D("0.98"), floor=D("0.80"))),
        Kpi("inspection", D(40), Rule("linear", target=D(100), floor=D(60)), cap=D(90)),
        Kpi("training_score", D(20), Rule("threshold", target=D(80)), no_data=D(50)),
    )
    # satisfaction 0.89: 50 points; inspection 96.5: 91.25 capped at 90; training: no data, 50.
    s = score(c, {"satisfaction_rate": D("0.89"), "inspection": D("96.5")})
    assert [x.points for x in s.lines] == [D(50), D(90), D(50)]
    assert s.total == D("66.00")  # (40x50 + 40x90 + 20x50) / 100
    assert (s.grade, s.bonus) == ("C", D("1000.00"))
    # Satisfaction excluded (no data, no fixed points): the other weights re-normalise.
    s = score(c, {"inspection": D("96.5")})
    assert s.lines[0].points is None and s.total == D("76.67")  # (40x90 + 20x50) / 60
    assert (s.grade, s.bonus) == ("B", D("1200.00"))


def test_no_activity_is_not_scored_100() -> None:
    c = card(Kpi("satisfaction_rate", D(100), Rule("linear", target=D("0.98"), floor=D("0.8"))))
    s = score(c, {})
    assert s.total is None and s.grade is None and s.bonus == 0


def test_commendations_and_discipline_move_the_total_within_0_to_100() -> None:
    c = card(Kpi("inspection", D(100), Rule("linear", target=D(100), floor=D(0))))
    assert score(c, {"inspection": D(95)}, commendations=D(8)).total == 100
    assert score(c, {"inspection": D(5)}, deductions=D(8)).total == 0
    assert score(c, {"inspection": D(80)}, commendations=D(3), deductions=D(1)).total == D(82)


def test_weights_below_1_sum_exactly() -> None:
    kpis = [Kpi(m, w, Rule("threshold", target=D(1))) for m, w in
            (("a", D("33.33")), ("b", D("33.33")), ("c", D("33.34")))]  # fmt: skip
    assert card(*kpis).kpis == tuple(kpis)
    halves = [Kpi("a", D("0.5"), Rule("threshold", target=D(1))),
              Kpi("b", D("99.5"), Rule("threshold", target=D(1)))]  # fmt: skip
    s = score(card(*halves), {"a": D(1), "b": D(0)})
    assert s.total == D("0.50")


def test_exactly_100_is_the_top_band() -> None:
    bands = check_bands(BANDS)
    assert grade_of(bands, D(100)) == "A" and grade_of(bands, D("89.99")) == "B"
    assert grade_of(bands, D(0)) == "D" and grade_of(bands, D(90)) == "A"


def test_calibration_forces_the_distribution_deterministically() -> None:
    # Ten people graded A (90+); at most 20% may stay A, the rest move to B.
    results = {i: (D(90) + D(i % 4), "A", D(40) + D(i % 3)) for i in range(10)}
    after = calibrate(BANDS, results, {"A": D("0.2")})
    kept = sorted(i for i, g in after.items() if g == "A")
    # The two best totals are 93 (people 3 and 7); 2 of 10 may stay A, so both keep it and
    # everyone else (92 and below) moves to B.
    assert kept == [3, 7]
    assert all(g == "B" for i, g in after.items() if i not in kept)
    assert calibrate(BANDS, results, {"A": D("0.2")}) == after  # the same every time


def test_ranks_within_a_team_are_competition_ranks() -> None:
    ranks = rank_within({1: (7, D(90)), 2: (7, D(95)), 3: (7, D(90)), 4: (8, D(50)), 5: (7, None)})
    assert ranks == {1: 2, 2: 1, 3: 2, 4: 1, 5: None}


# --- properties ------------------------------------------------------------------------------

values = st.decimals("-10", "200", places=3)


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    xs=st.lists(st.one_of(st.none(), values), min_size=5, max_size=5),
    plus=st.decimals("0", "20", places=2),
    minus=st.decimals("0", "20", places=2),
)
def test_scores_stay_in_range_and_weights_renormalise_exactly(
    weights: list[int], xs: list[Decimal | None], plus: Decimal, minus: Decimal
) -> None:
    ws = [D(w) for w in weights]
    ws[-1] += 100 - sum(ws)  # make them sum to exactly 100 (the last may be large)
    if ws[-1] <= 0:
        return
    kpis = [Kpi(f"m{i}", w, Rule("linear", target=D(100), floor=D(0))) for i, w in enumerate(ws)]
    metrics = {f"m{i}": xs[i] for i in range(len(ws))}
    s = score(card(*kpis), metrics, commendations=plus, deductions=minus)
    used = [k for k, x in zip(kpis, xs, strict=False) if x is not None]
    if not used:
        assert s.total is None
        return
    assert s.total is not None and 0 <= s.total <= 100
    # The exact total as a fraction, rounded half up once: no intermediate rounding at all.
    exact = sum(
        (
            Fraction(k.weight) * Fraction(k.rule.points(m))
            for k, m in zip(used, (x for x in xs if x is not None), strict=False)
        ),
        Fraction(0),
    )
    total = exact / sum(Fraction(k.weight) for k in used) + Fraction(plus) - Fraction(minus)
    total = min(Fraction(100), max(Fraction(0), total))
    cents = total * 100
    whole, rest = divmod(cents.numerator, cents.denominator)
    assert s.total == D(whole + (2 * rest >= cents.denominator)) / 100


def test_a_total_on_a_half_cent_is_rounded_from_the_exact_value() -> None:
    # Weights 25, 1, 26 and 5 of a card whose fifth KPI (43) has no data: the rest are
    # renormalised by 57. The exact total is 47.245 (to the digit), which rounds to 47.25;
    # summing the four shares, each divided by 57 and rounded at 28 digits, gave
    # 47.24499...9 and 47.24 (the clean-clone failure of the property below, found again by
    # a search over such cards).
    weights = (D(25), D(1), D(26), D(5), D(43))
    values = (D("85.975"), D("77.028"), D("11.807"), D("31.916"), None)
    kpis = [
        Kpi(f"m{i}", w, Rule("linear", target=D(100), floor=D(0))) for i, w in enumerate(weights)
    ]
    s = score(card(*kpis), {f"m{i}": v for i, v in enumerate(values)})
    assert s.total == D("47.25")


rules = st.sampled_from(
    [
        Rule("linear", target=D(90), floor=D(10)),
        Rule("threshold", target=D(50)),
        Rule("inverse", target=D(5), floor=D(60)),
        Rule("stepped", steps=((D(10), D(20)), (D(40), D(70)), (D(80), D(100)))),
        Rule("stepped", steps=((D(50), D(30)), (D(20), D(90))), lower_is_better=True),
    ]
)


@settings(max_examples=300, deadline=None)
@given(rule=rules, a=values, b=values)
def test_a_better_metric_never_scores_lower(rule: Rule, a: Decimal, b: Decimal) -> None:
    worse, better = sorted((a, b), reverse=rule.lower_is_better or rule.kind.value == "inverse")
    assert 0 <= rule.points(worse) <= rule.points(better) <= 100


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.decimals("0.01", "99.99", places=2), min_size=0, max_size=6, unique=True),
       total=st.decimals("0", "100", places=2))  # fmt: skip
def test_valid_bands_are_total(cuts: list[Decimal], total: Decimal) -> None:
    points = [D(0), *sorted(cuts), D(100)]
    bands = check_bands([Band(f"G{i}", points[i], points[i + 1]) for i in range(len(points) - 1)])
    grade = grade_of(bands, total)
    (band,) = [b for b in bands if b.grade == grade]
    assert band.low <= total <= band.high


@pytest.mark.parametrize(
    ("bands", "rule"),
    [
        ([Band("B", D(0), D(60)), Band("A", D(61), D(100))], "a gap"),
        ([Band("B", D(0), D(60)), Band("A", D(59), D(100))], "overlap"),
        ([Band("B", D(1), D(60)), Band("A", D(60), D(100))], "starts at 0"),
        ([Band("B", D(0), D(60)), Band("A", D(60), D(99))], "ends at 100"),
        ([], "at least one"),
    ],
)
def test_bands_with_gaps_or_overlaps_are_refused(bands: list[Band], rule: str) -> None:
    with pytest.raises(ValidationError, match=rule):
        check_bands(bands)


def test_bad_scorecards_name_the_rule() -> None:
    k = Rule("threshold", target=D(1))
    with pytest.raises(ValidationError, match="not exactly 100"):
        card(Kpi("a", D(60), k), Kpi("b", D("39.99"), k))
    with pytest.raises(ValidationError, match="above 0"):
        Kpi("a", D(0), k)
    with pytest.raises(ValidationError, match="floor is below"):
        Rule("linear", target=D(1), floor=D(2))
    with pytest.raises(ValidationError, match="never falling"):
        Rule("stepped", steps=((D(1), D(50)), (D(2), D(40))))
    with pytest.raises(ValidationError, match="not a float"):
        Kpi("a", 100.0, k)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="each metric once"):
        card(Kpi("a", D(50), k), Kpi("a", D(50), k))
    with pytest.raises(ValidationError, match="one for each grade"):
        card(Kpi("a", D(100), k), multipliers={"A": D(1)})


# --- the service, on the records -------------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(datetime(2026, 10, 1, 8, tzinfo=SH))
        self.app = app = Propcare.open(
            "sqlite://:memory:", load_entrypoints=False, clock=self.clock
        )
        self.estate = app.estates.create(ADMIN, "翠苑").id
        building = app.estates.add_building(ADMIN, self.estate, "1栋").id
        self.units = [u.id for u in app.estates.add_units(
            ADMIN, building,
            [UnitSpec(f"{101 + i}", D(100), "residential", date(2020, 1, 1)) for i in range(4)],
        )]  # fmt: skip
        self.team = app.staff.create_team(ADMIN, self.estate, "客服组", "front_desk").id
        self.zhang = app.staff.create(
            ADMIN, self.estate, "张前台", ["front_desk"], date(2020, 1, 1), self.team
        ).id
        self.wang = app.staff.create(
            ADMIN, self.estate, "王前台", ["front_desk"], date(2020, 1, 1), self.team
        ).id
        self.li = app.staff.create(ADMIN, self.estate, "李收费", ["collector"], date(2020, 1, 1)).id
        self.late = app.staff.create(
            ADMIN, self.estate, "新人", ["front_desk"], date(2026, 11, 15)
        ).id
        self.vendor = app.vendors.create(ADMIN, self.estate, "洁净保洁").id
        app.collection.assign_collector(ADMIN, self.estate, self.li, start=date(2020, 1, 1),
                                        building_id=building)  # fmt: skip
        app.billing.add_fee_item(ADMIN, self.estate, "property_fee", "物业费", "area",
                                 rates={"residential": "2.50"})  # fmt: skip
        app.billing.run(ADMIN, self.estate, "2026-10")

    def front_desk_card(self, **kw: Any) -> Scorecard:
        return self.app.appraisal.add_scorecard(
            ADMIN, self.estate, "front_desk", effective_from=date(2026, 10, 1),
            kpis=[
                Kpi("satisfaction_rate", D(50), {"kind": "linear", "floor": "0.5", "target": "1"}),
                Kpi("inspection", D(30), {"kind": "linear", "floor": "60", "target": "100"}),
                Kpi("training_score", D(20), {"kind": "threshold", "target": "80"}),
            ],
            bands=BANDS, multipliers=PAY, base_bonus=D(800), **kw,
        )  # fmt: skip

    def ticket(self, staff: int, satisfaction: str, at: datetime) -> None:
        t = self.app.tickets.open(
            ADMIN, self.estate, category="home_repair", channel="phone", summary="水龙头漏水",
            unit_id=self.units[0], first_contact_staff_id=staff, at=at,
        )  # fmt: skip
        self.app.tickets.assign(ADMIN, t.id, staff_id=staff, at=at + timedelta(minutes=5))
        self.app.tickets.resolve(ADMIN, t.id, "换阀芯", at=at + timedelta(hours=2))
        self.app.tickets.callback(
            ADMIN, t.id, satisfaction=satisfaction, at=at + timedelta(hours=5)
        )


@pytest.fixture
def w() -> Iterator[World]:
    world = World()
    yield world
    world.app.close()


def test_a_month_appraised_from_tickets_inspections_and_training(w: World) -> None:
    w.front_desk_card()
    w.clock.set(datetime(2026, 10, 20, 9, tzinfo=SH))
    for day, mood in (
        (5, "satisfied"),
        (6, "satisfied"),
        (7, "basically_satisfied"),
        (8, "dissatisfied"),
    ):
        w.ticket(w.zhang, mood, datetime(2026, 10, day, 10, tzinfo=SH))
    a = w.app.appraisal
    a.record_inspection(ADMIN, "2026-10", "team_leader", staff_id=w.zhang,
                        deductions=[("垃圾未清", D(2))])  # fmt: skip
    a.record_inspection(ADMIN, "2026-10", "supervisor", staff_id=w.zhang,
                        deductions=[("台面不洁", D(3)), ("着装不规范", D(2))])  # fmt: skip
    a.record_inspection(ADMIN, "2026-10", "area_steward", staff_id=w.zhang)
    a.record_training(ADMIN, w.zhang, "2026-10", D(85))
    result = a.appraise(ADMIN, w.estate, "2026-10").of("staff", w.zhang)
    lines = {x.metric: x for x in result.score.lines}
    # Satisfaction 3 of 4 = 0.75: halfway from 0.5 to 1, 50 points.
    assert (
        lines["satisfaction_rate"].value == D("0.7500") and lines["satisfaction_rate"].points == 50
    )
    # Inspection: 98 x 30% + 95 x 30% + 100 x 40% = 97.9: (97.9 - 60) / 40 = 94.75 points.
    assert lines["inspection"].value == D("97.9") and lines["inspection"].points == D("94.75")
    assert lines["training_score"].points == 100
    assert result.total == D("73.43")  # 50 x 50% + 94.75 x 30% + 100 x 20% = 73.425
    assert (result.grade, result.bonus) == ("C", D("800.00"))
    # 王 has no ticket, inspection or training: not scored, never a silent 100.
    wang = w.app.appraisal.appraise(ADMIN, w.estate, "2026-10").of("staff", w.wang)
    assert wang.total is None and wang.grade is None and wang.bonus == 0
    # 新人 starts in November: not appraised for October, and no input is taken for him.
    with pytest.raises(ValidationError, match="not active in 2026-10"):
        a.record_training(ADMIN, w.late, "2026-10", D(90))


def test_collectors_are_scored_on_collection_and_door_visits(w: World) -> None:
    w.app.appraisal.add_scorecard(
        ADMIN, w.estate, "collector", effective_from=date(2026, 10, 1),
        kpis=[Kpi("collection_rate", D(70), {"kind": "linear", "floor": "0.5", "target": "0.9"}),
              Kpi("visit_completion", D(30), {"kind": "linear", "floor": "0", "target": "1"})],
        bands=BANDS,
    )  # fmt: skip
    w.clock.set(datetime(2026, 10, 20, 9, tzinfo=SH))
    for unit in w.units[:3]:  # 3 of 4 flats pay October: 75%
        w.app.payments.pay_at_counter(ADMIN, unit, D(250), "cash")
    for day in (9, 12, 13):  # door visits on working days of October
        w.app.collection.log_attempt(ADMIN, w.units[3], "visit", "nobody_home",
                                     collector_staff_id=w.li,
                                     at=datetime(2026, 10, day, 15, tzinfo=SH))  # fmt: skip
    li = w.app.appraisal.appraise(ADMIN, w.estate, "2026-10").of("staff", w.li)
    lines = {x.metric: x for x in li.score.lines}
    assert lines["collection_rate"].value == D("0.7500")
    assert lines["collection_rate"].points == D("62.5")  # (0.75 - 0.5) / 0.4
    assert lines["visit_completion"].value == D("0.17")  # 3 visits / 18 working days
    assert li.total == D("48.85")  # 62.5 x 70% + 17 x 30%


def test_closing_freezes_the_month_and_corrections_go_to_a_later_one(w: World) -> None:
    w.front_desk_card()
    a = w.app.appraisal
    a.record_training(ADMIN, w.zhang, "2026-10", D(90))
    with pytest.raises(ValidationError, match="not over yet"):
        a.close(ADMIN, w.estate, "2026-10")
    w.clock.set(datetime(2026, 11, 2, 9, tzinfo=SH))
    closed = a.close(ADMIN, w.estate, "2026-10")
    assert closed.closed and a.close(ADMIN, w.estate, "2026-10") == a.results(
        ADMIN, w.estate, "2026-10"
    )
    with pytest.raises(Conflict, match="is closed"):
        a.record_training(ADMIN, w.zhang, "2026-10", D(60))
    with pytest.raises(Conflict, match="closed"):
        w.front_desk_card()  # a new version may not start in a closed month
    # A correction of October is an adjustment in November.
    a.record_adjustment(ADMIN, w.zhang, "2026-11", D(-5), "10月培训成绩录入有误",
                        corrects_period="2026-10")  # fmt: skip
    with pytest.raises(ValidationError, match="closed month before"):
        a.record_adjustment(ADMIN, w.zhang, "2026-11", D(2), "无", corrects_period="2026-11")
    a.record_training(ADMIN, w.zhang, "2026-11", D(90))
    nov = a.appraise(ADMIN, w.estate, "2026-11").of("staff", w.zhang)
    assert nov.score.deductions == 5 and nov.total == D(95)
    assert a.results(ADMIN, w.estate, "2026-10").of("staff", w.zhang).total == 100  # unchanged


def test_calibration_and_vendor_deductions_at_closing(w: World) -> None:
    w.front_desk_card()
    w.app.appraisal.add_scorecard(
        ADMIN, w.estate, "vendor", effective_from=date(2026, 10, 1),
        kpis=[Kpi("inspection", D(100), {"kind": "linear", "floor": "60", "target": "100"})],
        bands=BANDS, vendor_threshold=D(80), vendor_deduction_rate=D("0.05"),
    )  # fmt: skip
    a = w.app.appraisal
    for staff in (w.zhang, w.wang):
        a.record_training(ADMIN, staff, "2026-10", D(95))
    a.record_inspection(ADMIN, "2026-10", "supervisor", vendor_id=w.vendor,
                        deductions=[("垃圾未清", D(10)), ("楼道积尘", D(15))])  # fmt: skip
    w.clock.set(datetime(2026, 11, 2, 9, tzinfo=SH))
    closed = a.close(ADMIN, w.estate, "2026-10", calibration={"A": D("0.5")})
    zhang, wang = closed.of("staff", w.zhang), closed.of("staff", w.wang)
    # Both 100 (A); at most half may stay A: equal totals and KPIs, the lower id keeps it.
    assert (zhang.grade, wang.grade, wang.grade_before) == ("A", "B", "A")
    assert (zhang.bonus, wang.bonus) == (D("1200.00"), D("960.00"))
    assert (zhang.rank, wang.rank) == (1, 1)
    vendor = closed.of("vendor", w.vendor)
    assert vendor.total == D("37.50")  # 75 inspected: (75 - 60) / 40
    ((vid, got, rate, why),) = a.vendor_deductions(ADMIN, w.estate, "2026-10")
    assert (vid, got, rate) == (w.vendor, D("37.50"), D("0.05")) and "below 80" in why
    assert a.results(ADMIN, w.estate, "2026-10") == closed


def test_quarters_and_years_aggregate_the_closed_months(w: World) -> None:
    w.front_desk_card()
    a = w.app.appraisal
    for month, score_ in (("2026-10", 70), ("2026-11", 100)):
        a.record_training(ADMIN, w.zhang, month, D(score_))
    w.clock.set(datetime(2026, 12, 2, 9, tzinfo=SH))
    a.close(ADMIN, w.estate, "2026-10")
    a.close(ADMIN, w.estate, "2026-11")
    (q4,) = [r for r in a.aggregate(ADMIN, w.estate, "2026-Q4") if r.subject_id == w.zhang]
    assert q4.months == ("2026-10", "2026-11") and q4.total == D(50) and q4.grade == "D"
    (year,) = [r for r in a.aggregate(ADMIN, w.estate, "2026") if r.subject_id == w.zhang]
    assert year.total == D(50)
    with pytest.raises(ValidationError, match="2026-Q4"):
        a.aggregate(ADMIN, w.estate, "2026-13")


def test_bad_inputs_are_refused_and_write_nothing(w: World) -> None:
    w.front_desk_card()
    a = w.app.appraisal
    with pytest.raises(ValidationError, match="from 0 to 100"):
        a.record_training(ADMIN, w.zhang, "2026-10", D(101))
    with pytest.raises(ValidationError, match="level"):
        a.record_inspection(ADMIN, "2026-10", "manager", staff_id=w.zhang)
    with pytest.raises(ValidationError, match="say what was found"):
        a.record_inspection(
            ADMIN, "2026-10", "supervisor", staff_id=w.zhang, deductions=[(" ", D(1))]
        )
    with pytest.raises(ValidationError, match="one staff member"):
        a.record_inspection(ADMIN, "2026-10", "supervisor", staff_id=w.zhang, vendor_id=w.vendor)
    with pytest.raises(ValidationError, match="needs a reason"):
        a.record_discipline(ADMIN, w.zhang, "2026-10", D(2), "")
    with pytest.raises(ValidationError, match="not a metric"):
        a.add_scorecard(ADMIN, w.estate, "technician", effective_from=date(2026, 10, 1),
                        kpis=[Kpi("smiles", D(100), {"kind": "threshold", "target": "1"})],
                        bands=BANDS)  # fmt: skip
    with pytest.raises(PropcareError):
        a.record_training(ADMIN, w.zhang, "2026-10", 90.5)  # type: ignore[arg-type]
    desk = Actor("前台", {"front_desk"}, {w.estate})
    with pytest.raises(PermissionDenied):
        a.record_training(desk, w.zhang, "2026-10", D(90))
    assert a.inputs(ADMIN, w.estate, "2026-10") == []
    assert [c.role for c in a.scorecards(ADMIN, w.estate)] == ["front_desk"]


def test_cleaning_teams_are_appraised_from_their_inspections(w: World) -> None:
    cleaners = w.app.staff.create_team(ADMIN, w.estate, "保洁一组", "cleaning").id
    w.app.appraisal.add_scorecard(
        ADMIN, w.estate, "team:cleaning", effective_from=date(2026, 10, 1),
        kpis=[Kpi("inspection", D(100), {"kind": "stepped",
                                          "steps": [["0", "0"], ["80", "70"], ["90", "100"]]})],
        bands=BANDS,
    )  # fmt: skip
    a = w.app.appraisal
    a.record_inspection(ADMIN, "2026-10", "team_leader", team_id=cleaners,
                        deductions=[("垃圾未清", D(5))])  # fmt: skip
    a.record_inspection(ADMIN, "2026-10", "area_steward", team_id=cleaners,
                        deductions=[("绿化带有杂物", D(10)), ("楼道积尘", D(8))])  # fmt: skip
    team = a.appraise(ADMIN, w.estate, "2026-10").of("team", cleaners)
    # (95 x 30 + 82 x 40) / 70 = 87.57: the 80 step, 70 points.
    assert team.score.lines[0].value is not None
    assert team.score.lines[0].value.quantize(D("0.01")) == D("87.57")
    assert (team.total, team.grade, team.rank) == (D(70), "C", 1)
    inputs = a.inputs(ADMIN, w.estate, "2026-10")
    assert [i["deductions"] for i in inputs][1] == [("绿化带有杂物", D(10)), ("楼道积尘", D(8))]
    assert {i["entered_by"] for i in inputs} == {"system"}


def test_bonuses_round_half_up_and_a_zero_weight_level_is_no_data(w: World) -> None:
    w.app.appraisal.add_scorecard(
        ADMIN, w.estate, "front_desk", effective_from=date(2026, 10, 1),
        kpis=[Kpi("inspection", D(100), {"kind": "linear", "floor": "0", "target": "100"})],
        bands=BANDS, multipliers=PAY, base_bonus=D("1000.03"),
        inspection_weights={"team_leader": D(0), "supervisor": D(50), "area_steward": D(50)},
    )  # fmt: skip
    a = w.app.appraisal
    a.record_inspection(ADMIN, "2026-10", "supervisor", staff_id=w.zhang)
    a.record_inspection(ADMIN, "2026-10", "team_leader", staff_id=w.wang)  # weighs nothing
    got = a.appraise(ADMIN, w.estate, "2026-10")
    zhang = got.of("staff", w.zhang)
    assert zhang.bonus == zhang.score.bonus == D("1500.05")  # 1,500.045, half up
    assert got.of("staff", w.wang).total is None
