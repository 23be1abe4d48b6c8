"""The app object: one plugin host, one storage backend, the services.

``Propcare.open(url)`` picks the storage backend by the URL's scheme from the
backends plugins provide, builds the configured notification channels, and
hangs the services off the app (``app.estates``, ``app.owners``, ...).
Nothing happens at import time; opening does the IO.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import lru_cache
from types import TracebackType
from typing import Any, Self, cast
from zoneinfo import ZoneInfo

from propcare.appraisal.service import AppraisalService
from propcare.calendar import DEFAULT_CALENDARS, build_calendars
from propcare.clock import Clock, SystemClock, zone
from propcare.commission.basis import attribution_rule
from propcare.commission.service import CommissionService
from propcare.config import check_config, load_config
from propcare.errors import ConfigError, PropcareError, ValidationError
from propcare.ledger.allocation import allocation_order
from propcare.ledger.arrears_service import ArrearsService
from propcare.ledger.billing_service import BillingService
from propcare.ledger.collection_service import CollectionService
from propcare.ledger.deposit_service import DepositService
from propcare.ledger.gateways import GatewayClient
from propcare.ledger.payments import PaymentService
from propcare.ledger.service import LedgerService
from propcare.notify.dispatch import Dispatcher, DispatchReport, subscriber_target
from propcare.notify.outbox import Backoff, Event, NewMessage
from propcare.notify.service import NotifyService
from propcare.notify.templates import Templates
from propcare.notify.worker import DispatchWorker
from propcare.plugins.host import PluginHost
from propcare.plugins.records import Channel, EventSubscriber
from propcare.registry.service import EstateService, OwnerService, StaffService, VendorService
from propcare.service import event_message
from propcare.sla.engine import alert_rules, missing_data_rule
from propcare.sla.policy import DEFAULT_POLICIES, PolicySet, policies_from_config
from propcare.storage.ports import Storage, UnitOfWork
from propcare.storage.urls import shown_url  # kept here for compatibility
from propcare.tickets.outages import OutageService
from propcare.tickets.plans import MaintenancePlanService
from propcare.tickets.service import TicketService
from propcare.tickets.stats import TicketStatsService

__all__ = ["DEFAULT_CONFIG", "Propcare", "backend_name", "shown_url"]

log = logging.getLogger(__name__)

# How long close() lets the auto-dispatch worker finish, and dispatch_idle() waits by default.
DISPATCH_WAIT_SECONDS = 30.0

DEFAULT_CONFIG: Mapping[str, Any] = {
    "channels": {"log": {}},
    "gateways": {"counter": {}},
    "dispatch": {"auto": True, "base_seconds": 30, "cap_seconds": 3600, "max_attempts": 8},
}


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return zone(name)


def _open_storage(
    name: str, opener: Callable[[str], Storage], url: str, adopt_foreign: bool
) -> Storage:
    """``opener(url)``, passing ``adopt_foreign=True`` on when asked: a backend whose
    ``open`` takes no such keyword cannot add its tables to another program's database."""
    if not adopt_foreign:
        return opener(url)
    parameters: Mapping[str, inspect.Parameter] = {}
    # No signature to read (a builtin): taken as not supporting it.
    with contextlib.suppress(TypeError, ValueError):
        parameters = inspect.signature(opener).parameters
    takes = "adopt_foreign" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
    if not takes:
        raise ConfigError(
            "adopt_foreign",
            True,
            f"the storage backend {name!r} cannot add propcare's tables to another program's "
            "database (its open takes no adopt_foreign)",
        )
    return cast(Callable[..., Storage], opener)(url, adopt_foreign=True)


