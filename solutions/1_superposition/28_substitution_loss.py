"""Substitution loss: splicing the SAE into the model
==================================================

Difficulty: 3/5    Importance: 5/5    Time: ~20 minutes

Source: Bricken et al. 2023, "Towards Monosemanticity"
(https://transformer-circuits.pub/2023/monosemantic-features), which judges an SAE by the loss of
the model running on its reconstruction; Cunningham et al. 2023 (https://arxiv.org/abs/2309.08600).

A small reconstruction error (the previous exercise) is not the point: what matters is whether the
model still *works* when its activation is replaced by the SAE's reconstruction. If the error falls
in directions the model ignores, it costs nothing; if it falls in directions the model relies on, a
small MSE can still wreck the predictions. So we splice the SAE into the model and measure the
next-token loss:

    clean          the model as it is with the SAE   the activation at `hook_name` replaced by
    sae(activation) = decode(encode(activation)) zero-ablated   the activation at `hook_name`
    replaced by zeros (a floor: the information is gone)

and report how much of the gap the SAE closes, the **loss recovered** (zero_ablated - with_sae) /
(zero_ablated - clean): 100% is as good as the real activations, 0% no better than deleting them.
(`loss_recovered` in arena_course/superposition/lm_sae.py computes it from your three numbers; the
section's result reports it.)

**The next-token loss.** The logits at position t predict token t + 1, so the loss pairs
logits[:, :-1] with tokens[:, 1:]:

    loss = mean over batch b and positions t < seq - 1 of  -log_softmax(logits[b, t])[tokens[b, t +
    1]]

(TransformerLens computes exactly this with `model(tokens, return_type="loss")`: you may use it once
you've written it by hand.)

**Hooks.** `run_with_hooks` runs the model with hook functions attached to named hook points, given
as a list of (name, function) pairs. The function is called as `fn(activation, hook)` with the
activation at that point, here (batch, seq, d_model); whatever it *returns* replaces the activation
(returning None leaves it unchanged), and the call returns the logits. The hooks are removed when
the call ends. For example, doubling layer 0's MLP output:

    def double(mlp_out, hook):
        return 2 * mlp_out

    doubled_logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_mlp_out", double)])

**BOS stays untouched.** As everywhere in this section, position 0 (BOS) is left alone: the hook
replaces positions 1 onwards and returns position 0 as it was. (GPT-2 relies heavily on its BOS
residual, which SAEs reconstruct badly.) A correct answer returns three single numbers with, for a
trained SAE, clean ≤ with the SAE < zero-ablated.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor

from arena_course.superposition.lm_sae import SAE


def substitution_loss(
    model,
    sae: SAE,
    tokens: Int[Tensor, "batch seq"],
    hook_name: str,
) -> tuple[Float[Tensor, ""], Float[Tensor, ""], Float[Tensor, ""]]:
    """The next-token loss clean, with the SAE's reconstruction spliced in at `hook_name`, and with
    that activation zero-ablated (both at every position except BOS).

    Args:
        model: a TransformerLens model (a `TransformerBridge`).
        sae: an SAE reading the activations at `hook_name`.
        tokens: token ids, shape (batch, seq); position 0 of every row is BOS.
        hook_name: the hook point to patch.

    Returns:
        (clean_loss, sae_loss, zero_ablation_loss), each a 0-dimensional tensor: the mean over the
        batch and positions 0 .. seq - 2 of the cross-entropy of the next token.
    """
    # SOLUTION
    def next_token_loss(logits: Float[Tensor, "batch seq d_vocab"]) -> Float[Tensor, ""]:
        # Logits at position t predict token t + 1: drop the last position's logits and the first
        # token.
        log_probs = logits[:, :-1].log_softmax(dim=-1)
        correct = log_probs.gather(dim=-1, index=tokens[:, 1:, None])  # (batch, seq - 1, 1)
        return -correct.mean()

    def splice_sae(activation: Float[Tensor, "batch seq d_model"], hook) -> Float[
        Tensor, "batch seq d_model"
    ]:
        # Keep BOS (position 0) as it is; replace the rest by the SAE's reconstruction.
        return torch.cat([activation[:, :1], sae(activation[:, 1:])], dim=1)

    def zero_ablate(activation: Float[Tensor, "batch seq d_model"], hook) -> Float[
        Tensor, "batch seq d_model"
    ]:
        # Keep BOS; replace the rest by zeros.
        return torch.cat([activation[:, :1], torch.zeros_like(activation[:, 1:])], dim=1)

    clean_loss = next_token_loss(model(tokens))
    sae_loss = next_token_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice_sae)]))
    zero_loss = next_token_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, zero_ablate)]))
    return clean_loss, sae_loss, zero_loss
    # END SOLUTION
    # EXERCISE
    # raise NotImplementedError(
    #     "return the next-token loss clean, with sae(activation) spliced in "
    #     "at hook_name, and zero-ablated (BOS untouched)"
    # )
    # END EXERCISE


if __name__ == "__main__":
    # A quick look on an untrained tiny model and a random SAE: all three losses are about
    # log(vocabulary size), since the model has learned nothing. The section's result is the
    # section's last exercise's.
    from arena_course.superposition.lm_sae import loss_recovered, quick_setup

    setup = quick_setup()
    with torch.no_grad():
        clean, with_sae, zero = substitution_loss(
            setup.model, setup.sae, setup.tokens, setup.hook_name
        )
    print(
        f"clean {float(clean):.4f}, with the SAE "
        f"{float(with_sae):.4f}, zero-ablated {float(zero):.4f}"
    )
    print(
        f"loss recovered: {loss_recovered(float(clean), float(with_sae), float(zero)):.1%} "
        f"(meaningless here: untrained)"
    )
