import pytest

from evalsuite.tasks.passkey import PasskeySuite
from evalsuite.types import Generation, Request


@pytest.mark.parametrize("output, key, score", [
    ("12345. Remember it.", "12345", 1.0),
    (" 07", "7", 1.0),                        # yarn compares integers: int("07") == 7
    ("0012345", "12345", 1.0),
    ("1234", "12345", 0.0),
    ("123456", "12345", 0.0),
    ("the key 2 is 12345", "12345", 0.0),     # the first integer counts, as in yarn
    ("no digits", "12345", 0.0),
    ("0", "0", 1.0),
    ("9" * 5000, "12345", 0.0),               # no int() length limit
])
def test_the_first_integer_of_the_output_is_compared_as_a_number(output, key, score):
    req = Request("passkey", "passkey", 256, 0, [1, 2], 10, (key,))
    assert PasskeySuite.__new__(PasskeySuite).score(req, Generation(output, (), 0.0)).score == score
