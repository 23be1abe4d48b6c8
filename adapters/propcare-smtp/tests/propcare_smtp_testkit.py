"""Helpers for the propcare-smtp tests: a real aiosmtpd server on 127.0.0.1, and certificates.

Imported by the test modules (the tests folder has no conftest.py, by the
repository's rule); the name is unique so it cannot shadow another adapter's helper.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import attrs
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from propcare import Actor, FixedClock, Propcare, Recipient
from propcare.storage.ports import Delivery

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
FROM = "wuye@cuiyuan.example"
OWNER = Recipient("张三", "zhang.san@example.com")
PARAMS = {
    "estate": "翠苑小区",
    "title": "停水通知",
    "name": "张三",
    "body": "明日9:00至12:00停水，请提前储水。",
}
SUBJECT = "【翠苑小区】停水通知"
BODY = "尊敬的张三：明日9:00至12:00停水，请提前储水。"


def free_port() -> int:
    """A port nothing listens on now (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@attrs.frozen
class Received:
    """One DATA the server read, whatever it answered."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    accepted: bool
    tls: bool
    authenticated: bool

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


class Recorder:
    """An aiosmtpd handler that keeps what it is sent and answers as the test says.

    ``mail_reply`` / ``rcpt_reply`` refuse every MAIL FROM / RCPT TO with that reply;
    ``data_replies`` answer the first DATAs in turn, then "250 OK".
    """

    def __init__(
        self,
        *,
        mail_reply: str | None = None,
        rcpt_reply: str | None = None,
        data_replies: tuple[str, ...] = (),
    ) -> None:
        self.mail_reply = mail_reply
        self.rcpt_reply = rcpt_reply
        self.data_replies = list(data_replies)
        self.received: list[Received] = []
        self.mail_commands = 0
        self.rcpt_commands = 0

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.accepted]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mail_commands += 1
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt_commands += 1
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.data_replies.pop(0) if self.data_replies else "250 OK"
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                content=bytes(cast(bytes, envelope.original_content)),
                accepted=reply.startswith("250"),
                # Set after STARTTLS and on an implicit-TLS connection alike.
                tls=server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return reply


class Credentials:
    """An aiosmtpd authenticator that accepts one login and records every attempt."""

    def __init__(self, login: str, password: str) -> None:
        self.login = login.encode()
        self.password = password.encode()
        self.attempts: list[tuple[str, str, bool]] = []  # mechanism, login, accepted

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.login
            and data.password == self.password
        )
        login = data.login.decode() if isinstance(data, LoginPassword) else "?"
        self.attempts.append((mechanism, login, ok))
        # handled=False: aiosmtpd answers itself (235, or 535 5.7.8 on a refusal).
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(handler: object, *, port: int | None = None, **smtp: Any) -> Iterator[int]:
    """Run aiosmtpd on 127.0.0.1 for the block; yields its port. ``smtp`` goes to aiosmtpd's
    SMTP (tls_context, require_starttls, authenticator, ...) or is ``ssl_context``."""
    port = free_port() if port is None else port
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (for timeouts)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.listen(8)
        yield int(listener.getsockname()[1])


@attrs.frozen
class Pki:
    """A throw-away CA and a server certificate it signed for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_pki(folder: Path, name: str = "propcare test CA") -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def email_settings(port: int, **more: Any) -> dict[str, Any]:
    """``channels.email`` for the test server: plain text on loopback unless ``more`` says."""
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "plain",
        "from_address": FROM,
        "from_name": "翠苑物业服务中心",
        "timeout_seconds": 5,
        **more,
    }


def open_app(
    settings: Mapping[str, Any],
    clock: FixedClock,
    *,
    plugins: tuple[object, ...] = (),
    load_entrypoints: bool = True,
    auto: bool = True,
) -> Propcare:
    return Propcare.open(
        "sqlite://:memory:",
        plugins=list(plugins),
        load_entrypoints=load_entrypoints,
        clock=clock,
        config={"channels": {"email": dict(settings)}, "dispatch": {"auto": auto}},
    )


def notify_owner(
    app: Propcare,
    *,
    key: str | None = None,
    to: Recipient = OWNER,
    params: Mapping[str, Any] = PARAMS,
) -> int:
    """Queue the zh-CN water-cut notice (``params``) for ``to`` in a new estate; returns
    the message id once the app's dispatch worker has made its first attempt (with
    auto-dispatch)."""
    admin = Actor.system()
    estate = app.estates.create(admin, str(params.get("estate", "翠苑小区")))
    message_id = app.notify.send(admin, estate.id, "email", to, "notice", params, key=key)
    app.dispatch_idle()
    return message_id


def deliveries(app: Propcare) -> list[Delivery]:
    with app.unit_of_work(readonly=True) as uow:
        return [d for d in uow.outbox.deliveries() if d.target == "channel:email"]


def normalised(text: str) -> str:
    """Line endings as \\n (the message travels with \\r\\n)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
