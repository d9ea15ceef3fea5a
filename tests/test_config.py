import dataclasses
from dataclasses import dataclass

import pytest

from transferkit.config import (
    DataConfig,
    FitConfig,
    Options,
    TrainConfig,
    describe,
    from_dict,
    load_config,
    option,
    parse_override,
    rule,
    to_dict,
)
from transferkit.errors import ConfigError


def test_defaults_round_trip():
    cfg = FitConfig()
    again = from_dict(FitConfig, to_dict(cfg))
    assert again == cfg


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("strategy: gradual\ntrain:\n  lr: 0.01\n  epochs: 3\ndata:\n  data: digits\n")
    cfg = load_config(FitConfig, path, overrides=["train.epochs=5", "data.shots=10"])
    assert cfg.strategy == "gradual"
    assert cfg.train.lr == 0.01
    assert cfg.train.epochs == 5
    assert cfg.data.shots == 10
    assert cfg.data.data == "digits"


def test_misspelt_key_suggests_the_right_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  learning_rat: 0.1\n  epoch: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(FitConfig, path)
    msg = str(exc.value)
    assert "train.learning_rat" in msg
    assert "Valid keys" in msg and "lr" in msg
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        load_config(FitConfig, path)
    path.write_text("stratgy: full\n")
    with pytest.raises(ConfigError, match="Did you mean 'strategy'"):
        load_config(FitConfig, path)


def test_type_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="'train.epochs' parameter must be an int"):
        load_config(FitConfig, overrides=["train.epochs=abc"])
    with pytest.raises(ConfigError, match="'train.lr' parameter must be a number"):
        load_config(FitConfig, overrides=["train.lr=fast"])
    with pytest.raises(ConfigError, match="must be one of adamw, sgd"):
        load_config(FitConfig, overrides=["train.optimizer=adam"])


def test_validation_of_absurd_values():
    with pytest.raises(ConfigError, match=r"The 'data.shots' parameter must be an int >= 0\. Got -1 instead\."):
        load_config(FitConfig, overrides=["data.shots=-1"])
    with pytest.raises(ConfigError, match=r"The 'shots' parameter must be an int >= 0\. Got -2 instead\."):
        DataConfig(shots=-2)
    with pytest.raises(ConfigError, match=r"'lr' parameter must be a number in \(0, 10\]"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ConfigError, match="'epochs' parameter must be an int >= 1"):
        TrainConfig(epochs=0)


@pytest.mark.parametrize("override,message", [
    ("train.epochs=0", r"'train\.epochs' parameter must be an int >= 1\. Got 0 instead"),
    ("train.lr=20", r"'train\.lr' parameter must be a number in \(0, 10\]\. Got 20\.0 instead"),
    ("train.warmup=1", r"'train\.warmup' parameter must be a number in \[0, 1\)"),
    ("train.weight_decay=-0.1", r"'train\.weight_decay' parameter must be a finite number >= 0"),
    ("train.patience=0", r"'train\.patience' parameter must be an int >= 1"),
    ("data.val_fraction=1.5", r"'data\.val_fraction' parameter must be a number in \[0, 1\)"),
    ("backbone.max_length=2", r"'backbone\.max_length' parameter must be an int >= 4\. Got 2"),
    ("source_weight=-1", r"'source_weight' parameter must be a finite number >= 0"),
    ("source_weight=.inf", r"'source_weight' parameter must be a finite number >= 0\. Got inf"),
])
def test_bounds_name_the_dotted_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(FitConfig, overrides=[override])


def test_bounds_hold_for_direct_construction_and_replace():
    import dataclasses

    with pytest.raises(ConfigError, match=r"'batch_size' parameter must be an int >= 1\. Got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="'epochs' parameter must be an int >= 1. Got 2.5"):
        TrainConfig(epochs=2.5)
    with pytest.raises(ConfigError, match="'optimizer' parameter must be one of adamw, sgd"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ConfigError, match="'epochs' parameter"):
        dataclasses.replace(TrainConfig(), epochs=-1)
    assert TrainConfig(max_steps=None, patience=None).max_steps is None  # None stays allowed


def test_option_bounds_and_rules():
    @dataclass
    class C(Options):
        k: int | None = option(None, "K.", ge=1)
        p: float = option(0.5, "P.", gt=0, le=1)
        xs: list[float] = option(factory=lambda: [1.0], help="Xs.", gt=0)
        mode: str = option("a", "Mode.", choices=("a", "b"))

    rules = {f.name: rule(f, tp) for f, tp in
             ((f, C.__annotations__[f.name]) for f in dataclasses.fields(C))}
    assert rules == {"k": "an int >= 1 or None", "p": "a number in (0, 1]",
                     "xs": "each a finite number > 0", "mode": "one of a, b"}
    assert C(k=None).k is None and C(k=3, p=1.0).p == 1.0
    with pytest.raises(ConfigError, match=r"The 'p' parameter must be a number in \(0, 1\]\. Got 0 instead"):
        C(p=0)
    with pytest.raises(ConfigError, match=r"The 'c\.xs\[1\]' parameter must be a finite number > 0\. Got -2\.0"):
        from_dict(C, {"xs": [1, -2]}, "c")
    with pytest.raises(ConfigError, match=r"'k' parameter must be an int >= 1\. Got True"):
        C(k=True)
    with pytest.raises(TypeError, match="at most one lower bound"):
        option(1, "X.", ge=0, gt=0)


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.lr")
    assert parse_override("train.lr=0.001") == (["train", "lr"], 0.001)
    assert load_config(FitConfig, overrides=["train.lr=1e-3"]).train.lr == 1e-3
    assert parse_override("compare=[scratch]") == (["compare"], ["scratch"])


def test_list_from_comma_string():
    cfg = load_config(FitConfig, values={"compare": "scratch"})
    assert cfg.compare == ["scratch"]


def test_describe_lists_help_for_every_leaf():
    rows = describe(FitConfig)
    keys = [r[0] for r in rows]
    assert "train.lr" in keys and "data.shots" in keys and "strategy" in keys
    assert all(r[3] for r in rows), "every config key needs a help text"


def test_custom_config_choices():
    @dataclass
    class C:
        mode: str = option("a", "Mode.", choices=("a", "b"))

    assert from_dict(C, {"mode": "b"}).mode == "b"
    with pytest.raises(ConfigError, match="Did you mean 'b'"):
        from_dict(C, {"mode": "bb"})


def test_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(FitConfig, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(FitConfig, bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(FitConfig, lst)


def test_yaml_words_no_yes_stay_strings_for_string_options():
    """`--set train.mixed_precision=no` was read by YAML as False and refused as 'False'."""
    assert parse_override("train.mixed_precision=no") == (["train", "mixed_precision"], "no")
    assert load_config(FitConfig, overrides=["train.mixed_precision=no"]).train.mixed_precision == "no"
    assert parse_override("x=true") == (["x"], True)
    cfg = load_config(FitConfig, overrides=["train.bf16=yes"])
    assert cfg.train.bf16 is True and cfg.train.mixed_precision == "bf16"
    with pytest.raises(ConfigError, match="quote the word"):
        load_config(FitConfig, values={"train": {"mixed_precision": False}})
