"""Chapter 3, section 4 (steering with activation addition): the section's result, and the tiny GPT-2 its
`--tiny` version runs on.

The result (`python exercises/3_function_vectors/12_steered_generation.py [--tiny]`) runs the student's
exercises 11-12 on GPT-2 XL (NDIF with NDIF_API_KEY, or the weights in the Hugging Face cache) or with
--tiny on a tiny GPT-2 trained on a toy language in which the feeling word decides the ending
(`toy_sentiment_sentences`): completions of Turner et al.'s prompts without and with a steering vector.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from arena_course.display import result_parser
from arena_course.function_vectors.generation import with_bos
from arena_course.function_vectors.models import ModelSetting, load_or_say_tiny, quiet_transformers
from arena_course.threads import one_thread


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
class SteeringSetup(ModelSetting):
    """What section 4's result runs on: the model, the experiments, and how to generate."""

    experiments: tuple[SteeringExperiment, ...]
    max_new_tokens: int
    n_completions: int
    generate_kwargs: dict


@dataclass
class SteeringSummary:
    results: list[tuple[SteeringExperiment, list[str], list[str]]]  # (experiment, unsteered, steered)
    path: Path
    report: str


def steering_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of section 4's result (exercise 12's `__main__`)."""
    parser = result_parser(
        "Steering with activation addition (exercises 11-12) on GPT-2 XL (NDIF with NDIF_API_KEY, or "
        "the weights in the Hugging Face cache) or with --tiny on a tiny GPT-2 trained on a toy language.",
        "a tiny GPT-2 trained on toy sentences (no download)",
    )
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
    model, remote = load_or_say_tiny(load, "12_steered_generation.py", "gpt2-xl", device=device)
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
    quiet_transformers()
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
    from arena_course.function_vectors.models import tiny_gpt2
    from arena_course.models import load_or_train

    model = tiny_gpt2(seed, **TINY_STEERING_CONFIG)
    key = "_".join(f"{k}{v}" for k, v in TINY_STEERING_CONFIG.items()) + f"_steps{TINY_STEERING_STEPS}"
    key += f"_seed{seed}" if seed else ""
    path = Path(cache_dir) / f".tiny_steering_model_{key}.pt" if cache_dir is not None else None
    load_or_train(model._module, path, lambda: train_tiny_steering_model(model, seed=seed, progress=progress))
    model._module.eval()
    return model
