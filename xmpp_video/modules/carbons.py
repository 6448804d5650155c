"""XEP-0280 Message Carbons (``urn:xmpp:carbons:2``): every device of a user sees both sides.

Advertised in the server's disco#info (§3). A session turns carbons on with
``<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>`` (§4; addressed to its own account,
i.e. no ``to``, or to the server) and off with ``<disable/>`` (§5); the flag lives on the
session (`Session.carbons`) and dies with it.

The module follows routed messages as a router observer, after the router delivered them:

* ``<sent>`` copies go to the sender's other carbons-enabled sessions (§8), available or not;
* ``<received>`` copies go to the recipient's carbons-enabled *available* sessions that did not
  get the message itself (§7) — not to an unavailable one, which gets the message from offline
  storage when it comes online and would otherwise see it twice. No ``<received>`` copies for a
  message that was bounced (neither delivered nor stored): the sender was told it failed.
* a session gets at most one copy of a message, never one of a message it sent or received;
  a message to one's own account (another device, or JMI ``accept`` to the own bare JID) gets
  only ``<sent>`` copies.

Eligible messages (§6, the ``urn:xmpp:carbons:rules:0`` rules, also advertised): type ``chat``;
type ``normal`` with a ``<body>``; any message with an IM payload (receipts, chat states,
corrections, markers). Never: errors, ``groupchat``, messages that are themselves carbons, MUC
private messages to a full JID, messages with ``<private xmlns='urn:xmpp:carbons:2'/>`` (§9) or
a ``<no-copy xmlns='urn:xmpp:hints'/>`` hint (XEP-0334) — except that a message carrying Jingle
Message Initiation (XEP-0353) is always copied whatever its hints: every device of the caller
and of the callee must follow the call (SPEC §6). ``<private/>`` is left in the delivered
message (not required since XEP-0280 v0.9, and observers never modify routed stanzas).

A copy is ``<message from='owner bare JID' to='device full JID' type='as original'>
<sent|received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>original
</forwarded></sent|received></message>``. The forwarded original is a shallow copy (children
shared, never mutated) given a ``to`` when it had none (a message to one's own account).
"""

from __future__ import annotations

from typing import Final
from xml.etree.ElementTree import Element, SubElement

from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.router import Routed, is_jmi
from xmpp_video.core.server import Server
from xmpp_video.core.session import Session
from xmpp_video.stanza.builders import MESSAGE
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.stanza.namespaces import CARBONS, FORWARD

CARBONS_RULES: Final = "urn:xmpp:carbons:rules:0"

ENABLE: Final = f"{{{CARBONS}}}enable"
DISABLE: Final = f"{{{CARBONS}}}disable"
SENT: Final = f"{{{CARBONS}}}sent"
RECEIVED: Final = f"{{{CARBONS}}}received"
PRIVATE: Final = f"{{{CARBONS}}}private"
FORWARDED: Final = f"{{{FORWARD}}}forwarded"
NO_COPY: Final = "{urn:xmpp:hints}no-copy"
BODY: Final = "{jabber:client}body"
MUC_USER: Final = "{http://jabber.org/protocol/muc#user}x"

# payloads that make a message instant messaging whatever its type (rules:0, third rule)
IM_NAMESPACES: Final = frozenset(
    (
        "urn:xmpp:receipts",  # XEP-0184
        "http://jabber.org/protocol/chatstates",  # XEP-0085
        "urn:xmpp:message-correct:0",  # XEP-0308
        "urn:xmpp:chat-markers:0",  # XEP-0333
    )
)
_NEVER_COPIED: Final = frozenset((SENT, RECEIVED, PRIVATE, NO_COPY))


def _namespace(tag: str) -> str:
    return tag[1 : tag.index("}")] if tag.startswith("{") else ""


def eligible(stanza: Element) -> bool:
    """Whether a routed message is copied to carbons-enabled devices (see module docstring)."""
    type_ = stanza.get("type", "normal")
    if type_ in ("error", "groupchat"):
        return False
    if is_jmi(stanza):
        return not any(child.tag in (SENT, RECEIVED) for child in stanza)
    im = type_ == "chat"
    for child in stanza:
        tag = child.tag
        if tag in _NEVER_COPIED:
            return False
        if not im and ((tag == BODY and type_ == "normal") or _namespace(tag) in IM_NAMESPACES):
            im = True
    return im


class CarbonsModule:
    name = "carbons"

    def setup(self, server: Server) -> None:
        self.server = server
        targets = (IqTarget.SERVER, IqTarget.ACCOUNT)
        server.iq.register("set", ENABLE, self.enable, targets=targets)
        server.iq.register("set", DISABLE, self.disable, targets=targets)
        server.disco.server_features.update((CARBONS, CARBONS_RULES))
        server.router.observers.append(self.observe)

    def stop(self) -> None:
        observers = self.server.router.observers
        if self.observe in observers:
            observers.remove(self.observe)

    # -- enable / disable (§4, §5) ------------------------------------------------------

    def _own_session(self, request: IqRequest) -> Session:
        # to = the server or the sender's own account, never someone else's (§4.1, §5.1)
        session = request.origin
        if session is None or (request.to.local is not None and not request.from_self):
            raise StanzaError(StanzaErrorCondition.NOT_ALLOWED)
        return session

    async def enable(self, request: IqRequest) -> None:
        self._own_session(request).carbons = True  # enabling twice is no error (§10.1)

    async def disable(self, request: IqRequest) -> None:
        self._own_session(request).carbons = False

    # -- copies (§7, §8) -----------------------------------------------------------------

    def observe(self, routed: Routed) -> None:
        stanza = routed.stanza
        if stanza.tag != MESSAGE or routed.to.local is None:
            return
        registry = self.server.registry
        sender_bare = str(routed.sender.bare)
        owner = str(routed.to.bare)
        # the devices that want copies, first: usually none, and then nothing else is done
        mine = [s for s in registry.resources(sender_bare) if s.carbons]
        theirs = [] if owner == sender_bare else [s for s in registry.resources(owner) if s.carbons]
        if not (mine or theirs) or not eligible(stanza):
            return
        sender_full = str(routed.sender)
        done: set[Session] = set(routed.recipients)
        if routed.origin is not None:
            done.add(routed.origin)
        original: Element | None = None

        sent = [s for s in mine if s not in done and s.full != sender_full]
        if sent:
            original = self._original(stanza, owner)
            self._send(SENT, original, sender_bare, stanza.get("type"), sent)
            done.update(sent)
        if owner == sender_bare or not (routed.recipients or routed.stored):
            return
        if routed.to.resource is not None and stanza.find(MUC_USER) is not None:
            return  # a MUC private message is for the device that joined the room (§6)
        received = [s for s in theirs if s.available and s not in done]
        if not received:
            return
        if original is None:
            original = self._original(stanza, owner)
        self._send(RECEIVED, original, owner, stanza.get("type"), received)

    @staticmethod
    def _original(stanza: Element, to_bare: str) -> Element:
        copy = Element(stanza.tag, dict(stanza.attrib))
        copy.extend(list(stanza))
        if copy.get("to") is None:
            copy.set("to", to_bare)
        return copy

    @staticmethod
    def _send(
        kind: str, original: Element, owner: str, type_: str | None, targets: list[Session]
    ) -> None:
        wrapper = Element(kind)
        SubElement(wrapper, FORWARDED).append(original)
        attrs = {"from": owner}
        if type_ is not None:
            attrs["type"] = type_
        for target in targets:
            carbon = Element(MESSAGE, attrs)
            carbon.set("to", target.full)
            carbon.append(wrapper)
            target.deliver(carbon)
