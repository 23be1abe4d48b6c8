"""A state machine over the outbox: whatever the order of sends, outages, crashes and
restarts, no message reaches the channel twice, and once the channel is back every
message arrives exactly once."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from propcare import Actor, DeliveryFailed, FixedClock, Propcare, Recipient
from propcare.notify.outbox import OutboundMessage
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import NotificationChannel

PARAMS = {"estate": "翠苑", "title": "通知", "name": "业主", "body": "测试"}


class Switchable:
    """A channel whose server can be taken down; it counts what it really received."""

    def __init__(self) -> None:
        self.up = True
        self.received: list[str] = []

    def send(self, message: OutboundMessage) -> None:
        if not self.up:
            raise DeliveryFailed("channel:sms", "server down")
        self.received.append(message.idempotency_key)

    @hookimpl
    def propcare_notification_channels(self) -> list[NotificationChannel]:
        return [NotificationChannel(name="sms", create=lambda settings: self)]


class OutboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.url = f"sqlite:///{Path(self.dir.name) / 'm.db'}"
        self.clock = FixedClock(datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
        self.channel = Switchable()
        self.admin = Actor.system()
        self.app = self._open()
        self.estate = self.app.estates.create(self.admin, "翠苑").id
        self.app.dispatch_idle()
        self.sent_keys: list[str] = []

    def _open(self) -> Propcare:
        return Propcare.open(
            self.url,
            plugins=[self.channel],
            load_entrypoints=False,
            clock=self.clock,
            config={"channels": {"sms": {}}, "dispatch": {"max_attempts": 1000}},
        )

    @rule(key=st.integers(0, 30))
    def send(self, key: int) -> None:
        # The same key may be sent again (a retried request): it must be queued once.
        name = f"notify:{self.estate}:n{key}"
        self.app.notify.send(
            self.admin,
            self.estate,
            "sms",
            Recipient("业主", "13812345678"),
            "notice",
            PARAMS,
            key=f"n{key}",
        )
        # The worker sends before time is made to jump: a lease outlived mid-send would
        # let a second dispatcher send it again.
        self.app.dispatch_idle()
        if name not in self.sent_keys:
            self.sent_keys.append(name)

    @rule()
    def server_down(self) -> None:
        self.channel.up = False

    @rule()
    def server_up(self) -> None:
        self.channel.up = True

    @rule(minutes=st.integers(0, 180))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @rule()
    def dispatch(self) -> None:
        self.app.dispatch()

    @rule()
    def crash_mid_send(self) -> None:
        # A dispatcher leases what is due and dies before sending or recording anything.
        now = self.clock.now()
        with self.app.unit_of_work() as uow:
            uow.outbox.claim_due(now, now + self.app.dispatcher.backoff.lease, 5)
            uow.commit()
        self.restart()

    @rule()
    def restart(self) -> None:
        self.app.close()
        self.app = self._open()

    @invariant()
    def nothing_arrives_twice(self) -> None:
        assert len(self.channel.received) == len(set(self.channel.received))

    @invariant()
    def only_queued_messages_arrive(self) -> None:
        assert {k.split("/")[0] for k in self.channel.received} <= set(self.sent_keys)

    def teardown(self) -> None:
        # The channel comes back for good: after enough time every message arrives once.
        self.channel.up = True
        for _ in range(12):
            self.clock.advance(hours=2)
            self.app.dispatch()
        assert sorted(k.split("/")[0] for k in self.channel.received) == sorted(self.sent_keys)
        self.app.close()
        self.dir.cleanup()


OutboxMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_outbox_state_machine = OutboxMachine.TestCase
