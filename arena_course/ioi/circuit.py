"""Chapter 2, section 5: the IOI circuit, its faithfulness and the minimality of its heads.

The circuit Wang et al. found in GPT-2 small (Fig. 2 and Section 3 of the paper) is 26 attention heads
in seven classes. Each class acts at one position of the prompt (the paper's knockouts keep a circuit
head only there):

    class                  heads                                         acts at
    name mover             9.9, 10.0, 9.6                                end
    backup name mover      10.10, 10.6, 10.2, 10.1, 11.2, 9.7, 9.0, 11.9 end
    negative name mover    10.7, 11.10                                   end
    S-inhibition           7.3, 7.9, 8.6, 8.10                           end
    induction              5.5, 5.8, 5.9, 6.9                            S2
    duplicate token        0.1, 0.10, 3.0                                S2
    previous token         2.2, 4.11                                     S1+1

`GPT2_K_SETS` are the sets K for the minimality score of each head (from the paper's appendix, as in
ARENA's replication of it): mostly other heads of the same class, because heads of one class back each
other up.

The tiny model of `--tiny` results (arena_course/ioi/models.py, 3 layers x 4 heads, trained on IOI) has its own
circuit, which `find_circuit` finds with knockouts, the same tool the section uses to test circuits.
What it finds (checked in tests/content/test_ioi_circuit.py, on training runs of several seeds) is a
different algorithm from GPT-2's:

    at S2, attending to IO:        two to four layer-0 heads (e.g. 0.0 0.1 0.2; in one run of six they
                                   attend to S1 instead)
    at the end, attending to S2:   three to six heads of layers 1 and 2 (e.g. 1.0 1.2 1.3 2.1)

Layer-0 heads at S2 attend to the *other* name (the IO) and write it there (their OV circuits copy names:
exercise 18's copying score); heads of layers 1 and 2 at the end attend to S2 and move what they find
to the output, their OV circuits tending to write *minus* the name they read (negative copying): they
push the subject's logit down. (Which heads exactly depends on the training run: training is seeded,
but a library release or the floating-point order of operations changes the trained weights a little.)
Its logit difference comes out close to the full model's: F(C)/F(M) from 95% to 103% in five training
runs of six; 46% in the sixth, where some heads act at more than the one position each is kept at. What
the search leaves out can matter together: layer-0 heads at the end position (they attend to both names)
each change F by less than the search's threshold, so the search drops them one by one, though together
they can matter more. GPT-2's negative name movers are in the paper's circuit for the same
reason; the gap |F(M) - F(C)| is the criterion that notices.

`run_result` is the section's result: it runs the student's functions of exercises 19-21 (and 01's
logit difference) on a `ResultSetting` and draws results/ioi/circuit.png and minimality.png.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from arena_course.display import pyplot, save_figure
from arena_course.ioi.dataset import NAMES, IOIDataset, name_token
from arena_course.ioi.results import ResultSetting
from arena_course.threads import one_thread

Head = tuple[int, int]
Circuit = dict[str, list[Head]]  # class name -> its heads (layer, head)

# --------------------------------------------------------------------------- the paper's circuit

GPT2_CIRCUIT: Circuit = {
    "name mover": [(9, 9), (10, 0), (9, 6)],
    "backup name mover": [(10, 10), (10, 6), (10, 2), (10, 1), (11, 2), (9, 7), (9, 0), (11, 9)],
    "negative name mover": [(10, 7), (11, 10)],
    "S-inhibition": [(7, 3), (7, 9), (8, 6), (8, 10)],
    "induction": [(5, 5), (5, 8), (5, 9), (6, 9)],
    "duplicate token": [(0, 1), (0, 10), (3, 0)],
    "previous token": [(2, 2), (4, 11)],
}

# Where each class acts: a key of `IOIDataset.word_idx`.
GPT2_POSITIONS: dict[str, str] = {
    "name mover": "end",
    "backup name mover": "end",
    "negative name mover": "end",
    "S-inhibition": "end",
    "induction": "S2",
    "duplicate token": "S2",
    "previous token": "S1+1",
}

# The paper's K for each head v: the minimality score of v is |F(C \ (K ∪ {v})) - F(C \ K)|.
GPT2_K_SETS: dict[Head, set[Head]] = {
    (9, 9): set(),
    (10, 0): {(9, 9)},
    (9, 6): {(9, 9), (10, 0)},
    (10, 7): {(11, 10)},
    (11, 10): {(10, 7)},
    (8, 10): {(7, 9), (8, 6), (7, 3)},
    (7, 9): {(8, 10), (8, 6), (7, 3)},
    (8, 6): {(7, 9), (8, 10), (7, 3)},
    (7, 3): {(7, 9), (8, 10), (8, 6)},
    (5, 5): {(5, 9), (6, 9), (5, 8)},
    (5, 9): {(11, 10), (10, 7)},
    (6, 9): {(5, 9), (5, 5), (5, 8)},
    (5, 8): {(11, 10), (10, 7)},
    (0, 1): {(0, 10), (3, 0)},
    (0, 10): {(0, 1), (3, 0)},
    (3, 0): {(0, 1), (0, 10)},
    (4, 11): {(2, 2)},
    (2, 2): {(4, 11)},
    (11, 2): {(9, 9), (10, 0), (9, 6)},
    (10, 6): {(9, 9), (10, 0), (9, 6), (11, 2)},
    (10, 10): {(9, 9), (10, 0), (9, 6), (11, 2), (10, 6)},
    (10, 2): {(9, 9), (10, 0), (9, 6), (11, 2), (10, 6), (10, 10)},
    (9, 7): {(9, 9), (10, 0), (9, 6), (11, 2), (10, 6), (10, 10), (10, 2)},
    (10, 1): {(9, 9), (10, 0), (9, 6), (11, 2), (10, 6), (10, 10), (10, 2), (9, 7)},
    (11, 9): {(9, 9), (10, 0), (9, 6), (9, 0)},
    (9, 0): {(9, 9), (10, 0), (9, 6), (11, 9)},
}

# The paper's faithfulness on its dataset: the circuit keeps about 87% of the model's logit difference.
PAPER_FAITHFULNESS = 0.87


class Faithfulness(NamedTuple):
    """How well a circuit reproduces the model's behaviour (Wang et al., Section 4.1)."""

    full: float  # F(M): the full model's average logit difference
    circuit: float  # F(C): the average logit difference with everything outside the circuit mean-ablated
    ratio: float  # F(C) / F(M): the fraction of the logit difference the circuit keeps
    gap: float  # |F(M) - F(C)|: the paper's faithfulness criterion (small = faithful)


