import pytest

from evalsuite.config.lengths import format_length, parse_length, parse_lengths
from evalsuite.types import EvalError


@pytest.mark.parametrize("text,expected", [
    ("4k..128k", [4096, 8192, 16384, 32768, 65536, 131072]),
    ("4k,8k,32k", [4096, 8192, 32768]),
    ("256..2k", [256, 512, 1024, 2048]),
    ("1500", [1500]),
    ("8k,4k,4k", [4096, 8192]),
    ("1.5k", [1536]),
])
def test_grids(text, expected):
    assert parse_lengths(text) == expected


def test_linear_grid_matches_the_niah_reference():
    grid = parse_lengths("1000..16000/35")          # round(linspace(1000, 16000, 35))
    assert len(grid) == 35 and grid[0] == 1000 and grid[-1] == 16000
    assert grid[1] == round(1000 + 15000 / 34)


@pytest.mark.parametrize("bad", ["", "4x", "0", "-4k", "8k..4k", "4k..12k", "1k..16k/1", "1k..16k/x", "0.3"])
def test_bad_grids_are_one_line_errors(bad):
    with pytest.raises(EvalError) as e:
        parse_lengths(bad)
    assert "\n" not in str(e.value)


def test_format():
    assert format_length(4096) == "4k" and format_length(1500) == "1500" and parse_length("2k") == 2048
