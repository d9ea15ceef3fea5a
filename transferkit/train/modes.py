"""Train/eval modes that respect frozen layers.

``model.train()`` puts every BatchNorm back into training mode, where it normalises
with batch statistics and updates its running statistics, even when its parameters are
frozen. For a frozen (pretrained) BatchNorm that silently changes the "frozen" backbone,
and with few-shot batches it ruins it. :func:`set_train_mode` is what the loop calls
instead of ``model.train()``.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def freeze_batchnorm(model: nn.Module) -> list[str]:
    """Put every frozen BatchNorm layer in eval mode; returns their names.

    A BatchNorm is frozen when none of its parameters requires grad; one without
    parameters (``affine=False``) is frozen when its parent module has no trainable
    parameter either.
    """
    frozen = []
    parents: dict[int, nn.Module] = {}
    for module in model.modules():
        for child in module.children():
            parents.setdefault(id(child), module)
    for name, module in model.named_modules():
        if not isinstance(module, _BatchNorm):
            continue
        params = list(module.parameters())
        if params:
            is_frozen = not any(p.requires_grad for p in params)
        else:
            parent = parents.get(id(module), model)
            is_frozen = not any(p.requires_grad for p in parent.parameters())
        if is_frozen:
            module.eval()
            frozen.append(name)
    return frozen


def set_train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, then frozen BatchNorm layers back to eval mode."""
    model.train()
    freeze_batchnorm(model)
    return model
