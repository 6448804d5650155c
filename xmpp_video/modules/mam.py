"""XEP-0313 Message Archive Management (``urn:xmpp:mam:2``) for user archives, with XEP-0059
Result Set Management paging and XEP-0004 query forms.

**What is archived** (§5.1.1). A router observer follows every routed message after delivery.
A message of type ``chat`` or ``normal`` with a ``<body>`` goes to the sender's archive
(outgoing) and to the recipient's (incoming) — local accounts both, since the router only
routes to local accounts — once per archive whatever the number of devices that got it (§5.1.1:
forking and carbons store once). Every message carrying Jingle Message Initiation (XEP-0353)
is archived too, body or not, hints or not: a device that connects later must see the calls it
missed (SPEC §6). Never archived: errors, ``headline``, ``groupchat``, carbons copies (XEP-0280
``<sent/>``/``<received/>`` wrappers), MAM results, and — JMI excepted — messages with a
XEP-0334 ``<no-store/>`` or ``<no-permanent-store/>`` hint, and messages without a body (chat
states, receipts). A message bounced by the router (unknown account, offline store full) is in
no archive (§5.1: the archive holds what was accepted for delivery); one that went to offline
storage is in both (``Routed.stored``). A message to one's own account is archived once, with
``with`` = the own bare JID; a JMI message to one's own bare JID is archived even when no other
device was online to get it (the ``accept``/``reject`` that tell other devices to stop ringing).

The archived stanza is the message as routed (``from`` stamped by the server; a missing ``to``
is filled in with the address it was routed to), serialized once for both archives.

**Write-behind.** Observers never wait: archived messages are queued and written in batches of
at most `BATCH_SIZE`, in one transaction, `FLUSH_DELAY` seconds after the first one queued.
A query first flushes what is queued (its own last messages are in the results). A batch that
fails is kept and retried every `RETRY_DELAY` seconds; past `MAX_PENDING` queued messages new
ones are dropped (logged) rather than letting memory grow while the database is down. `stop()`
writes what is left. A crash loses at most the last `FLUSH_DELAY` seconds of archive.

**stanza-id** (§3.5, XEP-0359): not added. The router delivers before observers run and
observers must not modify a delivered stanza, so the recipient's copy cannot carry the id the
archive gives it; adding it needs a pre-delivery stamping step in the router (the UID is
generated here, without the database, so it could be done synchronously). Clients find their
place in the archive by time (``start``) or by the UIDs of earlier results.

**Queries** (§4), only by the account itself on its bare JID (otherwise ``forbidden``, §8.1):

* ``<iq type='get'><query xmlns='urn:xmpp:mam:2'/></iq>``: the form (§4.1.5): ``with``,
  ``start``, ``end``, ``before-id``, ``after-id``, ``ids``.
* ``<iq type='set'><query queryid=…>`` with an optional form and RSM ``<set>``: the results are
  sent to the querying resource as ``<message from=bare to=full><result queryid id=UID>
  <forwarded><delay stamp/>original</forwarded></result></message>``, oldest first (reversed
  with ``<flip-page/>``, §4.3.4), then the iq result ``<fin complete='true|false'><set>
  <first index>…<last>…<count>…</set></fin>``. ``with`` a bare JID matches every resource, a
  full JID that resource only, the own bare JID the notes to self (§4.1.1); ``start``/``end``
  are inclusive XEP-0082 DateTimes (§4.1.2); ``before-id``/``after-id``/``ids`` restrict the
  set (§4.1.3); RSM ``<after>`` pages forward, ``<before>UID</before>`` backward, an empty
  ``<before/>`` gives the last page (§4.3.3); ``<max>`` defaults to `DEFAULT_PAGE` and is capped
  at `MAX_PAGE` (§4.3.1; ``complete='false'`` then tells the client to page on); ``<max>0``
  gives the count only. ``complete`` is true when nothing matching lies beyond the page in the
  paging direction. ``count`` and ``index`` are always given (XEP-0059; XEP-0313 makes them
  optional).
* Errors: a form that is not a ``submit``, a FORM_TYPE other than ``urn:xmpp:mam:2``, a
  malformed ``with`` or date, several values for a single field, a bad ``<max>``, an empty
  ``<after/>``: ``bad-request``; an unknown field (§4.1.5), RSM ``<index>`` (page jumps) or a
  ``node`` (pubsub archives, XEP-0442): ``feature-not-implemented``; a UID that is not in the
  archive, in ``<after>``/``<before>`` or in a field: ``item-not-found`` (§4.1.3, §4.3.2).
* ``<metadata/>`` (§5): the first and last message's UID and time; empty for an empty archive.
* Preferences (``<prefs/>``, now XEP-0441): fixed. A get answers ``default='always'`` with
  empty ``<always/>``/``<never/>``; a set asking for exactly that is answered with it, any
  other set with ``feature-not-implemented`` (the server archives everything, as SPEC §6
  needs for calls).

Disco (§7): ``urn:xmpp:mam:2`` and ``urn:xmpp:mam:2#extended`` on the account's bare JID.
Deleting an account deletes its archive (``UserRepository.delete``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import secrets
import time
from base64 import b32encode
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element, ParseError, SubElement, fromstring

from xmpp_video.core.iq import IqRequest, IqTarget
from xmpp_video.core.router import JMI_PREFIX, Routed, is_jmi
from xmpp_video.core.server import Server
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.stanza import namespaces as ns
from xmpp_video.stanza.builders import MESSAGE
from xmpp_video.stanza.conditions import StanzaErrorCondition
from xmpp_video.stanza.errors import StanzaError
from xmpp_video.stanza.namespaces import CARBONS, DATA, FORWARD, HINTS
from xmpp_video.storage.repositories import ArchivedMessage, ArchiveIdNotFound, ArchivePage
from xmpp_video.xml import serialize

log = logging.getLogger(__name__)

MAM: Final = "urn:xmpp:mam:2"
SID: Final = "urn:xmpp:sid:0"  # XEP-0359
STANZA_ID: Final = f"{{{SID}}}stanza-id"
MAM_EXTENDED: Final = "urn:xmpp:mam:2#extended"
RSM: Final = "http://jabber.org/protocol/rsm"

QUERY: Final = f"{{{MAM}}}query"
RESULT: Final = f"{{{MAM}}}result"
FIN: Final = f"{{{MAM}}}fin"
FLIP_PAGE: Final = f"{{{MAM}}}flip-page"
METADATA: Final = f"{{{MAM}}}metadata"
PREFS: Final = f"{{{MAM}}}prefs"
FORM: Final = f"{{{DATA}}}x"
FIELD: Final = f"{{{DATA}}}field"
VALUE: Final = f"{{{DATA}}}value"
SET: Final = f"{{{RSM}}}set"
BODY: Final = "{jabber:client}body"
_NEVER_ARCHIVED: Final = frozenset((f"{{{CARBONS}}}sent", f"{{{CARBONS}}}received", RESULT))
_NO_STORE: Final = frozenset((f"{{{HINTS}}}no-store", f"{{{HINTS}}}no-permanent-store"))
ARCHIVED_TYPES: Final = frozenset(("chat", "normal"))

FLUSH_DELAY: Final = 0.2  # seconds between the first queued message and its batch's write
RETRY_DELAY: Final = 2.0  # seconds between attempts while the database fails
BATCH_SIZE: Final = 500  # messages per transaction
MAX_PENDING: Final = 20_000  # queued messages kept while the database fails
DEFAULT_PAGE: Final = 50  # results per query without RSM <max>
MAX_PAGE: Final = 250  # a larger <max> is capped to this

_SINGLE_FIELDS: Final = ("with", "start", "end", "before-id", "after-id")
_KNOWN_FIELDS: Final = frozenset((*_SINGLE_FIELDS, "ids"))

# -- archive ids ---------------------------------------------------------------------------

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)


def new_archive_id() -> str:
    """A ULID-like UID: 48 bits of milliseconds then 80 random bits, 26 Crockford base-32
    characters. Unpredictable and unique (§3), roughly time-sortable for people reading logs;
    the archive order itself is the row order, never these ids."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    # 160 bits = 32 base-32 digits, of which the last 26 are the value's; the standard base-32
    # alphabet is mapped onto Crockford's, keeping the digits' order (C calls, not 26 steps)
    return b32encode(value.to_bytes(20, "big")).decode()[-26:].translate(_TO_CROCKFORD)


