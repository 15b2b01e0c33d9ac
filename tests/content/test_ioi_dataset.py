"""The IOI dataset of chapter 2 (arena_course/ioi/dataset.py, models.py): prompts, positions, variants, tokenizers."""

from pathlib import Path

import pytest
import torch

from arena_course.ioi.dataset import ABBA_TEMPLATES, BABA_TEMPLATES, NAMES, IOIDataset, IOIPrompt, ioi_tokenizer
from arena_course.ioi.dataset import name_token
from arena_course.ioi.models import sequences_with_repeats, tiny_ioi_model


@pytest.fixture(scope="module")
def tok():
    return ioi_tokenizer()


def test_a_prompt_reads_as_the_paper_writes_it():
    p = IOIPrompt("When [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]", "Mary", "John", "store", "drink")
    assert p.text == "When John and Mary went to the store, John gave a drink to"
    assert p.order == "BABA"
    q = IOIPrompt(ABBA_TEMPLATES[5], "Mary", "John", "store", "drink")
    assert q.text == "After Mary and John went to the store, John gave a drink to"
    assert q.order == "ABBA"


def test_positions_point_at_the_names_and_the_end(tok):
    data = IOIDataset.generate(tok, 40, seed=3)
    rows = torch.arange(len(data))
    assert (data.toks[rows, data.word_idx["IO"]] == data.io_tokens).all()
    assert (data.toks[rows, data.word_idx["S1"]] == data.s_tokens).all()
    assert (data.toks[rows, data.word_idx["S2"]] == data.s_tokens).all()
    assert (data.word_idx["S1"] < data.word_idx["S2"]).all()
    assert (data.word_idx["S2"] < data.word_idx["end"]).all()
    assert (data.word_idx["S1+1"] == data.word_idx["S1"] + 1).all()
    for i, prompt in enumerate(data.prompts):  # "end" is the last token of the prompt: "to"
        end = int(data.word_idx["end"][i])
        assert tok.convert_ids_to_tokens(int(data.toks[i, end])) == prompt.text.split()[-1]
        assert (data.toks[i, end + 1 :] == tok.bos_token_id).all()  # right padding
    assert data.toks[:, 0].eq(tok.bos_token_id).all()
    assert [p.order for p in data.prompts[:4]] == ["BABA", "ABBA", "BABA", "ABBA"]
    io_first = data.word_idx["IO"] < data.word_idx["S1"]
    assert io_first.tolist() == [p.order == "ABBA" for p in data.prompts]


def test_same_seed_same_prompts_and_orders(tok):
    a, b = IOIDataset.generate(tok, 10, seed=5), IOIDataset.generate(tok, 10, seed=5)
    assert a.sentences == b.sentences and torch.equal(a.toks, b.toks)
    assert a.sentences != IOIDataset.generate(tok, 10, seed=6).sentences
    assert {p.order for p in IOIDataset.generate(tok, 10, order="ABBA").prompts} == {"ABBA"}
    with pytest.raises(ValueError, match="order"):
        IOIDataset.generate(tok, 2, order="CABA")


def test_flipped_repeats_the_other_name_so_the_answer_flips(tok):
    """Clean "When John and Mary ..., John gave a drink to" -> corrupted "... Mary gave a drink to"."""
    data = IOIDataset.generate(tok, 20, seed=1)
    flipped = data.flipped()
    assert torch.equal(flipped.io_tokens, data.s_tokens) and torch.equal(flipped.s_tokens, data.io_tokens)
    assert torch.equal(flipped.word_idx["IO"], data.word_idx["S1"])
    assert torch.equal(flipped.word_idx["S1"], data.word_idx["IO"])
    for key in ("end", "S2"):
        assert torch.equal(flipped.word_idx[key], data.word_idx[key])
    differs = flipped.toks != data.toks
    assert torch.equal(differs.nonzero()[:, 1], data.word_idx["S2"])  # one token per prompt: S2
    assert [p.order for p in flipped.prompts] == [{"BABA": "ABBA", "ABBA": "BABA"}[p.order] for p in data.prompts]
    p = IOIPrompt("When [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]", "Mary", "John", "store", "drink")
    assert IOIDataset([p], tok).flipped().sentences == ["When John and Mary went to the store, Mary gave a drink to"]


