"""A pool of OpenAI-compatible HTTP endpoints sharing one work queue (data parallel).

Used by `--backend openai` (endpoints the user runs) and `--backend vllm-server` (servers
evalsuite starts); it knows HTTP, retries and queues, nothing about suites:

    pool = EndpointPool(["http://127.0.0.1:8000", ...], concurrency=8, timeout=600.0,
                        api_key=None, retry=RetryPolicy())
    pool.get_json("/v1/models")          # {url: JSON} from every endpoint (retried like any request)
    for done in pool.run(jobs, chunk=64):  # jobs: an iterable of Job, consumed lazily
        store(done)                      # done: [(Job, response JSON)] in the order they finished
    pool.close()

Every live endpoint runs `concurrency` workers that pull from one queue, so a fast endpoint
takes more work than a slow one. A request that fails transiently (connection error, timeout,
HTTP 408, 429 or 5xx) is retried on the same endpoint after an exponential backoff with
jitter (a 429's Retry-After is honoured up to the cap). A request that fails `retry.retries`
more times there, with no other request succeeding on that endpoint meanwhile, marks the
endpoint dead: its workers stop and their requests go back to the queue for the others.
The run goes on while one endpoint lives; when none does, `run` raises a one-line EvalError.
A permanent refusal (any other 4xx) is a one-line EvalError naming the request (`Job.name`)
and the endpoint. Results come back in chunks as they finish, so the caller can store them
as they arrive: a killed run loses only the requests in flight.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from evalsuite.types import EvalError

TRANSIENT_STATUS = frozenset({408, 429})      # and every 5xx
POISON_TRIES = 4       # rounds of retries one request gets on an endpoint that answers others


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try an endpoint before giving it up (delays in seconds)."""

    retries: int = 6               # failed attempts of one request on one endpoint beyond the first
    backoff: float = 1.0           # the first delay; doubles with each failure of the request
    max_backoff: float = 30.0      # the longest delay (also caps a 429's Retry-After)
    jitter: float = 0.5            # each delay is drawn from [1 - jitter, 1] x its nominal value

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        jittered = min(self.max_backoff, self.backoff * 2 ** (failures - 1)) * random.uniform(1.0 - self.jitter, 1.0)
        return jittered if retry_after is None else min(self.max_backoff, max(jittered, retry_after))


@dataclass(eq=False)
class Job:
    """One request: `name` says which sample it is in errors (e.g. "passkey/passkey length 4096 #3");
    `tag` is the caller's own (e.g. the position of the sample in its list)."""

    name: str
    path: str                      # e.g. "/v1/completions"
    body: dict[str, Any]
    tag: Any = None


class _Transient(Exception):
    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


@dataclass(eq=False)
class _Endpoint:
    url: str
    client: httpx.AsyncClient | None = None
    alive: bool = True
    last_success: float = 0.0
    last_error: str = ""
    served: int = 0                # requests answered (for the throughput figures)
    busy_s: float = 0.0            # seconds with at least one request in flight
    in_flight: int = 0
    _mark: float = 0.0
    workers: list[asyncio.Task[None]] = field(default_factory=list)

    def track(self, delta: int) -> None:
        """Count a request going out (+1) or coming back (-1), adding up the busy time."""
        now = time.monotonic()
        if self.in_flight > 0:
            self.busy_s += now - self._mark
        self._mark, self.in_flight = now, self.in_flight + delta


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return float(resp.headers["retry-after"])
    except (KeyError, ValueError):
        return None