# -- query parsing (pure) ------------------------------------------------------------------

_DATETIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})"
)


def parse_datetime(text: str) -> dt.datetime:
    """A XEP-0082 DateTime (``CCYY-MM-DDThh:mm:ss[.sss]TZD``) as an aware UTC datetime;
    ``ValueError`` otherwise. Digits past microseconds are dropped."""
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a XEP-0082 DateTime: {text!r}")
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    fraction, zone = match[7] or "", match[8]
    if zone == "Z":
        tz = dt.UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        tz = dt.timezone(sign * offset)
    microsecond = int(fraction[:6].ljust(6, "0"))
    return dt.datetime(year, month, day, hour, minute, second, microsecond, tz).astimezone(dt.UTC)


def format_datetime(when: dt.datetime) -> str:
    """XEP-0082 DateTime in UTC with microseconds."""
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class MamQuery:
    """A parsed archive query: the form's filters, then the RSM paging."""

    queryid: str | None = None
    with_: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    after_id: str | None = None
    before_id: str | None = None
    ids: tuple[str, ...] | None = None
    max: int = DEFAULT_PAGE
    page_after: str | None = None
    page_before: str | None = None
    last: bool = False  # RSM <before>: the page ends at the cursor (or at the end)
    flip: bool = False


def _bad(text: str) -> StanzaError:
    return StanzaError(StanzaErrorCondition.BAD_REQUEST, text)


