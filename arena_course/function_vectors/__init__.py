"""Chapter 3, function vectors and steering with nnsight (exercises/3_function_vectors): its given code.

- `tasks`: the word-pair tasks (word_pairs/*.tsv), ICL prompts (`ICLDataset`), answer token ids.
- `models`: tiny nnsight-wrapped GPT-J / GPT-2 models, the tiny GPT-J trained on ICL prompts, GPT-J-6B and
  GPT-2 XL (locally or on NDIF).
- `generation`: small helpers for prompts' token ids and `model.generate`'s output (exercises 10-12).
- `nnsight_basics`, `hidden_states`, `vectors`, `steering`: the results of sections 1, 2, 3 and 4.
- `testing`: what the chapter's hidden tests share.
"""
