"""Admin tokens (``typ: admin``) for the HTTP admin API: never an access or refresh token, and
never the other way round."""

from __future__ import annotations

import pytest

from xmpp_video.auth.tokens import ADMIN_TOKEN_TTL, TokenError, TokenKind, TokenSigner

SECRET = "s" * 40


def _signer(now: float = 1_700_000_000.0) -> TokenSigner:
    return TokenSigner([SECRET], 900, 86400, now=lambda: now)


def test_admin_token_verifies_as_admin_only() -> None:
    signer = _signer()
    token, claims = signer.issue_admin("cli:root")
    assert claims.kind is TokenKind.ADMIN
    assert claims.exp - claims.iat == ADMIN_TOKEN_TTL
    verified = signer.verify(token, TokenKind.ADMIN)
    assert (verified.sub, verified.kind, verified.family) == ("cli:root", TokenKind.ADMIN, None)
    for other in (TokenKind.ACCESS, TokenKind.REFRESH):
        with pytest.raises(TokenError, match="admin token where"):
            signer.verify(token, other)


@pytest.mark.parametrize("kind", [TokenKind.ACCESS, TokenKind.REFRESH])
def test_user_tokens_never_pass_as_admin(kind: TokenKind) -> None:
    signer = _signer()
    token, _ = (
        signer.issue_access("alice") if kind is TokenKind.ACCESS else signer.issue_refresh("alice")
    )
    with pytest.raises(TokenError, match=f"{kind.value} token where"):
        signer.verify(token, TokenKind.ADMIN)


def test_admin_token_expires_after_a_minute() -> None:
    token, _ = _signer(1_700_000_000.0).issue_admin("cli:root")
    assert _signer(1_700_000_000.0 + ADMIN_TOKEN_TTL - 1).verify(token, TokenKind.ADMIN)
    with pytest.raises(TokenError) as info:
        _signer(1_700_000_000.0 + ADMIN_TOKEN_TTL).verify(token, TokenKind.ADMIN)
    assert info.value.code == "token_expired"


def test_admin_token_of_another_secret_is_refused() -> None:
    token, _ = TokenSigner(["o" * 40], 900, 86400).issue_admin("cli:root")
    with pytest.raises(TokenError):
        TokenSigner([SECRET], 900, 86400).verify(token, TokenKind.ADMIN)
