"""A block's output with nnsight
=============================

nnsight runs a model inside `with model.trace(prompt):`; in the block, `model.transformer.h[L].output`
is the output of transformer block L (for a Hugging Face GPT-J, the residual stream after that block,
of shape (batch, pos, d_model)). Call `.save()` on it inside the block to keep it after the block ends.

What to write: `block_output(model, prompt, layer)`, that residual stream.
"""

from torch import Tensor

from bench_models import tiny_nnsight_gptj


def block_output(model, prompt: str, layer: int) -> Tensor:
    """The output of transformer block `layer` on `prompt`: (batch, pos, d_model)."""
    raise NotImplementedError("trace the model on the prompt and save the block's output")


if __name__ == "__main__":
    model = tiny_nnsight_gptj(seed=0)
    print(block_output(model, "the cat sat on the mat", layer=1).shape)