def _form_values(form: Element) -> dict[str, list[str]]:
    if form.get("type", "submit") != "submit":
        raise _bad("the query form must be of type 'submit'")
    values: dict[str, list[str]] = {}
    for field in form.iter(FIELD):
        var = field.get("var")
        if var is None:
            raise _bad("a form field has no 'var'")
        if var in values:
            raise _bad(f"field {var!r} appears twice")
        values[var] = [(value.text or "").strip() for value in field.iter(VALUE)]
    form_type = values.pop("FORM_TYPE", None)
    if form_type is not None and form_type != [MAM]:
        raise _bad(f"FORM_TYPE must be {MAM}")
    unknown = sorted(set(values) - _KNOWN_FIELDS)
    if unknown:
        raise StanzaError(
            StanzaErrorCondition.FEATURE_NOT_IMPLEMENTED, f"unknown field {unknown[0]!r}"
        )
    return values


def _single(values: dict[str, list[str]], var: str) -> str | None:
    found = [value for value in values.get(var, ()) if value]
    if len(found) > 1:
        raise _bad(f"field {var!r} takes one value")
    return found[0] if found else None


def _datetime_field(values: dict[str, list[str]], var: str) -> dt.datetime | None:
    text = _single(values, var)
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        raise _bad(f"field {var!r} is not a XEP-0082 DateTime") from None


