"""The typed plugin host: one pluggy PluginManager per app, never a global.

Built-in plugins register through the same hooks as third-party ones, listed
in :data:`DEFAULT_PLUGINS`. Entry points of the group ``propcare`` load one by
one: a plugin that fails to import or register is recorded by name in
:attr:`PluginHost.load_errors` and the rest still load.
"""

from __future__ import annotations

import importlib
import logging
import types
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import pluggy

from propcare.access import Actor, Resource
from propcare.errors import ConfigError
from propcare.plugins import hookspecs
from propcare.plugins.records import (
    CalendarSource,
    EventSubscriber,
    NotificationChannel,
    PaymentGateway,
    StorageBackend,
)
from propcare.sla.policy import SlaPolicy

if TYPE_CHECKING:
    from propcare.appraisal.metrics import KpiMetric
    from propcare.commission.plans import CommissionPlanType

__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "HOOK_METHODS", "PluginHost", "Provided"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "propcare"

# Module paths of the built-in plugins, "module" or "module:attribute".
DEFAULT_PLUGINS: tuple[str, ...] = (
    "propcare.storage.sqlite",
    "propcare.notify.log_channel",
    "propcare.access:BuiltinRoleMap",
    "propcare.calendar_sources",
    "propcare.ledger.gateways",
    "propcare.commission.plans",
)

# Each hook and the typed method that calls it; a test keeps this, the hookspecs
# and docs/reference/hooks.md in step.
HOOK_METHODS: dict[str, str] = {
    "propcare_storage_backends": "storage_backends",
    "propcare_notification_channels": "notification_channels",
    "propcare_payment_gateways": "payment_gateways",
    "propcare_calendars": "calendars",
    "propcare_event_subscribers": "event_subscribers",
    "propcare_sla_policies": "sla_policies",
    "propcare_commission_plans": "commission_plans",
    "propcare_kpi_metrics": "kpi_metrics",
    "propcare_authorize": "authorize",
}

T = TypeVar("T")


@attrs.frozen
class Provided(Generic[T]):
    """A record and the name of the plugin that provided it."""

    plugin: str
    record: T


@attrs.frozen
class LoadFailure:
    """An entry-point plugin that did not load, and why."""

    name: str
    distribution: str
    error: str


def _load_builtin(path: str) -> object:
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    if not attribute:
        return module
    obj = getattr(module, attribute)
    return obj() if isinstance(obj, type) else obj


def _plugin_name(plugin: object) -> str:
    """A name people recognise in errors: the module, or the module and class."""
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