@dataclass
class CircuitSpec:
    """A circuit with what the section's functions need to test it."""

    circuit: Circuit
    positions: dict[str, str]  # class -> key of IOIDataset.word_idx
    k_sets: dict[Head, set[Head]]
    source: str  # where it comes from, for the plots' titles
    legend: str = "class"  # what the class names say, for the minimality plot's legend


def heads_of(circuit: Circuit) -> list[Head]:
    """The circuit's heads, class by class, each once."""
    heads: list[Head] = []
    for members in circuit.values():
        heads += [h for h in members if h not in heads]
    return heads


def class_of(circuit: Circuit) -> dict[Head, str]:
    """Each head's (first) class."""
    out: dict[Head, str] = {}
    for cls, members in circuit.items():
        for h in members:
            out.setdefault(h, cls)
    return out


def same_class_k_sets(circuit: Circuit) -> dict[Head, set[Head]]:
    """K(v) = the other heads of v's class: heads of a class can stand in for one another, so the
    minimality of one of them shows only once the others are gone (the paper's choice for most classes)."""
    return {h: {g for g in circuit[cls] if g != h} for h, cls in class_of(circuit).items()}


def paper_circuit() -> CircuitSpec:
    return CircuitSpec(
        {cls: list(heads) for cls, heads in GPT2_CIRCUIT.items()},
        dict(GPT2_POSITIONS),
        {h: set(k) for h, k in GPT2_K_SETS.items()},
        "Wang et al. 2022, Fig. 2",
    )


