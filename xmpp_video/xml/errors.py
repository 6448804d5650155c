"""The one exception of the XML stream layer, carrying the stream error to answer with."""

from xmpp_video.stanza.conditions import StreamErrorCondition


class XmlStreamError(Exception):
    """The XML stream is broken beyond repair.

    ``condition`` is the RFC 6120 §4.9.3 stream error to send (``stream_error(condition, text)``)
    before closing the stream; ``text`` is a human explanation, possibly empty. The parser that
    raised it is dead: every later ``feed()`` raises again.

    Conditions raised by ``StreamParser``: ``not-well-formed``, ``restricted-xml``,
    ``unsupported-encoding``, ``bad-format`` and ``policy-violation``.
    """

    condition: StreamErrorCondition
    text: str

    def __init__(self, condition: StreamErrorCondition, text: str = "") -> None:
        super().__init__(condition, text)
        self.condition = condition
        self.text = text

    def __str__(self) -> str:
        return f"{self.condition}: {self.text}" if self.text else str(self.condition)