def backend_name(url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql``; ``sqlite:///a.db`` -> ``sqlite``."""
    if not isinstance(url, str) or ":" not in url:
        shown = shown_url(url) if isinstance(url, str) else url
        raise ValidationError("url", shown, "must be a database URL such as sqlite:///propcare.db")
    return url.split(":", 1)[0].split("+", 1)[0].lower()


class Propcare:
    """A propcare application: open it, use its services, close it."""

    def __init__(
        self,
        *,
        host: PluginHost,
        storage: Storage,
        clock: Clock,
        config: Mapping[str, Any],
    ) -> None:
        self.host = host
        self.storage = storage
        self.clock = clock
        self.config = config
        self.templates = Templates()
        self.channels: dict[str, Channel] = {}
        for name, settings in dict(config.get("channels") or {}).items():
            record = host.choose("channel", name, host.notification_channels())
            self.channels[name] = record.create(settings or {})
        # Payment gateways by name, like channels; app.payments refuses an unconfigured one.
        self.gateways: dict[str, GatewayClient] = {}
        for name, settings in dict(config.get("gateways") or {}).items():
            gateway = host.choose("payment gateway", name, host.payment_gateways())
            self.gateways[name] = gateway.create(settings or {})
        dispatch = {**DEFAULT_CONFIG["dispatch"], **dict(config.get("dispatch") or {})}
        self.auto_dispatch = bool(dispatch["auto"])
        self._extra_subscribers: list[EventSubscriber] = []
        self._subscribers: list[EventSubscriber] | None = None
        self.dispatcher = Dispatcher(
            storage,
            clock,
            subscribers=self.subscribers,
            channels=self.channels,
            templates=self.templates,
            backoff=Backoff(
                base=timedelta(seconds=float(dispatch["base_seconds"])),
                cap=timedelta(seconds=float(dispatch["cap_seconds"])),
                max_attempts=int(dispatch["max_attempts"]),
            ),
        )
        # Auto-dispatch runs here, off the caller's thread (started at the first commit).
        self._dispatch_worker = DispatchWorker(self._dispatch_pass)
        plugin_policies = [p.record for p in host.sla_policies()]
        sla = dict(config.get("sla") or {})
        company, per_estate = policies_from_config(
            sla, PolicySet(DEFAULT_POLICIES, plugin_policies).all()
        )
        self.sla_policies = PolicySet(DEFAULT_POLICIES, plugin_policies, company)
        self._estate_policies = per_estate
        self._estate_sets: dict[int, tuple[PolicySet, PolicySet]] = {}
        sources = {p.record.name: p for p in host.calendars()}
        self.calendars = build_calendars(
            dict(config.get("calendars") or DEFAULT_CALENDARS),
            {name: host.choose("calendar source", name, host.calendars()) for name in sources},
        )
        used = self.sla_policies.calendars().union(
            *(p.calendars() for ps in per_estate.values() for p in ps)
        )
        missing = used - set(self.calendars)
        if missing:
            raise ConfigError(
                "calendars",
                sorted(missing),
                f"SLA policies use calendars that are not configured; configured: "
                f"{', '.join(sorted(self.calendars))}",
            )
        tickets = dict(config.get("tickets") or {})
        # Staff hear of assignments and SLA alerts on this channel; by default the log, when
        # configured, else nowhere. A channel named explicitly must exist.
        default_channel = "log" if "log" in self.channels else None
        notify = tickets.get("notify_channel", default_channel)
        self.ticket_channel: str | None = None if notify is False else notify
        if self.ticket_channel is not None and self.ticket_channel not in self.channels:
            raise ConfigError(
                "tickets.notify_channel", self.ticket_channel, "is not a configured channel"
            )
        self.sla_alert_rules = alert_rules(tickets.get("alerts") or {})
        # How payments and credit are spread within a period (ledger.allocation).
        self.allocation_order = allocation_order(config.get("ledger") or {})
        self.sla_missing = missing_data_rule(sla)
        unknown_sla = sorted(set(sla) - {"missing_holiday_data", "policies", "estates"})
        if unknown_sla:
            raise ConfigError(
                f"sla.{unknown_sla[0]}",
                sla[unknown_sla[0]],
                "unknown key; known: estates, missing_holiday_data, policies",
            )
        self.estates = EstateService(self)
        self.owners = OwnerService(self)
        self.staff = StaffService(self)
        self.vendors = VendorService(self)
        self.notify = NotifyService(self)
        self.tickets = TicketService(self)
        self.ledger = LedgerService(self)
        self.payments = PaymentService(self)
        self.billing = BillingService(self)
        self.deposits = DepositService(self)
        self.collection = CollectionService(self)
        self.arrears = ArrearsService(self)
        self.commission = CommissionService(self)
        self.appraisal = AppraisalService(self)
        self.outages = OutageService(self)
        self.maintenance = MaintenancePlanService(self)
        self.ticket_stats = TicketStatsService(self)
        # Sections read later (by a dunning SMS, a settlement) are checked now all the same:
        # a mistake in the configuration shows when the app opens, not at 3 a.m.
        self.collection.quiet_hours()
        attribution_rule(config.get("commission") or {})
        self._warn_of_missing_years()
        # A year's holiday data added since the last opening: its provisional (or held)
        # deadlines become real now, and their flags clear, without anyone remembering to.
        if not getattr(storage, "readonly", False):  # a read-only database is only read
            self.tickets._refresh_arrived_years()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        plugins: Sequence[object] = (),
        load_entrypoints: bool = True,
        clock: Clock | None = None,
        config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        adopt_foreign: bool = False,
    ) -> Propcare:
        """Open the database at ``url`` (``sqlite:///path.db``, ``sqlite://:memory:``, ...).

        ``plugins`` are registered after the built-ins and entry points, so they
        are asked first by ``propcare_authorize``. ``config`` is a mapping, or the path
        of a ``propcare.toml`` file (:func:`propcare.config.load_config`; errors then
        name the file): ``channels``, ``gateways``, ``dispatch``, ``calendars``,
        ``tickets``, ``dunning``, ``commission`` and ``sla``, all checked here (see
        docs/reference/configuration.md).

        A new database, or an empty one, gets propcare's tables. A database that holds
        another program's tables and no propcare schema is refused with
        :class:`~propcare.errors.ForeignDatabase` and left as it was, unless
        ``adopt_foreign`` is true: then propcare adds its tables beside the others (the
        backend must support it, as the built-in SQLite and the PostgreSQL backends do).
        A database this process may only read is opened read-only where the backend can
        (SQLite: a read-only file or folder); writing then raises
        :class:`~propcare.errors.ReadOnlyDatabase`. Waiting longer than the backend's lock
        timeout (30 s) for another writer raises :class:`~propcare.errors.DatabaseLocked`,
        here as in any unit of work.
        """
        if clock is not None and not isinstance(clock, Clock):
            raise ValidationError("clock", clock, "must have a now() -> aware datetime method")
        source: str | None = None
        if isinstance(config, str | os.PathLike):
            source = os.fspath(config)
            config = load_config(source)
        elif config is not None and not isinstance(config, Mapping):
            raise ValidationError(
                "config", config, "must be a mapping or the path of a propcare.toml file"
            )
        elif config is not None:
            check_config(config)  # what the file's schema refuses, a mapping in code may not
        host = PluginHost(plugins, load_entrypoints=load_entrypoints)
        merged = {**DEFAULT_CONFIG, **dict(config or {})}
        backend = host.choose("storage backend", backend_name(url), host.storage_backends())
        storage = _open_storage(backend.name, backend.open, url, adopt_foreign)
        try:
            return cls(host=host, storage=storage, clock=clock or SystemClock(), config=merged)
        except PropcareError as exc:
            storage.close()
            if source is None or str(exc.field).startswith(source):
                raise
            # Name the file, as the file's own structure errors do.
            raise type(exc)(f"{source}: {exc.field}", exc.value, exc.rule) from exc
        except BaseException:
            storage.close()
            raise

    def sla_policy_set(self, estate_id: int) -> PolicySet:
        """The SLA policies of an estate: the company's, with the estate's overrides from
        ``sla.estates.<id>.policies`` on top (per category and priority)."""
        overrides = self._estate_policies.get(estate_id)
        if not overrides:
            return self.sla_policies
        cached = self._estate_sets.get(estate_id)
        if cached is None or cached[0] is not self.sla_policies:
            # Built from the current company set (a program may replace app.sla_policies).
            cached = (self.sla_policies, PolicySet(self.sla_policies.all(), overrides))
            self._estate_sets[estate_id] = cached
        return cached[1]

    def _warn_of_missing_years(self) -> None:
        """From 1 November, say at every opening when next year's holidays are missing."""
        for name, calendar in self.calendars.items():
            if calendar.holidays is None:
                continue
            today = self.clock.now().astimezone(calendar.zone).date()
            wanted = [today.year] if today.month < 11 else [today.year, today.year + 1]
            lacking = [y for y in wanted if not calendar.covers(y)]
            if lacking:
                years = ", ".join(map(str, lacking))
                log.warning(
                    "calendar %r has no holiday data for %s: deadlines there will be %s "
                    "until it is added (propcare calendar check; docs/how-to/"
                    "add-next-years-holidays.md)",
                    name,
                    years,
                    "held open" if self.sla_missing.value == "strict" else "provisional",
                )

    @staticmethod
    def zone(name: str) -> ZoneInfo:
        """The time zone of an estate, by IANA name."""
        return _zone(name)

    # --- transactions and events ----------------------------------------------------

    def unit_of_work(self, *, readonly: bool = False) -> UnitOfWork:
        """A new transaction: ``with app.unit_of_work() as uow: ...; uow.commit()``."""
        return self.storage.unit_of_work(readonly=readonly)

    def subscribers(self) -> list[EventSubscriber]:
        """Subscribers from plugins and :meth:`subscribe`, in that order."""
        if self._subscribers is None:
            found = [p.record for p in self.host.event_subscribers()]
            names = [s.name for s in found + self._extra_subscribers]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ConfigError("subscriber", dupes, "two subscribers share a name")
            self._subscribers = found + self._extra_subscribers
        return self._subscribers

    def subscribe(self, subscriber: EventSubscriber) -> None:
        """Add a subscriber in code (plugins use ``propcare_event_subscribers``)."""
        if any(s.name == subscriber.name for s in self.subscribers()):
            raise ConfigError("subscriber", subscriber.name, "a subscriber of this name exists")
        self._extra_subscribers.append(subscriber)
        self._subscribers = None

    def publish(self, uow: UnitOfWork, event: Event, *, key: str | None = None) -> int:
        """Write ``event`` into ``uow``'s outbox for each subscriber that wants its topic."""
        targets = [subscriber_target(s.name) for s in self.subscribers() if s.wants(event.topic)]
        return self.enqueue(uow, event_message(event, key), targets)

    def enqueue(self, uow: UnitOfWork, message: NewMessage, targets: Sequence[str]) -> int:
        message_id = uow.outbox.add(message, targets)
        if targets:
            self.dispatch_after_commit(uow)
        return message_id

    def dispatch_after_commit(self, uow: UnitOfWork) -> None:
        """With ``dispatch.auto`` on, have the background worker deliver what is due once
        ``uow`` commits (for services that make deliveries due, such as a requeue)."""
        if self.auto_dispatch:
            uow.after_commit(self._after_commit)

    def _after_commit(self) -> None:
        # Never the caller's thread: a slow channel must not hold up the call that queued.
        self._dispatch_worker.request()

    def _dispatch_pass(self, should_stop: Callable[[], bool]) -> None:
        self.dispatcher.dispatch(stop=should_stop)

    def dispatch(self, *, limit: int | None = None) -> DispatchReport:
        """Deliver every outbox delivery that is due now (retries and leftovers of a crash
        too), in the caller's thread; returns when each has been attempted. A pass of the
        auto-dispatch worker in progress is let finish first (what it has leased, it
        sends), so the report counts what this call attempted."""
        self._dispatch_worker.wait_idle(DISPATCH_WAIT_SECONDS)
        return self.dispatcher.dispatch(limit=limit)

    def dispatch_idle(self, timeout: float | None = DISPATCH_WAIT_SECONDS) -> bool:
        """Wait until the auto-dispatch worker has attempted everything committed so far
        (and whatever its own deliveries queued); True when it has, False if ``timeout``
        seconds passed first. Returns True at once when auto-dispatch is off or idle.

        For tests and scripts that look at what was delivered right after a call: with
        ``dispatch.auto`` the call returns before its messages are sent."""
        return self._dispatch_worker.wait_idle(timeout)

    # --- lifetime ---------------------------------------------------------------------

    def close(self, *, dispatch_timeout: float = DISPATCH_WAIT_SECONDS) -> None:
        """Close the database, after the auto-dispatch worker has sent what it was asked
        to. It gets ``dispatch_timeout`` seconds; then it stops after the delivery in hand
        (waited for up to ``dispatch_timeout`` more) and puts back what it has not
        attempted, due now, for the next ``app.dispatch()`` or the next app's worker."""
        self._dispatch_worker.stop(dispatch_timeout)
        self.storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Propcare({shown_url(self.storage.url)!r})"  # reprs end up in logs
