"""The ``wechatpay`` gateway client: orders, callbacks and refunds over WeChat Pay API v3.

It never touches the ledger (``app.payments`` posts); it signs what it sends, verifies
what it receives and turns a verified "payment succeeded" callback into a
:class:`~propcare.ledger.gateways.PaymentNotice`. A callback that fails any check raises
:class:`~propcare.errors.ValidationError` before anything is posted; a call to WeChat Pay
that fails raises :class:`WeChatPayError`, so a refund stays ``requested`` for a retry.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from propcare import PropcareError, ValidationError
from propcare.clock import require_aware
from propcare.ledger.gateways import (
    PaymentIntent,
    PaymentNotice,
    PaymentRequest,
    RefundRequest,
    RefundResult,
)
from propcare.money import from_fen, to_fen
from propcare_wechatpay.config import WeChatPaySettings, expiry_warning, is_loopback
from propcare_wechatpay.signing import (
    SignedBy,
    authorization,
    decrypt_resource,
    new_nonce,
    sign,
    verify_signed,
)

__all__ = ["PROVIDER", "NotAPayment", "WeChatPayClient", "WeChatPayError"]

log = logging.getLogger("propcare_wechatpay")

PROVIDER = "wechatpay"
USER_AGENT = "propcare-wechatpay/0.1.0"
# WeChat Pay's own limits on merchant numbers (out_trade_no, out_refund_no).
_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
# Refund statuses: SUCCESS is paid; PROCESSING is accepted and paid later. CLOSED and
# ABNORMAL are refused or stuck and need a person, so they are not reported as accepted.
_REFUND_STATUS = {"SUCCESS": "done", "PROCESSING": "pending"}


class WeChatPayError(PropcareError):
    """WeChat Pay did not do what was asked: an HTTP error, no answer, or an answer
    that does not verify as WeChat Pay's."""


class NotAPayment(ValidationError):
    """A genuine callback (signature verified, resource decrypted, this merchant's) that
    reports no money received: a refund's outcome, ``REFUND.SUCCESS``,
    ``REFUND.ABNORMAL`` or ``REFUND.CLOSED``. Nothing is posted. A web endpoint
    acknowledges it (2xx), or WeChat Pay re-sends it for a day, and records what it says:

    - ``estate_id``: the estate this merchant account collects for;
    - ``status``: the event type; ``trade_no`` and ``order_id``: the paid transaction;
    - ``refund_no``: propcare's refund number (``out_refund_no``); ``refund_paid``:
      whether the refund is paid (``REFUND.SUCCESS`` with ``refund_status`` SUCCESS);
    - ``resource``: the decrypted refund, without the account the money went back to.
    """

    def __init__(
        self,
        field: str,
        value: Any,
        rule: str,
        *,
        estate_id: int,
        event_type: str,
        resource: Mapping[str, Any],
    ) -> None:
        super().__init__(field, value, rule)
        self.estate_id = estate_id
        self.status = event_type
        # The bank card or balance the payer got the money back on: not the ledger's.
        self.resource = {k: v for k, v in resource.items() if k != "user_received_account"}
        self.trade_no = str(resource.get("transaction_id") or "")
        self.order_id = str(resource.get("out_trade_no") or "")
        self.refund_no: str | None = str(resource.get("out_refund_no") or "") or None
        self.refund_paid = (
            event_type == "REFUND.SUCCESS" and resource.get("refund_status") == "SUCCESS"
        )


