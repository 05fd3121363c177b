"""The report is one self-contained page, escapes model output, and renders in a real browser."""

import pytest

from evalsuite.reports import render_report
from evalsuite.reports.svg import heat_color
from evalsuite.run.store import ResultStore
from tests.helpers.browser import dump_dom, screenshot
from tests.helpers.suites import record

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _records(rope, good):
    out = []
    for length in (256, 512, 1024):
        for depth in (0.0, 50.0, 100.0):
            score = 1.0 if (good and length <= 512) or depth == 0 else 0.0
            out.append(record(rope=rope, suite="niah", task="niah", length=length, index=int(depth), depth=depth,
                              prompt_tokens=length - 32, output=EVIL if score == 0 else "eat a sandwich",
                              score=score, seconds=0.1, references=("eat a sandwich",)))
        out.append(record(rope=rope, suite="passkey", task="passkey", length=length, depth=50.0,
                          prompt_tokens=length - 10, output="123", score=float(good), seconds=0.1,
                          references=("123",)))
    return out


@pytest.fixture
def report(tmp_path):
    a, b = tmp_path / "yarn", tmp_path / "none"
    ResultStore(a).append(_records("yarn:factor=4", True))
    ResultStore(b).append(_records("none", False))
    path = tmp_path / "compare.html"
    render_report([a, b], path)
    return path


def test_report_is_self_contained_and_escaped(report):
    page = report.read_text()
    assert EVIL not in page and "&lt;script&gt;" in page                  # escaped, not executed
    assert "<script" not in page.replace("&lt;script", "")                # and no scripts of our own
    assert "http://" not in page and "https://" not in page               # nothing loaded from outside
    assert page.count("<svg") == 1 + 2                         # the heatmaps side by side in one figure + 2 charts
    assert "yarn:factor=4" in page and "none" in page
    assert heat_color(0.0) in page and heat_color(1.0) in page            # red and green cells


def test_heat_colors_follow_the_reference_map():
    assert heat_color(0.0) == "#f0496e" and heat_color(0.5) == "#ebb839" and heat_color(1.0) == "#0cd79f"


@pytest.mark.integration
def test_report_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    screenshot(report, shot, tmp_path / "profile", "1200,8000")
    assert shot.exists() and shot.stat().st_size > 10_000
    from PIL import Image
    img = Image.open(shot).convert("RGB")
    colors = set(img.getdata())
    # the heatmap's red and green cells really are painted
    assert (0xF0, 0x49, 0x6E) in colors and (0x0C, 0xD7, 0x9F) in colors
    dom = dump_dom(report, tmp_path / "profile2")
    assert "<img src" not in dom and "alert(" in dom                     # the payload stayed text
