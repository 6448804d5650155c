"""SASL2 (XEP-0388), Bind 2 (XEP-0386), inline resumption (XEP-0198) and FAST (XEP-0484) on a
c2s stream: the part of `core.c2s` that runs one ``<authenticate>`` to its ``<success>``.

Flow (the pure parts: `stream.sasl2`, `stream.bind2`, `auth.ht`; tokens: `auth.fast`):

1. `authenticate`: ``<authenticate mechanism>`` is parsed; a password mechanism (SCRAM, PLAIN,
   OAUTHBEARER) runs exactly as in SASL1 (the stream's ``_plain``/``_scram_first``/…, which
   answer in the SASL2 namespace while ``_sasl2_request`` is set); ``HT-SHA-256-NONE`` checks a
   FAST token in one round trip (`_fast`).
2. `complete` (authenticated): ``<fast invalidate>`` drops the client's tokens; a token is
   issued when the client asked (``<request-token>``) or its token is due for rotation. Then an
   inline ``<resume/>`` is tried first: success hands the connection over to the resumed
   session, whose ``<success>`` carries ``<resumed/>``; a failure puts ``<failed/>`` in the
   ``<success>`` and binding goes on. Bind 2 binds a resource (`stream.bind2`), replacing an
   earlier session of the same client that holds it (XEP-0386 §3), and enables what was asked
   inline: stream management (``<enabled/>`` in ``<bound/>``), carbons, the CSI state.
3. ``<success>`` (authorization identifier: the full JID once bound), then — no stream
   restart — the stream features: for a bound stream only CSI (and what modules add), so that
   a client does not bind or enable stream management twice; otherwise bind, sm, csi.

Offline messages are not dropped at Bind 2 (the XEP expects clients to use MAM instead): they
are delivered on the initial presence as after a legacy bind, so nothing is lost for a client
that does not query its archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.auth import ht
from xmpp_video.auth.fast import FastTokens, FastUse
from xmpp_video.auth.sasl_errors import SaslFailure
from xmpp_video.core.events import SessionBound
from xmpp_video.jid import JID, InvalidJID, prep_local
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.stream import bind2, csi, sasl2, sm
from xmpp_video.stream.csi import CsiBuffer
from xmpp_video.stream.features import FEATURES, post_auth_features
from xmpp_video.stream.states import StreamState

if TYPE_CHECKING:
    from xmpp_video.core.c2s import C2SStream
    from xmpp_video.core.server import Server

__all__ = ["FastUse", "authenticate", "complete", "fast_tokens", "feature"]

log = logging.getLogger(__name__)

LEAVE_WAIT = 2.0  # seconds an earlier session of the same client may take to end


def fast_tokens(server: Server) -> FastTokens:
    return FastTokens(server.storage.fast_tokens, server.settings.fast_token_ttl)


def _fast_mechanisms(stream: C2SStream) -> tuple[str, ...]:
    """FAST only on an encrypted stream (XEP-0484 §7) and when tokens are handed out."""
    if stream.channel.encrypted and stream.server.settings.fast_token_ttl > 0:
        return ht.MECHANISMS
    return ()


def _carbons(server: Server) -> bool:
    return ns.CARBONS in server.disco.server_features


def feature(stream: C2SStream, mechanisms: list[str]) -> Element:
    """The ``<authentication>`` stream feature with its inline features."""
    inline_bind = [sm.NS, csi.NS]
    if _carbons(stream.server):
        inline_bind.append(ns.CARBONS)
    inline = [bind2.feature(inline_bind), Element(sm.FEATURE)]
    fast = _fast_mechanisms(stream)
    if fast:
        inline.append(sasl2.fast_feature(fast))
    return sasl2.feature(mechanisms, inline)


def authenticate(stream: C2SStream, el: Element) -> Awaitable[None] | None:
    """``<authenticate/>``: start a SASL2 exchange (see the module docstring)."""
    if stream._tls_required:
        stream._fail("encryption-required", sasl2_profile=True)
        return None
    try:
        request = sasl2.parse_authenticate(el)
    except SaslFailure as exc:
        stream._fail(exc.condition, exc.text, sasl2_profile=True)
        return None
    stream._sasl2_request = request
    mechanism = request.mechanism
    if mechanism in _fast_mechanisms(stream):
        return _fast(stream, request)
    if mechanism not in stream._mechanisms():
        stream._fail("invalid-mechanism", "this mechanism is not offered")
        return None
    return stream._start_mechanism(mechanism, request.initial_response or b"")


async def _fast(stream: C2SStream, request: sasl2.Authenticate) -> None:
    """HT-SHA-256-NONE with a FAST token: one message, success or ``not-authorized``."""
    if request.initial_response is None:
        stream._fail("malformed-request", "FAST needs an initial response")
        return
    try:
        authcid, initiator_hash = ht.parse_message(request.initial_response)
        username = prep_local(authcid)
    except SaslFailure as exc:
        stream._fail(exc.condition, exc.text)
        return
    except InvalidJID:
        stream._fail("not-authorized")
        return
    client_id = request.client_id
    use = None
    if client_id is not None:  # tokens belong to a client: none without its user-agent id
        count = request.fast.count if request.fast is not None else None
        owner = str(JID(username, stream.server.domain))
        try:
            tokens = fast_tokens(stream.server)
            use = await tokens.authenticate(
                owner, client_id, request.mechanism, initiator_hash, count
            )
            if use is not None and request.fast is not None and request.fast.invalidate:
                await tokens.invalidate(owner, client_id)  # before success says it is done
        except Exception as exc:  # the database: the client may retry, or use its password
            log.warning("stream %s: FAST tokens unavailable: %r", stream.stream_id, exc)
            stream._fail("temporary-auth-failure")
            return
    if stream.state is StreamState.CLOSED:
        return
    if use is None:
        stream._fail("not-authorized", "invalid, expired or replayed token")
        return
    # the success carries the HT responder hash: the client checks that we knew the token
    pending = stream._succeed(username, None, use.responder, use)
    if pending is not None:
        await pending


def _xep0082(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _token(
    stream: C2SStream, request: sasl2.Authenticate, account: str, use: FastUse | None
) -> list[Element]:
    """Issue a FAST token if asked or due (not after ``<fast invalidate>``: `_fast` dropped
    the client's tokens); the ``<token/>`` for the success, if any."""
    client_id = request.client_id
    if client_id is None:
        return []
    invalidate = use is not None and request.fast is not None and request.fast.invalidate
    wanted = request.request_token
    if wanted is None and use is not None and use.rotate and not invalidate:
        wanted = request.mechanism  # XEP-0484 §3.4: the server rotates a token near expiry
    if wanted is not None and wanted not in _fast_mechanisms(stream):
        wanted = None
    if wanted is None:
        return []
    try:
        issued = await fast_tokens(stream.server).issue(account, client_id, wanted)
    except Exception as exc:  # the database: the login goes on without a token
        log.warning("stream %s: FAST tokens unavailable: %r", stream.stream_id, exc)
        return []
    log.info("stream %s: FAST token for %s (%s)", stream.stream_id, account, wanted)
    return [sasl2.token(issued.token, _xep0082(issued.expiry))]


def _resource_key(server: Server) -> bytes | None:
    """The key of stable Bind 2 resources, derived from the JWT secret (None: random ones)."""
    secret = server.settings.jwt_secret
    if not secret:
        return None
    return hashlib.sha256(b"xmpp-video bind2 resource\0" + secret.encode()).digest()


async def _choose_jid(
    stream: C2SStream, account: JID, request: bind2.BindRequest, client_id: str | None
) -> JID:
    """The full JID Bind 2 binds: stable for this client; an earlier session of the same client
    holding it ends first (XEP-0386 §3), given `LEAVE_WAIT` seconds to store what it was never
    acknowledged; past that, or for a clash of random ones, another resource."""
    server = stream.server
    ident = bind2.resource_id(_resource_key(server), str(account), client_id, request.tag)
    try:
        jid = account.with_resource(bind2.resource(request.tag, ident))
    except InvalidJID:
        jid = account.with_resource(ident)
    earlier = server.registry.get(str(jid))
    if earlier is not None:
        log.info("stream %s: %s replaces its earlier session", stream.stream_id, jid)
        earlier.close(StreamErrorCondition.CONFLICT, "replaced by a new session of this client")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LEAVE_WAIT):
                # no per-session signal for leaving the registry; rare (a client replacing
                # its own session) and bounded
                while server.registry.get(str(jid)) is earlier:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
    while server.registry.has_resource(str(account), str(jid.resource)):
        ident = bind2.resource_id(None, str(account), None, request.tag)
        jid = account.with_resource(bind2.resource(request.tag, ident))
    return jid


