"""What one streamed reply looked like to a client, the same record for the direct and gateway paths."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from .common import TOKEN_RE


@dataclass
class StreamResult:
    sent_ns: int = 0  # the request (or user message) left the client
    first_ns: int = 0  # the first token arrived
    end_ns: int = 0  # the stream (or turn) ended
    tokens: int = 0  # model tokens received, counted by content
    frames: int = 0  # delta frames / SSE content lines that carried them
    expected: int = 0
    latencies_ns: array = field(default_factory=lambda: array("q"))  # receive - send, per token
    first_send_ns: int = 0  # when the model sent the first token
    last_send_ns: int = 0
    error: str | None = None
    session_id: str | None = None
    last_seq: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    #: when set (an empty array), the model's send time of every token too, in order (the burst
    #: scenario splits a background stream's latencies by when the tokens were sent)
    sends_ns: array | None = None

    def take(self, text: str, received_ns: int) -> None:
        """Account the tokens carried by one frame received at ``received_ns``."""
        found = TOKEN_RE.findall(text)
        if not found:
            return
        if not self.first_ns:
            self.first_ns = received_ns
            self.first_send_ns = int(found[0][1])
        lat = self.latencies_ns
        sends = self.sends_ns
        for _, sent in found:
            lat.append(received_ns - int(sent))
            if sends is not None:
                sends.append(int(sent))
        self.last_send_ns = int(found[-1][1])
        self.tokens += len(found)
        self.frames += 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.tokens)


def directive(tokens: int, rate: float) -> str:
    """The user message that tells the fake model what to stream."""
    return f"BENCH n={tokens} rate={rate:g}"
