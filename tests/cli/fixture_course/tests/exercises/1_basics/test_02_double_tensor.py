import torch

from arena_cli.testing import assert_close


def test_matches_reference(student, reference):
    """Doubles every entry"""
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert_close(
        student.double(x),
        reference.double(x),
        name="double(x)",
        mistakes={"You added 2 instead of multiplying by 2.": x + 2},
    )
