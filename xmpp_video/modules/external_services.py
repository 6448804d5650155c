"""XEP-0215 External Service Discovery: the STUN/TURN services of TURN_URIS, with credentials.

A logged-in user asks its server (``to`` = the domain; disco feature ``urn:xmpp:extdisco:2``):

* ``<services xmlns='urn:xmpp:extdisco:2'/>`` → one ``<service/>`` per URI of TURN_URIS, in the
  configured order, with ``type``, ``host``, ``port`` and ``transport`` (see
  ``xmpp_video.turn_uris`` for defaults). TURN services (``turn``, ``turns``) also carry
  ``restricted='1'``, ``username``, ``password`` and ``expires`` (XEP-0082, UTC): the
  credentials come from ``xmpp_video.turn.turn_credentials``, the same function as
  ``GET /api/turn/credentials``, so the username is ``<expiry>:<bare JID>``, valid TURN_TTL
  seconds, and coturn's ``use-auth-secret`` accepts it. STUN services carry no credentials. With
  ``type='turn'`` (any type) only services of that type are listed, and the attribute is echoed.
  No TURN_URIS → an empty ``<services/>``.
* ``<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='…' port='…'/>
  </credentials>`` → every configured service matching a requested ``<service/>`` (``type``
  and ``host`` required; ``port`` and ``transport`` narrow the match; hosts compare
  case-insensitively, IPv6 with or without brackets), each with fresh credentials as above.
  A STUN service is answered without credentials: it needs none.

Errors: ``bad-request`` for a ``<credentials/>`` without a ``<service/>``, without ``type`` or
``host``, or with a ``port`` that is not a number; ``item-not-found`` when a requested service
matches none configured; ``forbidden`` for a sender that is not an account of this domain;
``service-unavailable`` (the dispatcher) for an ``iq set``.

Not done: service pushes (the list only changes with a restart, and credentials are asked for
again per call by clients), the ``name`` attribute and XEP-0128 extended information.

Invalid TURN_URIS are refused at startup (``ConfigError`` naming TURN_URIS), never skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from xmpp_video.config import ConfigError
from xmpp_video.core.iq import IqRequest
from xmpp_video.core.server import Server
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.turn import TurnCredentials, turn_credentials
from xmpp_video.turn_uris import (
    ExternalService,
    InvalidTurnUri,
    normalize_host,
    parse_turn_uris,
)

log = logging.getLogger(__name__)

SERVICES = f"{{{ns.EXTDISCO}}}services"
CREDENTIALS = f"{{{ns.EXTDISCO}}}credentials"
SERVICE = f"{{{ns.EXTDISCO}}}service"


def xep0082_datetime(unix_time: int) -> str:
    """``2024-05-01T12:00:00Z``: XEP-0082 DateTime in UTC, whole seconds."""
    return datetime.fromtimestamp(unix_time, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_element(service: ExternalService, creds: TurnCredentials | None) -> Element:
    """The ``<service/>`` for one service, with ``creds`` when it needs credentials."""
    # COMPAT(Conversations): it ignores a service without transport='udp' or 'tcp', so every
    # service states its transport, defaults included.
    el = Element(
        SERVICE,
        {
            "type": str(service.type),
            "host": service.host,
            "port": str(service.port),
            "transport": str(service.transport),
        },
    )
    if service.needs_credentials and creds is not None:
        el.set("restricted", "1")
        el.set("username", creds.username)
        el.set("password", creds.password)
        el.set("expires", xep0082_datetime(creds.expires))
    return el


@dataclass(frozen=True, slots=True)
class ServiceSelector:
    """A ``<service/>`` of a ``<credentials/>`` request."""

    type: str
    host: str
    port: int | None = None
    transport: str | None = None

    @classmethod
    def from_element(cls, el: Element) -> ServiceSelector:
        """Raises ``StanzaError(bad-request)`` without type or host, or for a bad port."""
        type_, host = el.get("type", "").strip(), el.get("host", "").strip()
        if not type_ or not host:
            raise StanzaError(
                StanzaErrorCondition.BAD_REQUEST, "<service/> needs 'type' and 'host'"
            )
        port_text = el.get("port")
        port = None
        if port_text is not None:
            port_text = port_text.strip()
            if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
                raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "'port' is not a number")
            port = int(port_text)
        transport = el.get("transport")
        return cls(
            type_.lower(),
            normalize_host(host),
            port,
            transport.strip().lower() if transport is not None else None,
        )

    def matches(self, service: ExternalService) -> bool:
        return (
            self.type == service.type
            and self.host == service.host
            and (self.port is None or self.port == service.port)
            and (self.transport is None or self.transport == service.transport)
        )


@dataclass(frozen=True, slots=True)
class ExternalServices:
    """The configured services and the TURN secret: answers both requests (pure).

    ``user`` is the requester's bare JID; ``now`` the Unix time the credentials start from.
    """

    services: tuple[ExternalService, ...]
    secret: str
    ttl: int

    def credentials_for(self, user: str, now: float) -> TurnCredentials:
        uris = [service.uri for service in self.services]
        return turn_credentials(self.secret, user, self.ttl, uris, now)

    def _elements(self, chosen: list[ExternalService], user: str, now: float) -> Iterator[Element]:
        creds = None  # one HMAC per answer, and none for an answer without TURN services
        if any(service.needs_credentials for service in chosen):
            creds = self.credentials_for(user, now)
        for service in chosen:
            yield service_element(service, creds)

    def services_answer(self, request: Element, user: str, now: float) -> Element:
        """The ``<services/>`` answering ``request`` (a ``<services/>``, optional ``type``)."""
        answer = Element(SERVICES)
        wanted = request.get("type")
        chosen = list(self.services)
        if wanted is not None:
            answer.set("type", wanted)
            chosen = [s for s in chosen if s.type == wanted.strip().lower()]
        answer.extend(self._elements(chosen, user, now))
        return answer

    def credentials_answer(self, request: Element, user: str, now: float) -> Element:
        """The ``<credentials/>`` answering ``request``; raises ``StanzaError``."""
        selectors = [ServiceSelector.from_element(el) for el in request.findall(SERVICE)]
        if not selectors:
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "<credentials/> needs a <service/>")
        for selector in selectors:
            if not any(selector.matches(service) for service in self.services):
                raise StanzaError(
                    StanzaErrorCondition.ITEM_NOT_FOUND,
                    f"no {selector.type} service at {selector.host}",
                )
        chosen = [s for s in self.services if any(sel.matches(s) for sel in selectors)]
        answer = Element(CREDENTIALS)
        answer.extend(self._elements(chosen, user, now))
        return answer


class ExternalServicesModule:
    """Options: TURN_URIS (the services), TURN_SECRET and TURN_TTL (their credentials)."""

    name = "external_services"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def setup(self, server: Server) -> None:
        s = server.settings
        try:
            services = parse_turn_uris(s.turn_uri_list)
        except InvalidTurnUri as exc:  # settings built without load_settings (tests, embedding)
            raise ConfigError(f"TURN_URIS: {exc}") from None
        self.domain = server.domain
        self.catalog = ExternalServices(services, s.turn_secret, s.turn_ttl)
        server.iq.register("get", SERVICES, self.list_services)
        server.iq.register("get", CREDENTIALS, self.credentials)
        server.disco.server_features.add(ns.EXTDISCO)

    def stop(self) -> None:
        return None

    def _requester(self, request: IqRequest) -> str:
        """The sender's bare JID: only accounts of this server get credentials."""
        sender = request.sender
        if sender.local is None or sender.domain != self.domain:
            raise StanzaError(
                StanzaErrorCondition.FORBIDDEN, "external services are for accounts of this server"
            )
        return str(sender.bare)

    async def list_services(self, request: IqRequest) -> Element:
        user = self._requester(request)
        answer = self.catalog.services_answer(request.payload, user, self._clock())
        log.debug("extdisco: %d services for %s", len(answer), user)
        return answer

    async def credentials(self, request: IqRequest) -> Element:
        user = self._requester(request)
        answer = self.catalog.credentials_answer(request.payload, user, self._clock())
        log.debug("extdisco: credentials for %d services for %s", len(answer), user)
        return answer
