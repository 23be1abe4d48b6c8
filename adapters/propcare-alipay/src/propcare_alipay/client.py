"""The Alipay gateway client: QR orders, verified notices, refunds.

propcare's ledger calls it through :class:`~propcare.ledger.gateways.GatewayClient`:

- :meth:`AlipayClient.create_payment_request` calls ``alipay.trade.precreate`` (当面付,
  scan to pay) and returns the QR code's content as the intent's ``pay_url``;
- :meth:`AlipayClient.parse_notification` verifies an asynchronous notice (异步通知) and
  decodes it into a :class:`~propcare.ledger.gateways.PaymentNotice`;
- :meth:`AlipayClient.request_refund` calls ``alipay.trade.refund`` with our refund id as
  ``out_request_no``, so a retried refund is paid once.

Requests are signed with the app's private key and every answer is checked against
the Alipay public key before anything in it is believed.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import unquote_plus, urlencode
from urllib.request import HTTPRedirectHandler, Request, build_opener
from zoneinfo import ZoneInfo

from propcare.errors import PropcareError, ValidationError
from propcare.ledger.gateways import (
    PaymentIntent,
    PaymentNotice,
    PaymentRequest,
    RefundRequest,
    RefundResult,
)
from propcare.money import exact
from propcare_alipay.settings import AlipaySettings
from propcare_alipay.signing import response_members, sign, signing_text, verify

__all__ = [
    "CHARSETS",
    "MAX_CLOCK_SKEW",
    "PAID_STATUSES",
    "PROVIDER",
    "AlipayClient",
    "AlipayError",
    "NotAPayment",
    "answer",
    "decode_form",
]

PROVIDER = "alipay"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # Alipay's times carry no zone; they are Beijing time
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The encodings Alipay sends (its ``charset`` parameter), by Python codec name.
CHARSETS = frozenset({"utf-8", "gbk", "gb2312", "gb18030"})
PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
# A notice dated this far ahead of our clock is refused: clocks drift, forgeries lie.
MAX_CLOCK_SKEW = timedelta(minutes=10)
MAX_RESPONSE_BYTES = 1 << 20
SUCCESS_CODE = "10000"

_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


class AlipayError(PropcareError):
    """Alipay could not be reached, refused a request, or gave an answer that does not
    verify. ``field`` is the API method, ``value`` Alipay's code (or the URL)."""


class NotAPayment(ValidationError):
    """A genuine notice (signature, ids and age verified) that reports no money received:
    ``WAIT_BUYER_PAY``, or ``TRADE_CLOSED`` (an order closed unpaid, or a trade refunded
    in full). Nothing is posted. A web endpoint acknowledges it (answers ``success``, see
    :func:`answer`), or Alipay re-sends it for a day, and records what it says:

    - ``estate_id``: the estate this merchant account collects for;
    - ``status``, ``trade_no``, ``order_id``: the trade as Alipay reports it;
    - ``refund_no``: for a refund notice, our refund number (Alipay's ``out_biz_no``,
      the ``out_request_no`` of ``alipay.trade.refund``), else None; ``refund_paid``:
      whether the notice says that refund is paid (a full refund closes the trade);
    - ``params``: every verified parameter but ``sign``.
    """

    def __init__(
        self, field: str, value: Any, rule: str, *, estate_id: int, params: Mapping[str, str]
    ) -> None:
        super().__init__(field, value, rule)
        self.estate_id = estate_id
        self.params: dict[str, str] = {k: v for k, v in params.items() if k != "sign"}
        self.status = self.params.get("trade_status", "")
        self.trade_no = self.params.get("trade_no", "")
        self.order_id = self.params.get("out_trade_no", "")
        self.refund_no: str | None = self.params.get("out_biz_no") or None
        # A full refund closes the trade; Alipay's notice then names the refund and its total.
        self.refund_paid = (
            self.status == "TRADE_CLOSED"
            and self.refund_no is not None
            and bool(self.params.get("refund_fee"))
        )


