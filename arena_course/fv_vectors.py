"""Chapter 3, sections 3 (function vectors) and 4 (steering with activation addition): small helpers the
exercises use, and the sections' results.

Helpers (imported by exercises 08-12):

- `new_token_texts(tokenizer, ids, prompt_width)`: decode what `model.generate` added after the prompts.
- `with_bos(tokenizer, text)`: a prompt's token ids with the BOS token in front, as Turner et al. run GPT-2.
- `space_token_id(tokenizer)`: the token Turner et al. pad steering prompts with (GPT-2's " ").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from arena_course.display import pyplot, save_figure
from arena_course.function_vectors import ICLDataset, load_fv_model, load_word_pairs, task_names, trained_tiny_icl_gptj
from arena_course.threads import one_thread


def prompt_width(tokenizer, prompts: Sequence[str]) -> int:
    """How many tokens the batch of prompts takes once padded: the longest prompt's length."""
    return max(len(tokenizer(p)["input_ids"]) for p in prompts)


def new_token_texts(tokenizer, ids: Int[Tensor, "batch seq"], width: int) -> list[str]:
    """The text `model.generate` added after prompts `width` tokens wide (special tokens, such as padding
    after an early end-of-text, dropped)."""
    return tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True)


def with_bos(tokenizer, text: str) -> list[int]:
    """The token ids of `text` with the BOS token in front: `[BOS, ...]`. Turner et al. run GPT-2 this way
    (TransformerLens prepends BOS), and so the steering vector and the prompt it is added to line up: BOS
    at position 0, the first word at position 1."""
    return [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]


def space_token_id(tokenizer) -> int:
    """The token Turner et al. pad the shorter prompt of a steering pair with: GPT-2's " " (id 220). A
    tokenizer that has no token for a lone space (the tiny models' word-level one drops spaces) pads with
    its padding token."""
    ids = tokenizer(" ", add_special_tokens=False)["input_ids"]
    return ids[0] if len(ids) == 1 else tokenizer.pad_token_id


# --------------------------------------------------------------------------- section 3: function vectors


@dataclass
class FunctionVectorSetup:
    """What section 3's result runs on: the model, the task's clean prompts (for the effects and the
    function vector), the zero-shot prompts to generate from, and where and how much to add."""

    model: Any
    remote: bool
    tiny: bool
    name: str
    task: str
    dataset: ICLDataset  # clean ICL prompts: the heads' effects and their mean outputs
    zero_shot: ICLDataset  # zero-shot prompts ("Q: x\nA:") to generate from
    layer: int  # the block whose output the function vector is added to
    k: int  # how many heads make the function vector
    max_new_tokens: int

    @property
    def suffix(self) -> str:
        """Appended to result file names, so tiny and real results don't overwrite each other."""
        return "_tiny" if self.tiny else ""


@dataclass
class FunctionVectorSummary:
    effects: Tensor  # (n_layers, n_heads)
    top_heads: list[tuple[int, int, float]]  # (layer, head, effect), largest first
    fv: Tensor  # (d_model,)
    rows: list[tuple[str, str, str, str]]  # (query, answer, completion without, completion with)
    correct_without: int
    correct_with: int
    path: Path
    report: str


