"""The installed command in a new interpreter: what only a real process shows (the entry point, exit
codes, one-line errors on the real stderr). Everything else runs `main()` in process (tests.helpers.cli)."""
from tests.helpers.cli import evalsuite_process


def test_version_and_list_through_the_module_entry_point(tmp_path):
    res = evalsuite_process(["--version"], tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("evalsuite ")
    res = evalsuite_process(["list"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "passkey" in res.stdout and "ruler" in res.stdout and "yarn" in res.stdout and "vllm-server" in res.stdout


def test_a_bad_flag_is_one_line_and_exit_code_2_in_a_real_process(tmp_path):
    res = evalsuite_process(["run", "--lengths", "4k..1k", "--out", str(tmp_path / "o")], tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stderr.startswith("evalsuite: error:") and not (tmp_path / "o").exists()
