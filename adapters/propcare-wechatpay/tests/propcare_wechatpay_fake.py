"""A local fake of WeChat Pay API v3 and the keys the tests generate, for the tests only.

The fake checks every request's ``Authorization`` signature with the merchant's public
key (its own code, not the adapter's, so a signing bug cannot hide behind itself) and
signs every answer with the platform key, like WeChat Pay. It also builds signed,
encrypted payment callbacks. It listens on 127.0.0.1 on a free port and stops when its
``with`` block ends.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import attrs
import propcare_wechatpay
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.x509.oid import NameOID

from propcare import Actor, FixedClock, Propcare, UnitSpec

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SH)
ADMIN = Actor.system()
MCHID = "1900000109"
APPID = "wx8888888888888888"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD00000001"
PLATFORM_SERIAL = 0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1
PUBKEY_ID = "PUB_KEY_ID_0114232134912410000000000000000001"
NOTIFY_URL = "https://wuye.example.com/pay/wechatpay/notify"


@attrs.frozen
class Keys:
    """Everything a merchant account holds, generated fresh (never a real key)."""

    merchant: rsa.RSAPrivateKey
    platform: rsa.RSAPrivateKey  # WeChat Pay's side: signs answers and callbacks
    platform_cert_pem: str  # the platform certificate of that key, serial PLATFORM_SERIAL
    other: rsa.RSAPrivateKey  # a key propcare does not know
    apiv3_key: str  # 32 ASCII characters, as the merchant platform issues it

    @property
    def platform_serial(self) -> str:
        return f"{PLATFORM_SERIAL:X}"

    def merchant_pem(self) -> str:
        return self.private_pem(self.merchant)

    @staticmethod
    def private_pem(key: rsa.RSAPrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @staticmethod
    def public_pem(key: rsa.RSAPrivateKey) -> str:
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


# The test platform certificate's validity: five years, as WeChat Pay issues them, around
# both the tests' fixed clocks (2026-11) and the machine's own (which wechatpayv3 reads).
CERT_FROM = datetime(2024, 6, 1, tzinfo=UTC)
CERT_UNTIL = datetime(2029, 6, 1, tzinfo=UTC)


def certificate(
    key: rsa.RSAPrivateKey,
    *,
    serial: int = PLATFORM_SERIAL,
    not_before: datetime = CERT_FROM,
    not_after: datetime = CERT_UNTIL,
) -> str:
    """A self-signed platform certificate (PEM) of ``key`` with that serial and validity."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (test)")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@functools.cache
def keys() -> Keys:
    """One set of keys per test run: RSA key generation is the slow part."""
    merchant, platform, other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
    )
    return Keys(
        merchant=merchant,
        platform=platform,
        platform_cert_pem=certificate(platform),
        other=other,
        apiv3_key=secrets.token_hex(16),
    )


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, PKCS1v15(), SHA256())).decode()


def signed_headers(
    body: bytes,
    *,
    at: datetime,
    key: rsa.RSAPrivateKey | None = None,
    serial: str | None = None,
) -> dict[str, str]:
    """The Wechatpay-* headers WeChat Pay puts on an answer or a callback."""
    k = keys()
    stamp, nonce = str(int(at.timestamp())), secrets.token_hex(16)
    message = f"{stamp}\n{nonce}\n".encode() + body + b"\n"
    return {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa_sign(key or k.platform, message),
        "Wechatpay-Serial": serial or k.platform_serial,
    }


def encrypt_resource(
    data: Mapping[str, Any], *, apiv3_key: str | None = None, original_type: str = "transaction"
) -> dict[str, str]:
    nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay sends
    aad = original_type
    key = (apiv3_key or keys().apiv3_key).encode()
    sealed = AESGCM(key).encrypt(nonce.encode(), json.dumps(data).encode(), aad.encode())
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode(),
        "associated_data": aad,
        "nonce": nonce,
    }


