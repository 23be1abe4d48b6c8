"""Payment gateways: the client interface adapters implement, and the front-desk counter.

A gateway client never touches the ledger. It turns a request into something the
payer can act on, verifies a provider's notification into a :class:`PaymentNotice`,
and asks the provider for refunds; ``app.payments`` does the posting. So WeChat Pay
and Alipay plug in through ``propcare_payment_gateways`` without ledger changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from propcare.errors import ValidationError
from propcare.money import exact
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import PaymentGateway
from propcare.validators import aware, non_empty

__all__ = [
    "COUNTER_METHODS",
    "CounterClient",
    "GatewayClient",
    "PaymentIntent",
    "PaymentNotice",
    "PaymentRequest",
    "RefundRequest",
    "RefundResult",
    "propcare_payment_gateways",
]

# Front-desk methods and where the money lands: the cash drawer or the bank.
COUNTER_METHODS = frozenset({"cash", "pos", "transfer"})


def _amount(_inst: Any, attribute: Any, value: Any) -> None:
    if exact(value, attribute.name) <= 0:
        raise ValidationError(attribute.name, value, "must be a positive amount of yuan")


@attrs.frozen
class PaymentRequest:
    """Ask a provider to collect ``amount`` for ``order_id`` (a unit's bill or top-up)."""

    estate_id: int
    unit_id: int
    order_id: str = attrs.field(validator=non_empty("order_id"))
    amount: Decimal = attrs.field(validator=_amount)
    description: str = ""


@attrs.frozen
class PaymentIntent:
    """What a provider answered: its reference and, for QR/H5 payments, where to pay."""

    provider: str
    provider_ref: str
    order_id: str
    pay_url: str | None = None


def _merchant(_inst: Any, _attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or (value and not _MERCHANT.fullmatch(value)):
        raise ValidationError(
            "merchant", value, "must be a merchant id: 1-64 letters, digits or _.-"
        )


# A merchant id goes into the journal key between colons: no colon, nothing unprintable.
_MERCHANT = re.compile(r"[0-9A-Za-z_.\-]{1,64}")


@attrs.frozen
class PaymentNotice:
    """A verified "money arrived" message.

    It names the ``unit_id`` directly (front desk) or the ``order_id`` it pays; a
    notice naming neither, or an unknown one, goes to suspense for a person.
    ``merchant`` is the provider's merchant account that received the money (WeChat
    Pay's mchid, Alipay's seller id), "" for the counter. The payment is recorded once
    per (estate, provider, provider_txn_id) when ``merchant`` is "", and once per
    (provider, merchant, provider_txn_id) across estates when it is given: see
    :mod:`propcare.ledger.payments`.
    """

    estate_id: int
    provider: str = attrs.field(validator=non_empty("provider"))
    provider_txn_id: str = attrs.field(validator=non_empty("provider_txn_id"))
    amount: Decimal = attrs.field(validator=_amount)
    paid_at: datetime = attrs.field(validator=aware("paid_at"))
    unit_id: int | None = None
    order_id: str | None = None
    method: str = ""  # counter: cash, pos, transfer; gateways: their own
    raw: Mapping[str, Any] = attrs.field(factory=dict)
    merchant: str = attrs.field(default="", validator=_merchant)


@attrs.frozen
class RefundRequest:
    provider: str
    provider_txn_id: str
    refund_id: str  # ours, so a retried refund is not paid twice by the provider
    amount: Decimal = attrs.field(validator=_amount)
    reason: str = ""


@attrs.frozen
class RefundResult:
    provider_refund_id: str
    status: str  # "done" or "pending" (the provider confirms later)


@runtime_checkable
class GatewayClient(Protocol):
    """What ``PaymentGateway.create(settings)`` returns."""

    def create_payment_request(self, request: PaymentRequest) -> PaymentIntent: ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """Verify the provider's signature and decode; ValidationError if it does not verify."""
        ...

    def request_refund(self, request: RefundRequest) -> RefundResult: ...


class CounterClient:
    """The front desk (前台收款): cash, POS card and bank transfer, settled on the spot.

    Nothing is remote, so a request is answered at once and a refund is done when
    the cashier hands the money back. Its notification form is JSON, for a till
    that posts to propcare; the service builds notices directly for
    :meth:`PaymentService.pay_at_counter`.
    """

    name = "counter"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)

    def create_payment_request(self, request: PaymentRequest) -> PaymentIntent:
        return PaymentIntent(self.name, request.order_id, request.order_id)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        try:
            data = json.loads(body)
            method = str(data.get("method", "cash"))
            if method not in COUNTER_METHODS:
                raise ValidationError("method", method, f"one of {sorted(COUNTER_METHODS)}")
            return PaymentNotice(
                estate_id=int(data["estate_id"]),
                provider=self.name,
                provider_txn_id=str(data["txn_id"]),
                amount=Decimal(str(data["amount"])),
                paid_at=datetime.fromisoformat(data["paid_at"]),
                unit_id=None if data.get("unit_id") is None else int(data["unit_id"]),
                order_id=data.get("order_id"),
                method=method,
                raw=data,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError("body", body[:80], f"not a counter notice: {exc}") from None

    def request_refund(self, request: RefundRequest) -> RefundResult:
        return RefundResult(provider_refund_id=request.refund_id, status="done")


@hookimpl
def propcare_payment_gateways() -> Iterable[PaymentGateway]:
    return [
        PaymentGateway(
            name="counter",
            create=CounterClient,
            description="front desk: cash, POS card, bank transfer",
        )
    ]