class PluginHost:
    """Typed access to the hooks of one app."""

    def __init__(self, plugins: Sequence[object] = (), *, load_entrypoints: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.load_errors: list[LoadFailure] = []
        for path in DEFAULT_PLUGINS:
            self.pm.register(_load_builtin(path), name=f"builtin:{path}")
        if load_entrypoints:
            self._load_entrypoints()
        # Registered last so they are asked first by firstresult hooks (authorize).
        for plugin in plugins:
            self.register(plugin)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module; returns the name it was registered under."""
        if self.pm.is_registered(plugin):
            return self.pm.get_name(plugin) or ""
        if name is None:
            name = _plugin_name(plugin)
            taken = {n for n, _ in self.pm.list_name_plugin()}
            base, n = name, 2
            while name in taken:
                name, n = f"{base}#{n}", n + 1
        try:
            registered = self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise ConfigError("plugin", name or repr(plugin), f"cannot register: {exc}") from exc
        if registered is None:  # pragma: no cover - blocked names only
            raise ConfigError("plugin", name, "is blocked")
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            raise ConfigError("plugin", registered, f"cannot register: {exc}") from None
        return registered

    def _load_entrypoints(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else "?"
            try:
                if self.pm.get_plugin(ep.name) is not None:
                    raise ConfigError("entry point", ep.name, "another plugin has this name")
                plugin = ep.load()
                # Like the built-ins, an entry point may name a class: register an instance.
                if isinstance(plugin, type):
                    plugin = plugin()
                self.pm.register(plugin, name=ep.name)
                self._check_hook_names(plugin)
            except Exception as exc:
                self._fail(ep.name, dist, exc)

    def _fail(self, name: str, dist: str, exc: BaseException) -> None:
        failure = LoadFailure(name, dist, f"{type(exc).__name__}: {exc}")
        self.load_errors.append(failure)
        log.warning(
            "propcare plugin %r from %s failed to load and is skipped: %s",
            name,
            dist,
            failure.error,
        )

    def _check_hook_names(self, plugin: object) -> None:
        """A misspelt hook is never called; refuse it now instead of ignoring it forever."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            raise ConfigError("plugin", self.pm.get_name(plugin), str(exc)) from None

    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self.pm.list_name_plugin() if name)

    # --- provider hooks: named records --------------------------------------------

    def _provided(self, hook_name: str) -> list[Provided[Any]]:
        # Call each implementation on its own so every record is tied to its plugin,
        # which is what a duplicate-name error must name.
        caller = getattr(self.pm.hook, hook_name)
        found: list[Provided[Any]] = []
        for impl in reversed(caller.get_hookimpls()):
            try:
                records = list(impl.function() or ())
            except Exception as exc:
                # One plugin's broken hook must not stop the app or hide the others.
                if not any(f.name == impl.plugin_name for f in self.load_errors):
                    self._fail(impl.plugin_name, f"hook {hook_name}", exc)
                continue
            found.extend(Provided(impl.plugin_name, record) for record in records)
        return found

    def storage_backends(self) -> list[Provided[StorageBackend]]:
        """Records from ``propcare_storage_backends``, with the plugin that gave each."""
        return self._provided("propcare_storage_backends")

    def notification_channels(self) -> list[Provided[NotificationChannel]]:
        """Records from ``propcare_notification_channels``."""
        return self._provided("propcare_notification_channels")

    def payment_gateways(self) -> list[Provided[PaymentGateway]]:
        """Records from ``propcare_payment_gateways``."""
        return self._provided("propcare_payment_gateways")

    def calendars(self) -> list[Provided[CalendarSource]]:
        """Records from ``propcare_calendars``."""
        return self._provided("propcare_calendars")

    def event_subscribers(self) -> list[Provided[EventSubscriber]]:
        """Records from ``propcare_event_subscribers``."""
        return self._provided("propcare_event_subscribers")

    def sla_policies(self) -> list[Provided[SlaPolicy]]:
        """Policies from ``propcare_sla_policies``, with the plugin that gave each."""
        return self._provided("propcare_sla_policies")

    def commission_plans(self) -> list[Provided[CommissionPlanType]]:
        """Plan types from ``propcare_commission_plans``, with the plugin that gave each."""
        return self._provided("propcare_commission_plans")

    def kpi_metrics(self) -> list[Provided[KpiMetric]]:
        """Metrics from ``propcare_kpi_metrics``, with the plugin that gave each."""
        return self._provided("propcare_kpi_metrics")

    def authorize(self, actor: Actor, action: str, resource: Resource) -> bool:
        """The first non-None answer of ``propcare_authorize``; no answer denies."""
        answer = self.pm.hook.propcare_authorize(actor=actor, action=action, resource=resource)
        return bool(answer)

    # --- choosing by name -----------------------------------------------------------

    @staticmethod
    def choose(kind: str, name: str, provided: Iterable[Provided[T]]) -> T:
        """The one record called ``name``; ConfigError naming plugins if none or several."""
        offers = list(provided)
        matches = [p for p in offers if getattr(p.record, "name", None) == name]
        if not matches:
            available = sorted(
                {f"{getattr(p.record, 'name', '?')} (from {p.plugin})" for p in offers}
            )
            raise ConfigError(
                kind,
                name,
                f"no plugin provides it; available: {', '.join(available) or 'none'}",
            )
        if len(matches) > 1:
            plugins = ", ".join(sorted(p.plugin for p in matches))
            raise ConfigError(
                kind, name, f"provided by more than one plugin ({plugins}); remove one of them"
            )
        return matches[0].record

    def names(self, provided: Iterable[Provided[Any]]) -> list[str]:
        return sorted({str(getattr(p.record, "name", "?")) for p in provided})
