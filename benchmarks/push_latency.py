"""Push latency (XEP-0357): from a JMI ``propose`` sent by the caller to the notification
arriving at the app server, while the callee's phone hibernates (XEP-0198) — and the same for
the ``retract`` that stops the ringing.

A real server in this process (SQLite in a temporary directory, all listeners on free
ports); three raw TLS streams (`tests.integration.xmpp_raw`): the phone (stream management
with resumption, push enabled, then its connection dropped), the caller, and the app server
(a local account's resource that answers each publish with a result). Each run is one call:
propose → notification, retract → notification. Prints min / median / p99 in milliseconds.

    python -m benchmarks.push_latency [--runs 200]

(from the repository root; logs at WARNING, uvloop not used.)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from xml.etree.ElementTree import Element

from tests.integration.xmpp_raw import SM, RawClient
from tests.server_fixtures import make_settings, running_server

IQ = "{jabber:client}iq"
PUSH = "urn:xmpp:push:0"
JMI = "urn:xmpp:jingle-message:0"
DATA = "jabber:x:data"


def _call_action(publish: Element) -> str:
    for field in publish.iter(f"{{{DATA}}}field"):
        if field.get("var") == "x-call-action":
            return field.findtext(f"{{{DATA}}}value") or ""
    return ""


async def _notification(app: RawClient) -> tuple[float, str]:
    """The next publish at the app server: when it arrived, its call action; answered."""
    while True:
        el, _ = await app.until(IQ, timeout=10.0)
        if el.get("type") == "set":
            arrived = time.perf_counter()
            app.send(f"<iq type='result' id='{el.get('id')}' to='{el.get('from')}'/>")
            return arrived, _call_action(el)


def _summary(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return (
        f"{name:8} n={len(ms)}  min {ms[0]:.2f} ms  median {statistics.median(ms):.2f} ms"
        f"  p99 {p99:.2f} ms  max {ms[-1]:.2f} ms"
    )


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp), "", sm_queue_limit=max(500, 4 * runs), log_level="WARNING"
        )
        async with running_server(settings) as server:
            for user in ("juliet", "romeo", "app"):
                await server.add_user(user)
            app = await RawClient.connect(server)
            await app.login("app", resource="push")
            phone = await RawClient.connect(server)
            await phone.login("juliet", resource="phone")
            phone.send("<presence/>")
            phone.send(f"<enable xmlns='{SM}' resume='true'/>")
            await phone.until(f"{{{SM}}}enabled")
            phone.send(
                f"<iq type='set' id='on'><enable xmlns='{PUSH}' jid='{app.full}' node='bench'/>"
                "</iq>"
            )
            await phone.until(IQ)
            full = phone.full
            phone.abort()
            while not getattr(server.server.registry.get(full), "hibernating", False):
                await asyncio.sleep(0.01)
            caller = await RawClient.connect(server)
            await caller.login("romeo", resource="desk")
            caller.send("<presence/>")

            rings: list[float] = []
            stops: list[float] = []
            for n in range(runs):
                for action, samples in (("propose", rings), ("retract", stops)):
                    inner = (
                        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>"
                        if action == "propose"
                        else ""
                    )
                    sent = time.perf_counter()
                    caller.send(
                        f"<message to='juliet@localhost' type='chat'><{action} xmlns='{JMI}'"
                        f" id='bench-{n}'>{inner}</{action}></message>"
                    )
                    arrived, got = await _notification(app)
                    assert got == action, (got, action)
                    samples.append(arrived - sent)
            print(_summary("propose", rings))
            print(_summary("retract", stops))
            for client in (app, caller):
                client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.runs))