def random_circuits(circuit: Circuit, n_layers: int, n_heads: int, n: int, seed: int = 0) -> list[Circuit]:
    """`n` circuits of the same shape as `circuit` (the same classes, at the same positions, with the
    same number of heads each) made of heads drawn at random: what a circuit of that size does by chance."""
    rng = random.Random(seed)
    every = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    sizes = [len(members) for members in circuit.values()]
    out = []
    for _ in range(n):
        drawn = rng.sample(every, sum(sizes))
        start, sample = 0, {}
        for cls, size in zip(circuit, sizes):
            sample[cls] = drawn[start : start + size]
            start += size
        out.append(sample)
    return out


# --------------------------------------------------------------------------- finding a tiny model's circuit

CANDIDATE_POSITIONS: tuple[str, ...] = ("end", "S2", "S1+1")  # where the paper's classes act


def attention_between(model, data: IOIDataset, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Tensor]:
    """For each (from, to) pair of words: (layer, head), the average attention from each prompt's
    `from` word to its `to` word."""
    _, cache = model.run_with_cache(data.toks, names_filter=lambda name: name.endswith("hook_pattern"))
    rows = torch.arange(len(data))
    out = {}
    for frm, to in pairs:
        q, k = data.word_idx[frm], data.word_idx[to]
        out[frm, to] = torch.stack(
            [cache["pattern", layer][rows, :, q, k].mean(0) for layer in range(model.cfg.n_layers)]
        ).cpu()
    return out


def find_circuit(
    model,
    data: IOIDataset,
    circuit_logit_diff: Callable[[Circuit, dict[str, str]], float],
    *,
    full_logit_diff: float,
    positions: Sequence[str] = CANDIDATE_POSITIONS,
    threshold: float = 0.05,
) -> CircuitSpec:
    """A circuit for a small model, found with knockouts (mean ablation outside a candidate circuit).

    `circuit_logit_diff(circuit, positions)` is F of a circuit on `data`: the average logit difference
    with every head mean-ablated except the circuit's heads at their positions.

    1. Start from every head kept at every candidate position (everything else, i.e. other positions,
       mean-ablated). For each head, find the position where knocking it out changes F most: the head
       acts there.
    2. Keep each head at that position only, then go through the heads from the last layer to the
       first (as ACDC does, from the output back) and drop a head for good if dropping it changes F by
       less than `threshold` * F(M).
    3. Name the classes by what their heads do: the position where they act and the word they attend
       to most from there (e.g. "end → S2").

    Returns the circuit, its positions, K sets (the other heads of the same class) and a description.
    """
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    every = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    identity = {p: p for p in positions}

    # 1. Where does each head act?
    everywhere = {p: list(every) for p in positions}
    base = circuit_logit_diff(everywhere, identity)
    effect = torch.zeros(n_layers, n_heads, len(positions))
    for i, p in enumerate(positions):
        for layer, head in every:
            dropped = {q: [h for h in heads if not (q == p and h == (layer, head))] for q, heads in everywhere.items()}
            effect[layer, head, i] = base - circuit_logit_diff(dropped, identity)
    where = effect.abs().argmax(-1)

    # 2. Drop the heads that don't matter there, from the output back.
    by_position: Circuit = {p: [] for p in positions}
    for layer, head in every:
        by_position[positions[int(where[layer, head])]].append((layer, head))
    current = circuit_logit_diff(by_position, identity)
    for layer, head in sorted(every, reverse=True):
        trial = {p: [h for h in heads if h != (layer, head)] for p, heads in by_position.items()}
        value = circuit_logit_diff(trial, identity)
        if abs(current - value) < threshold * abs(full_logit_diff):
            by_position, current = trial, value

    # 3. Name the classes: position -> the word its heads attend to most.
    words = ["IO", "S1", "S1+1", "S2", "end"]
    used = [p for p, heads in by_position.items() if heads]
    attn = attention_between(model, data, [(p, w) for p in used for w in words if w != p])
    circuit: Circuit = {}
    class_positions: dict[str, str] = {}
    for p in used:
        for layer, head in sorted(by_position[p]):
            target = max((w for w in words if w != p), key=lambda w: float(attn[p, w][layer, head]))
            label = f"{p} → {target}"
            circuit.setdefault(label, []).append((layer, head))
            class_positions[label] = p
    return CircuitSpec(circuit, class_positions, same_class_k_sets(circuit), "found with knockouts",
                       legend="class: where its heads act → the word they attend to from there")


