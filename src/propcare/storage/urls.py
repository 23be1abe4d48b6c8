"""Database URLs as they may be shown: every secret in them as ``***``.

URLs end up in logs, error messages, tickets and chats, so wherever propcare shows one it
shows :func:`shown_url` of it. The text is *parsed*, in every form libpq accepts, and only
the secrets are replaced; the scheme, user, hosts, ports, database and other parameters
stay as written:

- **A URL**, ``postgresql://user:password@host:port/dbname?param=value&...``. The password
  is the userinfo after its first ``:``. People type passwords unencoded, ``/``, ``@``,
  ``?`` and ``:`` included, and such a URL reads two ways: libpq ends the userinfo at the
  *first* ``@`` and sees none when a ``/`` comes before it (``user:pa/ss@h/db`` is host
  ``user``, port ``pa``, database ``ss@h/db`` to libpq), while the person meant the *last*
  ``@`` before the host. Both readings are masked, so neither shows any of the password;
  :func:`ambiguity` says when the two differ (the PostgreSQL backend refuses such a URL
  rather than hand libpq something else than was meant).
- **Query parameters** that hold secrets (:data:`SECRET_KEYWORDS`, and any name with
  ``password`` or ``secret`` in it; percent-encoded names and any letter case count):
  the value is hidden up to the next ``&`` that starts a parameter libpq knows, so an
  unencoded ``&`` in a password hides the rest of it too.
- **A key=value connection string**, ``host=db password='p w' dbname=x``, read by libpq's
  rules (blanks around ``=``, single quotes, backslash escapes, a value starting at the
  first non-blank after ``=``). A secret's value that does not end where libpq expects (an
  unquoted blank) is hidden up to the next ``keyword=`` libpq knows.
- **An SQLite URL or a file path**: nothing in it is secret; shown as it is.

Pure functions of text: no IO, nothing imported from the app.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = [
    "KEYWORDS",
    "MASK",
    "SECRET_KEYWORDS",
    "ambiguity",
    "is_secret_keyword",
    "scrubbed",
    "secrets_in",
    "shown_url",
]

MASK = "***"

# Every connection keyword libpq 18 knows (PQconndefaults); a query parameter or key=value
# pair with one of these names is a parameter, not part of a password.
KEYWORDS = frozenset(
    {
        "service", "user", "password", "passfile", "channel_binding", "connect_timeout",
        "dbname", "host", "hostaddr", "port", "client_encoding", "options",
        "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "sslmode",
        "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslpassword",
        "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "require_auth",
        "min_protocol_version", "max_protocol_version", "ssl_min_protocol_version",
        "ssl_max_protocol_version", "gssencmode", "krbsrvname", "gsslib", "gssdelegation",
        "replication", "target_session_attrs", "load_balance_hosts", "scram_client_key",
        "scram_server_key", "oauth_issuer", "oauth_client_id", "oauth_client_secret",
        "oauth_scope", "sslkeylogfile",
        "ssl",  # in a URI libpq takes ssl=true as sslmode=require
    }
)  # fmt: skip

# The keywords whose values are secrets: libpq's password fields (dispchar "*") and the
# SCRAM keys (which log in as well as a password does).
SECRET_KEYWORDS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
)

_URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_BLANKS = " \t\n\r\f\v"  # C isspace(): what libpq skips in a key=value string
_QUERY_PARAM = re.compile(r"[?&]([^&=?]*)=")


def is_secret_keyword(name: str) -> bool:
    """Whether a parameter called ``name`` holds a secret (percent-decoded, any case)."""
    key = unquote(name).strip().lower()
    return key in SECRET_KEYWORDS or "password" in key or "secret" in key


def _is_keyword(name: str) -> bool:
    return unquote(name).strip().lower() in KEYWORDS


def shown_url(url: str) -> str:
    """``url`` with every secret in it as ``***`` (see the module notes for the forms)."""
    spans = _secret_spans(url)
    if not spans:
        return url
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(url[last:start])
        out.append(MASK)
        last = end
    out.append(url[last:])
    return "".join(out)


def secrets_in(url: str) -> list[str]:
    """The secrets :func:`shown_url` hides, as written and as libpq reads them (percent- or
    backslash-decoded), longest first: what must not appear in any text about ``url``."""
    found: set[str] = set()
    for start, end in _secret_spans(url):
        raw = url[start:end]
        found.update((raw, unquote(raw), _unescaped(raw)))
        if raw.startswith("'"):
            found.add(_unescaped(raw[1:], until_quote=True))
    found.discard("")
    return sorted(found, key=lambda s: (-len(s), s))


def _unescaped(text: str, *, until_quote: bool = False) -> str:
    """libpq's reading of a key=value value: ``\\x`` is ``x``; a quoted one ends at its
    first unescaped ``'``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if until_quote and text[i] == "'":
            break
        out.append(text[i])
        i += 1
    return "".join(out)


def scrubbed(text: str, url: str) -> str:
    """``text`` (say, a driver's error message about ``url``) with ``url`` shown as
    :func:`shown_url` shows it and every secret of it as ``***``."""
    shown = shown_url(url)
    if shown == url:
        return text
    text = text.replace(url, shown)
    for secret in secrets_in(url):
        text = text.replace(secret, MASK)
    return text


