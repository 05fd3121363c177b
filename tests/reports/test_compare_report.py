"""The comparison report: ranking on shared lengths, baseline deltas, best cells, capacity marks,
paper exports, and a 3 models x 4 RoPE settings x 3 suites page rendered in headless Chromium."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.reports import render_report
from evalsuite.run.store import ResultStore
from tests.helpers.browser import dump_dom, screenshot
from tests.helpers.suites import record

ROOT = Path(__file__).resolve().parents[2]
K = 1024
MODELS = ("/m/llama-7b", "/m/mistral-7b", "/m/qwen-7b")
ROPES = {"none": 4 * K, "pi:factor=4": 16 * K, "ntk:factor=4": 16 * K, "yarn:factor=4": 16 * K}
LENGTHS = (4 * K, 8 * K, 16 * K, 32 * K)
RULER_TASKS = ("niah_single_1", "vt", "cwe")
EVIL = '<script>alert("x")</script>'


def _quality(model: str, rope: str, length: int) -> float:
    """A made-up but RoPE-dependent pass probability."""
    cap = ROPES[rope]
    base = {"none": 0.95, "pi:factor=4": 0.8, "ntk:factor=4": 0.88, "yarn:factor=4": 0.93}[rope]
    base -= 0.05 * MODELS.index(model)
    return base if length <= 4 * K else base * (0.9 if length <= cap else 0.2)


def _write_run(run: Path, model: str, rope: str, lengths=LENGTHS, timings: bool = True) -> None:
    recs = []
    cap = ROPES[rope]
    for length in lengths:
        q = _quality(model, rope, length)
        for i in range(4):
            ok = float(i < round(4 * q))
            for task in RULER_TASKS:
                recs.append(record(model=model, rope=rope, suite="ruler", task=task, length=length, index=i,
                                   output="x" if ok else EVIL, score=ok, seconds=0.2, references=("x",),
                                   capacity=cap, trained_length=4 * K))
            recs.append(record(model=model, rope=rope, suite="passkey", task="passkey", length=length, index=i,
                               depth=50.0, output="123", score=ok, seconds=0.1, references=("123",),
                               capacity=cap, trained_length=4 * K))
        for d, depth in enumerate((0.0, 25.0, 50.0, 75.0, 100.0)):
            ok = float(depth == 0.0 or (d / 5) < q)
            recs.append(record(model=model, rope=rope, suite="niah", task="niah", length=length, index=d,
                               depth=depth, output="sandwich", score=ok, seconds=0.3, references=("sandwich",),
                               capacity=cap, trained_length=4 * K))
    ResultStore(run).append(recs)
    if timings:
        setting = recs[0].setting
        (run / "timings.jsonl").write_text(json.dumps({
            "setting": setting, "rope": rope, "backend_init_s": 1.5, "engine_loads": [["engine", 12.0]],
            "samples": len(recs), "seconds_per_sample": 0.25}) + "\n")


def _table_after(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    return page[start:page.index("</table>", start)]


def _rows(table: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]


def _label(model: str, rope: str) -> str:
    return f"{model.rsplit('/', 1)[-1]} / hf / {rope}"


# -- ranking on common lengths ------------------------------------------------------------------

def _uneven(tmp_path):
    """A ran 4k and 10k; B ran only 10k (and is good there); C has 100 at 4k and 0 at 10k."""
    plan = {"a": {4096: 0.5, 10240: 0.5}, "b": {10240: 1.0}, "c": {4096: 1.0, 10240: 0.0}}
    dirs = []
    for name, scores in plan.items():
        recs = [record(model=f"/m/{name}", rope="none", suite="passkey", task="passkey", length=n, index=i,
                       score=float(i < 2 * s), output="1", capacity=8192, trained_length=4096)
                for n, s in scores.items() for i in range(2)]
        d = tmp_path / name
        ResultStore(d).append(recs)
        dirs.append(d)
    return dirs


def test_rank_uses_only_the_lengths_every_setting_ran(tmp_path):
    from evalsuite.reports.tables import rank
    from evalsuite.run.store import ResultStore as Store
    from evalsuite.run.summary import summarize
    records = [r for d in _uneven(tmp_path) for r in Store(d).records()]
    r = rank(summarize(records), higher_is_better=True)
    assert r.common == [10240]
    order = list(r.scores.index)
    # B (only 10k, 100 there) ranks first on 10k by merit; C (100 at 4k, 0 at 10k) is compared on 10k
    # only, so it is last, below A (50 at 10k) -- not lifted by the 4k that B never ran
    assert order == ["b / hf / none", "a / hf / none", "c / hf / none"]
    assert r.mean["c / hf / none"] == 0.0


def test_a_setting_run_only_at_a_short_length_does_not_rank_first(tmp_path):
    """A setting run only at 4k (100 there) against two run at 4k and 10k: compared on 4k only."""
    from evalsuite.reports.tables import rank
    from evalsuite.run.summary import summarize
    recs = []
    for name, scores in {"short": {4096: 1.0}, "long": {4096: 1.0, 10240: 1.0}, "mid": {4096: 0.5, 10240: 0.5}}.items():
        recs += [record(model=f"/m/{name}", rope="none", suite="passkey", task="passkey", length=n, index=i,
                        score=float(i < 2 * s), output="1") for n, s in scores.items() for i in range(2)]
    r = rank(summarize(recs), higher_is_better=True)
    assert r.common == [4096]
    assert list(r.scores.index)[-1] == "mid / hf / none"
    assert r.mean["short / hf / none"] == r.mean["long / hf / none"] == 100.0
    assert list(r.scores.index)[0] == "long / hf / none"        # ties broken by label, not by fewer lengths


def test_page_ranks_on_common_lengths_and_says_which(tmp_path):
    dirs = _uneven(tmp_path)
    out = tmp_path / "r.html"
    render_report(dirs, out, baseline="a / hf / none")
    page = out.read_text()
    table = _table_after(page, "passkey-passkey")
    rows = _rows(table)
    assert [re.search(r'class="name[^"]*">([^<]+)<', r).group(1) for r in rows] == \
        ["b / hf / none", "a / hf / none", "c / hf / none"]
    assert "mean (10k)" in table
    assert "Ranked by the mean over the lengths every setting ran (10k)" in page


# -- deltas, best cells, capacity ----------------------------------------------------------------

def test_baseline_deltas_best_cells_and_capacity_marks(tmp_path):
    dirs = _uneven(tmp_path)
    out = tmp_path / "r.html"
    render_report(dirs, out, baseline="c / hf / none")
    rows = _rows(_table_after(out.read_text(), "passkey-passkey"))
    by_name = {re.search(r'class="name[^"]*">([^<]+)<', r).group(1): r for r in rows}
    # deltas against C at 10k (0): B +100, A +50; C itself carries no delta and is the baseline
    assert '<span class="delta">+100.0</span>' in by_name["b / hf / none"]
    assert '<span class="delta">+50.0</span>' in by_name["a / hf / none"]
    assert 'class="name base"' in by_name["c / hf / none"] and "delta" not in by_name["c / hf / none"]
    # best cell per length: C at 4k (100), B at 10k (100)
    assert re.search(r'class="best over"[^>]*>100\.0', by_name["b / hf / none"])
    assert re.search(r'class="best"[^>]*>100\.0', by_name["c / hf / none"])
    # 10k is past the capacity of 8k: flagged with the dagger and the class
    assert "\u2020" in by_name["a / hf / none"] and 'class="over"' in by_name["a / hf / none"]


def test_default_baseline_is_the_first_label_and_unknown_baseline_is_an_error(tmp_path):
    from evalsuite.types import EvalError
    dirs = _uneven(tmp_path)
    out = tmp_path / "r.html"
    render_report(list(reversed(dirs)), out)
    assert "baseline setting: a / hf / none" in out.read_text()
    with pytest.raises(EvalError, match="not a setting of these runs"):
        render_report(dirs, out, baseline="nope")


def test_standard_errors_are_shown(tmp_path):
    dirs = _uneven(tmp_path)
    out = tmp_path / "r.html"
    render_report(dirs, out)
    assert "50.0 \u00b1 50.0" in out.read_text()      # two samples, 0 and 1


# -- exports ------------------------------------------------------------------------------------

@pytest.mark.integration
def test_figures_and_tables_export_for_papers(tmp_path):
    import pandas as pd
    from PIL import Image
    a, b = tmp_path / "a", tmp_path / "b"
    _write_run(a, MODELS[0], "yarn:factor=4")
    _write_run(b, MODELS[1], "none", lengths=(4 * K, 8 * K))
    figs = tmp_path / "figs"
    render_report([a, b], tmp_path / "r.html", figures=figs)
    names = {p.name for p in figs.iterdir()}
    for stem in ("ruler-average", "passkey-passkey", "niah-niah", "heatmap-niah-niah"):
        png, pdf = figs / f"{stem}.png", figs / f"{stem}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        w, h = Image.open(png).size
        assert w > 600 and h > 300
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF") and b"/Type /Page" in data
    for stem in ("ruler-average", "passkey-passkey", "settings", "timings", "ruler-vt"):
        frame = pd.read_csv(figs / f"{stem}.csv")
        assert len(frame) == 2
        assert "\\begin{tabular}" in (figs / f"{stem}.tex").read_text()
        assert (figs / f"{stem}.md").read_text().count("\n|") >= 3
    avg = pd.read_csv(figs / "ruler-average.csv")
    assert {"setting", "rank", "4k", "4k_stderr", "mean_common", "capacity"} <= set(avg.columns)
    assert "effective length (>= 85.6)" in avg.columns
    assert "\\textbf{" in (figs / "ruler-average.tex").read_text()
    assert sorted(names) == sorted({*names})                   # stable, plain names


@pytest.mark.integration
def test_figure_names_are_stable_across_renders(tmp_path):
    a = tmp_path / "a"
    _write_run(a, MODELS[0], "yarn:factor=4", lengths=(4 * K,))
    first, second = tmp_path / "f1", tmp_path / "f2"
    render_report([a], tmp_path / "1.html", figures=first)
    render_report([a], tmp_path / "2.html", figures=second)
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())
    assert (tmp_path / "1.html").read_text() == (tmp_path / "2.html").read_text()     # a pure function


# -- views --------------------------------------------------------------------------------------

def test_backends_agree_view(tmp_path):
    recs = []
    for backend, score in (("hf", 1.0), ("vllm", 0.5)):
        recs += [record(model="/m/x", backend=backend, rope="yarn:factor=4", suite="passkey", task="passkey",
                        length=4096, index=i, score=float(i < 2 * score), output="1") for i in range(2)]
    ResultStore(tmp_path / "run").append(recs)
    out = tmp_path / "r.html"
    render_report([tmp_path / "run"], out)
    page = out.read_text()
    assert "Backends agree? x / hf / yarn:factor=4 vs x / vllm / yarn:factor=4" in page
    assert "-50.0" in page and "Largest |difference|: 50.0" in page


def test_timings_from_timings_jsonl_or_records(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write_run(a, MODELS[0], "none", lengths=(4 * K,))
    _write_run(b, MODELS[1], "none", lengths=(4 * K,), timings=False)
    out = tmp_path / "r.html"
    render_report([a, b], out)
    timing = _table_after(out.read_text(), "timings")
    assert "13.5" in timing and "0.250" in timing and "timings.jsonl" in timing
    assert "records (no timings.jsonl)" in timing


def test_single_length_series_is_a_visible_marker(tmp_path):
    """One length: the chart still draws a marker (a path with a marker `use`), and the heatmap with
    one length column keeps its axis labels."""
    from evalsuite.reports.figures import Point, Series, length_chart, to_svg
    fig = length_chart([Series("only", (Point(4096, 80.0, False),), 8192)], "accuracy", "t", trained=[4096],
                       y_range=(0, 100), log_y=False)
    svg = to_svg(fig, "t")
    assert "<use" in svg and "4k" in svg and "trained 4k" in svg


def test_longbench_averages_per_language():
    from evalsuite.run.summary import summarize
    scores = {"hotpotqa": 1.0, "trec": 0.5, "lcc": 0.0, "dureader": 1.0}
    recs = [record(suite="longbench", task=ds, length=4096, index=0, score=s, output="o")
            for ds, s in scores.items()]
    cells = {c.task: c.score for c in summarize(recs) if c.task in ("avg_en", "avg_zh")}
    # English: multi_doc (hotpotqa 100), few_shot (trec 50), code (lcc 0) -> 50; Chinese: dureader 100, code 0
    assert cells == {"avg_en": 50.0, "avg_zh": 50.0}


def test_import_stays_light():
    code = ("import sys, evalsuite, evalsuite.cli, evalsuite.run.runner, evalsuite.reports.blocks; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'torch', 'vllm', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr


# -- the whole page in a browser -----------------------------------------------------------------

@pytest.fixture(scope="module")
def grid_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid")
    dirs = []
    for model in MODELS:
        for rope in ROPES:
            d = tmp / f"{model.rsplit('/', 1)[-1]}-{rope.split(':')[0]}"
            _write_run(d, model, rope)
            dirs.append(d)
    out = tmp / "compare.html"
    render_report(dirs, out, baseline=_label(MODELS[0], "none"))
    return out


def test_grid_report_is_one_self_contained_page(grid_report):
    page = grid_report.read_text()
    assert EVIL not in page and "&lt;script&gt;" in page
    assert "<script" not in page.replace("&lt;script", "")
    assert "http://" not in page and "https://" not in page and "<img" not in page
    for model in MODELS:
        for rope in ROPES:
            assert _label(model, rope) in page
    assert "effective length (&gt;= 85.6)" in page


@pytest.mark.integration
def test_grid_report_renders_in_headless_chromium(grid_report, tmp_path):
    shot = tmp_path / "shot.png"
    screenshot(grid_report, shot, tmp_path / "p1", "1280,2400")
    from PIL import Image
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 2400) and len(set(img.getdata())) > 200          # not a blank page
    if os.environ.get("EVALSUITE_KEEP_SHOT"):
        shutil.copy(shot, os.environ["EVALSUITE_KEEP_SHOT"])
    dom = dump_dom(grid_report, tmp_path / "p2")
    for heading in ("Settings compared", "Headline results", "RULER: average over its tasks", "passkey / passkey",
                    "niah / niah", "Needle in a haystack", "Timings", "Per task", "ruler / vt", "Suite tables",
                    "RULER summary", "Sample outputs", "Runs"):
        assert f">{heading}</h" in dom, heading
    assert "alert(" in dom and "<script>alert" not in dom
