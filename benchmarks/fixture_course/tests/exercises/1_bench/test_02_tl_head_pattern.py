"""Hidden test for exercise 02: one head's attention pattern from a TransformerBridge's cache."""

import pytest
import torch

from arena_cli.testing import assert_close, seed
from bench_models import tiny_bridge


@pytest.fixture(scope="module")
def model():
    return tiny_bridge(seed=0)


@pytest.fixture(scope="module")
def tokens():
    seed(1)
    return torch.randint(2, 50, (2, 7))


@pytest.fixture(scope="module")
def cache(model, tokens):
    return model.run_with_cache(tokens)[1]


@pytest.mark.parametrize("layer, head", [(0, 1), (1, 3)])
def test_matches_reference(student, reference, model, tokens, cache, layer, head):
    """Matches the reference pattern"""
    assert_close(
        student.head_attention_pattern(model, tokens, layer, head),
        reference.head_attention_pattern(model, tokens, layer, head),
        name=f"head_attention_pattern(model, tokens, layer={layer}, head={head})",
        mistakes={
            "That is the right head of the other layer.": cache["pattern", 1 - layer][:, head],
            "That is the pattern of another head: index the head dimension (dim 1) with `head`.":
                cache["pattern", layer][:, (head + 1) % 4],
        },
    )
