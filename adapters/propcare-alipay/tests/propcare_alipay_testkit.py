"""Test kit for propcare-alipay: keys made here, signed notices, and a fake Alipay.

The fake gateway and the notice signer compute Alipay's signed text on their own
(they do not call ``propcare_alipay.signing``), so a mistake in the adapter's
signing text shows up as a failed verification instead of agreeing with itself.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 5, 9, 0, tzinfo=SH)
APP_ID = "2021004100000001"
SELLER_ID = "2088102100000001"
NOTIFY_URL = "https://pay.example.com/alipay/notify"


@cache
def key(name: str) -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key per name ("app", "alipay", "other"), made once per run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(name: str) -> str:
    return (
        key(name)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )


def public_pem(name: str) -> str:
    return (
        key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _text(params: Mapping[str, str], drop: tuple[str, ...], *, keep_empty: bool = False) -> str:
    """Requests are signed without their empty values; notices with every value."""
    pairs = sorted((k, v) for k, v in params.items() if k not in drop and (keep_empty or v != ""))
    return "&".join(k + "=" + v for k, v in pairs)


def rsa2(signer: rsa.RSAPrivateKey, text: str, charset: str = "utf-8") -> str:
    raw = signer.sign(text.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def rsa2_ok(public: rsa.RSAPublicKey, text: str, signature: str) -> bool:
    try:
        public.verify(
            base64.b64decode(signature), text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def beijing(at: datetime) -> str:
    return at.astimezone(SH).strftime("%Y-%m-%d %H:%M:%S")


def notice_params(
    order_id: str, amount: str, trade_no: str = "2026110522001400001", **extra: str
) -> dict[str, str]:
    """The parameters of a TRADE_SUCCESS notice, as Alipay sends them (unsigned)."""
    params = {
        "notify_time": beijing(T0 - timedelta(minutes=1)),
        "notify_type": "trade_status_sync",
        "notify_id": f"ac05099524730693a8b330c5ecf72da{trade_no[-4:]}",
        "charset": "utf-8",
        "version": "1.0",
        "app_id": APP_ID,
        "seller_id": SELLER_ID,
        "trade_no": trade_no,
        "out_trade_no": order_id,
        "buyer_id": "2088102122524333",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": amount,
        "receipt_amount": amount,
        "subject": "物业费 2026-11",
        "gmt_create": beijing(T0 - timedelta(minutes=3)),
        "gmt_payment": beijing(T0 - timedelta(minutes=2)),
        "fund_bill_list": '[{"amount":"' + amount + '","fundChannel":"ALIPAYACCOUNT"}]',
    }
    params.update(extra)
    return params


def signed(
    params: Mapping[str, str], signer: str = "alipay", charset: str = "utf-8"
) -> dict[str, str]:
    """``params`` with ``sign_type`` RSA2 and the ``sign`` of ``signer``'s key, over
    every parameter but those two, empty ones included (as Alipay signs a notice)."""
    out = dict(params)
    out["sign_type"] = "RSA2"
    out["sign"] = rsa2(key(signer), _text(out, ("sign", "sign_type"), keep_empty=True), charset)
    return out


def form(params: Mapping[str, str], charset: str = "utf-8") -> bytes:
    return urlencode(list(params.items()), encoding=charset).encode("ascii")


def notice_body(order_id: str, amount: str, **extra: str) -> bytes:
    return form(signed(notice_params(order_id, amount, **extra)))


class FakeAlipay:
    """Alipay's gateway on 127.0.0.1: checks each request's RSA2 signature with the app
    public key, keeps orders and refunds, and answers JSON signed with the "alipay" key.

    ``script`` holds what to do with the next requests, first to last: "http500",
    "bad_sign" (answer signed by another key), "unsigned", "busy" (code 20000), or
    "ok". Refunds are deduped by ``out_request_no`` as Alipay does: a repeat answers
    ``fund_change`` N.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.orders: dict[str, str] = {}
        self.refunds: dict[str, tuple[str, str]] = {}  # out_request_no -> trade, amount
        self.script: list[str] = []
        self.bad_signatures = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                status, body = fake.handle(self.rfile.read(length))
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/gateway.do"

    def handle(self, raw: bytes) -> tuple[int, bytes]:
        params = dict(parse_qsl(raw.decode("ascii"), keep_blank_values=True))
        with self._lock:
            self.requests.append(params)
            action = self.script.pop(0) if self.script else "ok"
        if action == "http500":
            return 500, b"internal error"
        method = params.get("method", "")
        node = method.replace(".", "_") + "_response"
        if not rsa2_ok(key("app").public_key(), _text(params, ("sign",)), params.get("sign", "")):
            with self._lock:
                self.bad_signatures += 1
            reply: dict[str, Any] = {
                "code": "40002",
                "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature",
                "sub_msg": "验签出错",
            }
        elif action == "busy":
            reply = {"code": "20000", "msg": "Service Currently Unavailable",
                     "sub_code": "aop.ACQ.SYSTEM_ERROR", "sub_msg": "系统繁忙"}  # fmt: skip
        else:
            reply = self.answer(method, json.loads(params["biz_content"]))
        # Alipay signs the text of the response object as written: spaces and all.
        text = json.dumps(reply, ensure_ascii=False, indent=None, separators=(", ", ": "))
        if action == "unsigned":
            return 200, ('{"' + node + '": ' + text + "}").encode("utf-8")
        signer = key("other") if action == "bad_sign" else key("alipay")
        body = '{"' + node + '": ' + text + ', "sign": "' + rsa2(signer, text) + '"}'
        return 200, body.encode("utf-8")

    def answer(self, method: str, biz: dict[str, str]) -> dict[str, Any]:
        ok = {"code": "10000", "msg": "Success"}
        with self._lock:
            if method == "alipay.trade.precreate":
                self.orders[biz["out_trade_no"]] = biz["total_amount"]
                qr = "https://qr.alipay.com/bax0" + biz["out_trade_no"][:8]
                return {**ok, "out_trade_no": biz["out_trade_no"], "qr_code": qr}
            if method == "alipay.trade.refund":
                first = biz["out_request_no"] not in self.refunds
                if first:
                    self.refunds[biz["out_request_no"]] = (biz["trade_no"], biz["refund_amount"])
                return {
                    **ok,
                    "trade_no": biz["trade_no"],
                    "out_trade_no": "",
                    "fund_change": "Y" if first else "N",
                    "refund_fee": biz["refund_amount"],
                }
            if method == "alipay.trade.fastpay.refund.query":
                done = self.refunds.get(biz["out_request_no"])
                if done is None or done[0] != biz["trade_no"]:
                    return {**ok, "trade_no": biz["trade_no"]}
                return {**ok, "trade_no": biz["trade_no"], "refund_amount": done[1],
                        "refund_status": "REFUND_SUCCESS"}  # fmt: skip
        return {"code": "40004", "msg": "Business Failed", "sub_code": "UNKNOWN_METHOD"}


@contextmanager
def fake_alipay() -> Iterator[FakeAlipay]:
    """The fake gateway, serving in a thread until the block ends."""
    fake = FakeAlipay()
    # A short poll interval: shutdown waits up to one interval.
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=5)


def settings(
    gateway_url: str = "https://openapi.alipay.com/gateway.do", **extra: Any
) -> dict[str, Any]:
    """Valid ``gateways.alipay`` settings with the test keys."""
    base: dict[str, Any] = {
        "app_id": APP_ID,
        "seller_id": SELLER_ID,
        "private_key": private_pem("app"),
        "alipay_public_key": public_pem("alipay"),
        "gateway_url": gateway_url,
        "notify_url": NOTIFY_URL,
        "estate_id": 1,
        "timeout": 5,
    }
    base.update(extra)
    return base
