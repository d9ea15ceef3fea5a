import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """One folder for the tiny models (a tiny BERT is written once per session)."""
    return tmp_path_factory.mktemp("backbones")


@pytest.fixture(scope="session")
def examples(workdir):
    """family -> (backbone, dataset) from each family's tiny_example."""
    from transferkit.backbones import BACKBONES

    return {name: BACKBONES.get(name).tiny_example(workdir) for name in BACKBONES.names()}
