"""A transferkit run directory as a backbone (what ``pretrain`` and ``fit`` write).

The run's ``transferkit.json`` holds the backbone's ``describe()`` dict under
``"backbone"``; ``model.safetensors`` holds the TransferModel state dict, whose
``backbone.*`` tensors are loaded here. The result is a backbone of the original family
(``timm``, ``text``, ...) carrying the fine-tuned weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferkit.backbones import BACKBONES, from_description
from transferkit.backbones._weights import load_checked
from transferkit.backbones.base import Backbone, BackboneFamily
from transferkit.errors import RunDirError


@BACKBONES.register("run", help="A transferkit run directory (its fine-tuned backbone).")
class RunBackbone(BackboneFamily):
    """Loader for run directories; ``from_spec(path)`` returns the stored backbone."""

    prefixes = ("run:",)
    folder_files = {"transferkit.json": "a transferkit run directory"}
    usage = ("<run directory>",)

    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> Backbone:
        run = Path(spec).expanduser()
        meta_file, weight_file = run / "transferkit.json", run / "model.safetensors"
        if not meta_file.is_file():
            raise RunDirError(f"'{run}' is not a transferkit run directory: {meta_file.name} is missing. "
                              "Pass the folder that `transferkit fit` or `pretrain` wrote.")
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError) as exc:
            raise RunDirError(f"Cannot read '{meta_file}': {exc}. The run directory is damaged; "
                              "re-run the command that wrote it.") from exc
        desc = meta.get("backbone")
        if not isinstance(desc, dict):
            version = meta.get("transferkit_version", "an unknown version")
            raise RunDirError(f"'{meta_file}' (written by transferkit {version}) has no 'backbone' "
                              "description, so it cannot be used as a backbone.")
        bb = from_description(desc)
        if desc.get("dense"):  # a dense task's multi-scale encoder (a segmentation run)
            from transferkit.backbones.dense import DenseEncoder

            bb = DenseEncoder.from_backbone(bb)
        if not pretrained:  # the run's architecture at random init (a from-scratch baseline)
            bb.source_run = str(run)  # type: ignore[attr-defined]
            return bb
        path = Path(weights) if weights else weight_file
        if not path.is_file():
            raise RunDirError(f"The run directory '{run}' has no weights ({path.name} is missing); it "
                              "may still be running or was interrupted.")
        from safetensors.torch import load_file

        from transferkit.rundir import check_weights_file

        state = load_file(str(check_weights_file(path)), device="cpu")  # refuses pickles
        own = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        if not own:
            own = dict(state)  # a file holding only the backbone's tensors
        load_checked(bb, own, f"'{path}'", allow_missing=("source_head.",))
        bb.source_run = str(run)  # type: ignore[attr-defined]
        return bb.eval()

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> Backbone:
        return from_description(desc)

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[Backbone, Any]:
        """Write a run directory holding a tiny timm backbone and load it back."""
        from safetensors.torch import save_file

        from transferkit.backbones.timm_models import TimmBackbone
        from transferkit.model import TransferModel

        inner, data = TimmBackbone.tiny_example(workdir)
        run = Path(workdir) / "tiny-run"
        run.mkdir(parents=True, exist_ok=True)
        model = TransferModel(inner, num_classes=2)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(run / "model.safetensors"))
        (run / "transferkit.json").write_text(json.dumps({"backbone": inner.describe(), "classes": ["a", "b"]}))
        return cls.from_spec(str(run)), data
