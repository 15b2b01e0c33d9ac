"""Hidden test for exercise 03: a block's output saved inside an nnsight trace."""

import pytest

from arena_cli.testing import assert_close, check
from bench_models import tiny_nnsight_gptj

PROMPT = "the cat sat on the mat and then it ran"


@pytest.fixture(scope="module")
def model():
    return tiny_nnsight_gptj(seed=0)


@pytest.fixture(scope="module")
def blocks(model):
    """[(input, output) of block 0, (input, output) of block 1], read in one trace. Within a trace,
    nnsight needs modules read in the order they run; and a list comprehension inside the block would
    not bring its result out of it (nnsight 0.8.1), a loop appending to a list made before does."""
    saved = []
    with model.trace(PROMPT):
        for block in model.transformer.h:
            saved.append((block.input.save(), block.output.save()))
    return saved


@pytest.mark.parametrize("layer", [0, 1])
def test_matches_reference(student, reference, model, blocks, layer):
    """Matches the reference hidden state"""
    try:
        actual = student.block_output(model, PROMPT, layer)
    except UnboundLocalError as e:  # nnsight 0.8 leaves a value read in the block but not saved unbound
        check(
            False,
            f"block_output raised UnboundLocalError: {e}",
            diagnosis="A value read inside `with model.trace(...)` only exists after the block if you "
            "call `.save()` on it inside the block.",
        )
    assert_close(
        actual,
        reference.block_output(model, PROMPT, layer),
        name=f"block_output(model, prompt, layer={layer})",
        mistakes={
            "That is the output of the other block.": blocks[1 - layer][1],
            "That is the block's input (`.input`), not its output.": blocks[layer][0],
        },
    )
