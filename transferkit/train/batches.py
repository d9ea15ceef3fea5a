"""The loop's batches: which indices each process gets per epoch, and how they are loaded.

:func:`epoch_batches` regenerates any epoch's batches from the seed alone, which is what
makes a resumed run see exactly the batches the interrupted one would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from transferkit.errors import ConfigError

#: Length grouping sorts windows of this many global batches (as HF's LengthGroupedSampler).
LENGTH_GROUP_WINDOW = 50


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world: int = 1, stream: int = 0,
                  lengths: Sequence[int] | np.ndarray | None = None) -> list[list[int]]:
    """This process's index batches for one epoch, identical however often it is asked.

    The permutation comes from a generator seeded with ``(seed, stream, epoch)``, so a
    resumed run regenerates it. Each global batch of ``batch_size * world`` indices is
    split evenly across processes; a last batch of one example is merged into the one
    before (a batch of one breaks BatchNorm in training mode).

    ``lengths`` (one per example) groups examples of similar length: each window of
    ``LENGTH_GROUP_WINDOW`` global batches of the permutation is sorted by length, cut into
    batches, and the batches are shuffled, so padded texts waste little compute while each
    epoch still sees a new random grouping.
    """
    if n == 0:
        return []
    g = torch.Generator().manual_seed((seed * 1_000_003 + stream * 7_919 + epoch) % (2**63))
    perm = torch.randperm(n, generator=g).tolist()
    size = batch_size * world
    if lengths is not None:
        if len(lengths) != n:
            raise ConfigError(f"The 'lengths' parameter must give one length per example ({n}). "
                              f"Got {len(lengths)} instead.")
        window = size * LENGTH_GROUP_WINDOW
        perm = [i for w in range(0, n, window)
                for i in sorted(perm[w:w + window], key=lambda j: -int(lengths[j]))]
    global_batches = [perm[i:i + size] for i in range(0, n, size)]
    if len(global_batches) > 1 and len(global_batches[-1]) < 2 * world:
        global_batches[-2].extend(global_batches.pop())
    if lengths is not None and len(global_batches) > 1:
        order = torch.randperm(len(global_batches), generator=g).tolist()
        global_batches = [global_batches[i] for i in order]
    out = []
    for gb in global_batches:
        if len(gb) < world:  # pad like DistributedSampler so every process gets a batch
            gb = gb + perm[: world - len(gb)]
        out.append([int(i) for i in np.array_split(np.asarray(gb), world)[rank]])
    return out


def cycle_batches(loader: Callable[[list[list[int]]], Any], n: int, batch_size: int, seed: int, epoch: int,
                  batch: int, rank: int = 0, world: int = 1) -> Iterator[tuple[Any, tuple[int, int]]]:
    """The batches of a second data stream (unlabelled target data), cycled forever from
    batch ``batch`` of ``epoch``; yields ``(batch, (epoch, batch) after it)``.

    ``loader(index_batches)`` loads them; the stream's permutations are independent of the
    labelled data's (``stream=1`` in :func:`epoch_batches`).
    """
    while True:
        batches = epoch_batches(n, batch_size, seed, epoch, rank, world, stream=1)
        for i, loaded in enumerate(loader(batches[batch:]), start=batch + 1):
            yield loaded, ((epoch, i) if i < len(batches) else (epoch + 1, 0))
        epoch, batch = epoch + 1, 0


class BatchList(torch.utils.data.Sampler):
    """A batch sampler that yields the given index batches, in order."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def batch_loader(data: Dataset, batches: list[list[int]], collate: Callable, num_workers: int,
                 seed: int) -> DataLoader:
    """A DataLoader over exactly ``batches`` of ``data``."""
    # A private generator: creating an iterator must not draw from the global RNG, or a
    # resumed run (which starts mid-epoch) would see different dropout masks.
    return DataLoader(data, batch_sampler=BatchList(batches), collate_fn=collate,
                      num_workers=num_workers, generator=torch.Generator().manual_seed(seed))


def collate_pairs(items: list[Any]) -> tuple[Any, torch.Tensor]:
    """``(input, label)`` items -> ``(inputs, labels)`` with int64 labels (the default collate)."""
    inputs, labels = default_collate(items)
    return inputs, torch.as_tensor(labels, dtype=torch.long)


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor in it (nested dicts, lists, tuples) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        moved = [to_device(v, device) for v in obj]
        return type(obj)(moved) if isinstance(obj, tuple) and not hasattr(obj, "_fields") else moved
    if hasattr(obj, "to") and callable(obj.to):  # e.g. transformers BatchEncoding
        return obj.to(device)
    return obj



def _leaves(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        if obj.ndim >= 1:
            yield obj
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _leaves(v)


def _part(obj: Any, i: int, parts: int) -> Any:
    if isinstance(obj, torch.Tensor):
        return torch.tensor_split(obj, parts)[i] if obj.ndim >= 1 else obj
    if isinstance(obj, Mapping):
        return type(obj)({k: _part(v, i, parts) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        moved = [_part(v, i, parts) for v in obj]
        return type(obj)(moved) if isinstance(obj, tuple) and not hasattr(obj, "_fields") else moved
    return obj


def split_batch(batch: Any, parts: int) -> list[tuple[Any, float]]:
    """``batch`` in at most ``parts`` slices for gradient accumulation, with each slice's
    share of the rows: every tensor in it (nested tuples, lists, dicts) is cut along its first
    dimension, so a paired batch (source, target) pairs slice i of each. A loss that is a
    mean over rows, weighted by the shares, adds up to the whole batch's loss. Fewer slices
    when a tensor has fewer rows than ``parts``; ``[(batch, 1.0)]`` for one.

    >>> [(p.tolist(), w) for p, w in split_batch(torch.arange(4), 2)]
    [([0, 1], 0.5), ([2, 3], 0.5)]
    """
    leaves = list(_leaves(batch))
    parts = min([int(parts), *(len(t) for t in leaves)]) if leaves else 1
    if parts <= 1:
        return [(batch, 1.0)]
    sizes = [len(p) for p in torch.tensor_split(leaves[0], parts)]
    return [(_part(batch, i, parts), sizes[i] / max(1, sum(sizes))) for i in range(parts)]

__all__ = ["LENGTH_GROUP_WINDOW", "BatchList", "batch_loader", "collate_pairs", "cycle_batches", "epoch_batches",
           "split_batch", "to_device"]
