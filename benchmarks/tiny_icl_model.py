"""Train chapter 3's tiny ICL GPT-J (the `--tiny` results' model) from scratch and print what it shows.

Usage: .venv/bin/python benchmarks/tiny_icl_model.py [SEED ...]   (default: 0 1 2)

Per seed: the training's CPU time (one torch thread, as `trained_tiny_icl_gptj` trains it), and, measured
as the results measure them:
- per task, on 32 prompts of 5 examples (seed 0): right (argmax), mean P(answer) and mean P("."), clean and
  with the examples' answers shuffled (`ICLDataset.corrupted()`);
- every head's causal indirect effect on singular_plural (exercise 08's reference, as section 3's result
  computes it), how many are >= 0.05, and the grid;
- the per-pair flag: P(".") at the answer word of shuffled prompts' wrong pairs / right pairs;
- section 2's h: the shared words' zero-shot log-probability of the right answer, without and with h
  patched at block 1 (exercise 07's reference), for both tasks that share them;
- OK: the model shows the phenomenon (shuffling lowers singular_plural's P(answer) by >= 0.2, right on
  >= 90% of its clean prompts, every task >= 80%, >= 3 heads with an effect >= 0.05, and h raises the
  shared words' log-probability by > 0.4, to > -1.5, as tests/content/test_fv_hidden_states.py asks).
Run it on an otherwise idle machine: CPU time rises with load.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions" / "3_function_vectors"
sys.path.insert(0, str(ROOT))

from arena_course.function_vectors import hidden_states as fvh  # noqa: E402
from arena_course.function_vectors import models  # noqa: E402
from arena_course.function_vectors.icl_training import train_tiny_icl_gptj  # noqa: E402
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids, load_word_pairs, task_names  # noqa: E402
from arena_course.loading import load_sibling  # noqa: E402


def reference(exercise_id: str):
    """The reference's function `exercise_id` (of the exercise of that id), loaded as the results load it."""
    return getattr(load_sibling(SOLUTIONS / "result.py", exercise_id), exercise_id)


def measure(model) -> dict:
    tok = model.tokenizer
    dot = tok.convert_tokens_to_ids(".")
    rows = torch.arange(32)
    tasks = {}
    for task in task_names():
        data = ICLDataset(load_word_pairs(task), 32, 5, seed=0)
        answers = answer_token_ids(tok, data.completions)
        figures = {}
        for name, prompts in (("clean", data.prompts), ("shuffled", data.corrupted().prompts)):
            with torch.no_grad(), model.trace(prompts):
                p = model.lm_head.output[:, -1].softmax(-1).save()
            figures[name] = (float((p.argmax(-1) == answers).float().mean()), float(p[rows, answers].mean()),
                             float(p[:, dot].mean()))
        tasks[task] = figures
    data = ICLDataset(load_word_pairs("singular_plural"), 32, 5, seed=0)
    with torch.no_grad():
        effects = reference("head_indirect_effects")(model, data)
    shuffled, true = data.corrupted(), set(load_word_pairs("singular_plural"))
    with torch.no_grad(), model.trace(shuffled.prompts):
        p_dot = model.lm_head.output.softmax(-1)[:, :, dot].save()
    ids = tok(shuffled.prompts, return_tensors="pt", padding=True)["input_ids"]
    colon, a_token = tok.convert_tokens_to_ids([":", "A"])
    wrong, right = [], []
    for r in range(32):
        after_a = [i for i in range(1, ids.shape[1]) if ids[r, i] == colon and ids[r, i - 1] == a_token][:-1]
        for k, i in enumerate(after_a):
            (wrong if shuffled.examples[r][k] not in true else right).append(float(p_dot[r, i + 1]))
    h = []
    logprobs = reference("hidden_state_logprobs")
    for task, other in (fvh.AMBIGUOUS_PAIR, fvh.AMBIGUOUS_PAIR[::-1]):
        queries = fvh.ambiguous_queries(task, other)
        table = dict(load_word_pairs(task))
        answer_ids = answer_token_ids(tok, [" " + table[q] for q in queries])
        icl = ICLDataset(load_word_pairs(task), 32, 5, seed=1).prompts
        with torch.no_grad():
            clean, patched = logprobs(model, icl, [f"Q: {q}\nA:" for q in queries], answer_ids)
        h.append((float(clean.mean()), float(patched[models.TINY_TASK_VECTOR_BLOCK].mean())))
    sp = tasks["singular_plural"]
    n_heads = int((effects >= 0.05).sum())
    ok = (sp["clean"][0] >= 0.9 and sp["clean"][1] - sp["shuffled"][1] >= 0.2 and n_heads >= 3
          and min(f["clean"][0] for f in tasks.values()) >= 0.8 and all(p > c + 0.4 and p > -1.5 for c, p in h))
    return dict(tasks=tasks, effects=effects, n_heads=n_heads, flag=(statistics.mean(wrong), statistics.mean(right)),
                h=h, ok=ok)


def main(seeds: list[int]) -> None:
    for seed in seeds:
        model = models.tiny_gptj(seed, **models.TINY_ICL_CONFIG)
        start = time.process_time()
        train_tiny_icl_gptj(model, block=models.TINY_TASK_VECTOR_BLOCK, seed=seed, progress=False)
        cpu = time.process_time() - start
        m = measure(model)
        print(f"seed {seed}: training {cpu:.1f} s of CPU (load average {__import__('os').getloadavg()[0]:.1f})")
        for task, f in m["tasks"].items():
            print(f"  {task:18s} right {f['clean'][0]:.2f} / {f['shuffled'][0]:.2f}   P(answer) "
                  f"{f['clean'][1]:.2f} / {f['shuffled'][1]:.2f}   P('.') {f['clean'][2]:.2f} / {f['shuffled'][2]:.2f}   (clean / shuffled)")
        top = m["effects"].flatten().sort(descending=True).values[:5]
        print(f"  heads with an effect >= 0.05: {m['n_heads']} (top {', '.join(f'{v:+.3f}' for v in top)}; "
              f"lowest {float(m['effects'].min()):+.3f})")
        print("  effects (block x head):\n    " + str(m["effects"].numpy().round(3)).replace("\n", "\n    "))
        print(f"  flag P('.') at wrong / right pairs' answer: {m['flag'][0]:.2f} / {m['flag'][1]:.2f}")
        print("  h on the shared words, log P(answer) without -> with h: "
              + ", ".join(f"{c:.2f} -> {p:.2f}" for c, p in m["h"]))
        print(f"  OK: {m['ok']}", flush=True)


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or [0, 1, 2])
