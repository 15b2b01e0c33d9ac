"""The course's given code: what exercises import but students don't write (training loops, plots,
tiny models, datasets), one package per chapter (`superposition`, `ioi`, `function_vectors`: each with the
helpers its hidden tests share, in `testing`), and what every chapter uses: `display`, `models`, `threads`,
`loading`, and `testing` (the checks every chapter's hidden tests share).

The CLI itself never imports it; arena's warm worker imports every module of it and calls `warm_worker()`
once, before it forks a child per test run (arena_cli/worker.py)."""


def warm_worker() -> None:
    """Build and run the course's tiny models once, in the warm worker, so that every test child skips the
    first build's lazy imports and caches (0.1-0.8 s per hidden test on a busy machine), and builds the
    chapter 3 tokenizer (cached per process). Never an nnsight trace: its source cache would go stale in
    the children (docs/offline_models.md). Nothing here may depend on a student's file."""
    import torch

    from arena_course.function_vectors.models import fv_tokenizer, tiny_gpt2, tiny_gptj
    from arena_course.ioi.dataset import ioi_tokenizer
    from arena_course.models import tiny_model

    model = tiny_model(n_layers=1, d_model=16, n_heads=2, words=None, d_vocab=8)
    with torch.no_grad():
        model.run_with_cache(torch.tensor([[1, 2, 3]]))
    model.enable_compatibility_mode(disable_warnings=True)
    ioi_tokenizer()
    fv_tokenizer()
    for tiny in (tiny_gptj, tiny_gpt2):
        with torch.no_grad():
            tiny(n_layers=1)._module(torch.tensor([[1, 2, 3]]))  # the Hugging Face model, not traced