def parse_query(payload: Element, *, max_page: int = MAX_PAGE) -> MamQuery:
    """Parse a ``<query xmlns='urn:xmpp:mam:2'>`` of an iq set; raises `StanzaError`."""
    if payload.get("node") is not None:
        raise StanzaError(StanzaErrorCondition.FEATURE_NOT_IMPLEMENTED, "no pubsub archives here")
    values: dict[str, list[str]] = {}
    forms = payload.findall(FORM)
    if len(forms) > 1:
        raise _bad("one query form at most")
    if forms:
        values = _form_values(forms[0])
    with_ = _single(values, "with")
    if with_ is not None:
        try:
            with_ = str(JID.parse(with_))
        except InvalidJID:
            raise _bad("field 'with' is not a JID") from None
    ids = tuple(value for value in values.get("ids", ()) if value) or None
    limit = min(DEFAULT_PAGE, max_page)
    page_after = page_before = None
    last = False
    rsm = payload.find(SET)
    if rsm is not None:
        for child in rsm:
            text = (child.text or "").strip()
            local = child.tag.rpartition("}")[2]
            if local == "max":
                if not (text.isascii() and text.isdigit()):
                    raise _bad("RSM <max> must be a non-negative integer")
                limit = min(int(text), max_page)
            elif local == "after":
                if not text:
                    raise _bad("RSM <after> needs an id")
                page_after = text
            elif local == "before":
                last = True
                page_before = text or None
            elif local == "index":
                raise StanzaError(
                    StanzaErrorCondition.FEATURE_NOT_IMPLEMENTED, "RSM <index> is not supported"
                )
    return MamQuery(
        queryid=payload.get("queryid"),
        with_=with_,
        start=_datetime_field(values, "start"),
        end=_datetime_field(values, "end"),
        after_id=_single(values, "after-id"),
        before_id=_single(values, "before-id"),
        ids=ids,
        max=limit,
        page_after=page_after,
        page_before=page_before,
        last=last,
        flip=payload.find(FLIP_PAGE) is not None,
    )


def archivable(stanza: Element) -> bool:
    """Whether a routed chat/normal message goes to the archives (see module docstring)."""
    body = no_store = False
    for child in stanza:
        tag = child.tag
        if tag.startswith(JMI_PREFIX):
            return not any(other.tag in _NEVER_ARCHIVED for other in stanza)
        if tag == BODY:
            body = True
        elif tag in _NO_STORE:
            no_store = True
        elif tag in _NEVER_ARCHIVED:
            return False
    return body and not no_store


# -- answers (pure) --------------------------------------------------------------------------


def query_form() -> Element:
    """The answer to a form request (§4.1.5)."""
    query = Element(QUERY)
    form = SubElement(query, FORM, {"type": "form"})
    SubElement(SubElement(form, FIELD, {"type": "hidden", "var": "FORM_TYPE"}), VALUE).text = MAM
    SubElement(form, FIELD, {"type": "jid-single", "var": "with"})
    for var in ("start", "end", "before-id", "after-id"):
        SubElement(form, FIELD, {"type": "text-single", "var": var})
    ids = SubElement(form, FIELD, {"type": "list-multi", "var": "ids"})
    validate = SubElement(
        ids, "{http://jabber.org/protocol/xdata-validate}validate", {"datatype": "xs:string"}
    )
    SubElement(validate, "{http://jabber.org/protocol/xdata-validate}open")
    return query


def fin(page: ArchivePage) -> Element:
    """The iq result ending a query."""
    end = Element(FIN, {"complete": "true" if page.complete else "false"})
    rsm = SubElement(end, SET)
    if page.items:
        first = SubElement(rsm, f"{{{RSM}}}first")
        first.text = page.first
        if page.first_index is not None:
            first.set("index", str(page.first_index))
        SubElement(rsm, f"{{{RSM}}}last").text = page.last
    if page.count is not None:
        SubElement(rsm, f"{{{RSM}}}count").text = str(page.count)
    return end


def fixed_prefs() -> Element:
    prefs = Element(PREFS, {"default": "always"})
    SubElement(prefs, f"{{{MAM}}}always")
    SubElement(prefs, f"{{{MAM}}}never")
    return prefs


# -- the module ------------------------------------------------------------------------------


