"""Token classification: sub-token alignment, windows, entity metrics, baselines, spans."""

import numpy as np
import pytest
import torch

from transferkit.backbones.tokens import TokenEncoder, best_window, plan_windows
from transferkit.data.tags import IGNORE, encode_tags, tag_classes
from transferkit.tasks import get_task
from transferkit.tasks.tokens import entity_metrics, memoriser_tags, sentence_tags, word_rows


@pytest.fixture(scope="module")
def minilm():
    from transferkit.backbones import create_backbone

    return create_backbone("minilm").eval()


def test_first_sub_token_carries_each_word(minilm):
    enc = TokenEncoder(minilm)
    words = ["Unbelievably", "Paris", "tokenisation", "!"]
    batch = enc.collate([words, ["hi"]])
    tok = minilm.tokenizer
    for w, word in enumerate(words):
        pieces = tok(word, add_special_tokens=False)["input_ids"]
        assert len(pieces) >= 1
        got = batch["input_ids"][batch["word_window"][0, w], batch["word_pos"][0, w]]
        assert int(got) == pieces[0]  # the word's first sub-token
    assert len(tok("Unbelievably", add_special_tokens=False)["input_ids"]) > 1  # a real multi-piece word
    assert batch["word_mask"].tolist() == [[True] * 4, [True, False, False, False]]
    with torch.inference_mode():
        f = enc(batch)
    assert f.shape == (2, 4, 384) and float(f[1, 1:].abs().sum()) == 0.0  # padding is zero
    # the same weights under the same keys as the text backbone: a token run loads as a backbone
    assert enc.state_dict().keys() == minilm.state_dict().keys()


def test_windows_cover_long_sentences_and_merge_back(minilm):
    assert plan_windows(10, 4, 2) == [0, 2, 4, 6] and plan_windows(3, 4, 2) == [0]
    assert best_window(5, [0, 2, 4, 6], 4) == 2  # position 5: at the edge of window 2..5, inside 4..7
    assert best_window(0, [0, 2], 4) == 0
    words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"] * 3
    short = TokenEncoder(minilm, window=6, stride=3)
    full = TokenEncoder(minilm)
    b_short, b_full = short.collate([words]), full.collate([words])
    assert b_short["input_ids"].shape[0] > 1 and b_full["input_ids"].shape[0] == 1
    with torch.inference_mode():
        a, b = short(b_short), full(b_full)
    assert a.shape == b.shape == (1, 27, 384)
    # each word read in a window still agrees with the whole-sentence reading more than chance
    cos = torch.nn.functional.cosine_similarity(a[0], b[0], dim=-1)
    assert float(cos.mean()) > 0.5


def test_split_reads_the_same_words_from_cached_activations(minilm):
    """top(bottom(x)) == the encoder read per word, for a sentence cut into windows, an
    empty sentence, and activations padded further (as the feature cache pads a split)."""
    enc = TokenEncoder(minilm, window=8, stride=4)
    sents = [["Apple", "is", "opening", "a", "store", "in", "Paris", "with", "Tim", "Cook", "and", "friends"],
             ["hi"], [], ["@user", "lol", "#yes"]]
    x = enc.collate(sents)
    assert x["input_ids"].shape[0] > len(sents)  # the first sentence spans several windows
    with torch.inference_mode():
        ref = enc(x)
        for k in (1, 2, 6):
            bottom, top = enc.split_at(k)
            act = bottom(x)
            assert act.shape[0] == 4 and act.shape[-1] == 384 + 3
            assert torch.equal(act[..., -1].sum(1) > 0, torch.tensor([True, True, False, True]))
            got = top(torch.nn.functional.pad(act, (0, 0, 0, 5)))  # padded past the last window
            assert got.shape == ref.shape
            assert torch.allclose(got, ref, atol=1e-5)


def test_entity_metrics_follow_seqeval():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["I-ORG", "O"]]  # a cut entity; an orphan I- reads as B-
    m = entity_metrics(gold, pred, detailed=True)
    assert m["entity_precision"] == pytest.approx(2 / 3) and m["entity_recall"] == pytest.approx(2 / 3)
    assert m["entity_f1"] == pytest.approx(2 / 3)
    assert m["token_accuracy"] == pytest.approx(4 / 6)
    assert m["per_type"]["PER"]["f1"] == 0.0 and m["per_type"]["LOC"]["f1"] == 1.0


