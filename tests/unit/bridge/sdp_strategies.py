"""Hypothesis strategies for normalized SDP sessions (the model both SDP and Jingle map to).

Generated values stay inside what both syntaxes can spell unambiguously (tokens from a small
alphabet, unknown attribute names with an ``x-`` prefix): the round-trip properties are about the
converter, not about the corners where SDP itself is ambiguous.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from xmpp_video.bridge.sdp_model import (
    Attribute,
    Bandwidth,
    Candidate,
    Direction,
    Feedback,
    Fingerprint,
    Group,
    HeaderExtension,
    Media,
    Origin,
    Parameter,
    PayloadType,
    Session,
    Setup,
    Source,
    SourceGroup,
    SourceParameter,
    normalize,
)

ALPHABET = string.ascii_letters + string.digits + "-_.+"


def tokens(
    min_size: int = 1, max_size: int = 10, alphabet: str = ALPHABET
) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def phrases(max_words: int = 3) -> st.SearchStrategy[str]:
    return st.lists(tokens(), min_size=1, max_size=max_words).map(" ".join)


def x_names() -> st.SearchStrategy[str]:
    return tokens(max_size=8).map(lambda t: "x-" + t)


attributes = st.builds(Attribute, x_names(), st.none() | phrases())
fmtp_parameters = st.one_of(
    st.builds(Parameter, tokens(), st.text(ALPHABET + "=/,", max_size=10)),
    st.builds(Parameter, st.just(""), tokens(alphabet=ALPHABET + "/,")),
)
feedback = st.builds(
    Feedback,
    tokens().filter(lambda t: t != "trr-int"),
    st.none() | phrases(),
)
ints32 = st.integers(0, 2**32 - 1)


@st.composite
def payload_types(draw: st.DrawFn, ids: list[int]) -> tuple[PayloadType, ...]:
    return tuple(
        PayloadType(
            id=pt,
            name=draw(tokens(alphabet=ALPHABET)),
            clockrate=draw(st.sampled_from([8000, 16000, 48000, 90000]) | st.integers(1, 2**31)),
            channels=draw(st.none() | st.integers(2, 8)),
            parameters=tuple(draw(st.lists(fmtp_parameters, max_size=3))),
            feedback=tuple(draw(st.lists(feedback, max_size=3))),
            trr_int=draw(st.none() | st.integers(0, 10_000)),
        )
        for pt in ids
    )


header_extensions = st.builds(
    HeaderExtension,
    st.integers(1, 14) | st.integers(4096, 4351),
    tokens(max_size=30, alphabet=ALPHABET + ":/"),
    st.sampled_from(Direction),
    st.lists(
        st.builds(Parameter, tokens(alphabet=ALPHABET.replace("=", "")), st.just("") | tokens()),
        max_size=2,
    ).map(tuple),
)

msid_values = st.builds(lambda s, t: f"{s} {t}", tokens(), tokens()) | tokens()


@st.composite
def sources(draw: st.DrawFn) -> tuple[tuple[Source, ...], tuple[SourceGroup, ...]]:
    ssrcs = draw(st.lists(ints32, max_size=3, unique=True))
    found = tuple(
        Source(
            ssrc,
            tuple(
                draw(
                    st.lists(
                        st.builds(SourceParameter, st.sampled_from(["cname", "msid", "label"]))
                        | st.builds(SourceParameter, st.just("cname"), tokens())
                        | st.builds(SourceParameter, st.just("msid"), msid_values),
                        min_size=1,  # an a=ssrc line names an attribute
                        max_size=3,
                    )
                )
            ),
        )
        for ssrc in ssrcs
    )
    groups = ()
    if len(ssrcs) >= 2:
        groups = (SourceGroup(draw(st.sampled_from(["FID", "SIM", "FEC-FR"])), tuple(ssrcs[:2])),)
    return found, groups


ip_addresses = st.one_of(
    st.ip_addresses().map(str), tokens(max_size=12).map(lambda t: t + ".local")
)


def candidate_strategy(ips: st.SearchStrategy[str] = ip_addresses) -> st.SearchStrategy[Candidate]:
    return st.builds(
        Candidate,
        foundation=tokens(alphabet=string.digits + string.ascii_lowercase),
        component=st.integers(1, 2),
        protocol=st.sampled_from(["udp", "tcp"]),
        priority=ints32,
        ip=ips,
        port=st.integers(0, 65535),
        type=st.sampled_from(["host", "srflx", "prflx", "relay"]),
        rel_addr=st.none() | ips,
        rel_port=st.none() | st.integers(0, 65535),
        tcptype=st.none() | st.sampled_from(["active", "passive", "so"]),
        generation=st.integers(0, 10),
        network=st.none() | st.integers(0, 50),
        extensions=st.lists(
            st.tuples(st.sampled_from(["ufrag", "network-cost", "x-ext"]), tokens()), max_size=2
        ).map(tuple),
    )


candidates = candidate_strategy()

fingerprints = st.builds(
    Fingerprint,
    st.sampled_from(["sha-1", "sha-256", "sha-512"]),
    st.lists(st.integers(0, 255), min_size=20, max_size=64).map(
        lambda b: ":".join(f"{x:02X}" for x in b)
    ),
)
bandwidths = st.builds(Bandwidth, st.sampled_from(["AS", "TIAS", "CT"]), st.integers(0, 10**9))


@st.composite
def media(draw: st.DrawFn, mid: str) -> Media:
    common = {
        "mid": mid,
        "port": draw(st.sampled_from([9, 0])),
        "direction": draw(st.sampled_from(Direction)),
        "bandwidths": tuple(draw(st.lists(bandwidths, max_size=1))),
        "ufrag": draw(st.none() | tokens(min_size=4, max_size=8)),
        "pwd": draw(st.none() | tokens(min_size=22, max_size=32)),
        "fingerprints": tuple(draw(st.lists(fingerprints, max_size=2))),
        "setup": draw(st.none() | st.sampled_from(Setup)),
        "candidates": tuple(draw(st.lists(candidates, max_size=3))),
        "end_of_candidates": draw(st.booleans()),
        "attributes": tuple(draw(st.lists(attributes, max_size=3))),
    }
    if draw(st.integers(0, 9)) == 0:  # now and then a data channel
        return Media(
            kind="application",
            protocol="UDP/DTLS/SCTP",
            formats=tuple(draw(st.lists(tokens(), min_size=1, max_size=2))),
            **common,
        )
    ids = draw(st.lists(st.integers(0, 127), min_size=1, max_size=5, unique=True))
    found, groups = draw(sources())
    return Media(
        kind=draw(st.sampled_from(["audio", "video"])),
        rtcp_mux=draw(st.booleans()),
        payloads=draw(payload_types(ids)),
        feedback=tuple(draw(st.lists(feedback, max_size=2))),
        trr_int=draw(st.none() | st.integers(0, 5000)),
        header_extensions=tuple(draw(st.lists(header_extensions, max_size=3))),
        extmap_allow_mixed=draw(st.booleans()),
        sources=found,
        source_groups=groups,
        msid=tuple(draw(st.lists(msid_values, max_size=2, unique=True))),
        ptime=draw(st.none() | st.integers(10, 120)),
        maxptime=draw(st.none() | st.integers(10, 120)),
        **common,
    )


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    mids = draw(st.lists(tokens(max_size=6), min_size=1, max_size=4, unique=True))
    found = tuple(draw(media(mid)) for mid in mids)
    groups = tuple(
        draw(
            st.lists(
                st.builds(
                    Group,
                    st.sampled_from(["BUNDLE", "LS"]),
                    st.lists(st.sampled_from(mids), unique=True).map(tuple),
                ),
                max_size=2,
            )
        )
    )
    origin = draw(  # SDP always has one (o=)
        st.builds(Origin, tokens(), st.integers(0, 2**62).map(str), st.integers(0, 9).map(str))
    )
    session = Session(found, groups, origin, tuple(draw(st.lists(attributes, max_size=3))))
    return normalize(session)