class MamModule:
    name = "mam"

    def setup(self, server: Server) -> None:
        self.server = server
        self._pending: list[ArchivedMessage] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._dropping = False
        self._stopped = False
        if not server.settings.archive:
            return  # ARCHIVE=false: no archive, no MAM feature (queries: service-unavailable)
        account = (IqTarget.ACCOUNT,)
        server.iq.register("set", QUERY, self.query, targets=account)
        server.iq.register("get", QUERY, self.form, targets=account)
        server.iq.register("get", METADATA, self.metadata, targets=account)
        server.iq.register("get", PREFS, self.get_prefs, targets=account)
        server.iq.register("set", PREFS, self.set_prefs, targets=account)
        server.disco.account_features.update((MAM, MAM_EXTENDED, SID))
        server.router.stampers.append(self.stamp)
        server.router.observers.append(self.observe)

    async def stop(self) -> None:
        self._stopped = True
        task, self._flush_task = self._flush_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not await self.flush():
            log.error("%d messages could not be archived before stopping", len(self._pending))

    # -- archiving -----------------------------------------------------------------------

    def stamp(self, stanza: Element, sender: JID, to: JID) -> None:
        """Before delivery: the id the recipient's archive will give this message, as a
        ``<stanza-id by='recipient bare JID'/>`` (XEP-0313 §3.5, XEP-0359). One claiming to be
        by the recipient's archive that the sender wrote is removed first (XEP-0359 §4)."""
        if stanza.get("type", "normal") not in ARCHIVED_TYPES:
            return
        owner = str(to.bare)
        for old in stanza.findall(STANZA_ID):
            if old.get("by") == owner:
                stanza.remove(old)
        if to.domain != self.server.domain or sender.bare == to.bare or not archivable(stanza):
            return
        SubElement(stanza, STANZA_ID, {"by": owner, "id": new_archive_id()})

    def observe(self, routed: Routed) -> None:
        stanza = routed.stanza
        if stanza.tag != MESSAGE or stanza.get("type", "normal") not in ARCHIVED_TYPES:
            return
        if not archivable(stanza):
            return
        sender, to = routed.sender, routed.to
        to_self = sender.bare == to.bare
        if not (routed.recipients or routed.stored) and not (to_self and is_jmi(stanza)):
            return  # bounced (the sender was told it failed), or nobody to tell
        domain = self.server.domain
        now = dt.datetime.now(dt.UTC)
        xml = _archived_xml(stanza, sender, to)
        if sender.local is not None and sender.domain == domain:
            self._queue(str(sender.bare), to, now, True, xml)
        if to.local is not None and to.domain == domain and not to_self:
            owner = str(to.bare)
            stamped = next(
                (el.get("id") for el in stanza.findall(STANZA_ID) if el.get("by") == owner), None
            )
            self._queue(owner, sender, now, False, xml, stamped)

    def _queue(
        self,
        owner: str,
        other: JID,
        now: dt.datetime,
        outgoing: bool,
        xml: str,
        archive_id: str | None = None,
    ) -> None:
        if len(self._pending) >= MAX_PENDING:
            if not self._dropping:
                log.error("archive queue full (%d messages): dropping new ones", MAX_PENDING)
                self._dropping = True
            return
        self._pending.append(
            ArchivedMessage(
                archive_id=archive_id or new_archive_id(),
                owner=owner,
                with_jid=str(other.bare),
                with_resource=other.resource,
                stamp=now,
                outgoing=outgoing,
                stanza_xml=xml,
            )
        )
        self._schedule(FLUSH_DELAY)

    def _schedule(self, delay: float) -> None:
        if self._flush_task is None and not self._stopped:
            self._flush_task = self.server.tasks.spawn(self._flush_later(delay), name="mam-archive")

    async def _flush_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._flush_task = None
        await self.flush()

    async def flush(self) -> bool:
        """Write every queued message; False when the database failed (they stay queued and a
        retry is scheduled)."""
        async with self._lock:
            while self._pending:
                batch = self._pending[:BATCH_SIZE]
                try:
                    await self.server.storage.archive.append(batch)
                except Exception:
                    log.exception("could not archive %d messages; retrying", len(batch))
                    self._schedule(RETRY_DELAY)
                    return False
                # only this method removes from the head, under the lock
                del self._pending[: len(batch)]
                self._dropping = False
        return True

    # -- queries ---------------------------------------------------------------------------

    def _owner(self, request: IqRequest) -> str:
        if not request.from_self:
            raise StanzaError(StanzaErrorCondition.FORBIDDEN, "only the account's own archive")
        return str(request.to)

    async def query(self, request: IqRequest) -> Element:
        owner = self._owner(request)
        query = parse_query(request.payload)
        await self.flush()
        try:
            page = await self.server.storage.archive.query(
                owner,
                with_=query.with_,
                start=query.start,
                end=query.end,
                after_id=query.after_id,
                before_id=query.before_id,
                ids=query.ids,
                page_after=query.page_after,
                page_before=query.page_before,
                limit=query.max,
                last=query.last,
            )
        except ArchiveIdNotFound as exc:
            raise StanzaError(
                StanzaErrorCondition.ITEM_NOT_FOUND, f"{exc.archive_id} is not in the archive"
            ) from None
        to = str(request.sender)
        items = reversed(page.items) if query.flip else page.items
        for item in items:
            message = _result_message(item, to, query.queryid)
            if message is not None:
                self.server.router.deliver_to(message, request.origin)
        return fin(page)

    async def form(self, request: IqRequest) -> Element:
        self._owner(request)
        return query_form()

    async def metadata(self, request: IqRequest) -> Element:
        owner = self._owner(request)
        await self.flush()
        answer = Element(METADATA)
        bounds = await self.server.storage.archive.bounds(owner)
        if bounds is not None:
            for tag, item in zip(("start", "end"), bounds, strict=True):
                SubElement(
                    answer,
                    f"{{{MAM}}}{tag}",
                    {"id": item.archive_id, "timestamp": format_datetime(item.stamp)},
                )
        return answer

    async def get_prefs(self, request: IqRequest) -> Element:
        self._owner(request)
        return fixed_prefs()

    async def set_prefs(self, request: IqRequest) -> Element:
        self._owner(request)
        payload = request.payload
        asks_always = payload.get("default") == "always" and not any(
            list(child) for child in payload
        )
        if not asks_always:
            raise StanzaError(
                StanzaErrorCondition.FEATURE_NOT_IMPLEMENTED,
                "archiving preferences are fixed: always",
            )
        return fixed_prefs()