def test_metrics_from_outputs_ignore_padding():
    classes = tag_classes(["LOC"])
    y = encode_tags([["B-LOC", "O"], ["O"]], classes, width=3)
    assert y.tolist() == [[1, 0, IGNORE], [0, IGNORE, IGNORE]]
    out = np.zeros((2, 2, 3))
    out[0, 0, 1] = out[0, 1, 0] = out[1, 0, 1] = 1.0  # the second sentence predicts B-LOC on 'O'
    gold, pred = sentence_tags(y, out, classes)
    assert pred == [["B-LOC", "O"], ["B-LOC"]]
    task = get_task("token-classification")
    m = task.metrics(y, out, {"classes": classes}, detailed=True)
    assert m["entity_precision"] == 0.5 and m["entity_recall"] == 1.0
    assert m["errors"] == [{"sentence": 1, "gold": [], "predicted": [["LOC", 0, 1]]}]


def test_memoriser_takes_each_words_most_frequent_tag():
    classes = tag_classes(["LOC", "PER"])
    x = [["Paris", "Hilton"], ["in", "Paris"], ["Paris", "is"]]
    y = encode_tags([["B-PER", "I-PER"], ["O", "B-LOC"], ["B-LOC", "O"]], classes)
    assert memoriser_tags(x, y, classes, [["paris", "rome", "hilton"]]) == [["B-LOC", "O", "I-PER"]]


def test_predictions_are_spans_with_character_offsets():
    task = get_task("token-classification")
    classes = tag_classes(["company", "geo-loc"])
    text = "Apple is opening a store in Paris"
    probs = np.zeros((2, 7, len(classes)))
    probs[:, :, 0] = 1.0
    probs[0, 0] = probs[0, 6] = 0.0
    probs[0, 0, classes.index("B-company")] = 0.9
    probs[0, 0, 0] = 0.1
    probs[0, 6, classes.index("B-geo-loc")] = 1.0
    probs[1, 1, :] = 0.0
    probs[1, 1, classes.index("B-geo-loc")] = 1.0
    meta = {"classes": classes}
    ents = task.predictions_for([text, ["in", "New", "York"]], probs, meta)
    assert ents[0] == [{"type": "company", "text": "Apple", "start": 0, "end": 5, "score": 0.9},
                       {"type": "geo-loc", "text": "Paris", "start": 28, "end": 33, "score": 1.0}]
    assert text[28:33] == "Paris"
    assert ents[1] == [{"type": "geo-loc", "text": "New", "start": 1, "end": 2, "score": 1.0}]
    rows = task.rows_for([text], probs[:1], meta)
    assert rows[0]["entities"] == "company:0-5:Apple; geo-loc:28-33:Paris"
    assert rows[0]["tags"].split() == ["B-company", "O", "O", "O", "O", "O", "B-geo-loc"]


def test_error_examples_are_a_summary_section_with_words():
    from types import SimpleNamespace

    from transferkit.data.dataset import TransferDataset
    from transferkit.pipeline.run import Summary

    classes = tag_classes(["LOC"])
    y = encode_tags([["O", "B-LOC"], ["B-LOC"]], classes)
    test = TransferDataset("t", "text", [["in", "Rome"], ["Paris"]], y, classes, meta={"per_token": True})
    out = np.zeros((2, 2, 3))
    out[0, 0, 0] = out[0, 1, 1] = out[1, 0, 0] = 1.0  # misses 'Paris'
    task = get_task("token-classification")
    _, _, sections = task.adjust(None, SimpleNamespace(train=test, test=test), None, out, print)
    assert set(sections) <= set(Summary.SECTIONS)
    assert sections["error_examples"] == [{"sentence": "Paris", "gold": ["LOC: Paris"], "predicted": []}]