def transaction(order_id: str, total: int, txn_id: str, **changes: Any) -> dict[str, Any]:
    """The decrypted resource of a successful payment callback."""
    resource: dict[str, Any] = {
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": order_id,
        "transaction_id": txn_id,
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": "2026-11-02T09:00:05+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {
            "total": total,
            "payer_total": total,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    resource.update(changes)
    return resource


def refund(
    txn_id: str, order_id: str, refund_no: str, refund: int, total: int, status: str = "SUCCESS"
) -> dict[str, Any]:
    """The decrypted resource of a refund callback (退款结果通知)."""
    return {
        "mchid": MCHID,
        "transaction_id": txn_id,
        "out_trade_no": order_id,
        "refund_id": "50300" + secrets.token_hex(8),
        "out_refund_no": refund_no,
        "refund_status": status,
        "success_time": "2026-11-02T09:00:30+08:00",
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund},
    }


def callback(
    resource: Mapping[str, Any],
    *,
    at: datetime = T0,
    key: rsa.RSAPrivateKey | None = None,
    serial: str | None = None,
    event_type: str = "TRANSACTION.SUCCESS",
    apiv3_key: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """A payment (or, by ``event_type``, refund) callback as WeChat Pay posts it: signed
    headers and the raw body."""
    refunding = event_type.startswith("REFUND.")
    envelope = {
        "id": "EV-" + secrets.token_hex(8),
        "create_time": at.isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "退款成功" if refunding else "支付成功",
        "resource": encrypt_resource(
            resource, apiv3_key=apiv3_key, original_type="refund" if refunding else "transaction"
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    return signed_headers(body, at=at, key=key, serial=serial), body


def account_settings(base_url: str, clock: FixedClock, **changes: Any) -> dict[str, Any]:
    """``gateways.wechatpay`` settings for the test merchant account (estate 1)."""
    k = keys()
    settings: dict[str, Any] = {
        "mchid": MCHID,
        "appid": APPID,
        "merchant_private_key": k.merchant_pem(),
        "merchant_serial_no": MERCHANT_SERIAL,
        "apiv3_key": k.apiv3_key,
        "platform_public_keys": {
            k.platform_serial: k.platform_cert_pem,
            PUBKEY_ID: Keys.public_pem(k.platform),
        },
        "base_url": base_url,
        "notify_url": NOTIFY_URL,
        "estate_id": 1,
        "clock": clock,
        "timeout": 5,
    }
    settings.update(changes)
    return settings


ORDER_PATHS = ("/v3/pay/transactions/native", "/v3/pay/transactions/jsapi")
_AUTH = re.compile(r'(\w+)="([^"]*)"')


class FakeWeChatPay:
    """WeChat Pay API v3 on 127.0.0.1: orders, order query, refunds, refund query.

    ``refund_script`` takes one answer per new refund number: ``SUCCESS``,
    ``PROCESSING``, ``CLOSED``, ``500`` (an error, nothing stored), ``badsig`` or
    ``unsigned`` (a refund made, but the answer does not verify). A refund number seen
    before gets its first answer again, as WeChat Pay dedupes by ``out_refund_no``.
    """

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.orders: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.refund_script: list[str] = []
        self.requests: list[tuple[str, str, Any]] = []  # method, path, JSON body
        self.rejected: list[str] = []  # requests whose signature did not verify
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output quiet

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for one, at the end of every test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeWeChatPay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def settings(self, **changes: Any) -> dict[str, Any]:
        """The ``gateways.wechatpay`` settings of the merchant account this fake serves."""
        return account_settings(self.base_url, self.clock, **changes)

    def pay(self, order_id: str, **changes: Any) -> tuple[dict[str, str], bytes]:
        """The payer pays the order: WeChat Pay's callback for it (signed, encrypted)."""
        with self._lock:
            total = self.orders[order_id]["amount"]["total"]
            txn_id = "4200000" + secrets.token_hex(8)[:14]
            self.transactions[txn_id] = {"out_trade_no": order_id, "total": total}
        return callback(transaction(order_id, total, txn_id, **changes), at=self.clock.now())

    def refunded_fen(self) -> int:
        """What WeChat Pay has paid back (refunds in SUCCESS)."""
        return sum(r["amount"]["refund"] for r in self.refunds.values() if r["status"] == "SUCCESS")

    # --- the server side -------------------------------------------------------------

    def _verify_request(self, method: str, path: str, headers: Any, body: bytes) -> str | None:
        """Why the request's signature fails, or None when it verifies."""
        auth = headers.get("Authorization", "")
        scheme, _, params = auth.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return f"scheme {scheme!r}"
        fields = dict(_AUTH.findall(params))
        if fields.get("mchid") != MCHID or fields.get("serial_no") != MERCHANT_SERIAL:
            return f"mchid/serial {fields.get('mchid')} {fields.get('serial_no')}"
        stamp = fields.get("timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - self.clock.now().timestamp()) >= 300:
            return f"timestamp {stamp}"
        message = f"{method}\n{path}\n{stamp}\n{fields.get('nonce_str', '')}\n".encode()
        try:
            keys().merchant.public_key().verify(
                base64.b64decode(fields.get("signature", "")),
                message + body + b"\n",
                PKCS1v15(),
                SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "signature"
        return None

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        why = self._verify_request(method, handler.path, handler.headers, body)
        payload = json.loads(body) if body else None
        with self._lock:
            self.requests.append((method, handler.path, payload))
            if why is not None:
                self.rejected.append(why)
                status, answer, mode = 401, {"code": "SIGN_ERROR", "message": why}, "signed"
            else:
                status, answer, mode = self._route(method, handler.path, payload)
        data = json.dumps(answer, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-ID", secrets.token_hex(8))
        if mode != "unsigned":
            key = keys().other if mode == "badsig" else None
            for name, value in signed_headers(data, at=self.clock.now(), key=key).items():
                handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, target: str, body: Any) -> tuple[int, dict[str, Any], str]:
        url = urlsplit(target)
        path = url.path
        if method == "POST" and path in (
            "/v3/pay/transactions/native",
            "/v3/pay/transactions/jsapi",
        ):
            if body.get("mchid") != MCHID or body.get("appid") != APPID:
                return 400, {"code": "PARAM_ERROR", "message": "mchid/appid"}, "signed"
            if path.endswith("jsapi") and not body.get("payer", {}).get("openid"):
                return 400, {"code": "PARAM_ERROR", "message": "payer.openid"}, "signed"
            self.orders[body["out_trade_no"]] = body
            if path.endswith("native"):
                return 200, {"code_url": "weixin://wxpay/bizpayurl?pr=" + secrets.token_hex(4)}, ""
            return 200, {"prepay_id": "wx" + secrets.token_hex(15)}, ""
        prefix = "/v3/pay/transactions/id/"
        if method == "GET" and path.startswith(prefix):
            txn = self.transactions.get(path[len(prefix) :])
            if txn is None or parse_qs(url.query).get("mchid") != [MCHID]:
                return 404, {"code": "ORDER_NOT_EXIST", "message": "no such order"}, "signed"
            answer = transaction(txn["out_trade_no"], txn["total"], path[len(prefix) :])
            return 200, answer, ""
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return self._refund(body)
        prefix = "/v3/refund/domestic/refunds/"
        if method == "GET" and path.startswith(prefix):
            refund = self.refunds.get(path[len(prefix) :])
            if refund is None:
                return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "no such refund"}, "signed"
            return 200, refund, ""
        return 404, {"code": "NOT_FOUND", "message": target}, "signed"

    def _refund(self, body: Any) -> tuple[int, dict[str, Any], str]:
        number = body.get("out_refund_no")
        if number in self.refunds:
            return 200, self.refunds[number], ""
        txn = self.transactions.get(body.get("transaction_id"))
        amount = body.get("amount", {})
        if txn is None or amount.get("total") != txn["total"] or amount.get("currency") != "CNY":
            return 400, {"code": "PARAM_ERROR", "message": "amount.total"}, "signed"
        answer = self.refund_script.pop(0) if self.refund_script else "SUCCESS"
        if answer == "500":
            return 500, {"code": "SYSTEM_ERROR", "message": "系统繁忙，请稍后再试"}, "signed"
        status = "SUCCESS" if answer in ("badsig", "unsigned") else answer
        self.refunds[number] = {
            "refund_id": "50300" + secrets.token_hex(8),
            "out_refund_no": number,
            "transaction_id": body["transaction_id"],
            "out_trade_no": txn["out_trade_no"],
            "channel": "ORIGINAL",
            "status": status,
            "amount": {"refund": amount["refund"], "total": txn["total"], "currency": "CNY"},
        }
        return 200, self.refunds[number], answer if answer in ("badsig", "unsigned") else ""

    def settle(self, refund_no: str) -> None:
        """A PROCESSING refund is paid (as WeChat Pay does some minutes later)."""
        with self._lock:
            self.refunds[refund_no]["status"] = "SUCCESS"

    def refund_callback(
        self, refund_no: str, event_type: str = "REFUND.SUCCESS"
    ) -> tuple[dict[str, str], bytes]:
        """WeChat Pay's callback of a refund's outcome (signed, encrypted)."""
        with self._lock:
            held = self.refunds[refund_no]
        status = event_type.removeprefix("REFUND.")
        resource = refund(
            held["transaction_id"],
            held["out_trade_no"],
            refund_no,
            held["amount"]["refund"],
            held["amount"]["total"],
            status,
        )
        return callback(resource, at=self.clock.now(), event_type=event_type)


class World:
    """An app with the wechatpay gateway, one estate (id 1, the account's), one unit
    billed 250.00 for 2026-11."""

    def __init__(self, fake: FakeWeChatPay, **changes: Any) -> None:
        self.fake = fake
        self.clock = fake.clock
        self.app = Propcare.open(
            "sqlite://:memory:",
            plugins=[propcare_wechatpay],
            load_entrypoints=False,
            clock=self.clock,
            config={"gateways": {"counter": {}, "wechatpay": fake.settings(**changes)}},
        )
        app = self.app
        estate = app.estates.create(ADMIN, "翠苑")
        assert estate.id == 1  # the estate the merchant account collects for
        self.estate = estate.id
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        (unit,) = app.estates.add_units(
            ADMIN, building.id, [UnitSpec("101", Decimal("100"), "residential", date(2020, 1, 1))]
        )
        self.unit = unit.id
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
        app.billing.run(ADMIN, estate.id, "2026-11")  # 250.00

    def close(self) -> None:
        self.app.close()

    def rows(self, table: str) -> int:
        with self.app.unit_of_work(readonly=True) as uow:
            conn = uow.connection  # type: ignore[attr-defined]
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def state(self) -> tuple[int, ...]:
        """Row counts of everything a payment or refund writes."""
        tables = ("journal_entries", "postings", "receipts", "payment_notices",
                  "payment_allocations", "payment_refunds")  # fmt: skip
        return tuple(self.rows(t) for t in tables)

    def owed(self) -> list[tuple[str, str, Decimal]]:
        return self.app.ledger.open_receivables(ADMIN, self.unit)

    def balances(self) -> dict[str, Decimal]:
        return dict(self.app.ledger.trial_balance(ADMIN, self.estate))


def world(fake: FakeWeChatPay, **changes: Any) -> Iterator[World]:
    """Body of the ``w`` fixture of the test modules."""
    w = World(fake, **changes)
    try:
        yield w
        # Every test leaves the books balanced.
        with w.app.unit_of_work(readonly=True) as uow:
            assert sum(uow.ledger.trial_balance(w.estate).values()) == 0
    finally:
        w.close()


# For a test that needs settings of its own: ``with opened(fake, trade_type="jsapi") as w``.
opened = contextlib.contextmanager(world)