def _bind(stream: C2SStream, jid: JID, request: sasl2.Authenticate) -> Element:
    """Bind 2: bind ``jid`` and enable the inline features; the ``<bound/>`` element."""
    assert request.bind is not None
    wanted = bind2.parse(request.bind)
    stream._bound(jid)
    results: list[Element] = []
    if wanted.sm_enable is not None:
        id_, max_seconds = stream._start_sm(sm.truthy(wanted.sm_enable.get("resume")))
        results.append(sm.enabled_element(id_, max_seconds))
    if wanted.carbons and _carbons(stream.server):
        stream.carbons = True
    if wanted.inactive:
        stream.csi = CsiBuffer(stream.server.settings.csi_queue_limit)
    return bind2.bound(results)


def _closed(stream: C2SStream) -> bool:
    return stream.state is StreamState.CLOSED


def _features(stream: C2SStream, bound: bool) -> bytes:
    extra = stream.server.stream_features
    if bound:
        features = Element(FEATURES)
        SubElement(features, csi.FEATURE)
        features.extend(extra)
    else:
        features = post_auth_features(extra)
    return stream.channel.framing.features(list(features))


async def complete(
    stream: C2SStream, account: JID, additional_data: bytes, use: FastUse | None
) -> None:
    """Authenticated as ``account`` (see the module docstring, step 2 and 3)."""
    request = stream._sasl2_request
    assert request is not None
    stream._sasl2_request = None
    stream.authenticated_as = account
    extra = await _token(stream, request, str(account), use)
    if stream.state is StreamState.CLOSED:
        return
    results: list[Element] = []
    if request.resume is not None:
        found = stream._resume_target(request.resume)
        if isinstance(found, sm.ResumeRefused):
            results.append(found.element())
        else:
            target, state = found
            assert state.id is not None
            success = sasl2.success(
                additional_data,
                target.full,
                [sm.resumed_element(state.id, state.handled), *extra],
            )
            # the features are framed for this (new) connection, which the target takes over
            stream._hand_over(target, state, (success, _features(stream, bound=True)))
            return
    if request.bind is not None:
        jid = await _choose_jid(stream, account, bind2.parse(request.bind), request.client_id)
        if _closed(stream):  # while the earlier session ended
            return
        results.insert(0, _bind(stream, jid, request))
        identity = stream.full
    else:
        stream._move(StreamState.WAIT_BIND)
        identity = str(account)
    stream.channel.write(sasl2.success(additional_data, identity, [*results, *extra]))
    stream.channel.write(_features(stream, bound=request.bind is not None))
    if request.bind is not None:
        await stream.server.hooks.fire(SessionBound(stream))