def test_partial_fit_trains_top_layers_on_cached_token_activations(tmp_path):
    """``--strategy partial`` on a token task reads the bottom layers from the cache (one
    entry per split with upto_block) and learns the tiny entities."""
    import json

    import transferkit as tk
    from transferkit.tasks.tokens import write_tiny_conll

    path = tmp_path / "ner.conll"
    write_tiny_conll(path, n=60)
    run = tk.fit(data=str(path), backbone="minilm", task="token-classification", strategy="partial",
                 strategy_params={"blocks": 1, "head_epochs": 0}, epochs=3, batch_size=8, seed=0,
                 cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), log=None)
    assert run.summary["strategy"] == "partial"
    assert run.summary["metrics"]["test"]["entity_f1"] > 0.3
    infos = [json.loads(p.read_text()) for p in (tmp_path / "cache").rglob("*.json")]
    assert any(i.get("upto_block") == 1 for i in infos)  # the bottom's activations were cached


# ---------------------------------------------------------------- decoding (task_params.decode)
PER = ["O", "B-per", "I-per"]


def _viterbi(probs, lengths, classes=PER):
    from transferkit.tasks.tokens import decode_codes

    return decode_codes(np.asarray(probs, dtype=float), lengths, classes, "viterbi").tolist()


def test_viterbi_repairs_an_inside_tag_after_o_by_joint_probability():
    # argmax: O I-per I-per (invalid). Valid: B I I = .2*.6*.6 = .072 > O O O = .5*.3*.3 = .045
    # > O B I = .5*.1*.6 = .03
    probs = [[[.5, .2, .3], [.3, .1, .6], [.3, .1, .6]]]
    assert np.asarray(probs).argmax(-1).tolist() == [[0, 2, 2]]
    assert _viterbi(probs, [3]) == [[1, 2, 2]]
    # a likelier O first: O O O = .7*.4*.4 = .112 > O B I = .7*.1*.5 = .035 > B I I = .1*.5*.5 = .025
    probs = [[[.7, .1, .2], [.4, .1, .5], [.4, .1, .5]]]
    assert np.asarray(probs).argmax(-1).tolist() == [[0, 2, 2]]
    assert _viterbi(probs, [3]) == [[0, 0, 0]]


def test_viterbi_never_starts_with_an_inside_tag_nor_switches_type_inside():
    assert _viterbi([[[.1, .3, .6]]], [1]) == [[1]]  # I-per at the start -> B-per
    classes = ["O", "B-a", "I-a", "B-b", "I-b"]
    # argmax B-a I-b: I-b may not follow B-a; B-a I-a (.5*.4) beats B-a B-b (.5*.1), B-b I-b (.3*.5)
    probs = [[[.1, .5, .1, .3, 0.], [.05, 0., .4, .1, .45]]]
    assert _viterbi(probs, [2], classes) == [[1, 2]]


def test_viterbi_is_the_best_valid_sequence_by_brute_force():
    import itertools

    from transferkit.data.tags import to_iob2

    classes = ["O", "B-a", "I-a", "B-b", "I-b"]
    rng = np.random.default_rng(0)
    differs = 0
    for _ in range(20):
        probs = rng.dirichlet(np.full(5, 0.5), size=3)  # (3 words, 5 tags)
        best, best_lp = None, -np.inf
        for seq in itertools.product(range(5), repeat=3):
            tags = [classes[k] for k in seq]
            if to_iob2(tags, "iob2")[1]:  # an orphan I- tag: not a valid IOB2 sequence
                continue
            lp = float(sum(np.log(probs[i, k]) for i, k in enumerate(seq)))
            if lp > best_lp:
                best, best_lp = list(seq), lp
        assert _viterbi(probs[None], [3], classes) == [best]
        differs += best != probs.argmax(-1).tolist()
    assert differs > 0  # the argmax was invalid in some draws, so the constraint was tested


