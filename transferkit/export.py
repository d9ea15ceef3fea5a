"""Export a run for deployment: ONNX, TorchScript or a safetensors bundle.

Every export folder holds the model (backbone -> mapping -> head, eval mode, logits
out), ``preprocessing.json`` (inputs, their shapes and dtypes, the backbone's
preprocessing and the classes in output order) and ``MODEL_CARD.md`` (data, metrics,
baselines, intended use, limitations with the run's warnings). Text models also carry
their tokenizer in ``tokenizer/``. ONNX and TorchScript exports are checked against the
PyTorch model on sample inputs before they are written as done: a mismatch above the
tolerance (relative to values above 1: regression outputs are in their units) raises
instead of shipping a wrong model.

>>> export("runs/digits-efficientnet_lite0-linear-probe", "onnx", "exported/")  # doctest: +SKIP
PosixPath('exported')
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit.errors import ConfigError, TransferkitError

if TYPE_CHECKING:  # torch loads when an export runs, not when the CLI builds its parser
    import torch
    from torch import nn
from transferkit.rundir import MANIFEST, SUMMARY, WEIGHTS, atomic_write_text, write_json

FORMATS = ("onnx", "torchscript", "safetensors")
FILES = {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": WEIGHTS}
PREPROCESSING = "preprocessing.json"
MODEL_CARD = "MODEL_CARD.md"
DEFAULT_OPSET = 17


class ExportError(TransferkitError, RuntimeError):
    """The exported model could not be written or does not reproduce the PyTorch outputs."""


def _exportable(model: nn.Module, names: list[str] | None) -> nn.Module:
    """The TransferModel with positional tensor inputs (what ONNX/TorchScript need):
    ``forward(*tensors) -> outputs (B, K)``; named inputs are rebuilt into the dict the
    backbone expects (e.g. ``input_ids``, ``attention_mask`` for text)."""
    from torch import nn

    class Exportable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.names = names

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:  # -> (B, K)
            if self.names is None:
                return self.model(tensors[0])
            return self.model(dict(zip(self.names, tensors, strict=True)))

    return Exportable()


def sample_items(manifest: dict[str, Any], n: int = 2, seed: int = 0) -> list[Any]:
    """``n`` synthetic raw items of the run's modality (for tracing and parity checks)."""
    rng = np.random.default_rng(seed)
    modality = manifest["modality"]
    desc = manifest.get("backbone") or {}
    if modality == "image":
        return [rng.integers(0, 256, size=(24 + 4 * i, 20 + 2 * i, 3), dtype=np.uint8) for i in range(n)]
    if modality == "text":
        base = ["a short example", "a somewhat longer example sentence to check padding works",
                "third text", "and one more"]
        items = [base[i % len(base)] for i in range(n)]
        if seed:  # another batch: a longer last text, so the sequence (and word) axes differ too
            items[-1] = "one more sentence , longer than the others , with several extra words for the check"
        return items
    if modality == "table":
        schema = (manifest.get("data") or {}).get("schema") or desc.get("schema")
        if not schema:
            raise ExportError("This table model records no schema in transferkit.json, so sample "
                              "rows cannot be built. Re-run the fit that wrote it.")
        rows = []
        for i in range(n):
            row = []
            for col in schema["columns"]:
                if col["kind"] == "categorical":
                    cats = col.get("categories") or ["?"]
                    row.append(cats[i % len(cats)])
                else:
                    row.append(float(rng.normal()))
            rows.append(np.array(row, dtype=object))
        return rows
    if modality == "sequence":
        channels = int(desc.get("in_channels") or 1)
        length = int((manifest.get("forecast") or {}).get("context") or 16)  # a forecaster reads L values
        return [rng.normal(size=(length, channels)).astype(np.float32) for _ in range(n)]
    raise ExportError(f"Cannot export a model of modality '{modality}'.")


