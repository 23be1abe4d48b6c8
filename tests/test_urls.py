"""Database URLs are shown without their secrets, in every form libpq reads (URL, query
parameters, key=value strings), checked against libpq's own parser (psycopg's
``conninfo_to_dict`` calls ``PQconninfoParse``)."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from propcare.app import shown_url as shown_url_from_app
from propcare.storage.urls import (
    KEYWORDS,
    MASK,
    SECRET_KEYWORDS,
    _secret_spans,
    _unescaped,
    ambiguity,
    is_secret_keyword,
    scrubbed,
    secrets_in,
    shown_url,
)

psycopg = pytest.importorskip("psycopg")
from psycopg import pq  # noqa: E402
from psycopg.conninfo import conninfo_to_dict  # noqa: E402

# Characters people put in passwords that mean something in a URL or a key=value string.
HOSTILE = "@/:?&=#%'\"\\ \t+,;[]{}!$~中é"
# Letters too few to spell a libpq keyword, so a password never reads as "?host=...".
password = st.text(alphabet=HOSTILE + "xyZ9", min_size=1, max_size=24)


def libpq(conninfo: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}


def test_shown_url_stays_importable_from_the_app() -> None:
    assert shown_url_from_app is shown_url


# --- the corpus: (text, the password meant, what must still show) --------------------------

PG = "postgresql://"
CORPUS = [
    # The cases: "/" and "@" unencoded, a password in the query.
    (PG + "user:pa/ssS3cr3t@127.0.0.1:1/x", "pa/ssS3cr3t", PG + "user:***@127.0.0.1:1/x"),
    (PG + "user:pa@ssS3cr3t@127.0.0.1:1/x", "pa@ssS3cr3t", PG + "user:***@127.0.0.1:1/x"),
    (PG + "user@db:5432/pc?password=S3cr3t&sslmode=require", "S3cr3t",
     PG + "user@db:5432/pc?password=***&sslmode=require"),
    # As libpq wants it: percent-encoded.
    (PG + "user:pa%2Fss%40S3cr3t@db:5432/pc", "pa/ss@S3cr3t", PG + "user:***@db:5432/pc"),
    (PG + "user:S3cr3t@db/pc", "S3cr3t", PG + "user:***@db/pc"),
    ("postgres://user:S3cr3t@[::1]:5433/pc", "S3cr3t", "postgres://user:***@[::1]:5433/pc"),
    ("postgresql+psycopg://user:S3:cr?3t@h1:5432,h2:5433/pc", "S3:cr?3t",
     "postgresql+psycopg://user:***@h1:5432,h2:5433/pc"),
    (PG + "user:S3cr#3t@db/pc", "S3cr#3t", PG + "user:***@db/pc"),
    # Other secrets libpq reads from a query, names percent-encoded or not.
    (PG + "user@db/pc?sslpassword=K3yS3cr3t&sslmode=verify-full", "K3yS3cr3t",
     PG + "user@db/pc?sslpassword=***&sslmode=verify-full"),
    (PG + "user@db/pc?pass%77ord=S3cr3t", "S3cr3t", PG + "user@db/pc?pass%77ord=***"),
    (PG + "db/pc?oauth_client_secret=Cl13ntS3cr3t", "Cl13ntS3cr3t",
     PG + "db/pc?oauth_client_secret=***"),
    # An unencoded "&" in a query password: hidden up to the next parameter libpq knows.
    (PG + "user@db/pc?password=S3c&r3t&application_name=pc", "S3c&r3t",
     PG + "user@db/pc?password=***&application_name=pc"),
    # An Azure-style user name with "@" in the query is no password.
    (PG + "db:5432/pc?user=me@srv&password=S3cr3t", "S3cr3t",
     PG + "db:5432/pc?user=me@srv&password=***"),
    # key=value strings, with libpq's quoting.
    ("host=db port=5432 password=S3cr3t dbname=pc", "S3cr3t",
     "host=db port=5432 password=*** dbname=pc"),
    ("host=db password = 'p w\\'S3cr3t' dbname=pc", "p w'S3cr3t",
     "host=db password = *** dbname=pc"),
    ("host=db password=p\\ wS3cr3t dbname=pc", "p wS3cr3t", "host=db password=*** dbname=pc"),
    # An unquoted blank: libpq refuses it; a person meant one password.
    ("host=db password=p wS3cr3t dbname=pc", "p wS3cr3t", "host=db password=*** dbname=pc"),
    ("host=db dbname=pc password='S3cr3t", "'S3cr3t", "host=db dbname=pc password=***"),
    # libpq takes the first non-blank after "=" as the value: "port=5432" here.
    ("host=db password= port=5432", "port=5432", "host=db password= ***"),
    # Nothing secret.
    ("sqlite:///a:b@c.db", None, "sqlite:///a:b@c.db"),
    ("sqlite://:memory:", None, "sqlite://:memory:"),
    ("propcare.db", None, "propcare.db"),
    (PG + "/pc?host=/var/run/postgresql", None, PG + "/pc?host=/var/run/postgresql"),
    (PG + "user@db/pc", None, PG + "user@db/pc"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "secret", "shown"), CORPUS)
def test_the_corpus_is_shown_without_its_secret(text: str, secret: str | None, shown: str) -> None:
    assert shown_url(text) == shown
    if secret is not None:
        assert secret not in shown_url(text)
        assert scrubbed(f"cannot connect: {secret!r} in {text}", text).count("S3c") == 0


@pytest.mark.parametrize(("text", "secret", "shown"), CORPUS)
def test_what_libpq_reads_as_a_secret_is_never_shown_and_the_rest_is(
    text: str, secret: str | None, shown: str
) -> None:
    try:
        params = libpq(text)
    except psycopg.ProgrammingError:
        return  # libpq refuses it (and the corpus entry says what a person meant)
    for key, value in params.items():
        if is_secret_keyword(key):
            assert value not in shown, (key, value)
        elif key in ("host", "port", "dbname") and ambiguity(text) is None:
            # (libpq misreads an ambiguous URL's password as host, port or database)
            assert all(part in shown for part in value.split(",")), (key, value)


def test_libpq_reads_an_unencoded_at_or_slash_otherwise_than_people_mean() -> None:
    # The userinfo ends at the FIRST "@" for libpq, and a "/" before it ends the host.
    assert libpq("postgresql://user:pa@ss@host/db")["password"] == "pa"
    assert libpq("postgresql://user:pa@ss@host/db")["host"] == "ss@host"
    assert libpq("postgresql://user:pa/ss@host/db") == {
        "host": "user", "port": "pa", "dbname": "ss@host/db"
    }  # fmt: skip
    # Both readings are hidden, and the URL is named ambiguous.
    for url in ("postgresql://user:pa@ss@host/db", "postgresql://user:pa/ss@host/db"):
        assert shown_url(url) == "postgresql://user:***@host/db"
        assert ambiguity(url) is not None
    for url in (
        "postgresql://user:pa%40ss@host/db",
        "postgresql://user:pa?ss@host/db?application_name=a@b",
        "postgresql://host/db?user=me@srv",
        "host=h password=a@b/c",
        "sqlite:///a:b@c.db",
    ):
        assert ambiguity(url) is None, url


def test_the_keywords_are_libpqs() -> None:
    known = {o.keyword.decode() for o in pq.Conninfo.get_defaults()}
    assert known <= KEYWORDS
    hidden = {o.keyword.decode() for o in pq.Conninfo.get_defaults() if o.dispchar == b"*"}
    assert hidden <= SECRET_KEYWORDS
    assert all(is_secret_keyword(k) for k in SECRET_KEYWORDS)
    assert is_secret_keyword("PASSWORD") and is_secret_keyword("pass%77ord")
    assert not is_secret_keyword("passfile") and not is_secret_keyword("user")


def test_secrets_in_gives_each_secret_as_written_and_as_libpq_reads_it() -> None:
    assert secrets_in("postgresql://u:p%40ss@h/db?password=q") == ["p%40ss", "p@ss", "q"]
    assert secrets_in("host=h password='a\\'b'") == ["'a\\'b'", "'a'b'", "a'b"]
    assert secrets_in("sqlite:///x.db") == []
    message = 'invalid percent-encoded token: "p%zz"'
    assert scrubbed(message, "postgresql://u:p%zz@h/db") == 'invalid percent-encoded token: "***"'


# --- properties over hostile passwords -----------------------------------------------------


@given(pw=password)
@example(pw="pa/ssS3cr3t")
@example(pw="pa@ss@S3cr3t")
@example(pw="S3cr3t?")
@example(pw="@")
def test_a_typed_password_never_shows_whatever_it_holds(pw: str) -> None:
    """A password as people type it (unencoded) and as libpq wants it (percent-encoded):
    what is shown is the same whatever the password, and names the host, port and db."""
    for url in (
        f"postgresql://propcare:{pw}@db.internal:5432/propcare?sslmode=require",
        f"postgresql://propcare:{quote(pw, safe='')}@db.internal:5432/propcare?sslmode=require",
    ):
        assert shown_url(url) == (
            "postgresql://propcare:***@db.internal:5432/propcare?sslmode=require"
        )
    encoded = f"postgresql://propcare:{quote(pw, safe='')}@db.internal:5432/propcare"
    assert libpq(encoded)["password"] == pw  # the encoded URL is libpq's reading of pw
    assert ambiguity(encoded) is None


@given(pw=password)
@example(pw="a&b")
def test_a_query_password_never_shows(pw: str) -> None:
    encoded = (
        "postgresql://propcare@db.internal:5432/propcare?sslmode=require"
        f"&password={quote(pw, safe='')}&application_name=propcare"
    )
    assert libpq(encoded)["password"] == pw
    expected = (
        "postgresql://propcare@db.internal:5432/propcare?sslmode=require"
        "&password=***&application_name=propcare"
    )
    assert shown_url(encoded) == expected
    raw = encoded.replace(quote(pw, safe=""), pw)
    assert shown_url(raw) == expected


@given(pw=password)
@example(pw="'")
@example(pw="\\")
@example(pw=" port=1")
def test_a_key_value_password_never_shows(pw: str) -> None:
    """Quoted by libpq's rules, libpq reads the password back whole; the shown text hides
    it whole and keeps every other pair."""
    literal = "'" + pw.replace("\\", "\\\\").replace("'", "\\'") + "'"
    dsn = f"host=db.internal port=5432 password={literal} dbname=propcare"
    assert libpq(dsn)["password"] == pw
    assert shown_url(dsn) == "host=db.internal port=5432 password=*** dbname=propcare"
    # A driver's message quoting the string or the password keeps neither.
    assert pw not in scrubbed(f"[{dsn}] [{pw}]", dsn).replace(MASK, "\0")


# --- whatever libpq reads as a secret is inside what is hidden ------------------------------

PIECES = [*"@/:?&=#%' \\ab19", "host=", "password=", "sslpassword=", "sslmode=require", "%40"]
PIECES += ["%2F", "[::1]", "pass%77ord=", " port=", "'", "\\'", "&", "?"]
pieces = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


def _hidden(text: str, value: str) -> bool:
    """Some stretch of ``text`` that reads as ``value`` (percent- or backslash-decoded,
    quotes dropped) lies inside a stretch shown_url hides."""
    spans = _secret_spans(text)

    def reads(raw: str) -> set[str]:
        out = {raw, unquote(raw), _unescaped(raw)}
        if raw.startswith("'"):
            out.add(_unescaped(raw[1:], until_quote=True))
        return out

    return any(
        value in reads(text[i:j])
        for a, b in spans
        for i in range(a, b)
        for j in range(i + 1, b + 1)
    )


def _libpq_secrets(text: str) -> dict[str, str]:
    try:
        params = libpq(text)
    except (psycopg.Error, UnicodeDecodeError):  # refused, or not UTF-8 once decoded
        return {}
    return {k: v for k, v in params.items() if is_secret_keyword(k) and v}


@given(rest=pieces)
@example(rest="[::1]@@")
@example(rest="u:a?password=b@h/d")
def test_every_secret_libpq_reads_from_a_url_is_hidden(rest: str) -> None:
    url = "postgresql://" + rest
    for key, value in _libpq_secrets(url).items():
        assert _hidden(url, value), (url, key, value)


@given(rest=pieces)
@example(rest="' port=1")
@example(rest="a\\ b")
def test_every_secret_libpq_reads_from_a_key_value_string_is_hidden(rest: str) -> None:
    for dsn in (f"password={rest}", f"host=h password={rest} dbname=d", f"sslpassword = {rest}"):
        for key, value in _libpq_secrets(dsn).items():
            assert _hidden(dsn, value), (dsn, key, value)


def test_a_key_value_connection_string_given_as_db_is_refused_masked() -> None:
    from click.testing import CliRunner

    from propcare.cli import main

    result = CliRunner().invoke(main, ["info", "--db", "host=h dbname=x password=S3cr3t"])
    assert result.exit_code == 2, result.output
    assert "S3cr3t" not in result.output
    assert "give a postgresql:// URL, not a key=value connection string" in result.stderr


def test_a_bad_url_never_shows_the_password() -> None:
    from propcare.app import backend_name
    from propcare.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        backend_name("host=h password=S3cr3t")
    assert "S3cr3t" not in str(caught.value)
