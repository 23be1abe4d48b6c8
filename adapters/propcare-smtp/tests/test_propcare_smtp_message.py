"""The MIME message: what goes in comes out of a parser unchanged, and nothing else gets in."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from propcare_smtp import SmtpSettings, build_message, header_text, message_id_for
from propcare_smtp_testkit import normalised

from propcare import OutboundMessage, Recipient

SH = ZoneInfo("Asia/Shanghai")
SETTINGS = SmtpSettings(
    host="smtp.example.com", from_address="wuye@cuiyuan.example", from_name="翠苑物业服务中心"
)
HEADERS = {
    "message-id",
    "date",
    "from",
    "to",
    "subject",
    "auto-submitted",
    "content-language",
    "content-type",
    "content-transfer-encoding",
    "mime-version",
}

# Text as templates and the registry produce it: Chinese, ASCII, full-width punctuation.
chinese = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
ascii_printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
punctuation = st.sampled_from("【】：，。（）！？、；“”《》·—…　")
realistic = st.text(st.one_of(chinese, ascii_printable, punctuation), max_size=120)
anything = st.text(max_size=200)  # every code point but surrogates: controls, line breaks
# People's names: Chinese, Latin letters, digits, spaces, the middle dot of 阿依古丽·买买提.
names = st.text(st.one_of(chinese, st.sampled_from("ABCXYZabcxyz0189 ·-")), max_size=60)


def display_name(raw: bytes) -> str:
    """The To header's display name, decoded as RFC 2047 section 6.2 says.

    Not ``parsed["To"].addresses[0].display_name``: before Python 3.14 the email
    package's parser keeps the space between two adjacent encoded words of an address
    (CPython gh-128110), so a long name folded over two lines came back with a space
    in it. What we send is right; mail clients drop that space.
    """
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = re.sub(r"\r\n(?=[ \t])", "", head)
    (to,) = re.findall(r"^To: (.*)$", unfolded, flags=re.MULTILINE)
    phrase = to.rpartition(" <")[0]
    return str(make_header(decode_header(phrase)))


def outbound(
    *,
    subject: str = "【翠苑小区】停水通知",
    body: str = "尊敬的张三：明日停水。",
    name: str = "张三",
    address: str = "zhang.san@example.com",
    key: str = "notify:1:water/channel:email",
    locale: str = "zh-CN",
) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        channel="email",
        estate_id=None,
        recipient=Recipient(name, address),
        subject=subject,
        body=body,
        locale=locale,
        template="notice",
        created_at=datetime(2026, 11, 2, 1, 0, tzinfo=UTC),
    )


def round_trip(message: OutboundMessage) -> tuple[EmailMessage, bytes]:
    raw = build_message(message, SETTINGS).as_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default), raw


@given(realistic, realistic, names)
@settings(max_examples=300)
def test_subject_body_and_name_survive_the_trip_through_a_parser(
    subject: str, body: str, name: str
) -> None:
    parsed, raw = round_trip(outbound(subject=subject, body=body, name=name))
    assert str(parsed["Subject"]) == header_text(subject)
    assert parsed["To"].addresses[0].addr_spec == "zhang.san@example.com"
    assert display_name(raw) == header_text(name)
    # The body travels in base64 with CRLF lines and a final line break.
    sent = normalised(body)
    assert normalised(parsed.get_content()) == (sent if sent.endswith("\n") else sent + "\n")
    assert raw.isascii()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))


@given(anything, anything, anything)
@settings(max_examples=300)
def test_no_text_can_add_a_header_or_break_the_message(subject: str, body: str, name: str) -> None:
    parsed, _ = round_trip(outbound(subject=subject, body=body, name=name))
    assert {k.lower() for k in parsed} == HEADERS
    assert len(parsed.get_all("To") or []) == 1
    assert parsed["To"].addresses[0].addr_spec == "zhang.san@example.com"
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    assert not parsed.defects


def test_a_name_with_quotes_and_commas_is_quoted_not_split() -> None:
    parsed, _ = round_trip(outbound(name='张三 "老张", 先生'))
    (to,) = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == ('张三 "老张", 先生', "zhang.san@example.com")


def test_header_text_puts_an_injection_attempt_on_one_line() -> None:
    parsed, _ = round_trip(outbound(subject="停水\r\nBcc: everyone@example.com\r\n\r\n正文"))
    assert parsed["Bcc"] is None
    assert str(parsed["Subject"]) == "停水 Bcc: everyone@example.com 正文"


@given(st.text(max_size=100))
def test_message_id_is_a_valid_id_fixed_by_the_delivery(key: str) -> None:
    message_id = message_id_for(outbound(key=key), SETTINGS)
    assert re.fullmatch(r"<[0-9a-f]{32}@cuiyuan\.example>", message_id)
    assert message_id == message_id_for(outbound(key=key), SETTINGS)
    parsed, raw = round_trip(outbound(key=key))
    assert parsed["Message-ID"] == message_id
    assert not parsed["Message-ID"].defects
    assert raw.startswith(f"Message-ID: {message_id}\r\n".encode())  # first, as before


@given(st.text(max_size=60), st.text(max_size=60))
def test_different_keys_give_different_message_ids(one: str, two: str) -> None:
    if one != two:
        ids = {message_id_for(outbound(key=k), SETTINGS) for k in (one, two)}
        assert len(ids) == 2


def _differently(name: str) -> tuple[OutboundMessage, SmtpSettings]:
    """Estate 1's notice under one key, as another installation might send it: the same
    but for ``name``."""
    here = attrs.evolve(outbound(), estate_id=1)
    if name == "sender":
        return here, attrs.evolve(SETTINGS, from_address="wuye@lanting.example")
    changed: dict[str, object] = {
        "queued a microsecond later": {"created_at": here.created_at + timedelta(microseconds=1)},
        "recipient": {"recipient": Recipient("张三", "zhang.san@example.net")},
        "recipient's name": {"recipient": Recipient("张叁", "zhang.san@example.com")},
        "subject": {"subject": "【兰亭小区】停水通知"},
        "text": {"body": "尊敬的张三：后日停水。"},
        "locale": {"locale": "en"},
    }[name]
    return attrs.evolve(here, **changed), SETTINGS  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "queued a microsecond later",
        "sender",
        "recipient",
        "recipient's name",
        "subject",
        "text",
        "locale",
    ],
)
def test_the_same_key_and_estate_in_two_installations_get_two_message_ids(name: str) -> None:
    """Estate ids and keys repeat across installations (every database has an estate 1
    and may have a "notify:1:water"): a message that differs in anything else has
    another id, so no mail system drops it as the repeat of another."""
    here = attrs.evolve(outbound(), estate_id=1)
    there, settings = _differently(name)
    assert message_id_for(here, SETTINGS) != message_id_for(there, settings)


def test_the_same_message_built_again_has_the_same_id_and_bytes() -> None:
    # What a retry does, in any process: the stored delivery, rendered and built again.
    stored = outbound()
    again = attrs.evolve(stored, created_at=stored.created_at.astimezone(SH))  # read back
    assert round_trip(stored)[1] == round_trip(again)[1]
    # Another settings object with the same values, as after a restart.
    reread = SmtpSettings.from_mapping(
        {"host": "smtp.example.com", "from_address": "wuye@cuiyuan.example",
         "from_name": "翠苑物业服务中心"}
    )  # fmt: skip
    assert message_id_for(stored, reread) == message_id_for(stored, SETTINGS)


def test_the_date_is_the_queue_time_in_the_configured_zone() -> None:
    parsed, _ = round_trip(outbound())
    assert parsed["Date"] == "Mon, 02 Nov 2026 09:00:00 +0800"
    assert parsedate_to_datetime(parsed["Date"]) == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    utc = SmtpSettings(host="h.example", from_address="a@b.example", timezone="UTC")
    assert build_message(outbound(), utc)["Date"].endswith("+0000")
    later = outbound()
    assert build_message(later, SETTINGS).as_bytes() == build_message(later, SETTINGS).as_bytes()
    assert parsedate_to_datetime(parsed["Date"]) - later.created_at == timedelta(0)


def test_reply_to_and_content_language_follow_settings_and_locale() -> None:
    with_reply = SmtpSettings(
        host="h.example", from_address="wuye@cuiyuan.example", reply_to="kefu@客服.中国"
    )
    mail = build_message(outbound(locale="en"), with_reply)
    assert mail["Reply-To"] == "kefu@" + "客服.中国".encode("idna").decode()
    assert mail["Content-Language"] == "en"
    assert build_message(outbound(locale="zh CN; x"), SETTINGS)["Content-Language"] is None
    assert build_message(outbound(), SETTINGS)["Reply-To"] is None
