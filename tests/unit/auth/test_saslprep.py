"""SASLprep (RFC 4013): the RFC's examples, table edge cases, and a differential fuzz."""

import pytest
from aiosasl import stringprep as aiosasl_stringprep
from hypothesis import given
from hypothesis import strategies as st

from xmpp_video.auth.saslprep import saslprep


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("I\u00adX", "IX"),  # 1: SOFT HYPHEN mapped to nothing
        ("user", "user"),  # 2: no transformation
        ("USER", "USER"),  # 3: case preserved
        ("\u00aa", "a"),  # 4: output is NFKC
        ("\u2168", "IX"),  # 5: output is NFKC, matches #1
    ],
)
def test_rfc4013_section3_examples(given_: str, expected: str) -> None:
    assert saslprep(given_) == expected


@pytest.mark.parametrize(
    "refused",
    [
        "\u0007",  # 6: prohibited character (ASCII control)
        "\u0627\u0031",  # 7: bidirectional check (R/AL string ending in a digit)
    ],
)
def test_rfc4013_section3_errors(refused: str) -> None:
    with pytest.raises(ValueError, match="SASLprep"):
        saslprep(refused)


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("a\u00a0b", "a b"),  # C.1.2 non-ASCII space -> SPACE
        ("a\u3000b", "a b"),  # ideographic space -> SPACE
        ("a\u200cb", "ab"),  # B.1 zero width non-joiner -> nothing
        ("a\u200bb", "a b"),  # ZERO WIDTH SPACE is in B.1 and C.1.2: as a space, like aiosasl
        ("\ufb01", "fi"),  # NFKC ligature
        ("", ""),
        ("\u0627\u0628", "\u0627\u0628"),  # pure R/AL string
        ("\u0627\u0031\u0628", "\u0627\u0031\u0628"),  # R/AL at both ends, digit inside
    ],
)
def test_mapping_and_normalization(given_: str, expected: str) -> None:
    assert saslprep(given_) == expected


@pytest.mark.parametrize(
    "refused",
    [
        "a\u0000b",  # C.2.1
        "a\u0085b",  # C.2.2
        "a\ue000b",  # C.3 private use
        "a\ufffeb",  # C.4 non-character
        "a" + chr(0xD800) + "b",  # C.5 surrogate
        "a\ufffdb",  # C.6
        "a\u2ff0b",  # C.7
        "a\u200eb",  # C.8
        "a\U000e0001b",  # C.9
        "a\u0627",  # mixes L and R/AL
    ],
)
def test_prohibited(refused: str) -> None:
    with pytest.raises(ValueError, match="SASLprep"):
        saslprep(refused, allow_unassigned=True)


def test_unassigned_refused_only_for_stored_strings() -> None:
    unassigned = "a\u0221b"  # unassigned in Unicode 3.2
    assert saslprep(unassigned, allow_unassigned=True) == unassigned
    with pytest.raises(ValueError, match="unassigned"):
        saslprep(unassigned)


def test_error_message_does_not_quote_the_input() -> None:
    with pytest.raises(ValueError, match="SASLprep") as info:
        saslprep("secret\u0007")
    assert "0007" not in str(info.value)
    assert "secret" not in str(info.value)


def _aiosasl_saslprep(s: str, allow_unassigned: bool) -> str | None:
    try:
        prepared: str = aiosasl_stringprep.saslprep(s, allow_unassigned=allow_unassigned)
    except ValueError:
        return None
    return prepared


def _ours(s: str, allow_unassigned: bool) -> str | None:
    try:
        return saslprep(s, allow_unassigned=allow_unassigned)
    except ValueError:
        return None


@given(st.text(st.characters(codec="utf-8")), st.booleans())
def test_agrees_with_aiosasl(s: str, allow_unassigned: bool) -> None:
    """Differential check against an independent SASLprep (the one aiosasl clients use)."""
    assert _ours(s, allow_unassigned) == _aiosasl_saslprep(s, allow_unassigned)
