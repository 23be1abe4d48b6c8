"""Auto-dispatch off the caller's thread: one background worker per app.

After a commit that queued something, the app asks its worker for a dispatch pass
(:meth:`DispatchWorker.request`) and the caller's call returns at once: a slow channel
(an SMS gateway taking seconds) never delays ``app.notify.send`` or the change that
queued the message. The worker runs passes one after another while any is asked for;
a request that arrives during a pass gets one more pass, so nothing committed before a
request waits for the next commit. After ``idle_seconds`` with nothing to do its thread
ends (an app that is dropped without ``close()`` leaves no thread behind for long), and
the next request starts another. The thread is a daemon: a process may exit with it
running, and what it had not sent stays in the outbox for the next dispatch.

The dispatcher leases every delivery before sending it, so this worker, an explicit
``app.dispatch()`` and other processes never send one delivery at the same time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from itertools import count

__all__ = ["DispatchWorker"]

log = logging.getLogger(__name__)

_numbers = count(1)


class DispatchWorker:
    """Runs ``run(should_stop)`` on a background thread whenever :meth:`request` asks.

    ``run`` is one dispatch pass; it should check ``should_stop()`` between deliveries
    and put back what it has not attempted when it returns true (the dispatcher does).
    """

    def __init__(
        self,
        run: Callable[[Callable[[], bool]], object],
        *,
        name: str = "propcare-dispatch",
        idle_seconds: float = 5.0,
    ) -> None:
        self._run = run
        self._name = f"{name}-{next(_numbers)}"
        self._idle_seconds = idle_seconds
        self._cond = threading.Condition()
        self._asked = 0  # passes asked for so far
        self._done = 0  # the last request a finished pass served
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def stopped(self) -> bool:
        return self._stopping

    def request(self) -> None:
        """Ask for a dispatch pass; returns at once. Ignored once :meth:`stop` was called."""
        with self._cond:
            if self._stopping:
                log.debug("%s is stopped; the delivery waits for the next dispatch", self._name)
                return
            self._asked += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def idle(self) -> bool:
        """True when no pass runs and none is asked for."""
        with self._cond:
            return self._quiet()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no pass runs and none is asked for (passes that the worker's own
        deliveries ask for, such as a subscriber that writes, included); False if
        ``timeout`` seconds passed first, or when called from the worker itself."""
        if threading.current_thread() is self._thread:
            return False
        with self._cond:
            return self._cond.wait_for(self._quiet, timeout)

    def _quiet(self) -> bool:
        # Once stopped, what was asked and not served waits in the outbox: nothing to wait for.
        return not self._running and (self._done == self._asked or self._stopping)

    def stop(self, timeout: float) -> bool:
        """Let the passes asked for finish for up to ``timeout`` seconds, then stop: a pass
        still running ends after the delivery in hand and puts back the deliveries it has
        not attempted (due now, no attempt counted); that is waited for up to ``timeout``
        seconds more. True if everything asked for was done. Later requests are ignored."""
        drained = self.wait_idle(timeout)
        with self._cond:
            self._stopping = True
            thread = self._thread
            self._cond.notify_all()
        if thread is None or thread is threading.current_thread():
            return drained
        thread.join(max(0.0, timeout))
        if thread.is_alive():
            log.warning(
                "%s is still sending after %g s; what it has not sent stays in the outbox, "
                "sent again once its lease runs out",
                self._name,
                2 * timeout,
            )
            return False
        return drained

    def _should_stop(self) -> bool:
        return self._stopping

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._done == self._asked and not self._stopping:
                    if not self._cond.wait(self._idle_seconds) and self._done == self._asked:
                        self._thread = None  # idle: end; the next request starts another
                        self._cond.notify_all()
                        return
                if self._stopping:
                    self._thread = None
                    self._cond.notify_all()
                    return
                target = self._asked
                self._running = True
            try:
                self._run(self._should_stop)
            except Exception:
                log.exception(
                    "auto-dispatch failed; the deliveries stay in the outbox for the next dispatch"
                )
            finally:
                with self._cond:
                    self._done = target
                    self._running = False
                    self._cond.notify_all()
