"""SASLprep (RFC 4013): the stringprep (RFC 3454) profile for user names and passwords.  [pure]

``saslprep(s)`` prepares a *stored* string (a password being set): unassigned code points of
Unicode 3.2 are refused. ``saslprep(s, allow_unassigned=True)`` prepares a *query* (a user name a
client presented), which RFC 5802 §5.1 asks the SCRAM server to treat as a query.

Every refusal is a ``ValueError``; the caller maps it to its own error (a SASL
``malformed-request``, or "password not allowed" when a password is set). The messages never
quote the offending character: the input may be a password.

The tables are the stdlib ``stringprep`` module's, and normalization uses Unicode 3.2
(``unicodedata.ucd_3_2_0``) as RFC 3454 requires, not the interpreter's current Unicode version.
"""

import stringprep
from collections.abc import Callable
from unicodedata import ucd_3_2_0

__all__ = ["saslprep"]

# RFC 4013 §2.3: prohibited output.
_PROHIBITED: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("non-ASCII space (C.1.2)", stringprep.in_table_c12),
    ("control character (C.2.1/C.2.2)", stringprep.in_table_c21_c22),
    ("private use (C.3)", stringprep.in_table_c3),
    ("non-character code point (C.4)", stringprep.in_table_c4),
    ("surrogate code point (C.5)", stringprep.in_table_c5),
    ("inappropriate for plain text (C.6)", stringprep.in_table_c6),
    ("inappropriate for canonical representation (C.7)", stringprep.in_table_c7),
    ("change display property or deprecated (C.8)", stringprep.in_table_c8),
    ("tagging character (C.9)", stringprep.in_table_c9),
)


def _map(s: str) -> str:
    """RFC 4013 §2.1: non-ASCII spaces become SPACE, "commonly mapped to nothing" vanish."""
    out: list[str] = []
    for c in s:
        if stringprep.in_table_c12(c):
            out.append(" ")
        elif not stringprep.in_table_b1(c):
            out.append(c)
    return "".join(out)


def _check_bidi(s: str) -> None:
    """RFC 3454 §6 (required by RFC 4013 §2.4)."""
    if not any(stringprep.in_table_d1(c) for c in s):
        return
    if any(stringprep.in_table_d2(c) for c in s):
        raise ValueError("SASLprep: string mixes right-to-left and left-to-right characters")
    if not (stringprep.in_table_d1(s[0]) and stringprep.in_table_d1(s[-1])):
        raise ValueError(
            "SASLprep: a right-to-left string must start and end with a right-to-left character"
        )


def saslprep(s: str, *, allow_unassigned: bool = False) -> str:
    """Return ``s`` prepared with SASLprep, or raise ``ValueError``.

    ``allow_unassigned=False`` (the default) is for stored strings (RFC 3454 §7): passwords that
    are about to be hashed. Pass ``True`` only for queries, such as the user name of a SCRAM
    client-first-message. The empty string is returned unchanged; callers that need a non-empty
    result check for it themselves.
    """
    prepared = ucd_3_2_0.normalize("NFKC", _map(s))  # §2.1 mapping, §2.2 normalization (KC)
    for c in prepared:
        for what, in_table in _PROHIBITED:
            if in_table(c):
                raise ValueError(f"SASLprep: prohibited character: {what}")
        if not allow_unassigned and stringprep.in_table_a1(c):
            raise ValueError("SASLprep: unassigned code point (Unicode 3.2)")
    _check_bidi(prepared)
    return prepared
