"""The one seam between the proxy and the network: send a request to a substation, get its answer.

`Upstream` has one method. The proxy keeps one under an `AppKey`, so tests can put a real
substation app, or a plain function, behind it. Failures come back as the proxy's errors,
split by what they mean for a retry: `UpstreamUnreachable` (nothing was sent: try another
substation), `UpstreamTimeout` and `UpstreamBroken` (it may have been booked: do not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from proxy.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable

# A substation's answer is a session or an error, far under this; more is a broken peer.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Upstream(Protocol):
    async def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> UpstreamAnswer: ...

    async def close(self) -> None: ...


class ClientSessionUpstream:
    """Keep-alive connections to the substations through aiohttp's client."""

    def __init__(self, connect_timeout_s: float, total_timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=total_timeout_s, connect=connect_timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=5)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False
            )
        return self._session

    async def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> UpstreamAnswer:
        try:
            async with self._client().request(
                method, url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                if (response.content_length or 0) > MAX_ANSWER_BYTES:
                    raise UpstreamBroken(f"{url} sent an answer over {MAX_ANSWER_BYTES} bytes")
                answer_body = await response.read()
                return UpstreamAnswer(response.status, response.headers, answer_body)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            raise UpstreamUnreachable(f"cannot reach {url}: {error}") from error
        except TimeoutError as error:
            raise UpstreamTimeout(f"{url} did not answer in time") from error
        except aiohttp.ClientError as error:
            raise UpstreamBroken(f"{url} broke off: {error}") from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