def _text(data: Mapping[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}.{name}", value, "must be a non-empty string")
    return value


def _fen(value: Any, field: str) -> int:
    # bool is an int subclass, and a float is never money: both are refused.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(field, value, "must be a positive integer number of fen")
    return value


class WeChatPayClient:
    """A :class:`~propcare.ledger.gateways.GatewayClient` for one merchant account.

    Built by propcare from the ``gateways.wechatpay`` settings (see the README).
    """

    name = PROVIDER

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = WeChatPaySettings.load(settings)
        host = urlsplit(self.settings.base_url).hostname or ""
        # A loopback test server is never reached through a proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)
        self._warned: set[str] = set()  # certificates whose coming expiry was logged

    # --- the GatewayClient protocol ------------------------------------------------

    def create_payment_request(self, request: PaymentRequest) -> PaymentIntent:
        """Place a Native (QR code) or JSAPI order; ``out_trade_no`` is the order id."""
        s = self.settings
        if request.estate_id != s.estate_id:
            raise ValidationError(
                "estate_id",
                request.estate_id,
                f"this WeChat Pay merchant account ({s.mchid}) collects for estate {s.estate_id}",
            )
        if not _TRADE_NO.fullmatch(request.order_id):
            raise ValidationError(
                "order_id", request.order_id, "WeChat Pay needs 6-32 letters, digits or _-|*"
            )
        body: dict[str, Any] = {
            "appid": s.appid,
            "mchid": s.mchid,
            "description": (request.description.strip() or s.description)[:127],
            "out_trade_no": request.order_id,
            "notify_url": s.notify_url,
            "amount": {"total": to_fen(request.amount), "currency": "CNY"},
        }
        if s.trade_type == "jsapi":
            assert s.payer_openid is not None  # required for jsapi when loaded
            openid = s.payer_openid(request)
            if not isinstance(openid, str) or not openid.strip():
                raise ValidationError("payer.openid", openid, "jsapi needs the payer's openid")
            body["payer"] = {"openid": openid}
        answer = self._call("POST", f"/v3/pay/transactions/{s.trade_type}", body)
        if s.trade_type == "native":
            code_url = self._answer_text(answer, "code_url")
            return PaymentIntent(PROVIDER, request.order_id, request.order_id, pay_url=code_url)
        prepay_id = self._answer_text(answer, "prepay_id")
        return PaymentIntent(PROVIDER, prepay_id, request.order_id)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """Verify a payment callback and decode it; ValidationError names what failed."""
        s = self.settings
        self._verify(headers, body)
        try:
            envelope = json.loads(body)
        except ValueError:
            raise ValidationError("body", body[:80], "is not JSON") from None
        if not isinstance(envelope, dict):
            raise ValidationError("body", body[:80], "must be a JSON object")
        event_type = envelope.get("event_type")
        if isinstance(event_type, str) and event_type.startswith("REFUND."):
            # Signed alike, but a refund's outcome, not money arriving.
            raise self._refund_notice(event_type, envelope)
        if event_type != "TRANSACTION.SUCCESS":
            raise ValidationError(
                "event_type", event_type, "must be TRANSACTION.SUCCESS (or REFUND.*)"
            )
        if envelope.get("resource_type") != "encrypt-resource":
            raise ValidationError(
                "resource_type", envelope.get("resource_type"), "must be encrypt-resource"
            )
        data = decrypt_resource(s.apiv3_key, envelope.get("resource"))
        for name, expected in (("mchid", s.mchid), ("appid", s.appid)):
            if data.get(name) != expected:
                raise ValidationError(
                    f"resource.{name}", data.get(name), f"must be this account's {expected}"
                )
        order_id = _text(data, "out_trade_no", "resource")
        txn_id = _text(data, "transaction_id", "resource")
        if data.get("trade_state") != "SUCCESS":
            raise ValidationError(
                "resource.trade_state", data.get("trade_state"), "must be SUCCESS"
            )
        amount = data.get("amount")
        if not isinstance(amount, dict):
            raise ValidationError("resource.amount", amount, "must be an object")
        total = _fen(amount.get("total"), "resource.amount.total")
        if amount.get("currency", "CNY") != "CNY":
            raise ValidationError("resource.amount.currency", amount.get("currency"), "must be CNY")
        paid_at = self._time(_text(data, "success_time", "resource"), "resource.success_time")
        # The payer's openid is a personal identifier the ledger has no use for.
        raw = {k: v for k, v in data.items() if k != "payer"}
        raw["notification_id"] = envelope.get("id")
        # The ledger keys the payment by (provider, merchant, transaction_id): WeChat Pay
        # numbers a merchant's transactions, whichever estate the notice is for.
        return PaymentNotice(
            estate_id=s.estate_id,
            provider=PROVIDER,
            provider_txn_id=txn_id,
            amount=from_fen(total),
            paid_at=paid_at,
            order_id=order_id,
            method="wechat",
            merchant=s.mchid,
            raw=raw,
        )

    def request_refund(self, request: RefundRequest) -> RefundResult:
        """Ask for a refund; ``out_refund_no`` is propcare's refund id, so a retry of the
        same refund is paid once by WeChat Pay."""
        if not _REFUND_NO.fullmatch(request.refund_id):
            raise ValidationError(
                "refund_id", request.refund_id, "WeChat Pay needs 1-64 letters, digits or _-|*@"
            )
        # WeChat Pay wants the order's total with every refund; RefundRequest does not
        # carry it, so it is asked for (a signed, verified answer like any other).
        total = self.order_total(request.provider_txn_id)
        body: dict[str, Any] = {
            "transaction_id": request.provider_txn_id,
            "out_refund_no": request.refund_id,
            "amount": {"refund": to_fen(request.amount), "total": total, "currency": "CNY"},
        }
        if request.reason.strip():
            body["reason"] = request.reason.strip()[:80]
        return self._refund_result(self._call("POST", "/v3/refund/domestic/refunds", body))

    # --- beyond the protocol ----------------------------------------------------------

    def order_total(self, transaction_id: str) -> int:
        """The total in fen of a paid order, asked of WeChat Pay by its transaction id."""
        query = urlencode({"mchid": self.settings.mchid})
        path = f"/v3/pay/transactions/id/{quote(transaction_id, safe='')}?{query}"
        answer = self._call("GET", path, None)
        amount = answer.get("amount")
        total = amount.get("total") if isinstance(amount, dict) else None
        if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
            raise WeChatPayError("amount.total", total, f"the answer to GET {path} has no total")
        return total

    def query_refund(self, refund_id: str) -> RefundResult:
        """Where a refund stands, by propcare's refund id: ``done`` means
        ``app.payments.confirm_refund`` may record it."""
        path = f"/v3/refund/domestic/refunds/{quote(refund_id, safe='')}"
        return self._refund_result(self._call("GET", path, None))

    def jsapi_invoke_params(self, prepay_id: str) -> dict[str, str]:
        """The signed parameters for ``wx.requestPayment`` / ``WeixinJSBridge`` (JSAPI)."""
        s = self.settings
        timestamp = str(int(s.clock.now().timestamp()))
        nonce = new_nonce()
        package = f"prepay_id={prepay_id}"
        return {
            "appId": s.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": sign(s.merchant_key, s.appid, timestamp, nonce, package),
        }

    # --- internals ---------------------------------------------------------------------

    def _verify(self, headers: Mapping[str, str], body: bytes) -> SignedBy:
        """:func:`verify_signed` now; a certificate close to its end is warned of, once."""
        s = self.settings
        now = s.clock.now()
        signed = verify_signed(headers, body, s.platform_keys, now)
        if signed.serial not in self._warned:
            warning = expiry_warning(signed.serial, s.platform_keys[signed.serial], now)
            if warning is not None:
                self._warned.add(signed.serial)
                log.warning("%s", warning)
        return signed

    def _refund_notice(self, event_type: str, envelope: Mapping[str, Any]) -> NotAPayment:
        """The verified refund callback, decrypted and checked, as :class:`NotAPayment`."""
        s = self.settings
        if event_type not in ("REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"):
            raise ValidationError(
                "event_type", event_type, "must be REFUND.SUCCESS, REFUND.ABNORMAL or REFUND.CLOSED"
            )
        if envelope.get("resource_type") != "encrypt-resource":
            raise ValidationError(
                "resource_type", envelope.get("resource_type"), "must be encrypt-resource"
            )
        data = decrypt_resource(s.apiv3_key, envelope.get("resource"))
        if data.get("mchid") != s.mchid:
            raise ValidationError(
                "resource.mchid", data.get("mchid"), f"must be this account's {s.mchid}"
            )
        for name in ("out_refund_no", "transaction_id", "refund_status"):
            _text(data, name, "resource")
        return NotAPayment(
            "event_type",
            event_type,
            "a refund's outcome, not money received: nothing to post",
            estate_id=s.estate_id,
            event_type=event_type,
            resource=data,
        )

    @staticmethod
    def _time(value: str, field: str) -> datetime:
        try:
            return require_aware(field, datetime.fromisoformat(value))
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(field, value, "must be an RFC 3339 time with offset") from None

    @staticmethod
    def _answer_text(answer: Mapping[str, Any], name: str) -> str:
        value = answer.get(name)
        if not isinstance(value, str) or not value:
            raise WeChatPayError(name, value, "missing from WeChat Pay's answer")
        return value

    def _refund_result(self, answer: Mapping[str, Any]) -> RefundResult:
        refund_id = self._answer_text(answer, "refund_id")
        status = answer.get("status")
        if status not in _REFUND_STATUS:
            raise WeChatPayError(
                "status",
                status,
                f"refund {refund_id} was not accepted (SUCCESS or PROCESSING); see the "
                "merchant platform",
            )
        return RefundResult(provider_refund_id=refund_id, status=_REFUND_STATUS[status])

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
        """Send one signed request and return the verified JSON answer."""
        s = self.settings
        body = b""
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Authorization": authorization(
                s.merchant_key,
                mchid=s.mchid,
                serial_no=s.merchant_serial_no,
                method=method,
                path=path,
                body=body,
                timestamp=int(s.clock.now().timestamp()),
                nonce=new_nonce(),
            ),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            s.base_url + path, data=body if payload is not None else None, method=method
        )
        for name, value in headers.items():
            request.add_header(name, value)
        what = f"{method} {path.split('?')[0]}"
        try:
            with self._opener.open(request, timeout=s.timeout) as response:
                answer_headers = dict(response.headers.items())
                data = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(what, exc) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise WeChatPayError(what, s.base_url, f"WeChat Pay unreachable: {reason}") from None
        try:
            # A 2xx answer without a valid signature is forged or tampered with.
            self._verify(answer_headers, data)
        except ValidationError as exc:
            raise WeChatPayError(
                exc.field, exc.value, f"the answer to {what} is not WeChat Pay's: {exc.rule}"
            ) from exc
        if not data:
            return {}
        try:
            answer = json.loads(data)
        except ValueError:
            raise WeChatPayError(what, data[:80], "WeChat Pay's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise WeChatPayError(what, data[:80], "WeChat Pay's answer is not a JSON object")
        return answer

    @staticmethod
    def _http_error(what: str, exc: urllib.error.HTTPError) -> WeChatPayError:
        try:
            detail = json.loads(exc.read() or b"{}")
        except (ValueError, OSError):
            detail = {}
        if not isinstance(detail, dict):
            detail = {}
        code = detail.get("code", "")
        message = detail.get("message", exc.reason)
        return WeChatPayError(
            what, exc.code, f"WeChat Pay answered HTTP {exc.code} {code}: {message}"
        )
