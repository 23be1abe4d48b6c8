"""propcare-alipay: the ``alipay`` payment gateway (支付宝当面付 and refunds).

Configure it under ``gateways``::

    Propcare.open(url, config={"gateways": {"counter": {}, "alipay": {
        "app_id": "2021000000000000", "seller_id": "2088000000000000",
        "private_key": "/etc/propcare/alipay-app-private.pem",
        "alipay_public_key": "/etc/propcare/alipay-public.pem",
        "notify_url": "https://pay.example.com/alipay/notify", "estate_id": 1,
    }}})

and let the notify endpoint hand the raw POST body to
``app.payments.handle_notification(actor, "alipay", headers, body)``, answering
:func:`answer` of whether it was recorded. The README is the full page.
"""

from __future__ import annotations

from collections.abc import Iterable

from propcare import PaymentGateway, hookimpl
from propcare_alipay.client import (
    PROVIDER,
    AlipayClient,
    AlipayError,
    NotAPayment,
    answer,
    decode_form,
)
from propcare_alipay.settings import AlipaySettings

__all__ = [
    "PROVIDER",
    "AlipayClient",
    "AlipayError",
    "AlipaySettings",
    "NotAPayment",
    "answer",
    "decode_form",
    "propcare_payment_gateways",
]


@hookimpl
def propcare_payment_gateways() -> Iterable[PaymentGateway]:
    return [
        PaymentGateway(
            name=PROVIDER,
            create=AlipayClient,
            description="Alipay (支付宝): QR orders, RSA2-verified notices, refunds",
        )
    ]
