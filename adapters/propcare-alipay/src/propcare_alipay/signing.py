"""Alipay's RSA2 signatures: the signed text, signing, verifying, and loading keys.

Alipay signs a set of parameters by sorting them by key and joining them as ``k=v``
with ``&``; the bytes of that text (in the message's charset) are signed with
SHA256withRSA (PKCS#1 v1.5) and the signature travels base64-encoded. Requests sign
every non-empty parameter but ``sign``; asynchronous notifications are verified over
every parameter they carry but ``sign`` and ``sign_type``, **empty ones included**
(``body=`` signs as ``body=``), as Alipay's SDKs verify them (the Java SDK's
``getSignCheckContentV1``, python-alipay-sdk's ``AliPay.verify``). A response is signed over the
exact text of its ``<method>_response`` JSON object, so :func:`response_members`
keeps each top-level member's source text next to its value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from propcare.errors import ConfigError

__all__ = [
    "MIN_KEY_BITS",
    "load_private_key",
    "load_public_key",
    "response_members",
    "sign",
    "signing_text",
    "verify",
]

# Alipay's RSA2 keys are 2048 bits; a shorter key is a configuration mistake.
MIN_KEY_BITS = 2048
_JSON_SPACE = " \t\n\r"


def signing_text(
    params: Mapping[str, str],
    exclude: Collection[str] = ("sign",),
    *,
    keep_empty: bool = False,
) -> str:
    """The text Alipay signs: the parameters but ``exclude``, sorted, ``k=v&k=v``.

    A request leaves empty values out (``keep_empty`` False); a notice is verified over
    every parameter it carries, empty ones included (``keep_empty`` True)."""
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key not in exclude and (keep_empty or params[key])
    )


def sign(key: rsa.RSAPrivateKey, text: str, charset: str = "utf-8") -> str:
    """RSA2 (SHA256withRSA, PKCS#1 v1.5) signature of ``text``, base64."""
    signature = key.sign(text.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(key: rsa.RSAPublicKey, text: str, signature: str, charset: str = "utf-8") -> bool:
    """Whether ``signature`` (base64) is ``key``'s RSA2 signature of ``text``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, text.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature, UnicodeEncodeError):
        return False
    return True


def _pem(setting: str, value: object) -> tuple[bytes, str]:
    """The PEM bytes of a setting given as PEM text or as the path of a PEM file.

    The second item is what an error may show: the path, never the key text.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ConfigError(setting, type(value).__name__, "must be PEM text or a PEM file's path")
    text = str(value)
    if text.lstrip().startswith("-----BEGIN"):
        return text.strip().encode("ascii", errors="replace"), "<PEM text>"
    path = Path(text)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise ConfigError(setting, str(path), f"cannot read the PEM file: {exc.strerror}") from None


def load_private_key(setting: str, value: object) -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key (PKCS#8 or PKCS#1 PEM) of at least 2048 bits."""
    data, shown = _pem(setting, value)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's message may quote the key; say only what is wrong with it.
        raise ConfigError(
            setting, shown, "is not an unencrypted PEM private key (PKCS#8 or PKCS#1)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(setting, shown, f"must be an RSA key, not {type(key).__name__}")
    if key.key_size < MIN_KEY_BITS:
        raise ConfigError(setting, shown, f"must have at least {MIN_KEY_BITS} bits for RSA2")
    return key


def load_public_key(setting: str, value: object) -> rsa.RSAPublicKey:
    """An RSA public key (``PUBLIC KEY`` or ``RSA PUBLIC KEY`` PEM) of at least 2048 bits."""
    data, shown = _pem(setting, value)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(setting, shown, "is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError(setting, shown, f"must be an RSA key, not {type(key).__name__}")
    if key.key_size < MIN_KEY_BITS:
        raise ConfigError(setting, shown, f"must have at least {MIN_KEY_BITS} bits for RSA2")
    return key


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _JSON_SPACE:
        at += 1
    return at


def response_members(text: str) -> dict[str, tuple[Any, str]]:
    """The members of a top-level JSON object: name -> (value, the value's source text).

    Alipay signs the ``<method>_response`` object as it was written, so the text is
    cut from the response rather than re-serialised (key order, spacing and escapes
    would differ). Raises ``ValueError`` for anything but one JSON object with
    distinct member names.
    """
    decoder = json.JSONDecoder()
    at = _skip(text, 0)
    if text[at : at + 1] != "{":
        raise ValueError("the response is not a JSON object")
    members: dict[str, tuple[Any, str]] = {}
    at = _skip(text, at + 1)
    if text[at : at + 1] == "}":
        at += 1
    else:
        while True:
            name, at = decoder.raw_decode(text, at)
            if not isinstance(name, str):
                raise ValueError("a member name is not a string")
            at = _skip(text, at)
            if text[at : at + 1] != ":":
                raise ValueError(f"no ':' after member {name!r}")
            start = _skip(text, at + 1)
            value, end = decoder.raw_decode(text, start)
            if name in members:
                # Two members of one name: which one was signed is ambiguous.
                raise ValueError(f"member {name!r} appears twice")
            members[name] = (value, text[start:end])
            at = _skip(text, end)
            if text[at : at + 1] == ",":
                at = _skip(text, at + 1)
                continue
            if text[at : at + 1] == "}":
                at += 1
                break
            raise ValueError(f"expected ',' or '}}' after member {name!r}")
    if _skip(text, at) != len(text):
        raise ValueError("text after the JSON object")
    return members