def _as_tensors(batch: Any) -> tuple[list[str] | None, list[torch.Tensor]]:
    import torch
    if isinstance(batch, torch.Tensor):
        return None, [batch]
    if isinstance(batch, dict) or hasattr(batch, "keys"):
        names = [k for k in batch if isinstance(batch[k], torch.Tensor)]
        return names, [batch[k] for k in names]
    raise ExportError(f"The backbone's collate returned {type(batch).__name__}; export needs a tensor "
                      "or a dict of tensors.")


#: the per-word inputs of a token-classification model (see :data:`TOKEN_INPUTS`)
WORD_INPUTS = ("word_window", "word_pos", "word_mask")

#: what each input of a token-classification export means (preprocessing.json)
TOKEN_INPUTS = {
    "input_ids": "sub-token ids of every window of every sentence, [CLS] ... [SEP], padded; one row per "
                 "window (a sentence longer than the window spans several, see per_token.window/stride)",
    "attention_mask": "1 at the real sub-tokens of each window row, 0 at padding",
    "token_type_ids": "zeros, one per sub-token",
    "word_window": "for each word of each sentence, the row of input_ids that reads it (the window that "
                   "holds the word's first sub-token farthest from its edges)",
    "word_pos": "for each word, the position of its first sub-token in that row ([CLS] is 0)",
    "word_mask": "true at the words of each sentence, false at padding (sentences padded to the longest)",
}


def _input_specs(names: list[str] | None, tensors: list[torch.Tensor]) -> list[dict[str, Any]]:
    specs = []
    per_word = bool(names) and "word_window" in names
    for i, t in enumerate(tensors):
        name = names[i] if names else "input"
        shape: list[Any] = ["batch", *t.shape[1:]]
        if names and t.dim() == 2:  # token ids / masks: the sequence length varies too
            shape = ["batch", "sequence"]
        if per_word:  # token classification: windows of sub-tokens, and words per sentence
            shape = ["batch", "words"] if name in WORD_INPUTS else ["windows", "sequence"]
        spec = {"name": name, "dtype": str(t.dtype).removeprefix("torch."), "shape": shape}
        if per_word and name in TOKEN_INPUTS:
            spec["meaning"] = TOKEN_INPUTS[name]
        specs.append(spec)
    return specs