def _archived_xml(stanza: Element, sender: JID, to: JID) -> str:
    """The stanza as stored: given ``from``/``to`` when it lacks them (never modified)."""
    if stanza.get("from") is None or stanza.get("to") is None:
        copy = Element(stanza.tag, dict(stanza.attrib))
        copy.text = stanza.text
        copy.extend(list(stanza))
        if copy.get("from") is None:
            copy.set("from", str(sender))
        if copy.get("to") is None:
            copy.set("to", str(to))
        stanza = copy
    return serialize(stanza, default_ns="").decode()


def _result_message(item: ArchivedMessage, to: str, queryid: str | None) -> Element | None:
    try:
        original = fromstring(item.stanza_xml)  # noqa: S314 - our own serialized stanza, from our database
    except ParseError:
        log.error("archived message %s of %s could not be parsed", item.archive_id, item.owner)
        return None
    message = Element(MESSAGE, {"to": to, "from": item.owner})
    result = SubElement(message, RESULT, {"id": item.archive_id})
    if queryid is not None:
        result.set("queryid", queryid)
    forwarded = SubElement(result, f"{{{FORWARD}}}forwarded")
    SubElement(forwarded, f"{{{ns.DELAY}}}delay", {"stamp": format_datetime(item.stamp)})
    forwarded.append(original)
    return message