def test_viterbi_reads_each_sentence_to_its_length():
    probs = np.full((3, 4, 3), 1 / 3)
    probs[0] = [[.1, .3, .6], [.2, .2, .6], [.9, .05, .05], [.1, .3, .6]]
    probs[1, :2] = probs[0, :2]
    probs[1, 2:] = [[0., 0., 1.], [0., 0., 0.]]  # padding: junk and zeros, ignored
    probs[2] = 0.0  # an empty sentence
    codes = _viterbi(probs, [4, 2, 0])
    assert codes[0] == [1, 2, 0, 1] and codes[1][:2] == [1, 2]
    classes = PER
    y = encode_tags([["B-per", "I-per", "O", "B-per"], ["B-per", "I-per"], []], classes, width=4)
    gold, pred = sentence_tags(y, probs, classes)
    assert pred == [["B-per", "I-per", "O", "B-per"], ["B-per", "I-per"], []] == gold
    # predictions of padded outputs: lengths from the non-zero positions
    task = get_task("token-classification")
    assert task.predictions(probs[:1], {"classes": classes}) == [pred[0]]


def test_decode_argmax_keeps_each_words_most_probable_tag():
    from transferkit.errors import ConfigError

    classes = PER
    y = encode_tags([["B-per", "I-per", "I-per"]], classes)
    probs = np.array([[[.5, .2, .3], [.3, .1, .6], [.3, .1, .6]]])
    viterbi = get_task("token-classification")
    argmax = get_task("token-classification", {"decode": "argmax"})
    assert viterbi.describe_targets(SimpleData(classes))["decode"] == "viterbi"
    meta = {"classes": classes}
    assert viterbi.metrics(y, probs, meta)["entity_f1"] == 1.0
    assert argmax.metrics(y, probs, meta)["entity_f1"] == 0.0  # seqeval reads O I I as an entity at 1..3
    assert viterbi.metrics(y, probs, {**meta, "decode": "argmax"})["entity_f1"] == 0.0  # the run's own
    assert argmax.predictions(probs, meta) == [["O", "I-per", "I-per"]]
    assert viterbi.rows_for([["Ada", "Love", "Lace"]], probs, meta)[0]["entities"] == "per:0-3:Ada Love Lace"
    assert argmax.rows_for([["Ada", "Love", "Lace"]], probs, meta)[0]["entities"] == "per:1-3:Love Lace"
    with pytest.raises(ConfigError, match="decode.*viterbi"):
        get_task("token-classification", {"decode": "beam"})


class SimpleData:
    def __init__(self, classes):
        self.classes = classes


# ---------------------------------------------------------------- the head reads neighbours (task_params.context)
def test_window_rows_lay_out_each_words_neighbours_by_hand():
    from transferkit.tasks.tokens import window_rows

    x = np.array([[[1.0, 10.0], [2.0, 20.0], [0.0, 0.0]]])  # 2 words, then padding
    rows = window_rows(x, 1)[0]
    assert rows.tolist() == [[0, 0, 1, 10, 2, 20], [1, 10, 2, 20, 0, 0], [2, 20, 0, 0, 0, 0]]
    assert window_rows(x, 0) is x or np.array_equal(window_rows(x, 0), x)


def test_context_head_is_a_linear_map_of_the_window():
    """The convolution's logits equal W [x_{i-1}; x_i; x_{i+1}] + b with the weights loaded
    from that layout; zeros past both ends."""
    from transferkit.tasks.tokens import WordContextHead, window_rows

    g = torch.Generator().manual_seed(0)
    head = WordContextHead(4, 3, context=1)
    w, b = torch.randn(3, 12, generator=g), torch.randn(3, generator=g)
    head.set_window_weights(w, b)
    x = torch.randn(2, 5, 4, generator=g)
    x[1, 3:] = 0  # the second sentence has 3 words
    expected = torch.from_numpy(window_rows(x.numpy(), 1)) @ w.T + b
    assert torch.allclose(head(x), expected, atol=1e-5)
    # a word's logits depend on its neighbours only: the first word ignores the third
    y = x.clone()
    y[0, 2] += 5.0
    assert torch.allclose(head(y)[0, 0], head(x)[0, 0]) and not torch.allclose(head(y)[0, 1], head(x)[0, 1])


