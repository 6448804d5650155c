"""XEP-0077 In-Band Registration (``jabber:iq:register``): account creation before login (off
by default), password change and account removal for logged-in users.

**Creating an account** (§3.1, §3.1.1), only with ``REGISTRATION = true`` and only on an
encrypted stream (§9: the password travels in the clear inside TLS, as with SASL PLAIN): the
stream features before authentication include ``<register
xmlns='http://jabber.org/features/iq-register'/>`` (§8), and c2s hands ``jabber:iq:register``
iqs sent before authentication to this module (`Server.pre_auth_iqs`); without it such an iq
closes the stream with ``<not-authorized/>`` as any stanza before authentication does.

* get: the form ``<instructions/><username/><password/>`` (no data form, §4 makes it optional).
* set with ``<username/>`` and ``<password/>``: the account ``username@domain`` is created; the
  client then authenticates on the same stream. Answers: a missing or empty field, a username
  that is no JID local part, a password shorter than `MIN_PASSWORD_LENGTH` characters or
  refused by SASLprep: ``not-acceptable`` (§3.1); a taken username: ``conflict`` (§3.1); more
  than `REGISTRATIONS_PER_ADDRESS` attempts per hour from one client address (IPv6: one /64):
  ``not-acceptable`` of type ``wait`` (§3.1.1 allows it for "too many times"), counted for
  every attempt that reaches the database, successful or not, so that ``conflict`` answers
  cannot be used to list the accounts quickly; ``<remove/>`` before login:
  ``unexpected-request`` (§3.2); any other ``to`` than the domain: ``service-unavailable``.

**Logged-in users** (whatever ``REGISTRATION`` says; the iq without ``to``, to the own bare JID
or to the domain):

* get: ``<registered/><username>…</username><password/>`` (§3.1, the password is never told).
* set with ``<username>`` (the user's own) and a new ``<password>`` (§3.3): the password is
  changed and the user's refresh tokens (HTTP API) revoked; other sessions stay. A missing
  username or an empty password: ``bad-request`` (the old password stays, §3.3); another
  user's name: ``forbidden``; a password too short or refused by SASLprep: ``not-acceptable``.
* set with ``<remove/>`` alone (§3.2; with anything else: ``bad-request``): the user's
  subscriptions are cancelled (contacts get ``unsubscribe``/``unsubscribed`` and unavailable
  presence, RFC 6121 §2.5.2), the account and all its data are deleted, its refresh tokens
  revoked, the iq answered, then every session of the account closes with the
  ``<not-authorized/>`` stream error.

Disco: ``jabber:iq:register`` on the server (§10: password changes are possible in-band).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable
from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.auth.rate_limit import RateLimiter
from xmpp_video.core.accounts import AccountError, AccountExists
from xmpp_video.core.events import AccountDeleted
from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.server import PreAuthIq, Server
from xmpp_video.jid import JID, InvalidJID, prep_local
from xmpp_video.modules.roster import RosterModule, has_from, has_to
from xmpp_video.stanza.builders import iq_result, presence
from xmpp_video.stanza.conditions import StanzaErrorCondition, StanzaErrorType, StreamErrorCondition
from xmpp_video.stanza.errors import StanzaError, error_reply

log = logging.getLogger(__name__)

NS: Final = "jabber:iq:register"
FEATURE_NS: Final = "http://jabber.org/features/iq-register"
QUERY: Final = f"{{{NS}}}query"
USERNAME: Final = f"{{{NS}}}username"
PASSWORD: Final = f"{{{NS}}}password"
REMOVE: Final = f"{{{NS}}}remove"
REGISTERED: Final = f"{{{NS}}}registered"
INSTRUCTIONS: Final = f"{{{NS}}}instructions"
RATE_PERIOD: Final = 3600.0  # seconds over which REGISTRATIONS_PER_ADDRESS counts
INSTRUCTIONS_TEXT: Final = "Choose a username and a password."


def address_key(peer: str, transport: str) -> str:
    """The rate-limit key of a client address: the IPv4 address, or the /64 of an IPv6 one.

    ``peer`` is ``ip:port`` on TCP (IPv6 without brackets), a bare ``ip`` otherwise."""
    text = peer.rpartition(":")[0] if transport == "tcp" else peer
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _field(query: Element, tag: str) -> str | None:
    el = query.find(tag)
    return None if el is None else (el.text or "")


class RegisterModule:
    name = "register"

    def __init__(self, roster: RosterModule) -> None:
        self.roster = roster

    def setup(self, server: Server) -> None:
        self.server = server
        settings = server.settings
        self.min_password = settings.min_password_length
        self.limiter = RateLimiter(settings.registrations_per_address, RATE_PERIOD)
        targets = (IqTarget.SERVER, IqTarget.ACCOUNT)
        server.iq.register("get", QUERY, self.info, targets=targets)
        server.iq.register("set", QUERY, self.change, targets=targets)
        server.disco.server_features.add(NS)
        if settings.registration:
            server.pre_auth_stream_features.append(Element(f"{{{FEATURE_NS}}}register"))
            server.pre_auth_iqs[QUERY] = self.before_login

    def stop(self) -> None:
        return None

    def _check_password(self, password: str) -> None:
        if len(password) < self.min_password:
            raise StanzaError(
                StanzaErrorCondition.NOT_ACCEPTABLE,
                f"the password needs at least {self.min_password} characters",
            )

    # -- before login: creating an account (§3.1) ----------------------------------------

    def before_login(self, request: PreAuthIq) -> Awaitable[None] | None:
        stanza = request.stanza
        type_ = stanza.get("type")
        to = stanza.get("to")
        if type_ not in ("get", "set") or stanza.get("id") is None:
            error = StanzaError(StanzaErrorCondition.BAD_REQUEST)
        elif to is not None and to.lower() != self.server.domain:
            error = StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE)
        elif type_ == "get":
            request.reply(iq_result(stanza, self._form()))
            return None
        else:
            return self._register(request)
        request.reply(error_reply(stanza, error))
        return None

    def _form(self) -> Element:
        query = Element(QUERY)
        SubElement(query, INSTRUCTIONS).text = INSTRUCTIONS_TEXT
        SubElement(query, USERNAME)
        SubElement(query, PASSWORD)
        return query

    async def _register(self, request: PreAuthIq) -> None:
        try:
            username = await self._create(request)
        except StanzaError as exc:
            request.reply(error_reply(request.stanza, exc))
            return
        except Exception:
            log.exception("in-band registration failed")
            error = StanzaError(StanzaErrorCondition.INTERNAL_SERVER_ERROR)
            request.reply(error_reply(request.stanza, error))
            return
        log.info("registered %s@%s in-band from %s", username, self.server.domain, request.peer)
        request.reply(iq_result(request.stanza))

    async def _create(self, request: PreAuthIq) -> str:
        query = request.stanza[0]
        if query.find(REMOVE) is not None:
            raise StanzaError(StanzaErrorCondition.UNEXPECTED_REQUEST, "log in first")
        username = _field(query, USERNAME)
        password = _field(query, PASSWORD)
        if not username or not password:
            raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, "username and password, both")
        try:
            jid = JID(prep_local(username), self.server.domain)
        except InvalidJID:
            raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, "invalid username") from None
        self._check_password(password)
        wait = self.limiter.hit(address_key(request.peer, request.transport))
        if wait is not None:
            raise StanzaError(
                StanzaErrorCondition.NOT_ACCEPTABLE,
                f"too many registrations from your address; try again in {int(wait) + 1} s",
                type_=StanzaErrorType.WAIT,
            )
        try:
            await self.server.accounts.add(jid, password)
        except AccountExists:
            raise StanzaError(StanzaErrorCondition.CONFLICT) from None
        except AccountError as exc:
            raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, str(exc)) from None
        assert jid.local is not None
        return jid.local

    # -- logged in: password change and removal (§3.2, §3.3) -----------------------------

    def _user(self, request: IqRequest) -> JID:
        sender = request.sender
        if request.to.local is not None and not request.from_self:
            raise StanzaError(StanzaErrorCondition.SERVICE_UNAVAILABLE)  # someone else's
        if sender.local is None or sender.domain != self.server.domain:
            raise StanzaError(StanzaErrorCondition.NOT_ALLOWED)
        return sender.bare

    async def info(self, request: IqRequest) -> Element:
        user = self._user(request)
        query = Element(QUERY)
        SubElement(query, REGISTERED)
        SubElement(query, USERNAME).text = user.local
        SubElement(query, PASSWORD)
        return query

    async def change(self, request: IqRequest) -> None:
        user = self._user(request)
        query = request.payload
        if query.find(REMOVE) is not None:
            if len(query) != 1:
                raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "<remove/> comes alone")
            await self._remove(user)
            return
        username = _field(query, USERNAME)
        password = _field(query, PASSWORD)
        if not username or not password:
            raise StanzaError(StanzaErrorCondition.BAD_REQUEST, "username and a new password")
        try:
            same = prep_local(username) == user.local
        except InvalidJID:
            same = False
        if not same:
            raise StanzaError(StanzaErrorCondition.FORBIDDEN, "not your account")
        self._check_password(password)
        try:
            await self.server.accounts.set_password(user, password)
        except AccountError as exc:
            raise StanzaError(StanzaErrorCondition.NOT_ACCEPTABLE, str(exc)) from None
        assert user.local is not None
        await self.server.storage.refresh_tokens.revoke_user(user.local)
        log.info("password of %s changed in-band", user)

    async def _remove(self, user: JID) -> None:
        assert user.local is not None
        owner = str(user)
        for item in await self.server.storage.roster.get_roster(owner):
            contact = item.contact
            if has_to(item) or item.ask_out:
                stanza = presence("unsubscribe", to=contact, from_=owner)
                await self.roster.inbound_stanza(stanza, contact)
            if has_from(item) or item.pending_in:
                stanza = presence("unsubscribed", to=contact, from_=owner)
                await self.roster.inbound_stanza(stanza, contact)
        try:
            await self.server.accounts.delete(user)
        except AccountError:
            raise StanzaError(StanzaErrorCondition.REGISTRATION_REQUIRED) from None
        await self.server.storage.refresh_tokens.revoke_user(user.local)
        await self.server.hooks.fire(AccountDeleted(owner))
        log.info("account %s removed in-band", owner)
        # after the iq result, which the dispatcher sends as soon as this returns
        asyncio.get_running_loop().call_soon(self._close_sessions, owner)

    def _close_sessions(self, owner: str) -> None:
        for session in self.server.registry.resources(owner):
            session.close(StreamErrorCondition.NOT_AUTHORIZED, "this account was removed")