# --------------------------------------------------------------------------- the section's result


@dataclass
class CircuitResult:
    spec: CircuitSpec
    faithfulness: Faithfulness
    per_prompt_full: Tensor  # (batch,) the full model's logit difference on each prompt
    per_prompt_circuit: Tensor  # (batch,) the circuit's
    nothing: float  # F with every head mean-ablated everywhere (the empty circuit)
    random: list[float]  # F of random circuits of the same shape
    minimality: dict[Head, float]  # with the K sets
    minimality_alone: dict[Head, float]  # with K = {} (each head removed on its own)
    paths: list[Path] = field(default_factory=list)


def run_result(
    setting: ResultSetting,
    *,
    ioi_logit_diff: Callable,
    mean_ablate_outside_circuit: Callable,
    circuit_faithfulness: Callable,
    minimality_scores: Callable,
    out_dir: Path = Path("results/ioi"),
    n_random: int = 20,
    search_prompts: int = 200,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> CircuitResult:
    """The section's result with the student's functions: the circuit's logit difference against the
    full model's and random circuits' (circuit.png), and each head's minimality score (minimality.png).

    On GPT-2 small the circuit is the paper's; on the tiny model it is found first by `find_circuit`
    (on other prompts than the ones it is then tested on)."""
    if setting.tiny and torch.get_num_threads() > 1:
        # A model this small runs fastest on one thread (more threads only add synchronisation per op).
        with one_thread():
            return run_result(setting, ioi_logit_diff=ioi_logit_diff, mean_ablate_outside_circuit=mean_ablate_outside_circuit,
                              circuit_faithfulness=circuit_faithfulness, minimality_scores=minimality_scores,
                              out_dir=out_dir, n_random=n_random, search_prompts=search_prompts, seed=seed,
                              progress=progress)
    say = progress or (lambda message: None)
    model, data = setting.model, setting.clean
    means_data = data.abc(seed=seed + 1)

    def logit_diff_of(logits, on: IOIDataset, per_prompt: bool = False) -> Tensor:
        return ioi_logit_diff(logits, on, per_prompt=per_prompt).detach().float().cpu()

    def f_on(on: IOIDataset, on_means: IOIDataset) -> Callable[[Circuit, dict[str, str]], float]:
        def f(circuit: Circuit, positions: dict[str, str]) -> float:
            logits = mean_ablate_outside_circuit(model, on, on_means, circuit, positions)
            return float(logit_diff_of(logits, on))

        return f

    with torch.no_grad():
        if setting.tiny:
            say("finding the tiny model's circuit with knockouts")
            search = IOIDataset.generate(model.tokenizer, search_prompts, seed=seed + 1000)
            spec = find_circuit(
                model,
                search,
                f_on(search, search.abc(seed=seed + 1001)),
                full_logit_diff=float(logit_diff_of(model(search.toks), search)),
            )
        else:
            spec = paper_circuit()
        f = f_on(data, means_data)

        say("faithfulness: the full model, the circuit, the empty circuit")
        full_logits = model(data.toks)
        circuit_logits = mean_ablate_outside_circuit(model, data, means_data, spec.circuit, spec.positions)
        faith = Faithfulness(*(float(v) for v in circuit_faithfulness(full_logits, circuit_logits, data)))
        per_full = logit_diff_of(full_logits, data, per_prompt=True)
        per_circuit = logit_diff_of(circuit_logits, data, per_prompt=True)
        nothing = f({}, spec.positions)

        say(f"{n_random} random circuits of the same size")
        random_f = [
            f(c, spec.positions)
            for c in random_circuits(spec.circuit, model.cfg.n_layers, model.cfg.n_heads, n_random, seed=seed)
        ]

        say("minimality scores")
        of_circuit = lambda c: f(c, spec.positions)  # noqa: E731 - F(C) for minimality_scores
        scores = {tuple(h): float(v) for h, v in minimality_scores(of_circuit, spec.circuit, spec.k_sets).items()}
        alone = {
            tuple(h): float(v)
            for h, v in minimality_scores(of_circuit, spec.circuit, {h: set() for h in heads_of(spec.circuit)}).items()
        }

    result = CircuitResult(spec, faith, per_full, per_circuit, nothing, random_f, scores, alone)
    out_dir = Path(out_dir)
    name = setting.model_name
    result.paths = [
        plot_circuit(result, name, out_dir / f"circuit{setting.suffix}.png"),
        plot_minimality(result, name, out_dir / f"minimality{setting.suffix}.png"),
    ]
    return result


def class_colours(circuit: Circuit) -> dict[str, Any]:
    plt = pyplot()
    palette = plt.get_cmap("tab10").colors
    return {cls: palette[i % len(palette)] for i, cls in enumerate(circuit)}


def head_label(head: Head) -> str:
    return f"{head[0]}.{head[1]}"


def plot_circuit(result: CircuitResult, model_name: str, path: Path) -> Path:
    """Left: the average logit difference of the full model, the circuit, random circuits of the same
    shape (one dot each) and the empty circuit. Right: per prompt, the circuit's logit difference
    against the full model's."""
    plt = pyplot()
    faith = result.faithfulness
    fig, (ax, ax_p) = plt.subplots(1, 2, figsize=(12.5, 4.8), gridspec_kw=dict(width_ratios=[1.15, 1]))

    labels = ["full model\nF(M)", "circuit\nF(C)", f"random circuits\nof the same size\n(n = {len(result.random)})",
              "every head\nmean-ablated"]
    random_mean = sum(result.random) / max(len(result.random), 1)
    values = [faith.full, faith.circuit, random_mean, result.nothing]
    colours = ["tab:green", "tab:blue", "0.65", "tab:red"]
    bars = ax.bar(range(4), values, color=colours, width=0.65)
    jitter = random.Random(0)
    ax.scatter([2 + jitter.uniform(-0.2, 0.2) for _ in result.random], result.random, s=12, color="0.25", zorder=3)
    tops = [faith.full, faith.circuit, max([random_mean, *result.random]), result.nothing]
    for bar, value, top in zip(bars, values, tops):
        ax.text(bar.get_x() + bar.get_width() / 2, top if value >= 0 else value, f"{value:.2f}", ha="center",
                va="bottom" if value >= 0 else "top", fontsize=9)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(range(4), labels, fontsize=9)
    ax.set_ylabel("average logit difference (IO − S)")
    ax.set_title(
        f"F(C) / F(M) = {faith.ratio:.0%}    |F(M) − F(C)| = {faith.gap:.2f}"
        + (f"  ({faith.gap / abs(faith.full):.0%} of F(M))" if faith.full else ""),
        fontsize=10,
    )

    full, circ = result.per_prompt_full.numpy(), result.per_prompt_circuit.numpy()
    ax_p.scatter(full, circ, s=10, alpha=0.6, color="tab:blue")
    lo, hi = float(min(full.min(), circ.min(), 0)), float(max(full.max(), circ.max()))
    ax_p.plot([lo, hi], [lo, hi], color="0.4", ls="--", lw=1, label="circuit = full model")
    ax_p.axhline(0, color="0.7", lw=0.7)
    ax_p.set_xlabel("full model's logit difference")
    ax_p.set_ylabel("circuit's logit difference")
    right = float((result.per_prompt_circuit > 0).float().mean())
    ax_p.set_title(f"Per prompt ({len(full)} prompts): the circuit prefers IO on {right:.0%} of them", fontsize=10)
    ax_p.legend(fontsize=8, loc="upper left")

    n = len(heads_of(result.spec.circuit))
    fig.suptitle(f"The IOI circuit of {model_name}: {n} heads ({result.spec.source}), the rest mean-ablated "
                 "(ABC means per template)", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_minimality(result: CircuitResult, model_name: str, path: Path) -> Path:
    r"""One bar per circuit head, coloured by class: its minimality score |F(C \ (K ∪ {v})) − F(C \ K)|
    with the K sets; a black outline shows the score with K = {} (the head removed on its own)."""
    plt = pyplot()
    circuit = result.spec.circuit
    heads = heads_of(circuit)
    classes = class_of(circuit)
    colours = class_colours(circuit)
    fig, ax = plt.subplots(figsize=(max(6.5, 0.42 * len(heads) + 3), 4.8))
    xs = range(len(heads))
    ax.bar(xs, [result.minimality[h] for h in heads], color=[colours[classes[h]] for h in heads], width=0.7)
    ax.bar(xs, [result.minimality_alone[h] for h in heads], fill=False, edgecolor="black", lw=1.0, width=0.7,
           label="K = {} (the head alone)")
    ax.set_xticks(list(xs), [head_label(h) for h in heads], rotation=90 if len(heads) > 12 else 0, fontsize=9)
    ax.set_xlabel("head (layer.head)")
    ax.set_ylabel("|F(C \\ (K ∪ {v})) − F(C \\ K)|")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in circuit]
    handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, edgecolor="black"))
    ax.legend(handles, [*circuit, "K = {}: the head removed alone"], fontsize=8, ncol=2 if len(circuit) > 4 else 1,
              title=result.spec.legend, title_fontsize=8)
    f_c = result.faithfulness.circuit
    if f_c:
        secondary = ax.secondary_yaxis("right", functions=(lambda y: 100 * y / abs(f_c), lambda p: p * abs(f_c) / 100))
        secondary.set_ylabel("% of F(C)")
    ax.set_title(f"Minimality of each head of the IOI circuit of {model_name}\n"
                 f"(coloured: with its set K; F(C) = {f_c:.2f})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def describe(result: CircuitResult) -> list[str]:
    """A few lines for the terminal: the numbers and what to look for."""
    faith, spec = result.faithfulness, result.spec
    random_mean = sum(result.random) / max(len(result.random), 1)
    lines = [
        "Circuit: " + "; ".join(f"{cls} ({spec.positions[cls]}): {' '.join(head_label(h) for h in heads)}"
                                for cls, heads in spec.circuit.items()),
        f"F(M) = {faith.full:.3f}, F(C) = {faith.circuit:.3f}: F(C)/F(M) = {faith.ratio:.1%}, "
        f"|F(M) - F(C)| = {faith.gap:.3f}; random circuits of the same size: {random_mean:.3f} on average; "
        f"every head mean-ablated: {result.nothing:.3f}.",
    ]
    top = sorted(result.minimality.items(), key=lambda kv: -kv[1])[:3]
    lines.append("Largest minimality scores: " + ", ".join(f"{head_label(h)} {v:.3f}" for h, v in top)
                 + "; smallest: " + ", ".join(f"{head_label(h)} {v:.3f}"
                                              for h, v in sorted(result.minimality.items(), key=lambda kv: kv[1])[:2]))
    return lines


def head_validation(model, circuit: Circuit, here: str | Path) -> list[str]:
    """Lines for the terminal: the circuit's classes checked with exercises 15 and 18, the student's files
    next to `here` (duplicate-token and induction scores on repeated random tokens, copying scores of the
    OV circuit on the names). Empty if those files are not there; one line if they are not done yet."""
    from arena_course.loading import load_sibling

    try:
        repeated = load_sibling(here, "repeated_token_scores")
        copying = load_sibling(here, "copying_scores")
    except FileNotFoundError:
        return []
    seq_len = validation_length(model)
    names = torch.tensor([name_token(model.tokenizer, n) for n in NAMES])
    try:
        with torch.no_grad():
            duplicate, induction = repeated_scores(repeated, model)
            positive = copying.copying_scores(model, names).detach().float().cpu()
            negative = copying.copying_scores(model, names, negative=True).detach().float().cpu()
    except NotImplementedError:
        return ["(Head validation: finish exercises 15 and 18 to see the classes checked here.)"]

    width = max(len(cls) for cls in circuit) + 2
    lines = [
        f"Head validation (exercises 15 and 18), averages over each class's heads: attention on repeated random "
        f"tokens ({seq_len} tokens, repeated) to the token's earlier copy (duplicate) and to the token after it "
        f"(induction); copying scores of the OV circuit on {len(names)} names (top 5 of the logits).",
        f"  {'class':<{width}}duplicate  induction  copying  negative copying",
    ]
    for cls, heads in circuit.items():
        mean = lambda grid: float(torch.stack([grid[layer, head] for layer, head in heads]).mean())  # noqa: E731
        lines.append(f"  {cls:<{width}}{mean(duplicate):>9.2f}  {mean(induction):>9.2f}  {mean(positive):>7.0%}  "
                     f"{mean(negative):>16.0%}")
    lines.append(f"  (the model's {strongest(duplicate, induction)})")
    return lines


def validation_length(model) -> int:
    """How many random tokens the head checks repeat: at most 50, and twice that must fit the context."""
    return min(50, (model.cfg.n_ctx - 1) // 2)


def validation_tokens(repeated, model) -> Tensor:
    """The tokens every head check here runs on: 20 sequences of random tokens said twice (exercise 15's
    `repeated_random_tokens`, from the student's module `repeated`)."""
    return repeated.repeated_random_tokens(model, validation_length(model), 20, seed=0)


def repeated_scores(repeated, model) -> tuple[Tensor, Tensor]:
    """Exercise 15's duplicate-token and induction scores (layer, head) of `model`, with the student's
    module `repeated`, on 20 sequences of random tokens said twice (as long as the context allows)."""
    tokens = validation_tokens(repeated, model)
    return tuple(t.detach().float().cpu() for t in repeated.repeated_token_scores(model, tokens))


def strongest(duplicate: Tensor, induction: Tensor) -> str:
    top_duplicate = divmod(int(duplicate.argmax()), duplicate.shape[1])
    top_induction = divmod(int(induction.argmax()), induction.shape[1])
    return (f"most duplicate-token head: {head_label(top_duplicate)}, score {float(duplicate.max()):.2f}; "
            f"most induction head: {head_label(top_induction)}, score {float(induction.max()):.2f}")


def duplicate_token_model_check(here: str | Path, progress: bool = True) -> list[str]:
    """Lines for the terminal, for `--tiny`: exercise 15's scores (the student's file next to `here`) on a
    second tiny model, trained first on random tokens that come back and are said again
    (`models.DUPLICATE_TOKEN_RECIPE`), which grows the duplicate-token heads the circuit's model lacks.
    Empty if exercise 15's file is not there; one line if it is not done yet."""
    from arena_course.ioi.models import DUPLICATE_TOKEN_RECIPE, trained_tiny_ioi_model
    from arena_course.loading import load_sibling

    try:
        repeated = load_sibling(here, "repeated_token_scores")
    except FileNotFoundError:
        return []
    model = trained_tiny_ioi_model(recipe=DUPLICATE_TOKEN_RECIPE, progress=progress)
    try:
        with torch.no_grad():
            duplicate, induction = repeated_scores(repeated, model)
    except NotImplementedError:
        return ["(Finish exercise 15 to see its scores on a tiny model that has duplicate-token heads.)"]
    return [
        "The same scores (exercise 15) on a second tiny model, trained first on random tokens in which some "
        "come back and are said twice, then on IOI: its " + strongest(duplicate, induction) + ". That "
        "training grows duplicate-token heads in layer 0 (0.57-0.67 in three seeds), not induction heads; "
        "its IOI circuit is not the one above, which is why the results use the model trained on IOI alone."
    ]


def previous_token_validation(model, circuit: Circuit, here: str | Path) -> list[str]:
    """Lines for the terminal: the previous-token heads checked with exercises 16 and 17, the student's files
    next to `here`: every class's previous-token score on repeated random tokens, then the induction scores of
    the induction heads with the previous-token heads mean-ablated. The heads are the circuit's classes
    "previous token" and "induction" when it has them (GPT-2 small: 2.2 and 4.11; 5.5, 5.8, 5.9 and 6.9),
    else the model's two strongest previous-token heads and the two strongest induction heads in later
    layers. Empty if those files are not there; one line if they are not done yet."""
    from arena_course.loading import load_sibling

    try:
        repeated = load_sibling(here, "repeated_token_scores")
        previous = load_sibling(here, "previous_token_scores")
        ablation = load_sibling(here, "induction_without_previous_token")
    except FileNotFoundError:
        return []
    n_heads = model.cfg.n_heads
    try:
        with torch.no_grad():
            tokens = validation_tokens(repeated, model)
            _, induction = (t.detach().float().cpu() for t in repeated.repeated_token_scores(model, tokens))
            prev = previous.previous_token_scores(model, tokens).detach().float().cpu()
            prev_heads = list(circuit.get("previous token", [])) or strongest_heads(prev, 2, before=model.cfg.n_layers - 1)
            first = min(layer for layer, _ in prev_heads) + 1
            ind_heads = list(circuit.get("induction", [])) or strongest_heads(induction, 2, after=first)
            after = ablation.induction_without_previous_token(model, tokens, prev_heads).detach().float().cpu()
    except NotImplementedError:
        return ["(Previous-token heads: finish exercises 16 and 17 to see them checked here.)"]

    width = max(len(cls) for cls in circuit) + 2
    lines = [f"Previous-token scores (exercise 16, attention to the position before, on the same tokens), averages "
             f"over each class's heads; the model's most previous-token head: "
             f"{head_label(divmod(int(prev.argmax()), n_heads))} ({float(prev.max()):.2f})"
             + (": no head of this model attends mainly to the previous token." if float(prev.max()) < 0.5 else ".")]
    lines += [f"  {cls:<{width}}{float(torch.stack([prev[h] for h in heads]).mean()):>9.2f}"
              for cls, heads in circuit.items()]
    before_mean = float(torch.stack([induction[h] for h in ind_heads]).mean())
    after_mean = float(torch.stack([after[h] for h in ind_heads]).mean())
    drop = before_mean - after_mean
    verdict = ("a clear drop: these induction heads find their target through what the previous-token heads wrote"
               if drop > 0.25 * max(before_mean, 1e-6) else
               "no clear drop: on this model these induction heads don't depend on those heads (or don't do induction)")
    lines.append(
        f"Induction heads {', '.join(head_label(h) for h in ind_heads)} (exercise 17): induction score "
        f"{before_mean:.2f} -> {after_mean:.2f} with the previous-token heads "
        f"{', '.join(head_label(h) for h in prev_heads)} mean-ablated; {verdict}."
    )
    return lines


def strongest_heads(scores: Tensor, n: int, *, before: int | None = None, after: int = 0) -> list[Head]:
    """The n heads with the largest scores among layers `after` <= layer < `before` (all layers by default)."""
    n_layers, n_heads = scores.shape
    allowed = [(layer, head) for layer in range(after, before if before is not None else n_layers)
               for head in range(n_heads)]
    return sorted(allowed, key=lambda h: -float(scores[h]))[:n]
