# mypy: disable-error-code="empty-body"
"""Every hook propcare calls. This is the only module that creates the spec marker.

Provider hooks return iterables of named records; the app picks by name from its
configuration. Each hook has a typed method on
:class:`propcare.plugins.host.PluginHost` and a heading in
``docs/reference/hooks.md``; a test keeps the three in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from propcare.access import Actor, Resource
    from propcare.appraisal.metrics import KpiMetric
    from propcare.commission.plans import CommissionPlanType
    from propcare.plugins.records import (
        CalendarSource,
        EventSubscriber,
        NotificationChannel,
        PaymentGateway,
        StorageBackend,
    )
    from propcare.sla.policy import SlaPolicy

PROJECT = "propcare"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def propcare_storage_backends() -> Iterable[StorageBackend]:
    """Storage backends this plugin provides.

    Return records; the app picks the one whose name the URL scheme names
    (``sqlite``, ``postgresql``) and raises ConfigError on an unknown or
    duplicate name. Return nothing (or ``None``) to provide none.
    """


@hookspec
def propcare_notification_channels() -> Iterable[NotificationChannel]:
    """Notification channel kinds this plugin provides (``log``, ``email``, ``webhook``, ...).

    The app builds the channels named in its ``channels`` configuration. Return
    nothing (or ``None``) to provide none.
    """


@hookspec
def propcare_payment_gateways() -> Iterable[PaymentGateway]:
    """Payment gateways this plugin provides (``counter``, ``wechatpay``, ``alipay``, ...).

    Chosen by name like the other providers; the fee ledger defines the client
    interface. Return nothing (or ``None``) to provide none.
    """


@hookspec
def propcare_calendars() -> Iterable[CalendarSource]:
    """Holiday and make-up working-day sources this plugin provides (``cn``, ``file``, ...).

    Return nothing (or ``None``) to provide none.
    """


@hookspec
def propcare_event_subscribers() -> Iterable[EventSubscriber]:
    """Subscribers to committed domain events.

    The dispatcher calls each subscriber in its own try/except after the
    change commits, with retries; one failing subscriber never stops the
    others. Return nothing (or ``None``) to subscribe none.
    """


@hookspec
def propcare_sla_policies() -> Iterable[SlaPolicy]:
    """SLA policies this plugin adds or replaces, by (category, priority).

    A plugin's policy replaces the built-in one with the same category and
    priority (None in either means any); two plugins giving the same key raise
    ConfigError. Return nothing (or ``None``) to add none.
    """


@hookspec
def propcare_commission_plans() -> Iterable[CommissionPlanType]:
    """Kinds of commission plan this plugin provides (the built-in one is ``tiered``).

    A plan names its kind; the app picks the record by that name and raises
    ConfigError on an unknown or duplicate name. Return nothing (or ``None``) to
    provide none.
    """


@hookspec
def propcare_kpi_metrics() -> Iterable[KpiMetric]:
    """Appraisal metrics this plugin adds, by name, beside the built-in ones.

    A scorecard's KPIs name metrics; a name given by two plugins, or the same as a
    built-in metric, raises ConfigError when it is used. Return nothing (or ``None``)
    to add none.
    """


@hookspec(firstresult=True)
def propcare_authorize(actor: Actor, action: str, resource: Resource) -> bool | None:
    """Decide whether ``actor`` may do ``action`` (``"owner.write"``, ...) on ``resource``.

    Return True to allow, False to deny, ``None`` to leave the decision to the
    next plugin; the built-in role map answers last. Estate isolation is
    checked before this hook and cannot be overridden by it.
    """