def ambiguity(url: str) -> str | None:
    """Why libpq would read ``url``'s user and password otherwise than a person does (an
    unencoded ``/`` or ``@`` in them), or None when both read it alike. Only for URLs."""
    match = _URL_START.match(url)
    if match is None or _scheme(match.group(0)) == "sqlite":
        return None
    start = match.end()
    meant = _password_span(url, start, _meant_userinfo(url, start))
    if meant == _password_span(url, start, _libpq_userinfo(url, start)):
        return None
    return (
        "the user or password holds '/' or '@', which libpq reads as the end of the user "
        "name and password; percent-encode them ('/' as %2F, '@' as %40), or leave the "
        "password out of the URL and set PGPASSWORD or ~/.pgpass"
    )


# --- reading ------------------------------------------------------------------------------


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Where the secrets are, as (start, end) offsets: sorted, merged, none empty."""
    if not isinstance(text, str):
        return []
    match = _URL_START.match(text)
    if match is not None:
        spans = [] if _scheme(match.group(0)) == "sqlite" else _url_spans(text, match.end())
    elif "=" in text:  # libpq's test for a key=value string
        spans = _conninfo_spans(text)
    else:
        spans = []
    return _merged(spans)


def _scheme(prefix: str) -> str:
    """``postgresql+psycopg://`` -> ``postgresql``."""
    return prefix[:-3].split("+", 1)[0].lower()


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _query_start(url: str, start: int) -> int:
    """Where the query begins: the first ``?`` followed by ``keyword=`` libpq knows."""
    for match in _QUERY_PARAM.finditer(url, start):
        if url[match.start()] == "?" and _is_keyword(match.group(1)):
            return match.start()
    return len(url)


def _odd_port(hosts: str) -> bool:
    """Whether a ``host:port,...`` list has a port that is not a number (a password that
    holds ``?keyword=`` makes the text before it look like ``user:pass``)."""
    for host in hosts.split("/", 1)[0].split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" in port and not port.rpartition(":")[2].isdigit():
            return True
    return False


def _meant_userinfo(url: str, start: int) -> int | None:
    """Where the userinfo ends as people write it: at the last ``@`` before the query."""
    query = _query_start(url, start)
    at = url.rfind("@", start, query)
    if at < 0 and "@" in url[query:] and _odd_port(url[start:query]):
        at = url.rfind("@")  # the "query" was part of the password
    return at if at >= 0 else None


def _libpq_userinfo(url: str, start: int) -> int | None:
    """Where libpq ends the userinfo: the first ``@``, unless a ``/`` comes first."""
    i = start
    while i < len(url) and url[i] not in "@/":
        i += 1
    return i if i < len(url) and url[i] == "@" else None


def _password_span(url: str, start: int, end: int | None) -> tuple[int, int] | None:
    """The password in a userinfo ending at ``end``: after its first ``:``."""
    if end is None:
        return None
    colon = url.find(":", start, end)
    return None if colon < 0 else (colon + 1, end)


def _url_spans(url: str, start: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for end in (_meant_userinfo(url, start), _libpq_userinfo(url, start)):
        span = _password_span(url, start, end)
        if span is not None:
            spans.append(span)
    # Secret parameters anywhere, in the query or not: a wrong guess hides too much.
    for match in _QUERY_PARAM.finditer(url, start):
        if is_secret_keyword(match.group(1)):
            spans.append((match.end(), _param_value_end(url, match.end())))
    return spans


def _param_value_end(url: str, i: int) -> int:
    """A query value ends at the next ``&`` that starts a parameter libpq knows."""
    for match in _QUERY_PARAM.finditer(url, i):
        if url[match.start()] == "&" and _is_keyword(match.group(1)):
            return match.start()
    return len(url)


def _conninfo_spans(text: str) -> list[tuple[int, int]]:
    """libpq's conninfo_parse, keeping where each value is."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    i = 0
    while i < n:
        if text[i] in _BLANKS:
            i += 1
            continue
        name_start = i
        while i < n and text[i] != "=" and text[i] not in _BLANKS:
            i += 1
        name = text[name_start:i]
        while i < n and text[i] in _BLANKS:
            i += 1
        if i >= n or text[i] != "=":
            continue  # libpq: missing "=" after the name; a secret before it hid this
        i += 1
        while i < n and text[i] in _BLANKS:
            i += 1
        value_start = i
        if i < n and text[i] == "'":
            i += 1
            while i < n and text[i] != "'":
                i += 2 if text[i] == "\\" else 1
            i = min(i + 1, n)  # past the closing quote; unterminated: to the end
        else:
            while i < n and text[i] not in _BLANKS:
                i += 2 if text[i] == "\\" else 1
            i = min(i, n)
        if is_secret_keyword(name):
            i = _conninfo_value_end(text, i)
            spans.append((value_start, i))
    return spans


_CONNINFO_PAIR = re.compile(r"([^=" + re.escape(_BLANKS) + r"]+)[" + re.escape(_BLANKS) + "]*=")


def _conninfo_value_end(text: str, i: int) -> int:
    """Past the words after a secret that are not ``keyword=`` pairs libpq knows: an
    unquoted blank in a password leaves its rest as such words."""
    n = len(text)
    while True:
        j = i
        while j < n and text[j] in _BLANKS:
            j += 1
        if j >= n:
            return i
        match = _CONNINFO_PAIR.match(text, j)
        if match is not None and _is_keyword(match.group(1)):
            return i
        while j < n and text[j] not in _BLANKS:
            j += 1
        i = j
