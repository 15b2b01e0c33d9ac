"""Tiny, seeded, offline models for the benchmark course (no download, no network, ~30 ms each).

Where this file lives and why: at the course root, not in a chapter folder (`arena dev check` reports any
`.py` in `exercises/<chapter>/` or `solutions/<chapter>/` that is not an exercise). The course's
`tests/exercises/conftest.py` puts the course root on `sys.path`, and the conftest is imported before any
hidden test loads the student's file or the reference, so `import bench_models` works in the solutions,
in the student files (wherever `arena dev check` copies them) and in the tests, warm or cold.

See docs/offline_models.md (in the arena repo) for what these calls are and why.
"""

from __future__ import annotations

WORDS = (
    "<unk> <eos> the a cat dog sat ran on under mat rug and then it was big small red blue green "
    "one two three four five when where who what is are of to in up down left right fast slow "
    "happy sad tree house bird fish sun moon star"
).split()
VOCAB = {word: i for i, word in enumerate(WORDS)}  # 50 words
EOS_ID = VOCAB["<eos>"]


def tiny_tokenizer(add_bos_token: bool = False):
    """A word-level tokenizer over WORDS (whitespace split; unknown words -> <unk>), built in memory.

    For a TransformerBridge pass add_bos_token=True: TransformerLens otherwise reloads the tokenizer
    from `name_or_path` with add_bos_token=True, which needs it saved on disk (or the Hub).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        name_or_path="bench-words",
        add_bos_token=add_bos_token,
        unk_token="<unk>",
        eos_token="<eos>",
        bos_token="<eos>",
        pad_token="<eos>",
    )


def tiny_bridge(seed: int = 0, n_layers: int = 2, d_model: int = 32, n_heads: int = 4, n_ctx: int = 32):
    """A TransformerLens 4 TransformerBridge around a random-init TL-native GPT-2-style model, with the
    tiny tokenizer (so `model.to_tokens("the cat")` works; it prepends <eos> as BOS)."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    cfg = TransformerBridgeConfig(
        d_model=d_model,
        d_head=d_model // n_heads,
        n_heads=n_heads,
        n_layers=n_layers,
        n_ctx=n_ctx,
        d_vocab=len(WORDS),
        d_mlp=4 * d_model,
        act_fn="gelu",
        normalization_type="LN",
        positional_embedding_type="standard",
        seed=seed,  # boot_native seeds its own init in a forked RNG: same seed, same weights
        device="cpu",
    )
    return TransformerBridge.boot_native(cfg, tokenizer=tiny_tokenizer(add_bos_token=True)).eval()


def tiny_gptj(seed: int = 0, n_layer: int = 2, n_embd: int = 32, n_head: int = 4):
    """A random-init Hugging Face GPT-J (rotary attention), seeded with torch.manual_seed."""
    import torch
    from transformers import GPTJConfig, GPTJForCausalLM

    config = GPTJConfig(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        rotary_dim=8,
        vocab_size=len(WORDS),
        n_positions=64,
        bos_token_id=EOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=EOS_ID,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPTJForCausalLM(config).eval()


def tiny_nnsight_gptj(seed: int = 0):
    """tiny_gptj wrapped in nnsight 0.8's TransformersModel, with the in-memory tokenizer (needed: a
    pre-built module has no repo to load one from)."""
    from nnsight.modeling.transformers import TransformersModel

    return TransformersModel(tiny_gptj(seed), tokenizer=tiny_tokenizer())
