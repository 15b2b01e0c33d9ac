"""The logit difference
====================

Difficulty: 2/5    Importance: 5/5    Time: ~15 minutes

Source: Wang et al. 2022, "Interpretability in the Wild: a Circuit for Indirect Object
Identification in GPT-2 small" (https://arxiv.org/abs/2211.00593), section 2 ("the IOI task" and its
metric, the logit difference).

**The task.** Give GPT-2 small

    "When Mary and John went to the store, John gave a drink to"

and its top prediction is " Mary". The sentence names two people; one of them, the subject (S, here
John), is named again; the model predicts the other one, the indirect object (IO, Mary). Doing this
needs real work: find the two names, notice which one is repeated, and copy the *other* one to the
output. Wang et al. found the circuit of 26 attention heads in GPT-2 small that does it; this
chapter replicates how they found it. We name the positions the way the paper does:

    "When Mary and John went to the store, John gave a drink to"      ->  " Mary"
          IO       S1                      S2                 end

A prompt is **BABA** when the subject comes first ("When John and Mary ..., John ... to") and
**ABBA** when the indirect object does (as above). A good IOI solver handles both; the plots at the
end of the section compare them.

**The model: a TransformerBridge.** TransformerLens 4 replaced `HookedTransformer` with
`TransformerBridge`: a wrapper around the Hugging Face model that gives the same interface. You will
use:

    logits = model(tokens)                         # (batch, seq, d_vocab), one row per position
    logits, cache = model.run_with_cache(tokens)   # and every activation, by hook name
    model.to_str_tokens(tokens[0])                 # ['<|endoftext|>', 'When', ' Mary', ...]
    model.tokenizer, model.cfg.n_layers, model.cfg.n_heads, model.W_U, ...

GPT-2 small is loaded with `TransformerBridge.boot_transformers("gpt2")` followed by
`model.enable_compatibility_mode()`, which applies HookedTransformer's weight processing (LayerNorm
weights folded into the next layer, weights centred) and gives the familiar hook names
(`blocks.3.attn.hook_z`, `ln_final.hook_scale`, ...). The course's
`arena_course.models.load_pretrained ("gpt2")` does both. The hidden tests use a tiny randomly
initialised bridge over a word-level vocabulary (`arena_course.ioi.models.tiny_ioi_model()`): same
interface, no download.

**The data: an IOIDataset.** `arena_course.ioi.dataset.IOIDataset.generate(model.tokenizer, n)`
builds n prompts from the paper's templates (alternating BABA and ABBA; `order="BABA"` for one kind
only). It gives you:

    data.toks          (batch, seq)  token ids: BOS, the prompt, then padding on the right
    data.io_tokens     (batch,)      the token id of " IO" (the right answer) in each prompt
    data.s_tokens      (batch,)      the token id of " S" (the wrong answer)
    data.word_idx      {"IO", "S1", "S2", "end"} -> (batch,) positions; "end" is the last prompt
                                     token, the position where the model predicts the answer
    data.sentences     the prompts as text; data.prompts[i].order is "BABA" or "ABBA"
    data.flipped()     the same prompts with the other name at S2, so the right answer flips
                                     (the corrupted prompts of section 3's activation patching)

The templates have different lengths, so the prompts are padded on the right to the longest one: the
prompt ends at a different position in each row, and **position -1 is padding** for every prompt
shorter than the longest. The prediction that matters is at `data.word_idx["end"]`, one position per
prompt.

**The metric: the logit difference.**

    logit_diff[i] = logits[i, end_i, IO_i] - logits[i, end_i, S_i]

It is the model's log-odds of the right name against the wrong one: log(p_IO / p_S), because the
softmax's normaliser cancels. Why this rather than accuracy? Accuracy is all-or-nothing: a model
that prefers IO by 0.01 and one that prefers it by 8 both score 1, and an intervention that halves
the model's confidence changes nothing. The logit difference moves smoothly with every intervention,
which is what attribution and patching need. And unlike the probability of IO alone, it ignores the
rest of the vocabulary (" them", " the", ...), which has nothing to do with the question "which
name?". Wang et al. report an average logit difference of 3.56 for GPT-2 small (it prefers IO by a
factor of e^3.56 ≈ 35); the tiny model trained for the `--tiny` results reaches about 8.

**One entry per row: advanced indexing.** Indexing a tensor with two index tensors of the same
length pairs them up: `x[rows, cols]` picks `x[rows[i], cols[i]]` for every i. For example,
`data.toks[torch.arange(batch), data.word_idx["S2"]]` is the (batch,) token at each prompt's S2
position. `x[:, cols]` is something else: every column of `cols` for every row, one dimension more.

What to write: `ioi_logit_diff`: each prompt's logits at its own end position, then the IO entry
minus the S entry of that prompt. Return the (batch,) differences when `per_prompt`, else their
mean, a 0-dimensional tensor. Sections 3-5 call this function as their metric.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset


def ioi_logit_diff(
    logits: Float[Tensor, "batch seq d_vocab"],
    data: IOIDataset,
    per_prompt: bool = False,
) -> Float[Tensor, "batch"] | Float[Tensor, ""]:
    """The logit of the indirect object minus the logit of the subject, at each prompt's end
    position.

    Args:
        logits: the model's output on `data.toks`, shape (batch, seq, d_vocab).
        data: the prompts: `data.word_idx["end"]` (batch,) is where each prompt's answer is
            predicted; `data.io_tokens` and `data.s_tokens` (batch,) are the right and wrong names.
        per_prompt: return one value per prompt instead of the mean.

    Returns:
        (batch,) logit differences if `per_prompt`, else their mean (a 0-dimensional tensor).
    """
    raise NotImplementedError(
        "read each prompt's logits at its end position; return "
        "logit[IO] - logit[S] (per prompt or the mean)"
    )


if __name__ == "__main__":
    # A first look, on an untrained tiny model (no download, instant): one prompt's tokens with the
    # named positions marked, and the logit differences (about 0: an untrained model has no
    # preference). The section's result, on GPT-2 small or the trained tiny model, is exercise 2's
    # file.
    from arena_course.ioi.models import tiny_ioi_model

    model = tiny_ioi_model()
    data = IOIDataset.generate(model.tokenizer, 6)
    marks = {int(data.word_idx[k][0]): k for k in ("IO", "S1", "S2", "end")}
    print(data.sentences[0])
    print(
        " ".join(
            f"{t}[{marks[i]}]" if i in marks else t for i, t in enumerate(
                model.to_str_tokens(data.toks[0])
            )
        )
    )
    with torch.no_grad():
        logits = model(data.toks)
    print(
        "per prompt:", [round(v, 3) for v in ioi_logit_diff(logits, data, per_prompt=True).tolist()]
    )
    print("mean:", round(float(ioi_logit_diff(logits, data)), 3))