class EndpointPool:
    def __init__(self, urls: Iterable[str], concurrency: int = 8, timeout: float = 600.0,
                 api_key: str | None = None, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        """`urls`: base URLs such as http://host:8000 (a trailing /v1 is accepted and dropped);
        `timeout`: seconds per request; `transport`: tests only (an httpx.MockTransport)."""
        given = [_base_url(u) for u in urls]
        # user:password@ leaves the URL (which messages, run.json and reports show) for the client's auth
        self.urls = [_without_credentials(u)[0] for u in given]
        self._auth = {url: creds for url, creds in map(_without_credentials, given) if creds is not None}
        if not self.urls:
            raise EvalError("no endpoint given: pass --endpoint URL (repeatable)")
        if len(set(self.urls)) != len(self.urls):
            raise EvalError(f"an endpoint is given twice: {self.urls}")
        if concurrency < 1 or timeout <= 0:
            raise EvalError(f"concurrency must be at least 1 and the timeout positive (got {concurrency}, {timeout})")
        self.concurrency, self.timeout, self.retry = concurrency, timeout, retry or RetryPolicy()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = transport
        self._loop = asyncio.new_event_loop()
        self.endpoints = [_Endpoint(u) for u in self.urls]
        self._active: _Run | None = None

    def auth_headers(self, url: str) -> dict[str, str]:
        """The headers another client needs for `url` (lm-eval's): the API key, else basic auth."""
        if self._headers:
            return dict(self._headers)
        creds = self._auth.get(url)
        if creds is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(":".join(creds).encode()).decode()}

    # ---- synchronous interface -------------------------------------------------------------

    def get_json(self, path: str) -> dict[str, Any]:
        """GET `path` from every live endpoint: {url: JSON}. An endpoint that fails past the
        retries, or refuses, is a one-line EvalError naming it."""
        async def all_of() -> list[Any]:
            return await asyncio.gather(*(self._get(ep, path) for ep in self.endpoints if ep.alive))
        answers = self._loop.run_until_complete(all_of())
        return dict(zip([ep.url for ep in self.endpoints if ep.alive], answers))

    def get_raw(self, url: str, path: str) -> tuple[int, Any]:
        """One GET to one endpoint, retried on transient failures: (status, JSON or message)."""
        return self._once(url, "GET", path, None)

    def post_json(self, url: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """One POST to one endpoint, retried on transient failures: (status, JSON or text).
        A 4xx comes back to the caller (a capability probe wants to see it)."""
        return self._once(url, "POST", path, body)

    def _once(self, url: str, method: str, path: str, body: Any) -> tuple[int, Any]:
        ep = next(e for e in self.endpoints if e.url == url)

        async def attempt() -> tuple[int, Any]:
            resp = await self._send(ep, method, path, body)
            return resp.status_code, _json(resp) if resp.status_code < 400 else _message(resp)
        try:
            return self._loop.run_until_complete(self._retried(ep, f"{method} {path}", attempt))
        except _Dead:
            raise EvalError(f"endpoint {url} does not answer {method} {path} after {self.retry.retries + 1} tries "
                            f"({ep.last_error})") from None

    def run(self, jobs: Iterable[Job], chunk: int = 64) -> Iterator[list[tuple[Job, Any]]]:
        """Send every job through the shared queue; yield lists of at most `chunk` (job, JSON)
        pairs as they finish. Raises EvalError on a permanent refusal or when every endpoint is dead."""
        state = self._active = _Run(self, iter(jobs))
        self._loop.run_until_complete(state.start())
        try:
            while True:
                done = self._loop.run_until_complete(state.next_chunk(chunk))
                if not done:
                    return
                yield done
        finally:
            self._end_run()

    def _end_run(self) -> None:
        if self._active is not None and not self._loop.is_closed():
            self._loop.run_until_complete(self._active.stop())
        self._active = None

    def close(self) -> None:
        async def shut() -> None:
            for ep in self.endpoints:
                if ep.client is not None:
                    await ep.client.aclose()
                    ep.client = None
        if not self._loop.is_closed():
            self._end_run()             # a run abandoned half-way (an error in the caller): stop its workers
            self._loop.run_until_complete(shut())
            self._loop.close()

    # ---- one request, with retries -----------------------------------------------------------

    def _client(self, ep: _Endpoint) -> httpx.AsyncClient:
        if ep.client is None:
            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            ep.client = httpx.AsyncClient(base_url=ep.url, headers=self._headers, timeout=self.timeout,
                                          limits=limits, transport=self._transport, auth=self._basic_auth(ep.url))
        return ep.client

    def _basic_auth(self, url: str) -> httpx.BasicAuth | None:
        creds = self._auth.get(url)
        return httpx.BasicAuth(*creds) if creds else None

    async def _send(self, ep: _Endpoint, method: str, path: str, body: Any) -> httpx.Response:
        ep.track(+1)
        try:
            resp = await self._client(ep).request(method, path, json=body)
        except httpx.TransportError as e:          # refused, reset, dropped mid-answer, timed out
            raise _Transient(f"{type(e).__name__}: {str(e)[:160] or 'no detail'}") from None
        finally:
            ep.track(-1)
        if resp.status_code in TRANSIENT_STATUS or resp.status_code >= 500:
            raise _Transient(f"HTTP {resp.status_code}: {_message(resp)}", _retry_after(resp))
        return resp

    async def _get(self, ep: _Endpoint, path: str) -> Any:
        async def once() -> Any:
            resp = await self._send(ep, "GET", path, None)
            if resp.status_code >= 400:
                raise EvalError(f"endpoint {ep.url} answered GET {path} with HTTP {resp.status_code}: "
                                f"{_message(resp)}")
            return _json(resp)
        try:
            return await self._retried(ep, f"GET {path}", once)
        except _Dead:
            raise EvalError(f"endpoint {ep.url} does not answer GET {path} after {self.retry.retries + 1} "
                            f"tries ({ep.last_error}): is the server running at that address?") from None

    async def _post(self, ep: _Endpoint, path: str, body: dict[str, Any]) -> Any:
        resp = await self._send(ep, "POST", path, body)
        if resp.status_code >= 400:
            raise _Refused(f"HTTP {resp.status_code}: {_message(resp)}")
        return _json(resp)

    async def _retried(self, ep: _Endpoint, what: str, attempt: Any) -> Any:
        """Call `attempt()` until it succeeds; after `retries` + 1 failures with no other success on
        the endpoint meanwhile, the endpoint is dead (_Dead)."""
        failures, total, since = 0, 0, time.monotonic()
        while True:
            try:
                answer = await attempt()
            except _Transient as e:
                failures, total = failures + 1, total + 1
                ep.last_error = str(e)
                if failures > self.retry.retries:
                    if ep.last_success <= since:
                        raise _Dead() from None
                    if total > POISON_TRIES * (self.retry.retries + 1):
                        raise EvalError(f"endpoint {ep.url} failed {what} {total} times while answering other "
                                        f"requests (last: {e}): the request itself is the problem") from None
                    failures, since = 0, time.monotonic()   # the endpoint lives: another round for this request
                await asyncio.sleep(self.retry.delay(max(failures, 1), e.retry_after))
                continue
            ep.last_success = time.monotonic()
            return answer


class _Dead(Exception):
    """The endpoint failed past its retries."""


class _Refused(Exception):
    """A permanent 4xx: the caller names the request."""


class _Run:
    """The state of one `EndpointPool.run`: the queue, the workers and the finished jobs."""

    def __init__(self, pool: EndpointPool, jobs: Iterator[Job]) -> None:
        self.pool, self.jobs = pool, jobs
        self.returned: collections.deque[Job] = collections.deque()   # jobs of dead endpoints, first out
        self.results: asyncio.Queue[tuple[Job, Any] | BaseException] = asyncio.Queue()
        self.wakeup = asyncio.Event()
        self.taken = self.finished = 0
        self.exhausted = False

    async def start(self) -> None:
        live = [ep for ep in self.pool.endpoints if ep.alive]
        if not live:
            raise EvalError(self._all_dead())
        for ep in live:
            ep.workers = [asyncio.ensure_future(self._worker(ep)) for _ in range(self.pool.concurrency)]

    def _take(self) -> Job | None:
        if self.returned:
            return self.returned.popleft()
        if not self.exhausted:
            job = next(self.jobs, None)
            if job is not None:
                self.taken += 1
                return job
            self.exhausted = True
        return None

    async def _worker(self, ep: _Endpoint) -> None:
        while ep.alive:
            job = self._take()
            if job is None:
                if self.exhausted and self.finished == self.taken:
                    return
                self.wakeup.clear()
                await self.wakeup.wait()        # a dead endpoint may hand back work
                continue
            try:
                answer = await self.pool._retried(ep, job.name, lambda j=job: self.pool._post(ep, j.path, j.body))
            except _Dead:
                self.returned.appendleft(job)
                self._bury(ep)
                return
            except _Refused as e:
                self.results.put_nowait(EvalError(f"endpoint {ep.url} refused request {job.name}: {e}"))
                return
            except EvalError as e:
                self.results.put_nowait(e)
                return
            except asyncio.CancelledError:
                if not (self.exhausted and self.finished == self.taken):
                    self.returned.appendleft(job)      # its endpoint died while it was in flight
                    self.wakeup.set()
                raise
            ep.served += 1
            self.finished += 1
            self.results.put_nowait((job, answer))
            if self.exhausted and self.finished == self.taken:
                self.wakeup.set()

    def _bury(self, ep: _Endpoint) -> None:
        """Mark `ep` dead: its other workers stop and hand their jobs back to the queue."""
        ep.alive = False
        me = asyncio.current_task()
        for task in ep.workers:
            if task is not me:
                task.cancel()
        self.wakeup.set()
        if not any(e.alive for e in self.pool.endpoints):
            self.results.put_nowait(EvalError(self._all_dead()))

    def _all_dead(self) -> str:
        why = "; ".join(f"{ep.url} ({ep.last_error or 'dead'})" for ep in self.pool.endpoints)
        return (f"every endpoint failed past its retries: {why}; the finished samples are stored: "
                "rerun the same command to resume once a server answers")

    async def next_chunk(self, chunk: int) -> list[tuple[Job, Any]]:
        done: list[tuple[Job, Any]] = []
        while len(done) < chunk:
            if self.exhausted and self.finished == self.taken and self.results.empty():
                break
            if done and self.results.empty():
                break
            item = await self.results.get()
            if isinstance(item, BaseException):
                raise item
            done.append(item)
        return done

    async def stop(self) -> None:
        tasks = [t for ep in self.pool.endpoints for t in ep.workers if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ep in self.pool.endpoints:
            ep.workers = []


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        shown = _without_credentials(url)[0] if "://" in url else url
        raise EvalError(f"endpoint {shown!r} is not an http(s) URL (e.g. http://127.0.0.1:8000)")
    return url[:-3] if url.endswith("/v1") else url


def _without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL with any user:password@ removed, and those credentials (for HTTP basic auth)."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    userinfo, at, hostport = host.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    from urllib.parse import unquote
    return f"{scheme}{sep}{hostport}{slash}{path}", (unquote(user), unquote(password))


def _message(resp: httpx.Response) -> str:
    """The server's error message, on one line."""
    try:
        data = resp.json()
        msg = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(msg, dict):
            msg = msg.get("message", msg)
        text = str(msg)
    except ValueError:
        text = resp.text
    return " ".join(text.split())[:300] or resp.reason_phrase


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:     # a 200 cut short or garbled on the way: worth another try
        raise _Transient(f"HTTP {resp.status_code} with a body that is not JSON") from None
