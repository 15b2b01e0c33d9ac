"""Mean ablation outside a circuit
================================

Difficulty: 4/5    Importance: 4/5    Time: ~35 minutes

Source: Wang et al. 2022, "Interpretability in the Wild" (https://arxiv.org/abs/2211.00593), Section
4 (evaluating the circuit with knockouts) and its appendix on how the knockouts are done.

A circuit is a claim: "these heads, at these positions, are how the model does IOI". The paper tests
it by **knocking out everything else** and checking that the behaviour survives. Every head *not* in
the circuit has its output replaced by its **mean** over a reference distribution, and so does every
circuit head at the positions where the circuit does not use it. What is left running is the
circuit.

Three choices make the knockout mean what we want:

- **The mean, not zero.** A head's output has a typical value that later layers are used to; zero is
  far from anything the model ever sees, so zero-ablation measures "what if this head's output were
  absurd", not "what if it carried no information about this prompt". The mean keeps the typical
  value and removes what is specific to each prompt.
- **Over the ABC distribution.** `means_data = data.abc()`: the same prompts with three different
  names in the IO, S1 and S2 slots, so nothing in them says which name is the indirect object. A
  head's mean over them carries the sentence's structure but no answer.
- **Per template.** Prompts of different templates have different words at each position (and
  different lengths, padded on the right), so one mean over all prompts would average position 7 of
  "Then, [B] and [A] went to the ..." with position 7 of "When [B] and [A] got a ...". The paper
  takes the mean over the prompts of each template: `means_data.groups` lists, for each template,
  the indices of its prompts (same template, same length). `means_data` is `data.abc()`: the same
  template at the same index, so those indices are the same in `data`. Prompt i gets the mean of its
  own group.

Which positions each circuit head keeps is given by its class: `positions[cls]` is a key of
`data.word_idx` ("end", "S2", "S1+1", ...), and `data.word_idx[key]` the position in each prompt
(shape (batch,): it differs between prompts of different templates). The paper's classes:

    class                    heads (layer.head) in GPT-2 small        kept at
    name mover               9.9 10.0 9.6                             end
    backup name mover        10.10 10.6 10.2 10.1 11.2 9.7 9.0 11.9   end
    negative name mover      10.7 11.10                               end
    S-inhibition             7.3 7.9 8.6 8.10                         end
    induction                5.5 5.8 5.9 6.9                          S2
    duplicate token          0.1 0.10 3.0                             S2
    previous token           2.2 4.11                                 S1+1

(arena_course/ioi/circuit.py has them as `GPT2_CIRCUIT` and `GPT2_POSITIONS`.)

Where to intervene: `blocks.{L}.attn.hook_z`, shape (batch, seq, head, d_head), each head's weighted
sum of values before the output matrix W_O. Head h's contribution to the residual stream is
z[:, :, h] @ W_O[L, h], so replacing z[:, :, h] replaces exactly that head's output.

Three steps, each checkable on its own:

1. **The means.** One cached run on `means_data.toks`, keeping only the z's (a `names_filter`, as in
   exercise 15; `cache["z", L]` is layer L's (batch, seq, head, d_head)). For each layer, a tensor
   of that same shape in which every prompt's row holds the mean over its template group: `groups`
   is a list of index tensors, and a (seq, head, d_head) mean assigned to a group's rows broadcasts
   over them.
2. **Where to keep.** A boolean mask per layer, (batch, seq, head), True where a head keeps its own
   output: each circuit head, at its class's position in each prompt. That position is one per
       prompt,
   so it is the pairing of exercise 1 (prompt i with its own position), not a slice.
3. **The run.** `data.toks` with a hook on every layer's `hook_z` (`hook.layer()` tells it which
   mask and which means are its own) that keeps z where the mask is True and puts the mean
   elsewhere: `torch.where(condition, a, b)` picks element by element, broadcasting its three
   arguments, so the mask needs a trailing dimension to line up with d_head. `run_with_hooks`
   returns the logits.

What correct looks like: with an empty circuit every head outputs its template's mean everywhere and
the logit difference collapses towards 0; with the paper's circuit on GPT-2 small it keeps most of
the full model's (exercise 20 measures how much). On the tiny test models, the logits equal the
reference's.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from arena_course.ioi.dataset import IOIDataset


def mean_ablate_outside_circuit(
    model,
    data: IOIDataset,
    means_data: IOIDataset,
    circuit: dict[str, list[tuple[int, int]]],
    positions: dict[str, str],
) -> Float[Tensor, "batch seq d_vocab"]:
    """The model's logits on `data` with everything outside the circuit mean-ablated.

    Args:
        model: a TransformerLens model (a `TransformerBridge`); hook names `blocks.{L}.attn.hook_z`.
        data: the IOI prompts to run.
        means_data: the prompts to take the means over (`data.abc()`): the same template at the same
            index as `data`, so `means_data.groups` are the template groups of both.
        circuit: class name -> list of (layer, head) in that class.
        positions: class name -> the key of `data.word_idx` where that class's heads are kept.

    Returns:
        Logits (batch, seq, d_vocab) of `data.toks` where, at every layer, each head's z is replaced
        by its mean over the `means_data` prompts of the same template, except for circuit heads at
        their class's position in each prompt, which keep their own z.
    """
    # SOLUTION
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    batch, seq = data.toks.shape
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]

    # 1. Each head's mean z over the ABC prompts of each template, placed at the rows of that
    #    template.
    _, cache = model.run_with_cache(means_data.toks, names_filter=lambda name: name in names)
    means = []
    for layer in range(n_layers):
        z = cache["z", layer]  # (batch, seq, head, d_head)
        layer_means = torch.empty_like(z)
        for group in means_data.groups:
            # (seq, head, d_head), broadcast over the group
            layer_means[group] = z[group].mean(dim=0)
        means.append(layer_means)

    # 2. Where each head keeps its own output: circuit heads, at their class's position in each
    #    prompt.
    keep = torch.zeros(n_layers, batch, seq, n_heads, dtype=torch.bool, device=data.toks.device)
    rows = torch.arange(batch)
    for cls, heads in circuit.items():
        where = data.word_idx[positions[cls]]  # (batch,) one position per prompt
        for layer, head in heads:
            keep[layer, rows, where, head] = True

    # 3. Run with every layer's z replaced by the means outside the mask.
    def ablate(z: Float[Tensor, "batch seq head d_head"], hook) -> Float[
        Tensor, "batch seq head d_head"
    ]:
        layer = hook.layer()
        return torch.where(keep[layer].unsqueeze(-1), z, means[layer])

    return model.run_with_hooks(data.toks, fwd_hooks=[(name, ablate) for name in names])
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "per-template mean z on means_data, a keep mask for the circuit heads at their "
    #     "positions, then run data.toks replacing z by the means outside the mask"
    # )
    # END EXERCISE