def test_context_head_reads_padding_as_the_sentence_edge_after_a_mapping():
    """A sentence's logits are the same alone and padded in a batch, also behind a mapping
    that sends a zero vector elsewhere (the model zeroes padded words again)."""
    from transferkit.mapping import MAPPINGS
    from transferkit.model import TransferModel
    from transferkit.tasks.tokens import WordContextHead

    torch.manual_seed(0)
    mapping = MAPPINGS.build("mlp", in_dim=4)
    with torch.no_grad():
        mapping.up.bias.fill_(1.0)  # phi(0) != 0
    backbone = torch.nn.Identity()
    backbone.feature_dim = 4
    model = TransferModel(backbone, 3, mapping=mapping, head=WordContextHead(4, 3, 1)).eval()
    assert mapping(torch.zeros(1, 4)).abs().sum() > 0
    short = torch.randn(1, 2, 4)
    batch = torch.zeros(2, 4, 4)
    batch[0, :2] = short[0]
    batch[1] = torch.randn(4, 4)
    with torch.no_grad():
        assert torch.allclose(model.forward_features(batch)[0, :2], model.forward_features(short)[0], atol=1e-5)


def test_context_head_is_solved_in_closed_form_and_recorded(tmp_path):
    """The probe solves the window head like a linear one (a logistic regression on the
    window rows); the run records the context, and a run from before it (no context in
    transferkit.json) rebuilds with a linear head."""
    import json

    import transferkit as tk
    from transferkit.pipeline.build import rebuild_model
    from transferkit.tasks.tokens import WordContextHead, write_tiny_conll

    path = tmp_path / "ner.conll"
    write_tiny_conll(path, n=60)
    run = tk.fit(data=str(path), backbone="minilm", task="token-classification", seed=0,
                 cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), log=None)
    manifest = json.loads((tmp_path / "run" / "transferkit.json").read_text())
    assert manifest["task_params"]["context"] == 1
    assert run.summary["metrics"]["test"]["entity_f1"] > 0.5
    model = rebuild_model(manifest, tmp_path / "run")
    assert isinstance(model.head, WordContextHead) and model.head.context == 1
    assert tk.load(tmp_path / "run").predict([["anna", "smith", "lives", "in", "paris"]]) is not None
    # a run written before the parameter existed (a linear head, no context recorded)
    tk.fit(data=str(path), backbone="minilm", task="token-classification", seed=0,
           task_params={"context": 0}, cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "old"), log=None)
    old = json.loads((tmp_path / "old" / "transferkit.json").read_text())
    old.pop("task_params")
    assert isinstance(rebuild_model(old, tmp_path / "old").head, torch.nn.Linear)


