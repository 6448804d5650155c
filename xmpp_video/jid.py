"""JID parsing and preparation (RFC 7622). Pure.

Preparation is a pragmatic subset of the PRECIS profiles: the local part and the domain are
NFKC-normalised and case-folded, the resource is NFC-normalised; characters RFC 7622 forbids in a
local part, empty parts and parts over 1023 bytes are refused with `InvalidJID`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@ \t\r\n\x00")
_MAX_PART = 1023


class InvalidJID(ValueError):
    """The string is not a valid JID; answer with `jid-malformed`."""


@dataclass(frozen=True, slots=True)
class JID:
    """A prepared JID. `str(jid)` gives the canonical form.

    The bare JID and the text are computed once per object (routing asks several modules for
    ``str(jid.bare)`` of the same stanza's addresses); the caches take no part in equality."""

    local: str | None
    domain: str
    resource: str | None = None
    _bare: JID | None = field(default=None, init=False, repr=False, compare=False)
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse and prepare `text`; raises InvalidJID."""
        return _parse(text)

    @property
    def bare(self) -> JID:
        if self.resource is None:
            return self
        bare = self._bare
        if bare is None:
            bare = JID(self.local, self.domain)
            object.__setattr__(self, "_bare", bare)  # a cache: the value never changes
        return bare

    @property
    def is_bare(self) -> bool:
        return self.resource is None

    def with_resource(self, resource: str) -> JID:
        return JID(self.local, self.domain, _prep_resource(resource))

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = self.domain if self.local is None else f"{self.local}@{self.domain}"
            if self.resource is not None:
                text = f"{text}/{self.resource}"
            object.__setattr__(self, "_text", text)
        return text


def _check_len(part: str, what: str) -> None:
    if not part:
        raise InvalidJID(f"empty {what}")
    if len(part.encode()) > _MAX_PART:
        raise InvalidJID(f"{what} too long")


def prep_local(local: str) -> str:
    prepared = unicodedata.normalize("NFKC", local).casefold()
    _check_len(prepared, "local part")
    if any(c in _LOCAL_FORBIDDEN or unicodedata.category(c) == "Cc" for c in prepared):
        raise InvalidJID("forbidden character in local part")
    return prepared


def prep_domain(domain: str) -> str:
    prepared = unicodedata.normalize("NFKC", domain).casefold().rstrip(".")
    _check_len(prepared, "domain")
    if any(c in "@/ \t\r\n\x00" or unicodedata.category(c) == "Cc" for c in prepared):
        raise InvalidJID("forbidden character in domain")
    if prepared.startswith("[") != prepared.endswith("]"):
        raise InvalidJID("bad IPv6 literal")
    return prepared


def _prep_resource(resource: str) -> str:
    prepared = unicodedata.normalize("NFC", resource)
    _check_len(prepared, "resource")
    if any(unicodedata.category(c) == "Cc" for c in prepared):
        raise InvalidJID("control character in resource")
    return prepared


@lru_cache(maxsize=65536)
def _parse(text: str) -> JID:
    rest, slash, resource = text.partition("/")
    local, at, domain = rest.rpartition("@")
    if not at:
        domain = rest
    return JID(
        prep_local(local) if at else None,
        prep_domain(domain),
        _prep_resource(resource) if slash else None,
    )
