"""propcare: customer service for property-management companies.

Importing propcare does no IO; :meth:`Propcare.open` opens the database.
"""

from propcare.access import Actor, Resource, RoleGrant
from propcare.app import Propcare
from propcare.clock import Clock, FixedClock, SystemClock
from propcare.errors import (
    ConfigError,
    Conflict,
    DatabaseLocked,
    ForeignDatabase,
    InvalidTransition,
    MoneyTypeError,
    NotFound,
    PermissionDenied,
    PropcareError,
    ReadOnlyDatabase,
    StorageError,
    ValidationError,
)
from propcare.money import exact, from_fen, money, split, split_by_weights, to_fen
from propcare.notify.outbox import Event, EventEnvelope, OutboundMessage, Recipient
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import (
    DeliveryFailed,
    EventSubscriber,
    NotificationChannel,
    PaymentGateway,
    StorageBackend,
)
from propcare.registry.contact import IdCardNumber, Phone
from propcare.registry.model import (
    Building,
    Estate,
    Owner,
    Ownership,
    Staff,
    Team,
    TeamKind,
    Unit,
    UnitUse,
    Vendor,
)
from propcare.registry.service import UnitSpec

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "Building",
    "Clock",
    "ConfigError",
    "Conflict",
    "DatabaseLocked",
    "DeliveryFailed",
    "Estate",
    "Event",
    "EventEnvelope",
    "EventSubscriber",
    "FixedClock",
    "ForeignDatabase",
    "IdCardNumber",
    "InvalidTransition",
    "MoneyTypeError",
    "NotFound",
    "NotificationChannel",
    "OutboundMessage",
    "Owner",
    "Ownership",
    "PaymentGateway",
    "PermissionDenied",
    "Phone",
    "Propcare",
    "PropcareError",
    "ReadOnlyDatabase",
    "Recipient",
    "Resource",
    "RoleGrant",
    "Staff",
    "StorageBackend",
    "StorageError",
    "SystemClock",
    "Team",
    "TeamKind",
    "Unit",
    "UnitSpec",
    "UnitUse",
    "ValidationError",
    "Vendor",
    "__version__",
    "exact",
    "from_fen",
    "hookimpl",
    "money",
    "split",
    "split_by_weights",
    "to_fen",
]
