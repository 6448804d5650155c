"""What the push module knows of one registration at run time (memory only, per node).

``count``: important messages since the device was last connected (bound or resumed), sent in
every notification as ``message-count`` — a notification that is coalesced, skipped or fails
never loses it. ``ringing``: the calls (JMI ids) it was woken for and not yet told the end of,
so that one ``retract``/``reject``/``accept``/``proceed`` gives one "stop ringing"
notification. ``errors``: failed publishes in a row.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from xmpp_video.storage.push import PushRegistration

MAX_RINGING = 8  # calls remembered per device (oldest forgotten first)


@dataclass(slots=True, eq=False)
class Device:
    registration: PushRegistration
    count: int = 0
    last_sender: str = ""
    errors: int = 0
    last_notified: float = -math.inf  # loop time of the last message notification
    timer: asyncio.TimerHandle | None = None  # a coalesced notification to come
    ringing: dict[str, None] = field(default_factory=dict)  # call ids, oldest first
    removed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.registration.service, self.registration.node

    def message(self, sender: str) -> None:
        self.count += 1
        if sender:
            self.last_sender = sender

    def ring(self, call_id: str) -> None:
        self.ringing.pop(call_id, None)
        self.ringing[call_id] = None
        while len(self.ringing) > MAX_RINGING:
            del self.ringing[next(iter(self.ringing))]

    def stop_ringing(self, call_id: str) -> bool:
        """Whether the device was ringing for `call_id` (it is not any more)."""
        return self.ringing.pop(call_id, 0) is None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def connected(self) -> None:
        """The client is back: it reads its messages itself, nothing more to tell."""
        self.cancel_timer()
        self.count = 0
        self.last_sender = ""
        self.ringing.clear()
        self.last_notified = -math.inf
