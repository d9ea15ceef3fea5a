"""adapt with the token task: the words of both domains are the samples, target tags are
never read, the target's unknown entity types become O, and what does not apply refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from transferkit.data.tags import IGNORE
from transferkit.errors import ConfigError
from transferkit.jobs.adapt import adapt, load_data, resolve_adapt_config
from transferkit.jobs.adapt.data import retag, stack_rows
from transferkit.jobs.adapt.objective import words_of
from transferkit.tasks.tokens import write_tiny_conll


def _conll(path: Path, sentences: list[list[tuple[str, str]]]) -> str:
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return str(path)


def test_words_of_keeps_the_word_positions_of_both_domains() -> None:
    f_s = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    y_s = torch.tensor([[0, 1, IGNORE], [2, IGNORE, IGNORE]])
    f_t = -torch.arange(1 * 4 * 2, dtype=torch.float32).reshape(1, 4, 2)
    y_t = torch.tensor([[-1, -1, -1, IGNORE]])  # unlabelled target words: only where they are
    ws, ls, wt, lt = words_of(f_s, f_s[..., :1], y_s, f_t, None, y_t)
    assert ws.tolist() == [[0, 1], [2, 3], [6, 7]]  # sentence 0 words 0-1, sentence 1 word 0
    assert ls.tolist() == [[0], [2], [6]]
    assert wt.tolist() == [[0, -1], [-2, -3], [-4, -5]] and lt is None


def test_retag_moves_types_the_source_lacks_to_o_and_keeps_padding(tmp_path: Path) -> None:
    from transferkit.data.conll import read_conll

    data = read_conll(_conll(tmp_path / "t.conll", [[("apple", "B-company"), ("tv", "B-product")],
                                                     [("rome", "B-geo-loc")]]))
    classes = ["O", "B-company", "I-company", "B-geo-loc", "I-geo-loc"]
    out = retag(data, classes)
    rows = [[classes[c] for c in r if c != IGNORE] for r in out.y]
    assert rows == [["B-company", "O"], ["B-geo-loc"]]
    assert (out.y == IGNORE).sum() == (data.y == IGNORE).sum() == 1


def test_stack_rows_pads_the_word_axis() -> None:
    a, b = np.zeros((2, 3)), np.ones((1, 5))
    out = stack_rows([a.astype(np.int64), b.astype(np.int64)], fill=IGNORE)
    assert out.shape == (3, 5) and (out[:2, 3:] == IGNORE).all() and (out[2] == 1).all()
    assert stack_rows([np.zeros(2), np.ones(3)]).shape == (5,)  # one vector per example: unchanged


def test_target_tags_are_dropped_before_training_and_unknown_types_warned(tmp_path: Path) -> None:
    src = tmp_path / "s.conll"
    write_tiny_conll(src, n=40, seed=0)
    tgt = _conll(tmp_path / "t.conll", [[("apple", "B-company"), ("in", "O"), ("rome", "B-geo-loc")]] * 30)
    cfg = resolve_adapt_config(None, (), source=str(src), target=tgt, task="token-classification")
    data = load_data(cfg, lambda _: None)
    assert set(np.unique(data.target_unlabelled.y)) <= {-1, IGNORE}
    assert (data.target_unlabelled.y == -1).sum(1).tolist() == [3] * len(data.target_unlabelled)
    assert any("company" in w and "tagged O" in w for w in data.warnings)
    assert data.classes == ["O", "B-geo-loc", "I-geo-loc", "B-person", "I-person"]


@pytest.mark.parametrize("kw, match", [({"method": "coral-transform"}, "Methods that work for token"),
                                       ({"strategy": "full"}, "--strategy linear-probe")])
def test_what_does_not_apply_per_word_refuses_naming_what_works(tmp_path: Path, kw: dict, match: str) -> None:
    src = tmp_path / "s.conll"
    write_tiny_conll(src, n=30, seed=0)
    with pytest.raises(ConfigError, match=match):
        adapt(source=str(src), target=str(src), task="token-classification", backbone="minilm",
              out=str(tmp_path / "run"), log=None, **({"method": "coral"} | kw))


@pytest.mark.slow
def test_adapt_aligns_word_features_and_reports_source_only_and_oracle(tmp_path: Path) -> None:
    src, tgt = tmp_path / "s.conll", tmp_path / "t.conll"
    write_tiny_conll(src, n=48, seed=0)
    write_tiny_conll(tgt, n=48, seed=1)
    run = adapt(source=str(src), target=str(tgt), task="token-classification", backbone="minilm",
                method="mmd", select="entropy", epochs=2, cache_dir=str(tmp_path / "cache"),
                out=str(tmp_path / "run"), log=None)
    s = run.summary
    assert s["task"] == "token-classification" and s["adapt"]["mode"] == "features"
    assert 0.0 <= s["metrics"]["test"]["entity_f1"] <= 1.0 and "per_type" in s["metrics"]["test"]
    assert "entity_f1" in s["baselines"]["source_only"]["test"] and s["baselines"]["oracle"] is not None
    assert s["adapt"]["adaptation_gain"] == pytest.approx(
        s["metrics"]["test"]["entity_f1"] - s["baselines"]["source_only"]["test"]["entity_f1"])
    with np.load(run.run_dir / "projection.npz") as p:  # words as points, 2-D
        assert p["before_s"].ndim == 2 and p["after_t"].shape[1] == p["before_t"].shape[1]
    # the adapted tagger exports to ONNX: words in windows, the same logits as torch
    export_matches_torch(run.run_dir, tmp_path / "onnx")


def export_matches_torch(run_dir: Path, out: Path) -> None:
    import json

    import onnxruntime as ort

    import transferkit as tk
    from transferkit.backbones.tokens import TokenEncoder
    from transferkit.export import export

    export(run_dir, "onnx", out)
    pre = json.loads((out / "preprocessing.json").read_text())
    assert pre["task"] == "token-classification" and "first sub-token" in pre["per_token"]["word_vector"]
    # how the outputs become tags, as the run reads them (the run's recorded decoding)
    manifest = json.loads((run_dir / "transferkit.json").read_text())
    assert pre["per_token"]["decode"] == manifest.get("decode", "viterbi") == "viterbi"
    assert "decode_codes" in pre["per_token"]["decode_rule"]
    assert {i["name"]: i["shape"] for i in pre["inputs"]}["word_window"] == ["batch", "words"]
    model = tk.load(run_dir, device="cpu").model.eval()
    # small windows: a sentence spans several, and each word is read from one of them
    enc = TokenEncoder(model.backbone.text, window=6, stride=3)
    batch = enc.collate(["anna smith lives in paris today and again later", "rome", ["we", "met", "jordan"]])
    assert len(batch["input_ids"]) > 3
    with torch.inference_mode():
        ref = model(batch).float().numpy()
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    got = session.run(["logits"], {k: v.numpy() for k, v in batch.items() if k in wanted})[0]
    assert got.shape == ref.shape == (3, 9, len(pre["classes"]))
    np.testing.assert_allclose(got, ref, atol=1e-4)
