"""Hidden test for patch_blocks: (what it checks, on what inputs)."""

import torch

from arena_cli.testing import assert_close, call_student


def test_matches_the_reference(student, reference):
    """Matches the reference on a small seeded input"""
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    assert_close(call_student(student.patch_blocks, x), reference.patch_blocks(x), name="patch_blocks(x)", mistakes={})
