"""Receive WeChat Pay and Alipay payment notifications and post them to the fee ledger.

A small WSGI application (standard library only) that a property company runs behind its
HTTPS proxy. Each provider calls its own path with a signed notification; the adapter
verifies it and the ledger records the payment once, however often it is sent:

- ``POST /notify/wechatpay``: answers 200 with ``{"code": "SUCCESS"}`` once recorded, and
  400 with ``{"code": "FAIL", ...}`` when the notice does not verify (WeChat Pay retries).
- ``POST /notify/alipay``: answers ``success`` once recorded, and 400 ``fail`` otherwise
  (Alipay retries until it reads ``success``).

A genuine notice that reports no money (the adapters raise their ``NotAPayment`` after
verifying it) is acknowledged the same way, or the provider would re-send it for a day,
and recorded: a refund's outcome (WeChat Pay's ``REFUND.*``; Alipay's ``TRADE_CLOSED`` of a
full refund) that says one of our refunds is paid confirms it with
``app.payments.confirm_refund``; a refund that failed, or that propcare did not make, is
logged as a warning for a person; an order closed unpaid is logged.

Run it with the adapters installed and their settings in a JSON file::

    python examples/payment_webhook_server.py --db propcare.db --config gateways.json --port 8080

where ``gateways.json`` holds ``{"gateways": {"counter": {}, "wechatpay": {...}, "alipay": {...}}}``
(see adapters/propcare-wechatpay/README.md and adapters/propcare-alipay/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from propcare import Actor, Propcare
from propcare.errors import PropcareError

log = logging.getLogger("payment_webhook_server")

Start = Callable[[str, list[tuple[str, str]]], Any]
MAX_BODY = 64 * 1024  # notifications are small; refuse anything larger


def _not_a_payment() -> tuple[type[PropcareError], ...]:
    """The installed adapters' NotAPayment: a verified notice with no money in it."""
    found: list[type[PropcareError]] = []
    for module in ("propcare_wechatpay", "propcare_alipay"):
        with contextlib.suppress(ImportError):
            found.append(importlib.import_module(module).NotAPayment)
    return tuple(found)


NOT_A_PAYMENT = _not_a_payment()


def record_not_a_payment(app: Propcare, who: Actor, provider: str, said: Any) -> tuple[int, str]:
    """Record a genuine notice that posts nothing: the log level and what was done.

    A refund of ours that the notice says is paid is confirmed (once: confirming a paid
    refund changes nothing). A refund that did not go through (WeChat Pay's
    ``REFUND.ABNORMAL``, the payer's card closed; ``REFUND.CLOSED``) or one propcare did
    not make (refunded by hand on the merchant platform) is a warning: a person acts on
    it. An order closed unpaid is only noted."""
    of_refund = f" of refund {said.refund_no}" if said.refund_no else ""
    what = f"{said.status}{of_refund} for trade {said.trade_no} (order {said.order_id})"
    if said.refund_no is None:
        return logging.INFO, f"{what}: nothing to post"
    ours = [
        r
        for r in app.payments.refunds(who, said.estate_id)
        if r.provider == provider and r.refund_no == said.refund_no
    ]
    if not ours:
        return logging.WARNING, f"{what}: not a refund propcare made; check the merchant platform"
    if not said.refund_paid:
        return logging.WARNING, f"{what}: the refund is not paid; it stays {ours[0].status}"
    done = app.payments.confirm_refund(who, ours[0].id)
    return logging.INFO, f"{what}: refund {done.refund_no} {done.status}"


def make_app(
    app: Propcare, actor: Actor | None = None
) -> Callable[[dict[str, Any], Start], Iterable[bytes]]:
    """The WSGI application: one path per provider, everything else 404."""
    who = actor or Actor.system("payment-notify")

    def answer(start: Start, status: str, body: bytes, kind: str) -> list[bytes]:
        start(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    def wsgi(environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        provider = {"/notify/wechatpay": "wechatpay", "/notify/alipay": "alipay"}.get(path)
        if provider is None or environ.get("REQUEST_METHOD") != "POST":
            return answer(start, "404 Not Found", b"not found", "text/plain")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return answer(start, "400 Bad Request", b"bad length", "text/plain")
        body = environ["wsgi.input"].read(length)
        # The signature covers the raw bytes: hand them over untouched, with the headers.
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        try:
            try:
                result = app.payments.handle_notification(who, provider, headers, body)
            except NOT_A_PAYMENT as said:
                # Recorded before it is acknowledged: if recording fails, "fail" brings it back.
                level, done = record_not_a_payment(app, who, provider, said)
                log.log(level, "%s notice acknowledged: %s", provider, done)
                result = None
        except PropcareError as exc:
            log.warning("%s notification refused: %s", provider, exc)
            if provider == "wechatpay":
                fail = json.dumps({"code": "FAIL", "message": str(exc)[:200]}).encode()
                return answer(start, "400 Bad Request", fail, "application/json")
            return answer(start, "400 Bad Request", b"fail", "text/plain")
        if result is not None:
            log.info("%s payment %s recorded (new: %s)", provider, result.payment_id, result.new)
        if provider == "wechatpay":
            return answer(start, "200 OK", b'{"code": "SUCCESS"}', "application/json")
        return answer(start, "200 OK", b"success", "text/plain")

    return wsgi


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="propcare.db", help="SQLite file (or a storage URL)")
    parser.add_argument("--config", required=True, help="JSON file with the gateways' settings")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    url = args.db if "://" in args.db else f"sqlite:///{args.db}"
    logging.basicConfig(level=logging.INFO)
    with Propcare.open(url, config=config) as app:
        server = make_server(args.host, args.port, make_app(app), handler_class=_QuietHandler)
        log.info("listening on http://%s:%d/notify/{wechatpay,alipay}", args.host, args.port)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
