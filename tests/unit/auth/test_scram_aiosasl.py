"""ScramServer against an independent SCRAM client: aiosasl's (the one aioxmpp uses).

aiosasl's ``SCRAM`` mechanism talks to a ``SASLInterface`` (initiate / respond / abort); the
in-memory interface below forwards those calls to a ``ScramServer`` as the stream layer would
(``<auth/>`` -> client_first + server_first, ``<response/>`` -> client_final, ``<success/>``
carrying the server-final-message). No sockets, no XML.
"""

from collections.abc import Mapping

import aiosasl
import pytest

from xmpp_video.auth.passwords import ScramCredentials, ScramHash, derive_all, dummy_credentials
from xmpp_video.auth.scram import SaslFailure, ScramServer

FAST = 2  # aiosasl enforces 4096 unless told not to; the tests tell it not to


class InMemorySasl(aiosasl.SASLInterface):
    def __init__(self, users: Mapping[str, Mapping[ScramHash, ScramCredentials]]) -> None:
        self.users = users
        self.server: ScramServer | None = None
        self.mechanism = ""

    async def initiate(
        self, mechanism: str, payload: bytes | None = None
    ) -> tuple[aiosasl.SASLState, bytes | None]:
        self.mechanism = mechanism
        hash_ = {h.mechanism: h for h in ScramHash}[mechanism]
        self.server = ScramServer(hash_)
        try:
            username = self.server.client_first(payload or b"")
            user = self.users.get(username)
            creds = user[hash_] if user else dummy_credentials(username, hash_, FAST)
            return aiosasl.SASLState.CHALLENGE, self.server.server_first(creds)
        except SaslFailure as failure:
            raise aiosasl.SASLFailure(str(failure.condition), failure.text) from None

    async def respond(self, payload: bytes) -> tuple[aiosasl.SASLState, bytes | None]:
        assert self.server is not None
        try:
            return aiosasl.SASLState.SUCCESS, self.server.client_final(payload)
        except SaslFailure as failure:
            raise aiosasl.SASLFailure(str(failure.condition), failure.text) from None

    async def abort(self) -> tuple[aiosasl.SASLState, bytes | None]:
        return aiosasl.SASLState.FAILURE, None


USERS = {
    "juliet": derive_all("r0m30", iterations=FAST),
    "j\u00fcrgen": derive_all("p\u00e4ss w\u00f6rd", iterations=FAST),
}


async def _login(
    mechanism: str, username: str, password: str, *, after_scram_plus: bool = False
) -> InMemorySasl:
    async def credentials() -> tuple[str, str]:
        return username, password

    scram = aiosasl.SCRAM(
        credentials, after_scram_plus=after_scram_plus, enforce_minimum_iteration_count=False
    )
    token = scram.any_supported([mechanism])
    assert token is not None
    intf = InMemorySasl(USERS)
    await scram.authenticate(aiosasl.SASLStateMachine(intf), token)
    return intf


MECHANISMS = [h.mechanism for h in ScramHash]


@pytest.mark.asyncio
@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("juliet", "r0m30"),
        ("j\u00fcrgen", "p\u00e4ss w\u00f6rd"),
        ("j\u00fcrgen", "p\u00e4ss\u00a0w\u00f6rd"),  # NO-BREAK SPACE: SASLprep maps it to SPACE
    ],
)
async def test_right_password(mechanism: str, username: str, password: str) -> None:
    intf = await _login(mechanism, username, password)
    assert intf.mechanism == mechanism
    assert intf.server is not None
    assert intf.server.authenticated
    assert intf.server.username == username
    assert intf.server.authzid is None


@pytest.mark.asyncio
@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_gs2_flag_y(mechanism: str) -> None:
    """aiosasl sends "y,," after failing SCRAM-*-PLUS; we offer no -PLUS, so that is fine."""
    intf = await _login(mechanism, "juliet", "r0m30", after_scram_plus=True)
    assert intf.server is not None
    assert intf.server.authenticated


@pytest.mark.asyncio
@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize(("username", "password"), [("juliet", "R0m30"), ("nobody", "r0m30")])
async def test_wrong_password_or_unknown_user(mechanism: str, username: str, password: str) -> None:
    with pytest.raises(aiosasl.AuthenticationFailure) as info:
        await _login(mechanism, username, password)
    assert info.value.opaque_error == "not-authorized"
