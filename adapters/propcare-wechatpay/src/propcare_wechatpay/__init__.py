"""propcare payment gateway ``wechatpay``: WeChat Pay API v3 (微信支付), direct merchants.

Configure one merchant account per estate::

    Propcare.open(url, config={"gateways": {"counter": {}, "wechatpay": {...}}})

The settings, the keys and what is verified are described in the README.
"""

from __future__ import annotations

from collections.abc import Iterable

from propcare import PaymentGateway, hookimpl
from propcare_wechatpay.client import PROVIDER, NotAPayment, WeChatPayClient, WeChatPayError
from propcare_wechatpay.config import DEFAULT_BASE_URL, EXPIRY_WARNING, WeChatPaySettings

__all__ = [
    "DEFAULT_BASE_URL",
    "EXPIRY_WARNING",
    "PROVIDER",
    "NotAPayment",
    "WeChatPayClient",
    "WeChatPayError",
    "WeChatPaySettings",
    "__version__",
    "propcare_payment_gateways",
]

__version__ = "0.1.0"


@hookimpl
def propcare_payment_gateways() -> Iterable[PaymentGateway]:
    return [
        PaymentGateway(
            name=PROVIDER,
            create=WeChatPayClient,
            description="WeChat Pay API v3 (微信支付): Native/JSAPI orders, callbacks, refunds",
        )
    ]