def test_abc_names_three_different_people_in_the_same_sentence(tok):
    data = IOIDataset.generate(tok, 20, seed=2)
    abc = data.abc()
    assert abc.toks.shape == data.toks.shape
    for key in ("IO", "S1", "S2", "end"):
        assert torch.equal(abc.word_idx[key], data.word_idx[key]), key
    rows = torch.arange(len(abc))
    names = torch.stack([abc.toks[rows, abc.word_idx[k]] for k in ("IO", "S1", "S2")], 1)
    assert all(len(set(r)) == 3 for r in names.tolist())  # no name repeated
    same = (abc.toks == data.toks) | torch.isin(data.toks, torch.tensor([name_token(tok, n) for n in NAMES]))
    assert same.all()  # only names changed
    assert [p.template for p in abc.prompts] == [p.template for p in data.prompts]


def test_groups_share_a_template_and_a_length(tok):
    data = IOIDataset.generate(tok, 60, seed=0)
    seen = sorted(int(i) for g in data.groups for i in g)
    assert seen == list(range(60))
    for g in data.groups:
        assert len({data.prompts[int(i)].template for i in g}) == 1
        assert len({int(data.word_idx["end"][int(i)]) for i in g}) == 1


def test_every_template_tokenizes_with_one_token_per_word(tok):
    for t in (*BABA_TEMPLATES, *ABBA_TEMPLATES):
        p = IOIPrompt(t, "Mary", "John", "store", "drink")
        ids = tok.encode(p.text, add_special_tokens=False)
        assert tok.unk_token_id not in ids, p.text
    with pytest.raises(ValueError, match="one token"):
        name_token(tok, "Mary Ann")


def test_a_tiny_model_runs_on_the_prompts(tok):
    model = tiny_ioi_model(seed=0)
    data = IOIDataset.generate(model.tokenizer, 8)
    logits = model(data.toks)
    assert logits.shape == (*data.toks.shape, len(tok))
    same = tiny_ioi_model(seed=0)(data.toks)
    assert torch.equal(logits, same)


def test_repeat_sequences_mark_the_tokens_said_again(tok):
    """The repeat sequences train_on_ioi can mix in: BOS, then ordinary tokens; each marked position holds a
    token that came earlier and is followed by itself; no special token after BOS"""
    tokens, known = sequences_with_repeats(tok, 16, torch.Generator().manual_seed(0))
    assert tokens.shape == known.shape == (16, 31)
    assert (tokens[:, 0] == tok.bos_token_id).all()
    assert not torch.isin(tokens[:, 1:], torch.tensor(tok.all_special_ids)).any()
    assert known.any(dim=1).all() and not known[:, 0].any() and not known[:, -1].any()
    for row, pos in known.nonzero().tolist():
        assert tokens[row, pos + 1] == tokens[row, pos], (row, pos)
        assert (tokens[row, 1:pos] == tokens[row, pos]).any(), (row, pos)
    again = sequences_with_repeats(tok, 16, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], tokens) and torch.equal(again[1], known)


def test_the_trained_tiny_model_does_ioi(trained_ioi_model):
    """The --tiny results' model prefers the IO name to S on prompts it never saw."""
    data = IOIDataset.generate(trained_ioi_model.tokenizer, 100, seed=12345)
    with torch.no_grad():
        logits = trained_ioi_model(data.toks)[torch.arange(100), data.word_idx["end"]]
    diff = logits.gather(1, data.io_tokens[:, None]) - logits.gather(1, data.s_tokens[:, None])
    assert float(diff.mean()) > 3.0
    assert float((logits.argmax(-1) == data.io_tokens).float().mean()) > 0.9


def test_the_duplicate_token_recipe_grows_a_duplicate_token_head_and_still_does_ioi(seed):
    """The second --tiny model of section 5's result (`DUPLICATE_TOKEN_RECIPE`): exercise 15's reference finds
    a head whose duplicate-token score is at least 0.5 (0.57-0.67 in seeds 0-2), and the model still
    completes IOI prompts it never saw."""
    from arena_course.ioi.circuit import repeated_scores
    from arena_course.ioi.models import DUPLICATE_TOKEN_RECIPE, trained_tiny_ioi_model
    from arena_course.loading import load_sibling

    reference = load_sibling(Path(__file__).parents[2] / "solutions/2_ioi/21_minimality_scores.py", "repeated_token_scores")
    model = trained_tiny_ioi_model(cache_dir=None, progress=False, seed=seed, recipe=DUPLICATE_TOKEN_RECIPE)
    with torch.no_grad():
        duplicate, _ = repeated_scores(reference, model)
        data = IOIDataset.generate(model.tokenizer, 100, seed=12345)
        logits = model(data.toks)[torch.arange(100), data.word_idx["end"]]
    assert float(duplicate.max()) >= 0.5, duplicate
    assert float((logits.argmax(-1) == data.io_tokens).float().mean()) > 0.9
