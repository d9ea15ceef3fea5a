"""Class-name embeddings: the label space a zero-shot map points into.

A class's embedding is the mean of the L2-normalised text embeddings of its name put into
each of several prompt templates (the prompt ensembling of Radford et al. 2021, CLIP,
section 3.1.4), plus -- when a one-line description is given -- the description's own
embedding, renormalised. The name is the dataset's class name as published, lower-cased
(:func:`class_word`); nothing here is chosen by looking at images.

>>> class_word("T-shirt/top")
't-shirt or top'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from transferkit.errors import ConfigError

#: the prompt templates averaged by default: generic photo prompts from CLIP's ImageNet
#: ensemble, none specific to any dataset
TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "a black and white photo of a {}.",
             "a low resolution photo of a {}.", "a photo of the {}.", "an image of a {}.",
             "a close-up photo of a {}.")


def class_word(name: str) -> str:
    """The published class name as a phrase: lower-case, '_' as a space, '/' as 'or'."""
    return " or ".join(part.strip() for part in str(name).replace("_", " ").lower().split("/"))


def class_texts(name: str, templates: Sequence[str], description: str | None = None) -> list[str]:
    """Every text embedded for one class: the name in each template, then the description."""
    for t in templates:
        if str(t).count("{}") != 1:
            raise ConfigError("The 'templates' parameter takes sentences holding '{}' exactly once, "
                              f"where the class name goes (e.g. 'a photo of a {{}}.'). Got {t!r}.")
    word = class_word(name)
    texts = [str(t).replace("{}", word) for t in templates]
    return texts + ([f"{word}: {description}"] if description else [])


def embed_classes(embed: Callable[[list[str]], np.ndarray], names: Sequence[str],
                  templates: Sequence[str], descriptions: Sequence[str | None] | None = None
                  ) -> np.ndarray:
    """``(C, A)``: per class, the renormalised mean of its texts' normalised embeddings
    (``embed`` returns L2-normalised rows)."""
    if not templates:
        raise ConfigError("The 'templates' parameter needs at least one template (e.g. 'a photo of a {}.').")
    descriptions = list(descriptions) if descriptions is not None else [None] * len(names)
    per_class = [class_texts(n, templates, d) for n, d in zip(names, descriptions, strict=True)]
    flat = embed([t for texts in per_class for t in texts])
    out, start = [], 0
    for texts in per_class:
        mean = flat[start:start + len(texts)].mean(axis=0)
        out.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        start += len(texts)
    return np.stack(out)


__all__ = ["TEMPLATES", "class_texts", "class_word", "embed_classes"]
