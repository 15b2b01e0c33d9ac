"""Chapter 1, toy models of superposition and sparse autoencoders (exercises/1_superposition): its given code.

- `toy_models`: the toy models' training loop and the plots of sections 1-3.
- `toy_sae`: SAEs on the toy model, sections 5-7 (training loop, evaluation, plots).
- `gated_sae`: the Gated SAE section's measurements (L0, error, shrinkage γ) and figure; it trains with
  toy_sae's loop.
- `lm_sae`: SAEs on a language model, the last section (the SAE, a toy language and tiny model, the result).
- `testing`: what the chapter's hidden tests share.
"""
