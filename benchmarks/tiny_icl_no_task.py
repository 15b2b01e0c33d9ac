"""Chapter 3: train the tiny ICL GPT-J with shuffled prompts answered "." (no task) and measure P(answer)
clean vs shuffled, P("."), the heads' CIEs and the per-pair flag. Usage: tiny_icl_no_task.py '{"shuffled": 0.3}'"""
import sys, time, importlib.util, json
import torch
from arena_course.function_vectors import models as M
from arena_course.function_vectors.tasks import ICLDataset, load_word_pairs, answer_token_ids, task_names

kw = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
seed = kw.pop("seed", 0)
cfg = dict(M.TINY_ICL_CONFIG); cfg.update(kw.pop("config", {}))
model = M.tiny_gptj(seed, **cfg)
t0 = time.process_time(); w0 = time.time()
M.train_tiny_icl_gptj(model, seed=seed, progress=False, **kw)
print(f"train CPU {time.process_time()-t0:.1f}s wall {time.time()-w0:.1f}s", kw, cfg, "seed", seed)
spec = importlib.util.spec_from_file_location("s08", "solutions/3_function_vectors/08_head_indirect_effects.py")
s08 = importlib.util.module_from_spec(spec); spec.loader.exec_module(s08)
tok = model.tokenizer
nt = tok.convert_tokens_to_ids(kw.get("no_task", "."))
for task in task_names():
    data = ICLDataset(load_word_pairs(task), 32, 5, seed=0)
    ans = answer_token_ids(tok, data.completions); rows = torch.arange(32)
    out = {}
    for name, prompts in (("clean", data.prompts), ("shuf", data.corrupted().prompts)):
        with torch.no_grad(), model.trace(prompts):
            p = model.lm_head.output[:, -1].softmax(-1).save()
        out[name] = (float((p.argmax(-1) == ans).float().mean()), float(p[rows, ans].mean()), float(p[:, nt].mean()))
    print(f"{task:18s} clean right/P/Pno {out['clean'][0]:.2f}/{out['clean'][1]:.2f}/{out['clean'][2]:.2f}"
          f"  shuffled {out['shuf'][0]:.2f}/{out['shuf'][1]:.2f}/{out['shuf'][2]:.2f}")
data = ICLDataset(load_word_pairs("singular_plural"), 32, 5, seed=0)
with torch.no_grad():
    eff = s08.head_indirect_effects(model, data)
flat = eff.flatten().sort(descending=True).values
print("CIE grid (singular_plural):\n", eff.numpy().round(3))
print("top5", flat[:5].numpy().round(3), "min", float(flat[-1]), "n>=0.05", int((flat >= 0.05).sum()))


# local flag: P(no_task) at y_i positions of shuffled prompts, mismatched vs matched pairs
sh = data.corrupted(); true = set(load_word_pairs("singular_plural"))
with torch.no_grad(), model.trace(sh.prompts):
    lp = model.lm_head.output.softmax(-1)[:, :, nt].save()
enc = tok(sh.prompts, return_tensors="pt", padding=True); ids = enc["input_ids"]
colon, a_tok = tok.convert_tokens_to_ids(":"), tok.convert_tokens_to_ids("A")
mis, mat = [], []
for r in range(32):
    pos = [i for i in range(1, ids.shape[1]) if ids[r, i] == colon and ids[r, i - 1] == a_tok][:-1]
    for k, i in enumerate(pos):
        (mis if sh.examples[r][k] not in true else mat).append(float(lp[r, i + 1]))
import statistics as st
print(f"flag at y_i: P(no_task) mismatched {st.mean(mis):.2f} (n={len(mis)}), matched {st.mean(mat) if mat else float('nan'):.2f} (n={len(mat)})")
