"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 in a thread.

It checks every request with :func:`propcare_webhook.verify`, as a company's
gateway would (or, for ``signature="standard-webhooks"``, with the ``standardwebhooks``
library, as a Standard Webhooks receiver would), records it, and answers from a script
of replies (status, delay, body); a request that fails verification is answered 401
whatever the script says.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import attrs
from propcare_webhook import SignatureInvalid, verify
from standardwebhooks import Webhook, WebhookVerificationError

__all__ = ["Received", "Receiver", "Reply"]


@attrs.frozen
class Reply:
    """One scripted answer: ``delay`` seconds of silence, then ``status`` with ``body``."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b'{"ok":true}'
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    rejection: str | None  # why verify refused it; None when it passed
    status: int  # what the receiver answered

    def header(self, name: str) -> str:
        (value,) = [v for k, v in self.headers if k.lower() == name.lower()]
        return value

    def document(self) -> dict[str, Any]:
        value = json.loads(self.body.decode("utf-8"))
        assert isinstance(value, dict)
        return value


class _Server(ThreadingHTTPServer):
    # Joined on close, so a handler still sleeping never outlives the test.
    daemon_threads = False


class Receiver:
    """``with Receiver(secret, [Reply(503), Reply(200)]) as r: ... r.url ... r.requests``."""

    def __init__(
        self,
        secret: str,
        replies: Sequence[Reply] = (),
        *,
        port: int = 0,
        signature: str = "propcare",
    ) -> None:
        self.secret = secret
        self.signature = signature
        self._replies = list(replies)
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver._handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = _Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/propcare/notify?token=t0ken"

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        rejection: str | None = None
        try:
            if self.signature == "standard-webhooks":
                # The library reads the machine's clock, with its own 5-minute tolerance.
                Webhook(self.secret).verify(body, dict(handler.headers.items()))
            else:
                verify(self.secret, handler.headers, body, now=datetime.now(UTC))
        except (SignatureInvalid, WebhookVerificationError) as exc:
            rejection = str(exc) or type(exc).__name__
        with self._lock:
            reply = self._replies.pop(0) if self._replies else Reply()
        status = 401 if rejection is not None else reply.status
        with self._lock:
            self._requests.append(
                Received(
                    path=handler.path,
                    headers=tuple((k, str(v)) for k, v in handler.headers.items()),
                    body=body,
                    rejection=rejection,
                    status=status,
                )
            )
        time.sleep(reply.delay)
        payload = rejection.encode("utf-8") if rejection is not None else reply.body
        try:
            handler.send_response(status)
            for name, value in reply.headers:
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up waiting (the timeout tests); nothing to answer

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits forever for a loop never started
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
