"""Forwarding calls to provider endpoints. aiohttp, because on this path httpx measured ~20× slower
under 20 concurrent calls (160 vs 3,080 req/s against the same trivial server)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


class ForwardError(Exception):
    """The provider could not be reached or did not answer in time."""


@dataclass
class ProviderReply:
    status: int
    content_type: str
    body: bytes


class Forwarder:
    def __init__(self, *, max_connections: int = 200) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300),
                auto_decompress=True,
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> ProviderReply:
        try:
            async with self._client().post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s),
            ) as reply:
                data = await reply.read()
                return ProviderReply(reply.status, reply.headers.get("content-type", ""), data)
        except (TimeoutError, aiohttp.ClientError) as e:
            raise ForwardError(f"{type(e).__name__} {e}".strip()) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
