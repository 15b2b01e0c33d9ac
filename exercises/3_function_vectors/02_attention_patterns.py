"""Attention patterns from inside the trace
=========================================

Difficulty: 2/5    Importance: 3/5    Time: ~15 minutes

Source: Todd et al. 2023, "Function Vectors in Large Language Models"
(https://arxiv.org/abs/2310.15213), section 2 (a few attention heads, read at the last token, carry
the task).

Which earlier tokens does the model look at when it answers? At the last position of an ICL prompt
(the final "A:"), each attention head spreads one unit of attention over the tokens up to it.
Section 3 of this chapter finds the few heads whose output at that position carries the task; what
they attend to (the examples' answers? the query word? the newlines between examples?) is what this
exercise lets you look at, read from inside a trace.

Where the pattern lives in transformers 5. GPT-J's attention module (`model.transformer.h[L].attn`)
returns a tuple `(attn_output, attn_weights)`; the block adds element 0 to the residual stream.
Element 1 is the pattern, shape (batch, n_heads, query_pos, key_pos): row q of head h is how query
position q distributes its attention over the key positions, after the softmax, so it sums to 1 and
is 0 for every key after q (the model is causal) and for every padding token.

But only if the model computes it. How attention is computed is a setting of the loaded model,
`model.config._attn_implementation`. transformers 5 picks "sdpa" by default: PyTorch's fused
`scaled_dot_product_attention` kernel, which never materialises the pattern, so the module returns
`(attn_output, None)` (and `output_attentions=True` only earns a warning). The "eager"
implementation computes softmax(QKᵀ/√d_head + mask) explicitly and returns it. The two give the same
outputs at every real token, so switching changes nothing else:

    model.set_attn_implementation("eager")             # on a loaded model (what
    `use_eager_attention` does) TransformersModel(name, attn_implementation="eager", ...)   # or
    when loading it

The tests and the result call `use_eager_attention(model)` (from
arena_course.function_vectors.models) before calling your function; you can assume it. If you see
"'NoneType' object is not subscriptable" when you experiment, the model is still on sdpa. (Another
way to read the same tensor: run the trace with `output_attentions=True` and read
`model.output.attentions[L]`; it too needs eager attention.)

Seeing inside a module. A module's `.input` and `.output` are not the only things nnsight can reach:
`print(model.transformer.h[0].attn.source)` prints the forward method's source with a name for every
call in it (`self_q_proj_0`, `attention_interface_1`, ...), and `model.transformer.h[0].attn.source
.attention_interface_1.output` is that call's result inside the trace. That is how we found where
the pattern is made; you won't need it here.

Save only what you need. The full pattern of one layer of GPT-J is (batch, 16, seq, seq); you want
one query position. Slice inside the trace and save the slice: remotely, only saved values travel
back from NDIF. (Remotely, whether the pattern exists depends on how NDIF loaded its copy of the
model; the result tells you if it comes back empty.)

Which position. Prompts are left-padded, so position -1 is every prompt's last token, the answer's
position. Padding tokens get no attention from real tokens. (The rows *of* padding positions are
meaningless: every key is masked there, so the softmax spreads evenly over all of them, future
included. Don't read them.)

What to write: `attention_patterns`, the attention pattern of every head of block `layer` at query
position `position` (default -1): shape (batch, n_heads, seq), one distribution over key positions
per prompt and head. Correct answers sum to 1 over the last dimension and are 0 after `position`.
"""

from jaxtyping import Float
from torch import Tensor

# noqa: F401  (for your own experiments: see above)
from arena_course.function_vectors.models import use_eager_attention


def attention_patterns(
    model,
    prompts: list[str],
    layer: int,
    *,
    position: int = -1,
    remote: bool = False,
) -> Float[Tensor, "batch n_heads seq"]:
    """The attention pattern of every head of block `layer`, at one query position.

    Args:
        model: an nnsight `TransformersModel` with GPT-J's module names, using eager attention (so
            that `model.transformer.h[L].attn.output` is `(attn_output, attn_weights)` with the
            weights filled in).
        prompts: the prompts (left-padded in the batch).
        layer: which block's attention (0-based).
        position: the query position (an index into the padded sequence; -1 is every prompt's last
            token).
        remote: run on NDIF (True) or locally (False); pass it to `model.trace`.

    Returns:
        pattern[b, h, k]: how much head h at query position `position` of prompt b attends to key
        position k, shape (batch, n_heads, seq). Each row sums to 1.
    """
    raise NotImplementedError(
        "in one trace, save the attention weights (element 1 of "
        "attn.output) at query position `position`"
    )
