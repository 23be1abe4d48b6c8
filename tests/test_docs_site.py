"""The docs site builds with ``mkdocs build --strict``, and its pages say what the code does.

The site is built once per run into a temporary folder, exactly as ``make docs`` builds it
(``python -m mkdocs build --strict``, the configuration in mkdocs.yml), so a broken link, a page
left out of the nav, a missing adapter README or a docstring mkdocstrings cannot render fails
here. The pages added for the site that carry runnable ``python`` blocks run them, like
tests/test_docs.py does for the others.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from propcare.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD_TIMEOUT = 600  # seconds; the build takes about 15 s

# Pages of the site (paths in the built site) that must exist: one per section at least.
KEY_PAGES = [
    "index.html",
    "tutorial/index.html",
    "how-to/write-a-plugin/index.html",
    "how-to/add-a-holiday-file/index.html",
    "how-to/receive-wechat-pay-notifications/index.html",
    "how-to/move-to-postgresql/index.html",
    "guides/tickets-sla/index.html",
    "guides/ledger/index.html",
    "guides/commission/index.html",
    "guides/appraisal/index.html",
    "reference/api/index.html",
    "reference/api/app/index.html",
    "reference/api/services/index.html",
    "reference/api/errors/index.html",
    "reference/api/money/index.html",
    "reference/api/calendar/index.html",
    "reference/api/ledger/index.html",
    "reference/api/commission/index.html",
    "reference/api/appraisal/index.html",
    "reference/hooks/index.html",
    "reference/cli/index.html",
    "reference/configuration/index.html",
    "reference/calendar-files/index.html",
    "adapters/index.html",
    "adapters/email/index.html",
    "adapters/webhook/index.html",
    "adapters/wechatpay/index.html",
    "adapters/alipay/index.html",
    "adapters/postgresql/index.html",
    "architecture/index.html",
    "explanation/sla-computation/index.html",
    "performance/index.html",
    "search/search_index.json",
]

# API objects whose mkdocstrings anchor must be on a page: id="<full path>".
API_OBJECTS = {
    "reference/api/app/index.html": ["propcare.app.Propcare", "propcare.app.Propcare.open"],
    "reference/api/services/index.html": [
        "propcare.registry.service.EstateService",
        "propcare.tickets.service.TicketService",
        "propcare.notify.service.NotifyService",
    ],
    "reference/api/errors/index.html": [
        "propcare.errors.PropcareError",
        "propcare.errors.CalendarDataMissing",
    ],
    "reference/api/money/index.html": ["propcare.money.money", "propcare.clock.FixedClock"],
    "reference/api/calendar/index.html": [
        "propcare.calendar.BusinessCalendar",
        "propcare.calendar_sources.read_calendar_file",
    ],
    "reference/api/ledger/index.html": [
        "propcare.ledger.journal.JournalEntry",
        "propcare.ledger.billing_service.BillingService",
        "propcare.ledger.payments.PaymentService",
        "propcare.ledger.arrears_service.ArrearsService",
    ],
    "reference/api/commission/index.html": ["propcare.commission.service.CommissionService"],
    "reference/api/appraisal/index.html": ["propcare.appraisal.service.AppraisalService"],
}

# Pages written for the site whose ```python blocks run, in order, in one namespace.
RUNNABLE = ["docs/how-to/add-a-holiday-file.md", "docs/explanation/sla-computation.md"]

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_CONFIG_KEY = re.compile(r"config\.get\(\s*\"([a-z_]+)\"")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with --strict into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner, not a warning
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    return out


def page(site: Path, relative: str) -> str:
    return (site / relative).read_text(encoding="utf-8")


# --- the build --------------------------------------------------------------------


@pytest.mark.parametrize("relative", KEY_PAGES)
def test_key_page_is_built(site: Path, relative: str) -> None:
    assert (site / relative).is_file(), f"{relative} is not in the built site"


def test_every_markdown_page_becomes_a_page(site: Path) -> None:
    sources = [p.relative_to(DOCS) for p in DOCS.rglob("*.md") if "_griffe" not in p.parts]
    missing = []
    for source in sources:
        stem = source.with_suffix("")
        built = stem.parent / "index.html" if stem.name == "index" else stem / "index.html"
        if not (site / built).is_file():
            missing.append(source.as_posix())
    assert not missing, f"pages not built: {missing}"


def test_the_build_helper_is_not_published(site: Path) -> None:
    assert not (site / "_griffe").exists()


@pytest.mark.parametrize("relative", sorted(API_OBJECTS))
def test_api_pages_document_their_objects(site: Path, relative: str) -> None:
    html = page(site, relative)
    for identifier in API_OBJECTS[relative]:
        assert f'id="{identifier}"' in html, f"{identifier} is not documented on {relative}"


def test_sphinx_roles_in_docstrings_become_code_or_links(site: Path) -> None:
    html = page(site, "reference/api/calendar/index.html")
    assert ":class:" not in html and ":meth:" not in html
    # :class:`~propcare.errors.CalendarDataMissing` in propcare.calendar links to the errors page.
    assert 'href="../errors/#propcare.errors.CalendarDataMissing"' in html


def test_the_hooks_page_has_an_anchor_per_hook(site: Path) -> None:
    html = page(site, "reference/hooks/index.html")
    hooks = [name for name in vars(hookspecs) if name.startswith("propcare_")]
    assert hooks
    for name in hooks:
        assert f'id="{name}"' in html, f"no anchor for {name}"


@pytest.mark.parametrize(
    ("relative", "readme"),
    [
        ("adapters/email/index.html", "adapters/propcare-smtp/README.md"),
        ("adapters/webhook/index.html", "adapters/propcare-webhook/README.md"),
        ("adapters/wechatpay/index.html", "adapters/propcare-wechatpay/README.md"),
        ("adapters/alipay/index.html", "adapters/propcare-alipay/README.md"),
        ("adapters/postgresql/index.html", "adapters/propcare-postgres/README.md"),
    ],
)
def test_adapter_pages_include_their_readme(site: Path, relative: str, readme: str) -> None:
    title = (ROOT / readme).read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
    html = page(site, relative)
    assert f">{title}<" in html, f"{relative} does not show {readme}"
    assert readme in html


def test_the_cli_page_documents_the_commands_that_exist() -> None:
    click = pytest.importorskip("click")
    from propcare.cli import main

    assert isinstance(main, click.Group)
    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for name in ("info", "demo"):
        assert name in main.commands
        assert f"## `propcare {name}`" in text, f"propcare {name} has no section in cli.md"


def test_the_configuration_page_lists_every_key_the_code_reads() -> None:
    read = set()
    for source in (ROOT / "src" / "propcare").rglob("*.py"):
        read |= set(_CONFIG_KEY.findall(source.read_text(encoding="utf-8")))
    assert {"channels", "gateways", "dispatch", "calendars", "tickets"} <= read
    text = (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")
    missing = sorted(key for key in read if f"## `{key}`" not in text)
    assert not missing, f"config keys without a '## `key`' section in configuration.md: {missing}"


# --- code blocks of the pages added for the site run -------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    root_handlers = list(logging.getLogger().handlers)
    yield tmp_path
    for handler in logging.getLogger().handlers:
        if handler not in root_handlers:
            logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("relative", RUNNABLE)
def test_python_blocks_run_in_order(relative: str, in_tmp: Path) -> None:
    blocks = _FENCE.findall((ROOT / relative).read_text(encoding="utf-8"))
    assert blocks, f"{relative} has no ```python block"
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(relative).stem}"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{relative} (python block {index + 1})", "exec"), namespace)
