"""The ``propcare`` command (extra ``cli``).

Commands: ``info``, ``demo``, ``report monthly``, ``arrears``, ``bill-run``,
``import units``, ``calendar check``, ``calendar import-notice``, ``sla recompute``,
``sla check``, ``tickets verify``, ``outbox failed``, ``outbox requeue`` and
``migrate-db``; ``propcare COMMAND --help`` explains each option. Every
command that opens the app takes ``--config FILE`` (or ``PROPCARE_CONFIG``): the
``propcare.toml`` of :mod:`propcare.config`.

Exit codes: 0 done; 1 propcare refused the work of ``report``, ``arrears``,
``bill-run``, ``import``, ``calendar``, ``sla``, ``tickets``, ``outbox`` or
``migrate-db`` (a :class:`~propcare.errors.PropcareError`, shown as one line on stderr
that names the field, the value and the rule:
``error: period='2099-01': is not open yet: ...``), ``calendar check`` when a year it
checks has no holiday data, and ``tickets verify`` when a row differs from its events; a
locked or read-only database ends any command with 1; 2 bad usage, as click reports it
(an unknown option, a malformed number). ``info`` and ``demo`` end a PropcareError with
2 too: every one they raise is about the options given
(``error: units=0: must be a positive integer``). A traceback means a bug in propcare.
propcare's own warnings (such as next year's holidays missing) are printed on stderr as
``warning: ...`` lines.
"""

from __future__ import annotations

# Each module registers its commands on ``main`` when imported.
from propcare.cli import (  # noqa: F401
    arrears,
    billing,
    calendars,
    demo,
    imports,
    info,
    migrate,
    outbox,
    report,
    sla,
    tickets,
)
from propcare.cli.arrears import ROSTER_HEADERS
from propcare.cli.common import database_url, main
from propcare.registry.archive_import import UNIT_COLUMNS

__all__ = ["ROSTER_HEADERS", "UNIT_COLUMNS", "database_url", "main"]
