"""A Griffe extension for the docs site: Sphinx roles in propcare's docstrings become links.

propcare's docstrings are plain text with a little reST: ``code`` (already Markdown code
once rendered) and roles such as :class:`~propcare.errors.MoneyTypeError`. Markdown has no
roles, so this extension rewrites each role into an *optional* cross-reference for
mkdocs-autorefs: a link when the object is documented on the site, plain code otherwise,
never a warning. A reST ``::`` that introduces a literal block becomes ``:``.

Loaded by mkdocstrings (``extensions:`` in mkdocs.yml); the docs build only, not the package.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:class|func|meth|attr|data|mod|exc|obj|const):`(?P<tilde>~?)(?P<target>[^`]+)`"
)
_LITERAL = re.compile(r"(\S)::$", re.M)


def _identifier(obj: griffe.Object, target: str) -> str:
    """The full path of ``target`` as written in ``obj``'s docstring, best effort."""
    target = target.lstrip(".")
    head = target.split(".", 1)[0]
    if target.startswith("propcare."):
        return target
    cls = obj if obj.is_class else obj.parent
    if cls is not None and cls.is_class and head in cls.members:
        return f"{cls.path}.{target}"
    module = obj.module
    if head in module.members:
        return f"{module.path}.{target}"
    return target


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return

        def link(match: re.Match[str]) -> str:
            target = match["target"]
            shown = target.rsplit(".", 1)[-1] if match["tilde"] else target.lstrip(".")
            identifier = escape(_identifier(obj, target), quote=True)
            code = f"<code>{escape(shown)}</code>"
            return f'<autoref identifier="{identifier}" optional>{code}</autoref>'

        text = _ROLE.sub(link, obj.docstring.value)
        obj.docstring.value = _LITERAL.sub(r"\1:", text)
