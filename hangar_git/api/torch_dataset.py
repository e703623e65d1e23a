"""The PyTorch face of a :class:`~.dataset.ColumnGroup` (imports torch: optional extra)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from torch.utils.data import Dataset

from .dataset import ColumnGroup
from .prefetch import OrderSampler


class TorchDataset(Dataset):
    """``torch.utils.data.Dataset`` over columns of read checkouts (``make_torch_dataset``).

    ``__getitems__`` lets a DataLoader with automatic batching fetch each batch
    of indices in one batched store read instead of one read per sample.
    """

    def __init__(self, group: ColumnGroup) -> None:
        self.group = group

    @property
    def keys(self) -> list[Any]:
        return self.group.keys

    @property
    def field_names(self) -> tuple[str, ...]:
        return self.group.fields

    def __len__(self) -> int:
        return len(self.group)

    def __getitem__(self, index: int) -> Any:
        return self.group.sample(index)

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        return self.group.samples(indices)

    def sampler(self, shuffle: bool = True, seed: Optional[int] = None) -> OrderSampler:
        """A sampler for ``DataLoader(ds, sampler=ds.sampler(...))`` drawing each epoch's order from
        ``seed``: over a streaming checkout, workers then read their next batches ahead."""
        return OrderSampler(self.group, shuffle, seed)