def answer(ok: bool) -> bytes:
    """The body the notify endpoint returns: ``success`` only when the notice was
    recorded (Alipay then stops re-sending it), ``fail`` otherwise."""
    return b"success" if ok else b"fail"


def decode_form(body: bytes) -> tuple[dict[str, str], str]:
    """Decode a form-urlencoded body in the charset it names: (parameters, codec name).

    The body must be ASCII (percent-encoded). Its ``charset`` parameter (default UTF-8)
    decodes every name and value, strictly; a name given twice is refused, since two
    readers could take different values of it.
    """
    if not isinstance(body, bytes | bytearray):
        raise ValidationError("body", type(body).__name__, "must be the POST body as bytes")
    try:
        text = bytes(body).decode("ascii")
    except UnicodeDecodeError:
        raise ValidationError(
            "body", bytes(body[:80]), "must be percent-encoded form data (ASCII only)"
        ) from None
    raw: list[tuple[str, str]] = []
    for part in text.split("&"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ValidationError("body", part[:80], "each parameter must be name=value")
        raw.append((name, value))
    # The charset parameter is ASCII whatever the charset, so latin-1 finds it safely.
    named = [v for k, v in raw if unquote_plus(k, encoding="latin-1") == "charset"]
    charset = "utf-8"
    if named:
        given = unquote_plus(named[0], encoding="latin-1")
        try:
            charset = codecs.lookup(given).name
        except LookupError:
            charset = ""
        if charset not in CHARSETS:
            raise ValidationError("charset", given, f"must be one of {', '.join(sorted(CHARSETS))}")
    params: dict[str, str] = {}
    for name, value in raw:
        try:
            key = unquote_plus(name, encoding=charset, errors="strict")
            params_value = unquote_plus(value, encoding=charset, errors="strict")
        except UnicodeDecodeError:
            raise ValidationError(
                "body", f"{name}={value}"[:80], f"is not valid {charset} once percent-decoded"
            ) from None
        if key in params:
            raise ValidationError(key, params_value, "appears more than once in the notice")
        params[key] = params_value
    return params, charset


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise ValidationError(name, None, "is missing from the notice")
    return value


def _beijing_time(name: str, value: str) -> datetime:
    if not _TIME.fullmatch(value):
        raise ValidationError(name, value, "must be yyyy-MM-dd HH:mm:ss (Beijing time)")
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise ValidationError(name, value, "is not a real date and time") from None


def _yuan(amount: Decimal) -> str:
    """Yuan with exactly two places, as Alipay's amount fields want them."""
    return format(exact(amount, "amount"), "f")


class _NoRedirect(HTTPRedirectHandler):
    """A gateway that redirects a signed money request is refused, not followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class AlipayClient:
    """A :class:`~propcare.ledger.gateways.GatewayClient` for Alipay (支付宝), built from
    the ``gateways.alipay`` settings (see :class:`~propcare_alipay.settings.AlipaySettings`).
    """

    name = PROVIDER

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = AlipaySettings.from_mapping(settings)
        self._opener = build_opener(_NoRedirect)

    # --- money in --------------------------------------------------------------------

    def create_payment_request(self, request: PaymentRequest) -> PaymentIntent:
        """``alipay.trade.precreate``: a QR code for the payer to scan; our order id is
        Alipay's ``out_trade_no``, so the notice finds the order."""
        method = "alipay.trade.precreate"
        reply = self.call(
            method,
            {
                "out_trade_no": request.order_id,
                "total_amount": _yuan(request.amount),
                "subject": request.description.strip() or self.settings.subject,
            },
            notify=True,
        )
        if reply.get("out_trade_no") != request.order_id:
            raise AlipayError(
                method,
                reply.get("out_trade_no"),
                f"answered for another order than {request.order_id}",
            )
        qr_code = reply.get("qr_code")
        if not isinstance(qr_code, str) or not qr_code:
            raise AlipayError(method, qr_code, "the answer has no qr_code")
        return PaymentIntent(PROVIDER, request.order_id, request.order_id, pay_url=qr_code)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """Verify an asynchronous notice and decode it; ValidationError if it does not verify.

        Checked, in order: the RSA2 signature with the Alipay public key (over every
        parameter but ``sign`` and ``sign_type``, empty ones included, sorted); ``app_id`` and
        ``seller_id`` are ours; ``notify_time`` is at most ``max_notice_age`` old and at
        most ``MAX_CLOCK_SKEW`` ahead; ``trade_status`` reports money received (else
        :class:`NotAPayment`); ``out_trade_no``, ``trade_no``, ``total_amount`` (yuan, at
        most two places) and ``gmt_payment`` are present and well formed. Headers carry
        nothing Alipay signs.
        """
        params, charset = decode_form(body)
        signature = _required(params, "sign")
        sign_type = _required(params, "sign_type")
        if sign_type != "RSA2":
            raise ValidationError("sign_type", sign_type, "must be RSA2 (SHA256withRSA)")
        text = signing_text(params, exclude=("sign", "sign_type"), keep_empty=True)
        if not verify(self.settings.alipay_public_key, text, signature, charset):
            raise ValidationError(
                "sign", signature[:24] + "...", "does not verify with alipay_public_key"
            )
        settings = self.settings
        for name, ours in (("app_id", settings.app_id), ("seller_id", settings.seller_id)):
            if params.get(name) != ours:
                raise ValidationError(name, params.get(name), f"must be this gateway's {ours}")
        notify_id = _required(params, "notify_id")
        notify_time = _beijing_time("notify_time", _required(params, "notify_time"))
        age = settings.clock.now() - notify_time
        if age > settings.max_notice_age:
            raise ValidationError(
                "notify_time",
                params["notify_time"],
                f"is older than max_notice_age ({settings.max_notice_age}): stale or replayed",
            )
        if age < -MAX_CLOCK_SKEW:
            raise ValidationError(
                "notify_time", params["notify_time"], f"is more than {MAX_CLOCK_SKEW} ahead"
            )
        status = _required(params, "trade_status")
        if status not in PAID_STATUSES:
            raise NotAPayment(
                "trade_status",
                status,
                f"reports no payment (only {' or '.join(sorted(PAID_STATUSES))} are posted)",
                estate_id=settings.estate_id,
                params=params,
            )
        out_trade_no = _required(params, "out_trade_no")
        trade_no = _required(params, "trade_no")
        total = _required(params, "total_amount")
        if not _AMOUNT.fullmatch(total) or Decimal(total) <= 0:
            raise ValidationError(
                "total_amount", total, "must be a positive amount of yuan, at most two places"
            )
        paid_at = _beijing_time("gmt_payment", _required(params, "gmt_payment"))
        raw = {k: v for k, v in params.items() if k != "sign"}
        raw["notify_id"] = notify_id  # kept for the record
        # The ledger keys the payment by (provider, merchant, trade_no): the seller account
        # that received the money, whichever estate the notice is for.
        return PaymentNotice(
            estate_id=settings.estate_id,
            provider=PROVIDER,
            provider_txn_id=trade_no,
            amount=Decimal(total),
            paid_at=paid_at,
            order_id=out_trade_no,
            method=PROVIDER,
            merchant=settings.seller_id,
            raw=raw,
        )

    # --- money out -------------------------------------------------------------------

    def request_refund(self, request: RefundRequest) -> RefundResult:
        """``alipay.trade.refund`` of ``provider_txn_id`` (Alipay's trade_no).

        ``out_request_no`` is our refund id, the same on every retry, so Alipay pays it
        once. ``fund_change`` Y means this call moved the money (done); N means it did
        not (a repeat of a refund already made, or one still in progress): pending,
        until :meth:`query_refund` or Alipay's refund notice confirms it.
        """
        method = "alipay.trade.refund"
        biz = {
            "trade_no": request.provider_txn_id,
            "refund_amount": _yuan(request.amount),
            "out_request_no": request.refund_id,
        }
        if request.reason.strip():
            biz["refund_reason"] = request.reason.strip()[:256]
        reply = self.call(method, biz)
        if reply.get("trade_no", request.provider_txn_id) != request.provider_txn_id:
            raise AlipayError(
                method,
                reply.get("trade_no"),
                f"answered for another trade than {request.provider_txn_id}",
            )
        status = "done" if reply.get("fund_change") == "Y" else "pending"
        return RefundResult(provider_refund_id=request.refund_id, status=status)

    def query_refund(self, trade_no: str, refund_id: str) -> bool:
        """Whether Alipay has paid refund ``refund_id`` of ``trade_no``
        (``alipay.trade.fastpay.refund.query``): for confirming a ``pending`` refund."""
        reply = self.call(
            "alipay.trade.fastpay.refund.query",
            {"trade_no": trade_no, "out_request_no": refund_id},
        )
        status = reply.get("refund_status", "REFUND_SUCCESS")
        return bool(reply.get("refund_amount")) and status == "REFUND_SUCCESS"

    # --- the wire --------------------------------------------------------------------

    def call(
        self, method: str, biz_content: Mapping[str, str], *, notify: bool = False
    ) -> dict[str, Any]:
        """POST a signed request to the gateway and return the verified
        ``<method>_response`` object; AlipayError unless it is signed and code 10000."""
        settings = self.settings
        params = {
            "app_id": settings.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": settings.clock.now().astimezone(SHANGHAI).strftime(TIME_FORMAT),
            "version": "1.0",
            "biz_content": json.dumps(dict(biz_content), ensure_ascii=False, separators=(",", ":")),
        }
        if notify:
            params["notify_url"] = settings.notify_url
        params["sign"] = sign(settings.private_key, signing_text(params))
        request = Request(
            settings.gateway_url,
            data=urlencode(params).encode("ascii"),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
        )
        try:
            with self._opener.open(request, timeout=settings.timeout) as response:
                body: bytes = response.read(MAX_RESPONSE_BYTES + 1)
        except HTTPError as exc:
            raise AlipayError(
                method, exc.code, f"HTTP {exc.code} {exc.reason} from the gateway"
            ) from None
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AlipayError(
                method, settings.gateway_url, f"cannot reach Alipay: {reason}"
            ) from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise AlipayError(method, len(body), f"the answer is over {MAX_RESPONSE_BYTES} bytes")
        return self._verified(method, body)

    def _verified(self, method: str, body: bytes) -> dict[str, Any]:
        try:
            members = response_members(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise AlipayError(method, body[:80], f"not an Alipay JSON answer: {exc}") from None
        node = method.replace(".", "_") + "_response"
        name = node if node in members else "error_response"
        if name not in members:
            raise AlipayError(method, sorted(members), f"the answer has no {node}")
        reply, source = members[name]
        if not isinstance(reply, dict):
            raise AlipayError(method, source[:80], f"{name} is not an object")
        given = members.get("sign", (None, ""))[0]
        signed = isinstance(given, str) and verify(self.settings.alipay_public_key, source, given)
        if given is not None and not signed:
            raise AlipayError(method, "sign", "the answer's signature does not verify")
        code = str(reply.get("code", ""))
        if code != SUCCESS_CODE:
            detail = (
                f"{reply.get('msg', '')}; {reply.get('sub_code', '')}: {reply.get('sub_msg', '')}"
            )
            raise AlipayError(method, code, f"Alipay refused: {detail}")
        if not signed:
            # An unsigned success could come from anyone between us and Alipay.
            raise AlipayError(method, code, "the answer is not signed")
        return reply
