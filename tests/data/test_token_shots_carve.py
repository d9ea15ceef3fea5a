"""--shots K on sentences with a validation carve (strategies that train the encoder take
20 % of the shots for early stopping): a seeded part of the sentences, not per class (was an
IndexError: the per-class carve read word tags as sentence labels)."""

from transferkit.data import load_splits
from transferkit.tasks.tokens import write_tiny_conll


def test_validation_is_carved_from_the_sentence_shots(tmp_path):
    path = tmp_path / "ner.conll"
    write_tiny_conll(path, n=120)
    whole = load_splits(str(path), targets="tags", shots=30, shots_val=0.0)
    carved = load_splits(str(path), targets="tags", shots=30, shots_val=0.2)
    assert len(whole.train) == 30 and len(whole.val) == 0
    assert len(carved.train) == 24 and len(carved.val) == 6
    def rows(ds):
        return sorted(tuple(ds.input(i)) for i in range(len(ds)))

    assert sorted(rows(carved.train) + rows(carved.val)) == rows(whole.train)  # the same 30 sentences
    assert carved.val.per_token and carved.val.y.shape[0] == 6  # tags per word, as the train part
    again = load_splits(str(path), targets="tags", shots=30, shots_val=0.2)
    assert rows(again.val) == rows(carved.val)  # seeded