def function_vector_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of section 3's result (exercise 10's `__main__`)."""
    parser = argparse.ArgumentParser(
        description="Function vectors: each head's causal indirect effect (exercise 08), the function vector "
        "(09) and generation with it (10), on GPT-J-6B (NDIF with NDIF_API_KEY, or a local copy) or with --tiny "
        "on a tiny GPT-J."
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny GPT-J trained on the chapter's prompts (no download)")
    parser.add_argument("--task", default=None, choices=task_names(),
                        help="the task (default: antonyms; singular_plural with --tiny)")
    parser.add_argument("--prompts", type=int, default=None, help="clean ICL prompts to average over (default 20; 32 tiny)")
    parser.add_argument("--heads", type=int, default=None, help="heads in the function vector (default 10; 5 tiny)")
    parser.add_argument("--layer", type=int, default=None, help="block whose output gets the vector (default 9; 1 tiny)")
    return parser.parse_args(argv)


def ambiguous_queries(task: str) -> list[tuple[str, str]]:
    """The task's pairs whose query word is also a query of another task ("cat": chat in english_french, cats in
    singular_plural): with no examples, nothing in the prompt says which answer is meant."""
    others = {x for t in task_names() if t != task for x, _ in load_word_pairs(t)}
    return [(x, y) for x, y in load_word_pairs(task) if x in others]


def zero_shot_prompts(task: str, size: int, *, ambiguous: bool = False, seed: int = 1) -> ICLDataset:
    """`size` zero-shot prompts ("Q: x\nA:") of the task, distinct queries; with `ambiguous`, only queries that
    belong to another task too (when the task has any)."""
    import random

    pairs = list(load_word_pairs(task))
    if ambiguous and ambiguous_queries(task):
        pairs = ambiguous_queries(task)
    chosen = random.Random(seed).sample(pairs, min(size, len(pairs)))
    data = ICLDataset(pairs, len(chosen), 0, seed=seed)
    data.queries, data.answers = [x for x, _ in chosen], [y for _, y in chosen]
    data.examples = [[] for _ in chosen]
    return data


def function_vector_setup(args: argparse.Namespace, *, load: Callable[..., Any] | None = None) -> FunctionVectorSetup:
    """GPT-J-6B (remote on NDIF with NDIF_API_KEY, else from the Hugging Face cache), or with `args.tiny` a tiny
    GPT-J trained on ICL prompts (`function_vectors.trained_tiny_icl_gptj`, shared by every section's --tiny
    result; cached under results/function_vectors after the first run).

    Raises:
        ModelUnavailable: one line, when GPT-J can be had neither way.
    """
    if args.tiny:
        task = args.task or "singular_plural"
        model, remote = trained_tiny_icl_gptj(), False
        config = model.config
        name = f"a tiny GPT-J ({config.n_layer} blocks of {config.n_head} heads) trained on ICL prompts"
        # 5 heads: the tiny model's top 4 (block 1's, effects ~0) alone turn 5/12 zero-shot answers to the task,
        # with the 5th (a block-0 head) all 12.
        n_prepended, defaults = 5, dict(prompts=32, heads=5, layer=1, tokens=2)
    else:
        task = args.task or "antonyms"
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model, remote = _load_or_say_tiny(load, "10_generate_with_function_vector.py", device=device)
        name = "GPT-J-6B" + (" on NDIF" if remote else "")
        n_prepended, defaults = 10, dict(prompts=20, heads=10, layer=9, tokens=5)
    return FunctionVectorSetup(
        model=model,
        remote=remote,
        tiny=args.tiny,
        name=name,
        task=task,
        dataset=ICLDataset(load_word_pairs(task), args.prompts or defaults["prompts"], n_prepended, seed=0),
        zero_shot=zero_shot_prompts(task, 12, ambiguous=args.tiny),
        layer=defaults["layer"] if args.layer is None else args.layer,
        k=args.heads or defaults["heads"],
        max_new_tokens=defaults["tokens"],
    )


def _load_or_say_tiny(load: Callable[..., Any] | None, exercise_file: str, *args: Any, **kwargs: Any):
    """`load_fv_model(*args, **kwargs)`; its one-line ModelUnavailable gets the offline alternative added."""
    from arena_course.models import ModelUnavailable

    try:
        return (load or load_fv_model)(*args, **kwargs)
    except ModelUnavailable as e:
        raise ModelUnavailable(
            f"{e} Without either, `python exercises/3_function_vectors/{exercise_file} --tiny` runs the same code on "
            "a tiny model.", e.reason
        ) from None


def first_word(text: str) -> str:
    """The first word of a completion, lower-cased, without punctuation: " Cold.\\n\\nQ:" -> "cold"."""
    words = text.strip().split()
    return words[0].strip(".,;:!?\"'").lower() if words else ""


def plot_head_effects(effects: Tensor, top_heads: list[tuple[int, int, float]], title: str, path: Path) -> Path:
    """The layer x head heatmap of causal indirect effects (diverging colours centred on 0), the function
    vector's heads outlined."""
    from matplotlib.patches import Rectangle

    import textwrap

    plt = pyplot()
    effects = effects.detach().float().cpu()
    n_layers, n_heads = effects.shape
    width, height = min(max(6.5, 2.5 + 0.45 * n_heads), 12), min(max(3.8, 1.8 + 0.3 * n_layers), 12)
    fig, ax = plt.subplots(figsize=(width, height))
    bound = max(float(effects.abs().max()), 1e-12)
    image = ax.imshow(effects.numpy(), cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto", origin="upper")
    for layer, head, _ in top_heads:
        ax.add_patch(Rectangle((head - 0.5, layer - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.5))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(0, n_heads, 2 if n_heads > 16 else 1))
    ax.set_yticks(range(0, n_layers, 2 if n_layers > 16 else 1))
    ax.set_title("\n".join(textwrap.wrap(title, width=int(width * 11))), fontsize=9)
    fig.colorbar(image, ax=ax, label="rise in P(answer)")
    fig.tight_layout()
    return save_figure(fig, path)


def run_function_vector_result(
    setup: FunctionVectorSetup,
    *,
    head_indirect_effects: Callable,
    function_vector: Callable,
    generate_with_function_vector: Callable,
    out_dir: Path,
) -> FunctionVectorSummary:
    """Section 3's result: the heads' causal indirect effects as a heatmap, the function vector of the top k,
    and zero-shot completions without and with it."""
    _quiet_transformers()
    with torch.no_grad():
        effects = head_indirect_effects(setup.model, setup.dataset, remote=setup.remote).detach().float().cpu()
        n_heads = effects.shape[1]
        flat = effects.flatten().topk(setup.k)
        top_heads = [(int(i) // n_heads, int(i) % n_heads, float(v)) for v, i in zip(flat.values, flat.indices)]
        fv = function_vector(setup.model, setup.dataset, effects, setup.k, remote=setup.remote)
        without, with_fv = generate_with_function_vector(
            setup.model, setup.zero_shot.prompts, fv, setup.layer, setup.max_new_tokens, remote=setup.remote
        )
    path = plot_head_effects(
        effects, top_heads,
        f"Causal indirect effect of each head on {setup.name}, task {setup.task} ({len(setup.dataset)} prompts). "
        f"Outlined: the {setup.k} heads of the function vector.",
        Path(out_dir) / f"head_effects{setup.suffix}.png",
    )
    rows = [(q, a, w, f) for q, a, w, f in zip(setup.zero_shot.queries, setup.zero_shot.answers, without, with_fv)]
    correct_without = sum(first_word(w) == a.lower() for _, a, w, _ in rows)
    correct_with = sum(first_word(f) == a.lower() for _, a, _, f in rows)

    def show(text: str) -> str:
        return repr(text)[1:-1]

    width = max(len(show(w)) for _, _, w, _ in rows) + 2
    lines = [
        f"Function vectors on {setup.name}: task {setup.task}, {len(setup.dataset)} clean prompts with "
        f"{setup.dataset.n_prepended} examples each.",
        "Heads with the largest causal indirect effect (layer.head: rise in P(answer)): "
        + ", ".join(f"{layer}.{head}: {value:+.3f}" for layer, head, value in top_heads),
        f"Function vector: the sum of those {setup.k} heads' outputs, norm {float(fv.norm()):.2f}; added to block "
        f"{setup.layer}'s output at the last position of every step.",
        "",
        f"Zero-shot prompts (\"Q: x\\nA:\"), {setup.max_new_tokens} greedy tokens:",
        f"  {'query':<12} {'answer':<12} {'without':<{width}} with the function vector",
    ]
    for q, a, w, f in rows:
        mark = "*" if first_word(f) == a.lower() else " "
        lines.append(f"  {q:<12} {a:<12} {show(w):<{width}} {show(f)} {mark}")
    lines += [
        "",
        f"First word right: {correct_without}/{len(rows)} without, {correct_with}/{len(rows)} with the function "
        "vector (* marks them).",
    ]
    if setup.tiny:
        lines += [
            "",
            "On the tiny model every effect is about 0 or below: shuffling the example answers doesn't hide the task "
            "from it (it reads the task off which words appear as answers, and those are still there), so patching a "
            "head's clean mean can only disturb it. GPT-J shows what the paper found: a few heads with large positive "
            "effects. The zero-shot queries here belong to two tasks (cat: chat or cats), so without examples the "
            "tiny model has to guess; the function vector tells it which task. With effects this close to 0 the "
            "ranking says little: for singular_plural the 4 block-1 heads at the top alone fix 5 of these 12 "
            "answers, and with the next one (a block-0 head; --heads 5, the default) all 12.",
        ]
    return FunctionVectorSummary(effects, top_heads, fv.detach().cpu(), rows, correct_without, correct_with, path,
                                 "\n".join(lines))


# --------------------------------------------------------------------------- section 4: steering


@dataclass(frozen=True)
class SteeringExperiment:
    """One activation addition: `coeff` * (prompt_add - prompt_sub) entering block `layer`, on `prompt`."""

    prompt_add: str
    prompt_sub: str
    layer: int
    coeff: float
    prompt: str


# Turner et al.'s GPT-2 XL examples (their code: get_x_vector(..., pad_method="tokens_right"), sampling at
# temperature 1 and top_p 0.3), and the first one with a smaller coefficient, for comparison.
GPT2_XL_EXPERIMENTS = (
    SteeringExperiment("Love", "Hate", 6, 5.0, "I hate you because"),
    SteeringExperiment("Love", "Hate", 6, 1.0, "I hate you because"),
    SteeringExperiment("Anger", "Calm", 20, 10.0, "Yesterday, my dog died."),
    SteeringExperiment("I talk about weddings constantly", "I do not talk about weddings constantly", 20, 4.0,
                       "I went up to my friend and said,"),
)

# The same on the tiny GPT-2 trained on `toy_sentiment_sentences` ("I love X . it was very good ."). Its ending
# is read straight from the feeling word by a block-0 head, so steering works entering block 0 and not after it.
TINY_EXPERIMENTS = (
    SteeringExperiment("I love", "I hate", 0, 2.0, "I hate the weather today . it was very"),
    SteeringExperiment("I love", "I hate", 0, 2.0, "you hate weddings . it is very"),
    SteeringExperiment("I hate", "I love", 0, 2.0, "I love my friend . it was very"),
    SteeringExperiment("I love", "I hate", 1, 2.0, "I hate the weather today . it was very"),
)


@dataclass
class SteeringSetup:
    model: Any
    remote: bool
    tiny: bool
    name: str
    experiments: tuple[SteeringExperiment, ...]
    max_new_tokens: int
    n_completions: int
    generate_kwargs: dict

    @property
    def suffix(self) -> str:
        return "_tiny" if self.tiny else ""


@dataclass
class SteeringSummary:
    results: list[tuple[SteeringExperiment, list[str], list[str]]]  # (experiment, unsteered, steered)
    path: Path
    report: str


def steering_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of section 4's result (exercise 12's `__main__`)."""
    parser = argparse.ArgumentParser(
        description="Steering with activation addition (exercises 11-12) on GPT-2 XL (NDIF with NDIF_API_KEY, or "
        "the weights in the Hugging Face cache) or with --tiny on a tiny GPT-2 trained on a toy language."
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny GPT-2 trained on toy sentences (no download)")
    parser.add_argument("--completions", type=int, default=None, help="completions of each kind per prompt (default 3; 1 tiny)")
    parser.add_argument("--tokens", type=int, default=None, help="tokens to generate (default 40; 6 tiny)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (GPT-2 XL samples; the tiny model is greedy)")
    return parser.parse_args(argv)


def steering_setup(args: argparse.Namespace, *, load: Callable[..., Any] | None = None) -> SteeringSetup:
    """GPT-2 XL (remote on NDIF with NDIF_API_KEY, else from the Hugging Face cache), or with `args.tiny` a tiny
    GPT-2 trained on `toy_sentiment_sentences` in a few seconds (cached under results/function_vectors).

    Raises:
        ModelUnavailable: one line, when GPT-2 XL can be had neither way.
    """
    if args.tiny:
        model = trained_tiny_steering_model()
        return SteeringSetup(model, False, True, "a tiny GPT-2 trained on toy sentences", TINY_EXPERIMENTS,
                             args.tokens or 6, args.completions or 1, {"do_sample": False})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, remote = _load_or_say_tiny(load, "12_steered_generation.py", "gpt2-xl", device=device)
    torch.manual_seed(args.seed)
    return SteeringSetup(model, remote, False, "GPT-2 XL" + (" on NDIF" if remote else ""), GPT2_XL_EXPERIMENTS,
                         args.tokens or 40, args.completions or 3,
                         {"do_sample": True, "temperature": 1.0, "top_p": 0.3, "repetition_penalty": 1.2})


def run_steering_result(
    setup: SteeringSetup,
    *,
    steering_vector: Callable,
    steered_generation: Callable,
    out_dir: Path,
) -> SteeringSummary:
    """Section 4's result: for each experiment, the steering vector of its prompt pair and completions of its
    prompt without and with it; written to results/function_vectors/steering[_tiny].txt."""
    _quiet_transformers()
    results = []
    with torch.no_grad():
        for exp in setup.experiments:
            vector = steering_vector(setup.model, exp.prompt_add, exp.prompt_sub, exp.layer, remote=setup.remote)
            unsteered, steered = steered_generation(
                setup.model, exp.prompt, vector, exp.layer, exp.coeff, setup.max_new_tokens,
                n_completions=setup.n_completions, remote=setup.remote, **setup.generate_kwargs,
            )
            results.append((exp, list(unsteered), list(steered)))
    how = ", ".join(f"{k}={v}" for k, v in setup.generate_kwargs.items())
    lines = [f"Activation addition on {setup.name} ({setup.max_new_tokens} new tokens, {how}).", ""]
    for exp, unsteered, steered in results:
        lines.append(f"{exp.coeff:g} x ({exp.prompt_add!r} - {exp.prompt_sub!r}) entering block {exp.layer}, "
                     f"on {exp.prompt!r}:")
        for text in unsteered:
            lines.append(f"  unsteered | {exp.prompt}{_one_line(text)}")
        for text in steered:
            lines.append(f"  steered   | {exp.prompt}{_one_line(text)}")
        lines.append("")
    if setup.tiny:
        lines.append("(In the tiny 2-block model a block-0 head reads the feeling word to choose the ending, so the "
                     "steering works entering block 0; entering block 1 that head has already read it.)")
    report = "\n".join(lines).rstrip() + "\n"
    path = Path(out_dir) / f"steering{setup.suffix}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report, encoding="utf-8")
    return SteeringSummary(results, path, report.rstrip())


def _quiet_transformers() -> None:
    """Silence transformers' advice to pass an attention mask: GPT-2's BOS is also its padding token, so every
    prompt that starts with BOS looks padded to it, but nnsight has already masked real padding."""
    from transformers.utils import logging

    logging.set_verbosity_error()


def _one_line(text: str) -> str:
    """A completion on one line (newlines shown as ⏎), with the space that joins it to its prompt."""
    text = text.replace("\n", " ⏎ ")
    return text if text.startswith(" ") else " " + text


# --------------------------------------------------------------------------- tiny trained models


def toy_sentiment_sentences(n: int, seed: int = 0) -> list[str]:
    """Sentences of a toy language in which the feeling word decides the ending: "I love the weather today .
    it was very good ." / "you hate weddings . it is very sad .". Every word is in the tiny models' vocabulary."""
    import random

    rng = random.Random(seed)
    subjects, objects = ["I", "you"], ["the weather", "the city", "my friend", "weddings", "the wedding", "the day"]
    out = []
    for _ in range(n):
        feeling = rng.choice(["love", "hate"])
        ending = rng.choice(["good", "happy"] if feeling == "love" else ["bad", "sad"])
        out.append(f"{rng.choice(subjects)} {feeling} {rng.choice(objects)}{rng.choice(['', ' today'])} . "
                   f"it {rng.choice(['was', 'is'])} very {ending} .")
    return out


TINY_STEERING_CONFIG = dict(n_layers=2, d_model=64, n_heads=4)
TINY_STEERING_STEPS = 400


def train_tiny_steering_model(model, *, steps: int = TINY_STEERING_STEPS, seed: int = 0, progress: bool = True):
    """Train a tiny nnsight-wrapped GPT-2 on `toy_sentiment_sentences` (BOS in front of each), in place."""
    from arena_course.display import ProgressBar

    tok = model.tokenizer
    hf = model._module
    with one_thread():
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                hf.train()
                opt = torch.optim.AdamW(hf.parameters(), lr=3e-3, weight_decay=0.01)
                with ProgressBar(progress, steps, "training the tiny GPT-2") as advance:
                    for step in range(steps):
                        rows = [with_bos(tok, s) for s in toy_sentiment_sentences(32, seed=seed * 100_003 + step)]
                        width = max(map(len, rows))
                        ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])
                        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
                        logits = hf(input_ids=ids, attention_mask=mask).logits[:, :-1]
                        keep = mask[:, 1:].bool()
                        loss = torch.nn.functional.cross_entropy(logits[keep], ids[:, 1:][keep])
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                        advance(step, loss.item())
        finally:
            hf.eval()
    return model


def trained_tiny_steering_model(cache_dir: Path | None = Path("results/function_vectors"), progress: bool = True,
                                seed: int = 0):
    """A tiny GPT-2 trained on the toy sentiment language (see `train_tiny_steering_model`); cached in
    `cache_dir` after the first time. `seed` seeds the initialisation and the training sentences."""
    from arena_course.function_vectors import tiny_gpt2
    from arena_course.models import load_or_train

    model = tiny_gpt2(seed, **TINY_STEERING_CONFIG)
    key = "_".join(f"{k}{v}" for k, v in TINY_STEERING_CONFIG.items()) + f"_steps{TINY_STEERING_STEPS}"
    key += f"_seed{seed}" if seed else ""
    path = Path(cache_dir) / f".tiny_steering_model_{key}.pt" if cache_dir is not None else None
    load_or_train(model._module, path, lambda: train_tiny_steering_model(model, seed=seed, progress=progress))
    model._module.eval()
    return model
