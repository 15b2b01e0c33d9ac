"""Chapter 2, indirect object identification (exercises/2_ioi): its given code.

- `dataset`: the IOI prompts (templates, names), their word positions, the flipped and ABC variants.
- `models`: tiny random-init models for tests, and the tiny model trained on IOI for `--tiny` results.
- `results`: what every section's result runs on (GPT-2 small or the tiny model, and its prompts).
- `attribution`, `patching`, `path_patching`, `circuit`: the results of sections 1-2, 3, 4 and 5.
- `testing`: what the chapter's hidden tests share.
"""