def _tagged_sentences(n, seed):
    """n sentences of 6 words, 4-d word vectors whose first coordinates hint at the tag
    (O, B-per, I-per) with noise; tags valid IOB2."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 6), dtype=np.int64)
    for i in range(n):
        a = int(rng.integers(0, 5))
        y[i, a] = 1
        if rng.random() < 0.5:
            y[i, a + 1] = 2
    x = rng.normal(0, 1.0, (n, 6, 4))
    x[..., 0] += 2.0 * (y == 1)
    x[..., 1] += 2.0 * (y == 2)
    return x, y


def test_token_probe_strength_is_chosen_by_entity_f1_on_validation():
    """Each C's score is the validation entity F1 of the logistic regression at that C
    (recomputed here with cold, tightly converged fits); the best one is chosen."""
    from sklearn.linear_model import LogisticRegression

    from transferkit.tasks.tokens import TOKEN_C_GRID, choose_token_c
    from transferkit.train.convex import centre_and_scale

    x, y = _tagged_sentences(40, 0)
    xv, yv = _tagged_sentences(20, 1)
    c, scores, how = choose_token_c(x, y, PER, "viterbi", val=(xv, yv))
    assert "validation" in how and set(scores) == set(TOKEN_C_GRID)
    z, mean, std = centre_and_scale(x.reshape(-1, 4))
    for k, got in scores.items():
        m = LogisticRegression(C=k, tol=1e-10, max_iter=5000).fit(z, y.reshape(-1))
        probs = m.predict_proba((xv.reshape(-1, 4) - mean) / std).reshape(20, 6, 3)
        gold, pred = sentence_tags(yv, probs, PER, "viterbi")
        assert got == pytest.approx(entity_metrics(gold, pred)["entity_f1"], abs=1e-9)
    assert scores[c] == max(scores.values())


def test_token_probe_cross_validates_over_sentences_without_validation():
    from transferkit.tasks.tokens import TOKEN_FOLDS, choose_token_c

    x, y = _tagged_sentences(30, 2)
    c, scores, how = choose_token_c(x, y, PER, "viterbi", seed=0)
    assert f"{TOKEN_FOLDS}-fold" in how and scores[c] == max(scores.values()) and scores[c] > 0.3
    assert choose_token_c(x[:1], y[:1], PER, "viterbi")[0] == 1.0  # one sentence: nothing to hold out


def _solved_head(x, y, val, context=1):
    from types import SimpleNamespace

    from transferkit.tasks.tokens import WordContextHead

    task = get_task("token-classification")
    task.fit_targets(SimpleNamespace(classes=PER))
    head = WordContextHead(x.shape[-1], len(PER), context)
    return head, task.solve_head(head, x, y, None, seed=0, val=val)


def test_token_probe_chooses_how_many_neighbours_it_reads_by_entity_f1():
    """The probe fits each number of neighbours u <= context with its own C and keeps the
    best validation entity F1: neighbours that carry nothing are left out (the outer taps stay
    zero), and a tag that only the previous word reveals makes it read them."""
    from transferkit.tasks.tokens import window_rows
    from transferkit.train.convex import fit_logistic_head

    x, y = _tagged_sentences(40, 0)  # each word's own vector carries its tag
    xv, yv = _tagged_sentences(20, 1)
    head, info = _solved_head(x, y, (xv, yv))
    scores = {int(u): f for u, f in info["neighbour_scores"].items()}
    assert set(scores) == {0, 1} and scores[info["neighbours_used"]] == max(scores.values())
    used, c = info["neighbours_used"], info["c"]
    weight, bias, _ = fit_logistic_head(*word_rows(window_rows(x, used), y), 3, seed=0, c=c)
    got = head(torch.as_tensor(xv, dtype=torch.float32)).detach().numpy()
    want = window_rows(xv, used) @ weight.numpy().T + bias.numpy()
    # the head is the C path's warm-started fit at (u, C): the cold fit's optimum to L-BFGS's tolerance
    np.testing.assert_allclose(got, want, atol=1e-2)
    assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.99
    if used == 0:
        assert torch.count_nonzero(head.conv.weight[:, :, [0, 2]]) == 0
    # the tag of word i shows only in the next word's vector: the neighbours must be read
    shifted, shifted_v = np.roll(x, 1, axis=1), np.roll(xv, 1, axis=1)
    shifted[:, 0], shifted_v[:, 0] = 0.0, 0.0
    _, info = _solved_head(shifted, y, (shifted_v, yv))
    assert info["neighbours_used"] == 1 and info["neighbour_scores"]["1"] > info["neighbour_scores"]["0"] + 0.2


def test_auto_climbs_from_the_token_probe_and_keeps_the_best_validation_f1(tmp_path):
    """``fit --strategy auto`` on a token task: the probe first (the context head solved on the
    probe's pooled layers), then fine-tuning rungs started from it; the kept model is the rung
    with the best validation entity F1, and the partial rung trains the pooled layers."""
    import transferkit as tk
    from transferkit.tasks.tokens import WordContextHead, write_tiny_conll

    path = tmp_path / "ner.conll"
    write_tiny_conll(path, n=40)
    run = tk.fit(data=str(path), backbone="minilm", task="token-classification", strategy="auto",
                 epochs=1, batch_size=8, seed=0, cache_dir=str(tmp_path / "cache"),
                 out=str(tmp_path / "run"), log=None)
    auto = run.summary["auto"]
    tried = {t["strategy"]: t["val_entity_f1"] for t in auto["tried"]}
    assert list(tried)[:2] == ["linear-probe", "partial"]
    assert run.summary["strategy"] == max(tried, key=lambda s: (tried[s], -list(tried).index(s)))
    assert run.summary["metrics"]["val"]["entity_f1"] == pytest.approx(tried[run.summary["strategy"]])
    assert run.model.backbone.pool_stages == 2  # the probe's mean of the last 3 layers, kept by every rung
    assert isinstance(run.model.head, WordContextHead) and run.model.head.context == 1
