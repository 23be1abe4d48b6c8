"""examples/payment_webhook_server.py, driven over loopback HTTP with signed notices.

WeChat Pay and Alipay are played by the adapters' own test kits (keys generated for the
test, fake gateways on 127.0.0.1); the example's WSGI app runs in a thread and posts the
notices to an app configured with both adapters.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, Propcare, UnitSpec

ROOT = Path(__file__).resolve().parents[1]
for kit in ("propcare-wechatpay", "propcare-alipay"):
    sys.path.insert(0, str(ROOT / "adapters" / kit / "tests"))

import propcare_alipay  # noqa: E402
import propcare_alipay_testkit as alipay_kit  # noqa: E402
import propcare_wechatpay  # noqa: E402
import propcare_wechatpay_fake as wechat_kit  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()


def _example() -> ModuleType:
    path = ROOT / "examples" / "payment_webhook_server.py"
    spec = importlib.util.spec_from_file_location("payment_webhook_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Site:
    """The example server in front of an app with both payment adapters."""

    def __init__(self, wechat: Any, alipay: Any, clock: FixedClock) -> None:
        self.wechat = wechat
        config = {
            "gateways": {
                "counter": {},
                "wechatpay": wechat.settings(),
                "alipay": alipay_kit.settings(alipay.url, clock=clock),
            }
        }
        self.app = Propcare.open(
            "sqlite://:memory:", plugins=[propcare_wechatpay, propcare_alipay],
            load_entrypoints=False, clock=clock, config=config,
        )  # fmt: skip
        app = self.app
        estate = app.estates.create(ADMIN, "翠苑")
        assert estate.id == 1  # the estate both merchant accounts collect for
        self.estate = estate.id
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        specs = [UnitSpec(n, Decimal(100), "residential", date(2020, 1, 1)) for n in ("101", "102")]
        self.units = [u.id for u in app.estates.add_units(ADMIN, building.id, specs)]
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
        app.billing.run(ADMIN, estate.id, "2026-11")  # 250.00 each
        self.server = make_server("127.0.0.1", 0, _example().make_app(app), handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def post(self, provider: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.server.server_port}/notify/{provider}",
            data=body, headers=headers, method="POST",
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def payments(self) -> int:
        with self.app.unit_of_work(readonly=True) as uow:
            conn = uow.connection  # type: ignore[attr-defined]
            return int(conn.execute("SELECT COUNT(*) FROM payment_notices").fetchone()[0])

    def entries(self) -> int:
        with self.app.unit_of_work(readonly=True) as uow:
            conn = uow.connection  # type: ignore[attr-defined]
            return int(conn.execute("SELECT COUNT(*) FROM journal_entries").fetchone()[0])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.app.close()


@pytest.fixture
def site() -> Iterator[Site]:
    clock = FixedClock(datetime(2026, 11, 5, 9, 0, tzinfo=SH))
    with wechat_kit.FakeWeChatPay(clock) as wechat, alipay_kit.fake_alipay() as alipay:
        s = Site(wechat, alipay, clock)
        try:
            yield s
        finally:
            s.close()


def test_a_wechat_pay_notice_sent_100_times_posts_once(site: Site) -> None:
    intent = site.app.payments.request_payment(ADMIN, site.units[0], Decimal("250"), "wechatpay")
    headers, body = site.wechat.pay(intent.order_id)
    headers["Content-Type"] = "application/json"
    for _ in range(100):
        status, answer = site.post("wechatpay", headers, body)
        assert status == 200 and json.loads(answer) == {"code": "SUCCESS"}
    assert site.payments() == 1
    assert site.app.ledger.unit_balance(ADMIN, site.units[0]) == 0
    tampered = body.replace(b'"summary"', b'"Summary"')
    status, answer = site.post("wechatpay", headers, tampered)
    assert status == 400 and json.loads(answer)["code"] == "FAIL"
    assert site.payments() == 1


def test_an_alipay_notice_sent_100_times_posts_once(site: Site) -> None:
    intent = site.app.payments.request_payment(ADMIN, site.units[1], Decimal("250"), "alipay")
    body = alipay_kit.notice_body(intent.order_id, "250.00")
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    for _ in range(100):
        assert site.post("alipay", headers, body) == (200, b"success")
    assert site.payments() == 1
    assert site.app.ledger.unit_balance(ADMIN, site.units[1]) == 0
    tampered = body.replace(b"total_amount=250.00", b"total_amount=2.50")
    assert tampered != body
    assert site.post("alipay", headers, tampered) == (400, b"fail")
    assert site.payments() == 1


def test_a_wechat_pay_refund_callback_is_acknowledged_and_confirms_the_refund(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    intent = site.app.payments.request_payment(ADMIN, site.units[0], Decimal("250"), "wechatpay")
    headers, body = site.wechat.pay(intent.order_id)
    paid = site.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
    site.wechat.refund_script = ["PROCESSING", "PROCESSING"]
    first = site.app.payments.refund(ADMIN, paid.payment_id, Decimal("50"), "多收退款")
    second = site.app.payments.refund(ADMIN, paid.payment_id, Decimal("20"), "多收退款")
    assert (first.status, second.status) == ("pending", "pending")
    # A refund that failed at WeChat Pay: acknowledged (else it is re-sent for a day), kept.
    headers, body = site.wechat.refund_callback(second.refund_no, "REFUND.ABNORMAL")
    headers["Content-Type"] = "application/json"
    with caplog.at_level(logging.INFO, logger="payment_webhook_server"):
        assert site.post("wechatpay", headers, body) == (200, b'{"code": "SUCCESS"}')
    [warned] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"REFUND.ABNORMAL of refund {second.refund_no}" in warned.getMessage()
    assert "not paid; it stays pending" in warned.getMessage()
    site.wechat.settle(first.refund_no)
    headers, body = site.wechat.refund_callback(first.refund_no, "REFUND.SUCCESS")
    headers["Content-Type"] = "application/json"
    for _ in range(3):
        assert site.post("wechatpay", headers, body) == (200, b'{"code": "SUCCESS"}')
    statuses = {r.refund_no: r.status for r in site.app.payments.refunds(ADMIN, site.estate)}
    assert statuses == {first.refund_no: "paid", second.refund_no: "pending"}
    balances = site.app.ledger.trial_balance(ADMIN, site.estate)
    assert balances["gateway:wechatpay"] == Decimal("200.00")  # 250 in, 50 paid back once
    assert balances["refunds_payable"] == Decimal("20.00")
    assert site.payments() == 1
    # Forged, a refund callback is refused like any other.
    forged = {**headers, "Wechatpay-Signature": headers["Wechatpay-Signature"][::-1]}
    status, answer = site.post("wechatpay", forged, body)
    assert status == 400 and json.loads(answer)["code"] == "FAIL"


def test_an_alipay_closed_trade_is_acknowledged_and_posts_nothing(site: Site) -> None:
    intent = site.app.payments.request_payment(ADMIN, site.units[1], Decimal("250"), "alipay")
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    body = alipay_kit.notice_body(intent.order_id, "250.00")
    assert site.post("alipay", headers, body) == (200, b"success")
    paid = site.app.payments.handle_notification(ADMIN, "alipay", {}, body)  # the replay
    refund = site.app.payments.refund(ADMIN, paid.payment_id, Decimal("250.00"), "退房")
    assert refund.status == "paid"  # Alipay refunds at once (fund_change Y)
    entries = site.entries()
    # Refunded in full, the trade closes: Alipay's notice says so, and is acknowledged.
    closed = alipay_kit.form(alipay_kit.signed(alipay_kit.notice_params(
        intent.order_id, "250.00", trade_status="TRADE_CLOSED", out_biz_no=refund.refund_no,
        refund_fee="250.00", gmt_refund="2026-11-05 08:59:30.215", notify_id="c" * 32,
    )))  # fmt: skip
    assert site.post("alipay", headers, closed) == (200, b"success")
    # An order closed unpaid, too.
    unpaid = site.app.payments.request_payment(ADMIN, site.units[1], Decimal("9"), "alipay")
    closed_unpaid = alipay_kit.form(alipay_kit.signed(alipay_kit.notice_params(
        unpaid.order_id, "9.00", trade_no="2026110522001400002", trade_status="TRADE_CLOSED",
    )))  # fmt: skip
    assert site.post("alipay", headers, closed_unpaid) == (200, b"success")
    assert site.entries() == entries and site.payments() == 1
    assert [r.status for r in site.app.payments.refunds(ADMIN, site.estate)] == ["paid"]
    # Signed by anyone else, it is refused.
    forged = alipay_kit.form(alipay_kit.signed(alipay_kit.notice_params(
        intent.order_id, "250.00", trade_status="TRADE_CLOSED"), signer="other"))  # fmt: skip
    assert site.post("alipay", headers, forged) == (400, b"fail")


def test_anything_else_is_not_found(site: Site) -> None:
    status, _ = site.post("counter", {}, b"{}")
    assert status == 404
