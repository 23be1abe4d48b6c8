"""The docs say what the code does: every hook documented, every code block runs, links resolve."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from propcare.plugins import hookspecs
from propcare.plugins.host import HOOK_METHODS, PluginHost

ROOT = Path(__file__).resolve().parents[1]
HOOKS_MD = ROOT / "docs" / "reference" / "hooks.md"
# Markdown files whose ```python blocks run, each file in one namespace, in order.
RUNNABLE = [
    "README.md",
    "docs/tutorial.md",
    "docs/how-to/write-a-plugin.md",
    "docs/reference/hooks.md",
    "docs/guides/ledger.md",
    "docs/guides/commission.md",
    "docs/guides/appraisal.md",
]
DOCS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_HEADING = re.compile(r"^## (\S+)\s*$", re.M)


def hookspec_functions() -> dict[str, Callable[..., Any]]:
    """The hooks: functions in propcare.plugins.hookspecs whose name starts with propcare_."""
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("propcare_")
    }


def documented_hooks() -> dict[str, str]:
    """``## propcare_x`` headings of hooks.md and the text of each section."""
    text = HOOKS_MD.read_text(encoding="utf-8")
    matches = list(_HEADING.finditer(text))
    sections: dict[str, str] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        sections[match[1]] = text[match.end() : end]
    return {name: body for name, body in sections.items() if name.startswith("propcare_")}


def python_blocks(relative: str) -> list[str]:
    return _FENCE.findall((ROOT / relative).read_text(encoding="utf-8"))


# --- hooks: specs, host methods and the reference page in step ---------------------


def test_there_are_hookspecs_to_check() -> None:
    assert len(hookspec_functions()) >= 6


def test_every_hookspec_has_a_heading_in_the_reference() -> None:
    missing = sorted(set(hookspec_functions()) - set(documented_hooks()))
    assert not missing, f"hooks without a '## <name>' heading in {HOOKS_MD.name}: {missing}"


def test_every_hook_heading_names_a_hookspec() -> None:
    text = HOOKS_MD.read_text(encoding="utf-8")
    headings = _HEADING.findall(text)
    stray = sorted(h for h in headings if h not in hookspec_functions())
    assert not stray, f"headings in {HOOKS_MD.name} with no hookspec of that name: {stray}"
    assert len(headings) == len(set(headings)), "a hook is documented twice"


def test_every_hookspec_has_a_host_method_that_exists() -> None:
    for name in hookspec_functions():
        assert name in HOOK_METHODS, f"{name} has no entry in HOOK_METHODS"
        method = getattr(PluginHost, HOOK_METHODS[name], None)
        assert callable(method), f"HOOK_METHODS names PluginHost.{HOOK_METHODS[name]}: missing"
    stray = sorted(set(HOOK_METHODS) - set(hookspec_functions()))
    assert not stray, f"HOOK_METHODS lists hooks that are not specified: {stray}"


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_each_hook_section_states_its_method_and_firstresult(name: str) -> None:
    section = documented_hooks().get(name, "")
    assert f"PluginHost.{HOOK_METHODS.get(name)}(" in section, "name the PluginHost method"
    spec = getattr(hookspecs, name).propcare_spec
    said = re.search(r"\*\*firstresult:\*\* (yes|no)", section)
    assert said, "say '**firstresult:** yes' or '**firstresult:** no'"
    assert (said[1] == "yes") == bool(spec["firstresult"])
    assert "None means" in section, "say what None means"
    for parameter in inspect.signature(getattr(hookspecs, name)).parameters:
        assert parameter in section, f"the argument {parameter} is not described"


# --- code blocks run ----------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty folder so estate.db and friends land in tmp."""
    monkeypatch.chdir(tmp_path)
    root_handlers = list(logging.getLogger().handlers)
    yield tmp_path
    # A doc may call logging.basicConfig(); leave the root logger as it was.
    for handler in logging.getLogger().handlers:
        if handler not in root_handlers:
            logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("relative", RUNNABLE)
def test_python_blocks_run_in_order(relative: str, in_tmp: Path) -> None:
    blocks = python_blocks(relative)
    assert blocks, f"{relative} has no ```python block"
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(relative).stem}"}
    for index, block in enumerate(blocks):
        code = compile(block, f"{relative} (python block {index + 1})", "exec")
        exec(code, namespace)


def test_the_readme_embedding_example_leaves_its_database_in_the_working_folder(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (embedding,) = [b for b in python_blocks("README.md") if "Propcare.open" in b]
    exec(compile(embedding, "README.md", "exec"), {"__name__": "readme"})
    assert (in_tmp / "estate.db").exists()
    assert "4 units; owner 138****1234" in capsys.readouterr().out


# --- links ---------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("relative", DOCS)
def test_relative_links_point_at_files_that_exist(relative: str) -> None:
    page = ROOT / relative
    broken = []
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{relative} links to missing files: {broken}"
