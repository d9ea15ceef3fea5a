"""Tag schemes, their conversion to IOB2 and the repair of orphan I- tags; token files."""

import json

import numpy as np
import pytest

from transferkit.data.conll import read_conll, read_token_jsonl, split_words
from transferkit.data.tags import detect_scheme, sample_sentences, spans, tag_classes, to_iob2
from transferkit.errors import DataError


def test_iob1_opens_entities_with_i_and_separates_neighbours_with_b():
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert to_iob2(tags, "iob1") == (["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"], 0)


def test_bioes_and_bilou_become_iob2():
    assert to_iob2(["B-PER", "I-PER", "E-PER", "S-LOC", "O"], "bioes")[0] == \
        ["B-PER", "I-PER", "I-PER", "B-LOC", "O"]
    assert to_iob2(["U-LOC", "B-ORG", "L-ORG"], "bioes")[0] == ["B-LOC", "B-ORG", "I-ORG"]


def test_orphan_i_is_repaired_or_refused_with_its_place():
    tags = ["O", "I-PER", "I-PER", "B-LOC", "I-PER"]
    assert to_iob2(tags, "iob2", "fix") == (["O", "B-PER", "I-PER", "B-LOC", "B-PER"], 2)
    where = [f"f.conll:{i + 1}" for i in range(5)]
    with pytest.raises(DataError, match=r"f.conll:2: tag 'I-PER' continues no PER entity .*after 'O'.*"
                                         r"--tag-repair fix"):
        to_iob2(tags, "iob2", "error", where)


def test_scheme_detection():
    assert detect_scheme([["B-PER", "E-PER"]]) == "bioes"
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC"], ["B-X", "I-X"]]) == "iob1"
    assert detect_scheme([["B-PER", "I-PER", "O", "I-LOC"], ["B-X"]]) == "iob2"


def test_bad_tag_names_its_place():
    with pytest.raises(DataError, match="x.conll:3: tag 'PER' is neither 'O' nor PREFIX-TYPE"):
        to_iob2(["PER"], "iob2", where=["x.conll:3"])


def test_spans_read_orphans_as_seqeval_does():
    assert spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-PER"]) == \
        [("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6), ("PER", 6, 7)]


def test_conll_reader_separators_docstart_and_columns(tmp_path):
    path = tmp_path / "news.conll"
    path.write_text("-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n \n"
                    "Peter\tI-PER\nBlackburn\tI-PER\n\t\nin O\nLondon I-LOC\n\nBonn B-LOC\nBerlin B-LOC\n")
    data = read_conll(path)
    assert data.x == [["EU", "rejects"], ["Peter", "Blackburn"], ["in", "London"], ["Bonn", "Berlin"]]
    assert [[data.classes[c] for c in row if c >= 0] for row in data.y] == \
        [["B-ORG", "O"], ["B-PER", "I-PER"], ["O", "B-LOC"], ["B-LOC", "B-LOC"]]
    assert data.meta["tag_scheme"] == "iob2"  # more entities open with B- than with I-
    assert data.meta["tags_repaired"] == 2 and "news.conll:6" in data.meta["warnings"][0]
    assert data.per_token and not data.multi_label and data.y.shape == (4, 2)
    with pytest.raises(DataError, match=r"news.conll:6: tag 'I-PER'"):
        read_conll(path, repair="error")


def test_conll_reader_refuses_a_line_without_a_tag(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Paris B-LOC\nlonely\n")
    with pytest.raises(DataError, match=r"bad.conll:2: expected a token and its tag"):
        read_conll(path)


def test_jsonl_tokens_and_tags(tmp_path):
    path = tmp_path / "s.jsonl"
    rows = [{"tokens": ["Anna", "runs"], "tags": ["S-PER", "O"]}, {"tokens": ["Rome"], "tags": ["S-LOC"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    data = read_token_jsonl(path)
    assert data.meta["tag_scheme"] == "bioes" and data.classes == tag_classes(["LOC", "PER"])
    path.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}))
    with pytest.raises(DataError, match=r"s.jsonl:1: expected equal-length"):
        read_token_jsonl(path)


def test_shots_sampler_covers_every_type():
    classes = tag_classes(["A", "B", "C"])
    rng = np.random.default_rng(0)
    y = np.full((200, 4), 0)
    y[:, 0] = rng.choice([0, 1], 200, p=[0.5, 0.5])  # A is common
    y[[17], 1] = classes.index("B-B")  # B once
    y[[5, 150], 2] = classes.index("B-C")  # C twice
    for seed in range(5):
        keep = sample_sentences(y, classes, 4, seed)
        assert len(keep) == 4 and len(set(keep)) == 4
        assert 17 in keep and ({5, 150} & set(keep.tolist()))
        assert (y[keep] == classes.index("B-A")).any()
    with pytest.raises(DataError, match="fewer than the 3 entity types"):
        sample_sentences(y, classes, 2)


def test_split_words_offsets():
    text = "Apple is opening a store in Paris, France."
    words = split_words(text)
    assert [w for w, _, _ in words][-4:] == ["Paris", ",", "France", "."]
    assert all(text[a:b] == w for w, a, b in words)


def test_fit_data_path_reads_tags_and_honours_tag_repair(tmp_path):
    from transferkit.config import DataConfig
    from transferkit.data import load_splits
    from transferkit.tasks import infer_task

    path = tmp_path / "ner.txt"  # a .txt of token-tag lines is recognised as a token file
    lines = []
    for i in range(30):
        lines += [f"w{i}\tO", "Paris\tB-LOC" if i % 2 else "Anna\tI-PER", ""]
    path.write_text("\n".join(lines))
    splits = load_splits(DataConfig(data=str(path)), targets="tags")
    assert splits.train.per_token and infer_task(splits.train)[0] == "token-classification"
    assert any("read as 'B-'" in w for w in splits.warnings)
    with pytest.raises(DataError, match=r"ner.txt:2: tag 'I-PER'"):
        load_splits(DataConfig(data=str(path), tag_repair="error"), targets="tags")


def test_an_empty_part_of_a_tag_dataset_keeps_its_word_axis():
    """`--shots K` with a probe leaves the token task no validation sentences (its README command)."""
    import numpy as np

    from transferkit.data import TransferDataset

    ds = TransferDataset(name="t", modality="text", x=[["a", "b"], ["c"]], y=np.array([[1, 0], [0, -100]]),
                         classes=["O", "B-x"], meta={"per_token": True})
    empty = ds.subset(np.zeros(0, np.int64), split="val")
    assert len(empty) == 0 and empty.y.shape == (0, 2) and empty.per_token
