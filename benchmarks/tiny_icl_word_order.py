"""Experiment (reverted in the next commit): train the tiny ICL GPT-J with the word-order twin tasks;
print P(answer) clean vs shuffled, the top causal indirect effects, and the five tasks' accuracy.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/tiny_icl_word_order.py '{"word_order": 1.0, "pool": 12}'
"""
import json, sys, time
import torch
from arena_course.function_vectors import models as M
from arena_course.function_vectors.tasks import ICLDataset, answer_token_ids, task_names
from arena_course.function_vectors.tasks import load_word_pairs
from arena_course.loading import load_sibling
from pathlib import Path

import arena_course.display as D
class PB:
    def __init__(self, enabled, steps, description="", every=50): self.losses = []
    def __enter__(self):
        def adv(step, loss):
            self.losses.append(loss)
            if (step + 1) % 100 == 0:
                print(f"  step {step+1} loss {sum(self.losses[-50:])/50:.3f}", flush=True)
        return adv
    def __exit__(self, *a): pass
D.ProgressBar = PB
kw = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
seed = kw.pop("seed", 0)
pool = kw.pop("pool", None)
if pool:
    import arena_course.function_vectors.tasks as T
    orig = T.load_word_pairs
    def lwp(task):
        if task in T.WORD_ORDER_TASKS:
            return tuple(p for p in orig(task) if all(w in dict(orig("singular_plural")) and list(dict(orig("singular_plural"))).index(w) < pool for w in p[0].split()))
        return orig(task)
    M.load_word_pairs = lwp
    load_word_pairs = lwp
    print("pairs", len(lwp("first_word")))
cfg = dict(M.TINY_ICL_CONFIG); cfg.update(kw.pop("config", {}))
model = M.tiny_gptj(seed, **cfg)
t = time.process_time(); w = time.time()
M.train_tiny_icl_gptj(model, seed=seed, progress=True, **kw)
print(f"train cpu {time.process_time()-t:.1f}s wall {time.time()-w:.1f}s", kw, cfg, "seed", seed)
hie = load_sibling(Path(__file__).resolve().parents[1] / Path("solutions/3_function_vectors/10_generate_with_function_vector.py"),
                   "head_indirect_effects").head_indirect_effects

def stats(data):
    ans = answer_token_ids(model.tokenizer, data.completions)
    out = []
    for prompts in (data.prompts, data.corrupted().prompts):
        with torch.no_grad(), model.trace(prompts):
            p = model.lm_head.output[:, -1].softmax(-1).save()
        words = [q.split() for q in data.queries]
        if len(words[0]) == 2:
            ids = [answer_token_ids(model.tokenizer, [" " + w[i] for w in words]) for i in (0, 1)]
            both = p[torch.arange(len(ans)), ids[0]] + p[torch.arange(len(ans)), ids[1]]
            print(f"  P(either query word) {float(both.mean()):.2f}")
        p = p[torch.arange(len(ans)), ans]
        top = None
        out.append((float(p.mean()),))
    return out

torch.set_num_threads(1)
for task in ["first_word", "second_word"] + (["singular_plural"] if kw.get("word_order", 0.5) < 1 else []):
    data = ICLDataset(load_word_pairs(task), 32, 5, seed=0)
    (c,), (s,) = stats(data)
    with torch.no_grad():
        e = hie(model, data)
    top = e.flatten().topk(5)
    print(f"{task}: P clean {c:.2f} shuffled {s:.2f}; top CIE", ", ".join(f"{int(i)//e.shape[1]}.{int(i)%e.shape[1]}:{float(v):+.3f}" for v, i in zip(top.values, top.indices)), f"min {float(e.min()):+.3f}")
accs = {}
for task in task_names():
    data = ICLDataset(load_word_pairs(task), 32, 5, seed=0)
    ans = answer_token_ids(model.tokenizer, data.completions)
    with torch.no_grad(), model.trace(data.prompts):
        top = model.lm_head.output[:, -1].argmax(-1).save()
    accs[task] = float((top == ans).float().mean())
print("five tasks right:", {k: round(v, 2) for k, v in accs.items()})
