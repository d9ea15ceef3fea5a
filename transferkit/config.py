"""The configurations of the jobs: data, training loop, backbone, and ``fit`` as a whole.

Each is an :class:`~transferkit.options.Options` dataclass whose fields declare their
default, help text, flag and bounds (see :mod:`transferkit.options`, re-exported here).
Configs come from YAML files plus ``--set key=value`` overrides; unknown keys are errors
that list the valid ones::

    >>> cfg = load_config(FitConfig, overrides=["train.lr=0.01", "data.shots=10"])
    >>> cfg.train.lr, cfg.data.shots
    (0.01, 10)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transferkit.devices import DEVICE_HELP, check_device_name
from transferkit.errors import ConfigError
from transferkit.options import (  # noqa: F401 - the option machinery, importable from here too
    C,
    Options,
    check_option,
    check_options,
    configure,
    describe,
    flags,
    from_dict,
    load_config,
    merge_override,
    option,
    options,
    parse_override,
    read_yaml,
    resolve_config,
    rule,
    to_dict,
    to_flat,
)
from transferkit.trackers import check_trackers

# --------------------------------------------------------------------------- configs


def data_reference(value: Any) -> Any:
    """A dataset option's value: a name or path as given; a Python data object (a DataFrame,
    ``(X, y)`` arrays, a torch or Hugging Face dataset) -> the description + content
    fingerprint that the config records instead of the object (see
    :mod:`transferkit.data.objects`)."""
    from pathlib import Path, PurePath

    if value is None or isinstance(value, (str, PurePath)):
        return value
    if isinstance(value, (bool, int, float)) and Path(str(value)).exists():
        return str(value)  # e.g. `data: 2024` in a YAML config names the folder 2024
    from transferkit.data.objects import reference

    return reference(value)



@dataclass
class DataConfig(Options):
    """Where the data comes from and how it is split."""

    data: str | None = option(None, "Target dataset: a built-in name (see `transferkit datasets`) "
                              "or a path (image folder, .npz, .csv, .jsonl, .parquet, IDX); from "
                              "Python also a DataFrame, (X, y) arrays, a torch or Hugging Face "
                              "dataset, recorded as a description with a content fingerprint.",
                              flag="--data", convert=data_reference)
    text_column: str | None = option(None, "Column holding the text (CSV/JSONL text data).",
                                     flag="--text-column")
    label_column: str | None = option(None, "Column holding the label (CSV/JSONL/Parquet).",
                                      flag="--label-column")
    group_column: str | None = option(None, "Column naming each row's group (patient, product, "
                                      "customer; CSV/JSONL/Parquet): no group is in two splits, and "
                                      "--shots K takes K examples per class from K distinct groups. "
                                      "Not a feature.", flag="--group-column")
    time_column: str | None = option(None, "Column holding each row's time (dates or numbers; "
                                     "CSV/JSONL/Parquet): train on the past, validate and test on the "
                                     "future, and --shots K takes the K most recent per class. Not a "
                                     "feature.", flag="--time-column")
    near_duplicate_threshold: float = option(0.98, "Images and texts: warn about val/test examples "
                                             "whose cached features have a cosine similarity at or "
                                             "above this to a training example (near-duplicate "
                                             "leakage; 0: off).", ge=0, le=1)
    label_separator: str | None = option(None, "Multi-label: the label column holds a set of labels "
                                         "joined by this separator (e.g. ';'; an empty cell is the "
                                         "empty set). Off by default: a ';' inside a class name "
                                         "never makes a set.", flag="--label-separator")
    label_columns: list[str] = option(factory=list, help="Multi-label: several 0/1 columns, one per "
                                      "label (comma-separated names), instead of one label column.",
                                      flag="--label-columns")
    tag_repair: str = option("fix", "Token classification: an 'I-X' tag that continues no X entity "
                             "is read as 'B-X' and counted in a warning ('fix'), or refuses the file "
                             "naming its line ('error').", flag="--tag-repair", choices=("fix", "error"))
    domain: str | None = option(None, "Domain of a built-in dataset that has several "
                                "(e.g. fine-foods: train-products, other-products).", flag="--domain")
    shots: int | None = option(None, "Keep this many labelled training examples per class "
                               "(regression: in total; multi-label: at least this many "
                               "positives per label). 0: no labels at all -- a head the task "
                               "builds without them (class-name prototypes), val split empty.",
                               flag="--shots", ge=0)
    seed: int = option(0, "Seed for the few-shot sample and training.", flag="--seed")
    split_seed: int = option(0, "Seed of the train/val/test split; keep it fixed so that the "
                             "test set never changes between runs.")
    val_fraction: float = option(0.1, "Fraction of the labelled data held out for validation.",
                                 ge=0, lt=1)
    test_fraction: float = option(0.2, "Fraction held out for testing when the data has no "
                                  "test split of its own (> 0: every run reports its metrics "
                                  "on this split).", gt=0, lt=1)
    max_val: int | None = option(None, "Cap on the validation set size (None: no cap). With "
                                 "--shots, giving it draws the validation set (up to N) outside the "
                                 "shots, as before the label budget, and labels_used counts it.",
                                 flag="--max-val", ge=1)
    shots_val: float | None = option(None, "With --shots (and no --max-val): the fraction of each "
                                     "class's shots held out as validation (at least 1 per class), "
                                     "so validation comes out of the same label budget; 0: none. "
                                     "None: the strategy's rule (heads on cached features: 0, "
                                     "k-fold cross-validation on the shots; end-to-end and auto: "
                                     "0.2).", flag="--shots-val", ge=0, lt=1)
    max_test: int | None = option(None, "Cap on the test set size, taken in a fixed order "
                                  "(e.g. the first 2000 test images).", flag="--max-test", ge=1)
    skip_bad: bool = option(False, "Skip unreadable files and list them in the summary "
                            "instead of stopping.", flag="--skip-bad")
    impute: str = option("auto", "Missing cells of a table: 'auto' fills a numeric column with "
                         "its training-split median plus a <column>__missing indicator column and a "
                         "categorical one with the category 'missing' (saved with the model, so "
                         "predict/serve fill the same way; counted in a warning); 'none' refuses "
                         "them, naming the row.", flag="--impute", choices=("auto", "none"))
    horizon: int | None = option(None, "Forecasting: how many future values each forecast holds (H; "
                                 "default: the data's stated horizon, else 12).", flag="--horizon", ge=1)
    context: int | None = option(None, "Forecasting: how many past values each forecast reads (L; "
                                 "default: the built-in's, else max(2H, 2m, 8)).", flag="--context", ge=1)
    season: int | None = option(None, "Forecasting: the seasonal period m of the seasonal-naive "
                                "baseline and of MASE (default: the data's, else 1).", flag="--season", ge=1)
    origins: int | None = option(None, "Forecasting: rolling-origin test windows per series, at its "
                                 "end (validation takes as many just before; default: the built-in's, "
                                 "else 3).", flag="--origins", ge=1)
    stride: int | None = option(None, "Forecasting: steps between two rolling origins (default: H).",
                                flag="--stride", ge=1)
    history: int | None = option(None, "Forecasting: train on only the last N values of each series "
                                 "before the validation period (the label budget; default: all).",
                                 flag="--history", ge=1)
    max_megapixels: float = option(100.0, "Largest image (width x height, in megapixels) decoded "
                                   "from an image folder; checked from the file's header before "
                                   "decoding. A larger image is an error naming it (or skipped "
                                   "with --skip-bad).", flag="--max-megapixels", gt=0)
    revalidate: bool = option(False, "Check every image file again (decode it completely) instead "
                              "of trusting the cached check of a file whose path, size, mtime "
                              "and ctime are unchanged.", flag="--revalidate")


@dataclass
class TrainConfig(Options):
    """How the one training loop runs."""

    epochs: int = option(10, "Passes over the training data (an upper bound when early "
                         "stopping is on).", flag="--epochs", ge=1)
    max_steps: int | None = option(None, "Stop after this many optimizer steps.",
                                   flag="--max-steps", ge=1)
    batch_size: int = option(32, "Examples per optimizer step.", flag="--batch-size", ge=1)
    lr: float = option(1e-3, "Peak learning rate of the head; the backbone's is scaled by "
                       "the strategy.", flag="--lr", gt=0, le=10)
    optimizer: str = option("adamw", "Optimizer.", flag="--optimizer", choices=("adamw", "sgd"))
    momentum: float = option(0.9, "SGD momentum.", ge=0, lt=1)
    weight_decay: float = option(1e-4, "Decoupled weight decay (AdamW) or L2 (SGD).",
                                 flag="--weight-decay", ge=0)
    scheduler: str = option("cosine", "Learning-rate schedule after warmup.", flag="--scheduler",
                            choices=("cosine", "onecycle", "constant"))
    warmup: float = option(0.05, "Warmup as a fraction of all steps.", ge=0, lt=1)
    label_smoothing: float = option(0.0, "Label smoothing of the cross-entropy.",
                                    flag="--label-smoothing", ge=0, lt=1)
    head_dropout: float = option(0.0, "Dropout before the classification head.",
                                 flag="--head-dropout", ge=0, lt=1)
    class_weights: str | None = option(None, "'auto' weights classes by inverse frequency.",
                                       flag="--class-weights", choices=("auto",))
    l2_sp: float = option(0.0, "Strength of the L2-SP penalty toward the pretrained weights "
                          "(0: off).", flag="--l2-sp", ge=0)
    grad_clip: float | None = option(1.0, "Clip the gradient norm to this value (None: off; a "
                                     "negative value would reverse the gradient).", gt=0)
    bf16: bool = option(False, "bf16 autocast (the same as --mixed-precision bf16).", flag="--bf16")
    mixed_precision: str = option("no", "Mixed precision of training and extraction: 'bf16' autocast "
                                  "(CPUs and GPUs that support it), 'fp16' autocast with Accelerate's "
                                  "gradient scaler (CUDA GPUs only), or 'no'.", flag="--mixed-precision",
                                  choices=("no", "bf16", "fp16"))
    augment: str = option("none", "Train-time image augmentation on the stages that read raw images "
                          "(timm's training transform): 'light' (crops of 80-100 %, flips), 'strong' "
                          "(crops, flips, colour jitter, RandAugment, random erasing) or 'none'.",
                          flag="--augment", choices=("none", "light", "strong"))
    augment_cached: bool = option(False, "With --augment: train the stages that would read cached "
                                  "features on raw images instead, so they are augmented too (a "
                                  "forward pass through the frozen blocks at every step).")
    grad_accum: int = option(1, "Compute each batch in this many slices, accumulating their "
                             "gradients into one optimizer step: the same update with 1/N of the "
                             "activation memory (--batch-size stays the batch of one step).",
                             flag="--grad-accum", ge=1)
    patience: int | None = option(5, "Early stopping: evaluations without improvement of the "
                                  "validation metric before stopping (None: off).",
                                  flag="--patience", ge=1)
    eval_every: int | None = option(None, "Evaluate every N steps (None: once per epoch).", ge=1)
    checkpoint_every: int | None = option(None, "Write a resumable checkpoint every N steps "
                                          "(always at the end).", flag="--checkpoint-every", ge=1)
    tensorboard: bool = option(False, "Also log to TensorBoard in the run directory (the same as "
                               "adding tensorboard to --report-to).", flag="--tensorboard")
    report_to: str = option("none", "Experiment trackers, through Accelerate: a comma-separated list "
                            "of tensorboard, mlflow, wandb (or 'all', 'none'). Every evaluation is "
                            "logged as <stage>/<metric>; one run directory is one tracker run.",
                            flag="--report-to", convert=check_trackers)
    num_workers: int = option(0, "DataLoader worker processes.", ge=0)
    device: str = option("auto", DEVICE_HELP + " Training, extraction and evaluation run there.",
                         flag="--device", convert=check_device_name)
    group_by_length: bool = option(True, "Texts: batch examples of similar length together, so "
                                   "little compute goes to padding (as HF's group_by_length).")

    def __post_init__(self) -> None:
        super().__post_init__()
        # --bf16 is the older spelling of --mixed-precision bf16: either sets both
        if self.bf16 and self.mixed_precision == "no":
            self.mixed_precision = "bf16"
        elif self.bf16 and self.mixed_precision != "bf16":
            raise ConfigError(f"--bf16 and --mixed-precision {self.mixed_precision} disagree; give one of them.")
        self.bf16 = self.mixed_precision == "bf16"


@dataclass
class BackboneConfig(Options):
    """Which backbone turns inputs into features."""

    name: str = option("efficientnet_lite0", "Backbone: a built-in (see `transferkit models`), "
                       "'timm:<name>', 'hf:<name or folder>', 'tabular', 'sequence', or a run "
                       "directory.", flag="--backbone")
    weights: str | None = option(None, "Local weight file (.safetensors, or a state dict "
                                 "loaded with weights_only=True).", flag="--backbone-weights")
    pretrained: bool = option(True, "Load pretrained weights (false: random init).")
    image_size: int | None = option(None, "Input resolution for image backbones (None: the "
                                    "backbone's default or a per-dataset choice). 8..4096: "
                                    "smaller leaves the backbone's downsampling nothing to work "
                                    "on; larger does not fit in memory.", flag="--image-size",
                                    ge=8, le=4096)
    max_length: int | None = option(None, "Token limit for text backbones: each text keeps its "
                                    "first N tokens (None: the model's own limit, 256 for "
                                    "minilm). Encoding time is about linear in it.",
                                    flag="--max-length", ge=4)
    keep_head: bool | None = option(None, "With a run directory as the backbone: true starts the head "
                                    "from the run's own head when the run's task and classes are the "
                                    "target's and its head has the same shape (the console and "
                                    "summary.json's source_head say so, or why not); false: a fresh "
                                    "head. None: the task's default -- kept for segmentation (its "
                                    "decoder), fresh for the others.")
    pool_stages: int | None = option(None, "Multi-scale features (0: final features only). Image "
                                     "backbones append the pooled outputs of their last N stages; "
                                     "text backbones average the last N + 1 layers before pooling. "
                                     "None: the family's default for the linear probe (timm 4, "
                                     "text 2), else 0.", flag="--pool-stages", ge=0)


@dataclass
class FitConfig(Options):
    """Everything `transferkit fit` needs; a YAML file mirrors these keys."""

    data: DataConfig = option(factory=DataConfig, help="Target data.")
    backbone: BackboneConfig = option(factory=BackboneConfig, help="Backbone.")
    task: str | None = option(None, "What is predicted (see `transferkit list tasks`); None: "
                              "inferred from the labels, and the console says which.",
                              flag="--task")
    task_params: dict[str, Any] = option(factory=dict, help="Parameters of the task (its config "
                                         "keys, e.g. task_params.target_transform=log1p for "
                                         "regression).")
    strategy: str | None = option(None, "Fine-tuning strategy (see `transferkit list "
                                  "strategies`), or 'auto'. None: linear-probe for a backbone "
                                  "with pretrained weights, full for one without (tabular, "
                                  "sequence, --no-pretrained); the console says which.",
                                  flag="--strategy")
    strategy_params: dict[str, Any] = option(factory=dict, help="Parameters of the chosen "
                                             "strategy (its config keys).")
    mapping: str = option("identity", "Feature mapping between backbone and head (see "
                          "`transferkit list mappings`), or 'auto'.", flag="--mapping")
    train: TrainConfig = option(factory=TrainConfig, help="Training loop.")
    compare: list[str] = option(factory=list, help="Baselines to train beside: 'scratch'.",
                                flag="--compare")
    out: str | None = option(None, "Run directory (default runs/<name>).", flag="--out")
    name: str | None = option(None, "Run name (default derived from data, backbone and time).",
                              flag="--name")
    cache_dir: str | None = option(None, "Feature cache directory (default "
                                   "$TRANSFERKIT_CACHE_DIR or the user cache).", flag="--cache-dir")
    time_budget: str | None = option(None, "For --strategy auto: stop escalating after this "
                                     "long (e.g. 90s, 10m, 1h; default 10m).", flag="--time-budget")
    joint_source: str | None = option(None, "Labelled source dataset trained together with the "
                                      "target: loss = source_weight * L_source + L_target (one "
                                      "head per domain when the classes differ).",
                                      flag="--joint-source")
    source_weight: float = option(1.0, "lambda of the joint objective (with --joint-source); 0 "
                                  "trains on the target alone.", flag="--source-weight", ge=0)
    backbones: list[str] = option(factory=list, help="For --strategy auto: candidate backbones "
                                  "ranked by LogME (comma-separated; default: the built-in pool "
                                  "for the data's modality). 'random:<name>' is a random-init "
                                  "candidate.", flag="--backbones")
