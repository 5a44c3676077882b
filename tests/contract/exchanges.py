"""Record every request an adapter sends together with the fake's answer, for contract checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.serving import RecordingTransport, SentRequest


@dataclass(frozen=True)
class Exchange(SentRequest):
    """One request sent and its answer: the status and the decoded JSON (None when empty)."""

    status: int
    answer: Any


class ExchangeRecorder(RecordingTransport):
    """A ``RecordingTransport`` that also keeps each answer's status and JSON body."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        raw = await response.aread()
        answer = json.loads(raw) if raw.strip() else None
        self.exchanges.append(
            Exchange(**vars(self.sent[-1]), status=response.status_code, answer=answer)
        )
        return response