def _export_onnx(module: nn.Module, tensors: list[torch.Tensor], specs: list[dict[str, Any]],
                 path: Path, opset: int) -> None:
    import torch
    names = [s["name"] for s in specs]
    dynamic_axes: dict[str, dict[int, str]] = {"logits": {0: "batch"}}
    if "word_window" in names:  # a tag per word: (batch, words, tags)
        dynamic_axes["logits"] = {0: "batch", 1: "words"}
    for s in specs:
        dynamic_axes[s["name"]] = {i: d for i, d in enumerate(s["shape"]) if isinstance(d, str)}
    errors = []
    # The TorchScript-based exporter handles dynamic axes of HF encoders in a fraction of a
    # second; the torch.export-based one is the fallback where the former is unavailable.
    for dynamo in (False, True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kwargs: dict[str, Any] = {"input_names": names, "output_names": ["logits"],
                                          "opset_version": opset, "dynamo": dynamo}
                if dynamo:
                    kwargs["dynamic_shapes"] = tuple(
                        {i: torch.export.Dim.AUTO for i in axes} for axes in
                        (dynamic_axes[n] for n in names))
                    kwargs["external_data"] = False
                else:
                    kwargs["dynamic_axes"] = dynamic_axes
                torch.onnx.export(module, tuple(tensors), str(path), **kwargs)
            return
        except Exception as exc:  # exporters raise many types; report both
            errors.append(f"{'dynamo' if dynamo else 'torchscript'} exporter: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:300] if str(exc) else ''}")
            path.unlink(missing_ok=True)
    raise ExportError("ONNX export failed. " + " | ".join(errors))


def _onnx_outputs(path: Path, specs: list[dict[str, Any]], tensors: list[torch.Tensor]) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    feeds = {s["name"]: t.cpu().numpy() for s, t in zip(specs, tensors, strict=True) if s["name"] in wanted}
    return session.run(["logits"], feeds)[0]


def _check(reference: np.ndarray, got: np.ndarray, what: str, tolerance: float) -> float:
    if reference.shape != got.shape:
        raise ExportError(f"The {what} model returns shape {got.shape}; PyTorch returns {reference.shape}.")
    diff = float(np.abs(reference - got).max()) if reference.size else 0.0
    # float32 rounding is relative: outputs in a target's units (e.g. dollars, ~1e4) differ by
    # more than 1e-4 in absolute terms; the tolerance applies to |difference| / max(1, |value|)
    scaled = float((np.abs(reference - got) / np.maximum(1.0, np.abs(reference))).max()) if reference.size else 0.0
    if not scaled <= tolerance:
        raise ExportError(f"The {what} model's logits differ from PyTorch's by up to {diff:.2e} "
                          f"(tolerance {tolerance:.0e}, relative for values above 1) on sample inputs; "
                          "the export is not faithful. Try --format torchscript or safetensors, or "
                          "another --opset.")
    return diff


def _multimodal_model(summary: dict[str, Any], manifest: dict[str, Any], classes: list[Any]) -> list[str]:
    """The card's model lines for a multimodal run: each column's encoder and the two fusions."""
    cols = manifest.get("columns") or []
    return [
        "- Columns, each through its own encoder (features cached per column): "
        + ", ".join(f"`{c['column']}` ({c['kind']}: {c['encoder']})" for c in cols) + ".",
        "- Fusion: feature-level (`concat`: the columns' features joined, a missing cell masked, one "
        "logistic head; what `predict` answers) and late (`late`: each column's own head, the "
        "probabilities of the columns a row has averaged); both are saved.",
        f"- Why: {summary.get('choice', 'not recorded')}",
        f"- Output: probabilities over {len(classes)} classes, in this order: "
        + ", ".join(f"`{c}`" for c in classes) + "."]


def model_card(summary: dict[str, Any], manifest: dict[str, Any], inputs: str | None = None) -> str:
    """MODEL_CARD.md text: data, metrics, baselines, intended use and limitations (the
    task says what it is, which metrics the table shows and what it cannot do); ``inputs``:
    what the model reads, when not the exported ``preprocessing.json`` (a pushed multimodal run)."""
    data = summary.get("data") or {}
    test = (summary.get("metrics") or {}).get("test") or {}
    from transferkit.tasks import get_task

    meta = {**manifest, "classes": manifest.get("classes") or data.get("classes") or []}
    task = get_task(manifest.get("task"))
    output, card = task.output_spec(meta), task.card(meta)
    columns = card["columns"]

    def cell(v: Any, fmt: str) -> str:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return "—"
        return f"{v * 100:.1f} %" if fmt == "pct" else format(v, fmt)

    lines = [f"# Model card: {manifest.get('modality', '')} {card['noun']} on {data.get('target', 'unknown data')}",
             "", "Written by transferkit "
             f"{summary.get('transferkit_version', manifest.get('versions', {}).get('transferkit', ''))}"
             f" ({summary.get('command', 'fit')}).", "",
             "## Model", "",
             *(_multimodal_model(summary, manifest, meta["classes"]) if manifest.get("modality") == "multimodal" else [
                 f"- Backbone: `{summary.get('backbone') or (manifest.get('backbone') or {}).get('name')}` "
                 f"({(manifest.get('backbone') or {}).get('feature_dim', '?')}-d features), "
                 f"mapping `{(manifest.get('mapping') or {}).get('name', 'identity')}`, linear head.",
                 f"- Fine-tuning strategy: `{summary.get('strategy', '?')}`.",
                 f"- Why: {summary.get('choice', 'not recorded')}",
                 f"- Output: {output['card']}"]), "",
             "## Data", "",
             f"- Target: {data.get('target', '?')}; source: {data.get('source') or 'none (pretrained backbone only)'}.",
             f"- Examples: {data.get('n_train', '?')} train, {data.get('n_val', '?')} validation, "
             f"{data.get('n_test', '?')} test.", "",
             "## Metrics (test split, never used for training or model selection)", "",
             "| model | " + " | ".join(h for _, h, _ in columns) + " |",
             "|---|" + "---|" * len(columns),
             # this model's non-percentage metrics read 0 when missing, as before tasks existed
             "| this model | " + " | ".join(cell(test.get(k), f)
                                           for k, _, f in columns) + " |"]
    for name, base in (summary.get("baselines") or {}).items():
        if not base:
            continue
        b = base.get("test", base)
        label = f"{name} (oracle: uses target labels; an upper bound)" if name == "oracle" else name
        lines.append(f"| {label} | " + " | ".join(cell(b.get(k), f) for k, _, f in columns) + " |")
    gain = summary.get("transfer_gain")
    if isinstance(gain, (int, float)):
        lines += ["", "Transfer gain over training from scratch: "
                  + card["gain"].format(gain=gain, gain_pct=gain * 100) + "."]
    lines += ["", "## Intended use", "",
              f"{card['use']} {inputs or 'Inputs must be preprocessed as `preprocessing.json` describes.'}",
              "", "## Limitations", "",
              "- Measured only on the test split of the target data; inputs from another distribution "
              "(other sensors, sources, populations) can be much less accurate.",
              f"- Trained on {data.get('n_train', 'few')} labelled examples; rare cases are poorly "
              "covered and the reported metrics have a wide confidence interval."]
    lines += [f"- {line}" for line in card["limits"]]
    for w in summary.get("warnings") or []:
        lines.append(f"- **Warning from the run:** {w}")
    return "\n".join(lines) + "\n"


def _write_format(format: str, run: Path, out_dir: Path, target: Path, wrapper: nn.Module,
                  opset: int, tolerance: float, first: tuple, second: tuple) -> dict[str, Any]:
    """Write the model file of ``format`` and check it against torch on two batches of
    different sizes (the batch axis must be dynamic); returns the parity record."""
    import torch
    specs, tensors, reference = first
    names3, tensors3, reference3 = second
    if format == "onnx":
        _export_onnx(wrapper, tensors, specs, target, opset)
        specs3 = _input_specs(names3, tensors3)
        return {"max_abs_diff": max(_check(reference, _onnx_outputs(target, specs, tensors), "ONNX", tolerance),
                                    _check(reference3, _onnx_outputs(target, specs3, tensors3), "ONNX",
                                           tolerance)),
                "runtime": "onnxruntime", "opset": opset}
    if format == "torchscript":
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(wrapper, tuple(tensors), check_trace=False)
            traced.save(str(target))
            reloaded = torch.jit.load(str(target))
            got = reloaded(*tensors).float().numpy()
            got3 = reloaded(*tensors3).float().numpy()
        return {"max_abs_diff": max(_check(reference, got, "TorchScript", tolerance),
                                    _check(reference3, got3, "TorchScript", tolerance)),
                "runtime": "torch.jit"}
    shutil.copyfile(run / WEIGHTS, target)
    shutil.copyfile(run / MANIFEST, out_dir / MANIFEST)
    return {}


def export(run_dir: str | Path, format: str = "onnx", out: str | Path | None = None, *,
           opset: int = DEFAULT_OPSET, tolerance: float = 1e-4) -> Path:
    """Export the run's model to ``out`` (default ``<run_dir>/export-<format>``); returns ``out``.

    ``format``: ``onnx`` (dynamic batch axis; text models take ``input_ids`` and
    ``attention_mask``), ``torchscript`` (traced) or ``safetensors`` (weights plus
    transferkit.json: ``transferkit.load(out)`` reads it back).
    """
    import torch

    from transferkit.jobs.predict import load

    if format not in FORMATS:
        raise ConfigError(f"The 'format' parameter must be one of {', '.join(FORMATS)}. Got '{format}' instead.")
    if not isinstance(tolerance, (int, float)) or tolerance <= 0:
        raise ConfigError(f"The 'tolerance' parameter must be a float > 0. Got {tolerance!r} instead.")
    run = Path(run_dir)
    predictor = load(run, device="cpu")  # exported graphs are traced on the CPU
    if getattr(predictor, "export_refusal", None):  # a run that is not one network
        raise ConfigError(predictor.export_refusal)
    manifest, task = predictor.manifest, predictor.task
    model = predictor.model.eval()
    out_dir = Path(out) if out is not None else run / f"export-{format}"
    if out_dir.resolve() == run.resolve():
        raise ConfigError("The 'out' folder of export must differ from the run directory, so that the "
                          "run's own files are never overwritten.")
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = json.loads((run / SUMMARY).read_text(encoding="utf-8")) if (run / SUMMARY).is_file() else {}

    items = sample_items(manifest, n=2)
    batch = model.backbone.collate(items)
    names, tensors = _as_tensors(batch)
    specs = _input_specs(names, tensors)
    wrapper = task.export_module(_exportable(model, names), manifest).eval()
    with torch.inference_mode():
        reference = wrapper(*tensors).float().numpy()
    # a batch of another size checks that the batch axis really is dynamic (a tagger: the words
    # and windows axes too -- its third sample is longer)
    names3, tensors3 = _as_tensors(model.backbone.collate(sample_items(manifest, n=3, seed=1)))
    with torch.inference_mode():
        reference3 = wrapper(*tensors3).float().numpy()

    target = out_dir / FILES[format]
    parity = _write_format(format, run, out_dir, target, wrapper, opset, tolerance,
                           (specs, tensors, reference), (names3, tensors3, reference3))

    tokenizer = getattr(model.backbone, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(str(out_dir / "tokenizer"))
    pre = {
        "format": format,
        "file": target.name,
        "task": task.name,
        "modality": manifest["modality"],
        "classes": list(manifest["classes"]),
        "inputs": specs if format != "safetensors" else None,
        "outputs": [{k: v for k, v in task.output_spec(manifest).items() if k != "card"}],
        "preprocessing": manifest.get("backbone"),
        "recipe": model.backbone.input_recipe(),
        "data": manifest.get("data"),
        "tokenizer": "tokenizer/" if tokenizer is not None else None,
        **({"per_token": per_token_recipe(model.backbone, str(manifest.get("decode") or "viterbi"))}
           if names and "word_window" in names else {}),
        "parity": parity or None,
        "versions": manifest.get("versions"),
        "run": str(run),
    }
    write_json(out_dir / PREPROCESSING, pre)
    atomic_write_text(out_dir / MODEL_CARD, model_card(summary, manifest))
    return out_dir


def per_token_recipe(backbone: Any, decode: str = "viterbi") -> dict[str, Any]:
    """How a token-classification export's inputs are built from words, and how its outputs
    become tags the way the run reads them (``decode``, preprocessing.json)."""
    return {"words": "a text is cut into words by transferkit.data.conll.split_words (or given as a list "
                     "of words); each word is tokenised alone (is_split_into_words), a word the tokenizer "
                     "drops reads as [UNK]",
            "word_vector": "the first sub-token's hidden state", "window": int(backbone.window),
            "stride": int(backbone.stride),
            "windows": "a sentence's sub-tokens are cut into windows of `window` sub-tokens starting at 0, "
                       "stride, 2 stride, ... until one reaches the sentence's end; each word is read from "
                       "the window that holds its first sub-token farthest from the window's edges",
            "outputs": "logits (batch, words, tags): softmax over the last axis; positions where word_mask is "
                       "false are padding (zeros)",
            "build_inputs": "transferkit.backbones.tokens.TokenEncoder.collate builds exactly these tensors",
            "decode": decode,
            "decode_rule": ("the most probable tag sequence among valid IOB2 ones (no sentence starts with "
                            "I-X; I-X only after B-X or I-X) by Viterbi over the words' log-softmax: "
                            "transferkit.tasks.tokens.decode_codes" if decode == "viterbi" else
                            "each word's most probable tag (argmax of its logits)")}

