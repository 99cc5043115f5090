# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Data augmentation that a resumed run repeats exactly.

mmengine seeds each data loader worker once, with ``seed + worker_id +
num_workers * rank``: without persistent workers every epoch repeats the
augmentation of the first, with them a resumed run restarts the workers'
streams, and with ``num_workers=0`` the transforms draw from the generators
the model draws from. Here every sample is transformed on generators seeded
from its place in training instead, so its augmentation depends only on the
run's seed, the rank, the epoch and its position in the rank's sample
stream; not on the workers, on their number or on a resume.

:class:`SeededSampler` wraps the config's sampler and tags each index with
that seed; :class:`SeededDataset` wraps the dataset and transforms each
sample under its seed. ``tools/train.py`` wraps the training data in both
(:func:`mmsmlp.apis.use_seeded_training`)::

    train_dataloader = dict(
        sampler=dict(type='SeededSampler',
                     sampler=dict(type='DefaultSampler', shuffle=True)),
        dataset=dict(type='SeededDataset', dataset=dict(type=...)))
"""
from typing import Iterator, Optional

from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS, DATASETS
from torch.utils.data import Dataset, Sampler

from ..utils.randomness import SAMPLE_DOMAIN, derive_seed, seeded_randomness


class SeededIndex(int):
    """A dataset index that carries the seed of its sample's augmentation.

    An ``int``, so that batch samplers (mmdet's ``AspectRatioBatchSampler``)
    and ``get_data_info`` read it as the index it is.
    """

    def __new__(cls, index: int, seed: int):
        self = super().__new__(cls, index)
        self.seed = seed
        return self

    def __reduce__(self):
        # Sent to data loader workers by pickle.
        return SeededIndex, (int(self), self.seed)


@DATA_SAMPLERS.register_module()
class SeededSampler(Sampler):
    """Yields the indices of ``sampler`` as :class:`SeededIndex` es whose seed
    is derived from the run's seed, the rank, the epoch and the index's
    position in this rank's stream of the epoch.

    Args:
        dataset (Dataset): The dataset, given by the runner.
        sampler (dict): The config of the sampler to wrap, built with the
            same ``dataset`` and ``seed``.
        seed (int, optional): The run's seed, given by the runner. None draws
            one that all ranks share, as mmengine's samplers do.
    """

    def __init__(self,
                 dataset: Dataset,
                 sampler: dict,
                 seed: Optional[int] = None):
        self.dataset = dataset
        self.sampler = DATA_SAMPLERS.build(
            sampler, default_args=dict(dataset=dataset, seed=seed))
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, _ = get_dist_info()
        self.epoch = 0

    def __iter__(self) -> Iterator[SeededIndex]:
        for position, index in enumerate(self.sampler):
            yield SeededIndex(
                index,
                derive_seed(self.seed, SAMPLE_DOMAIN, self.rank, self.epoch,
                            position))

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Called by mmengine's ``DistSamplerSeedHook`` before each epoch."""
        self.epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)


@DATASETS.register_module()
class SeededDataset(Dataset):
    """Transforms the sample at each :class:`SeededIndex` on Python's, numpy's
    and torch's CPU generators seeded with the index's seed, and leaves the
    process's own generators as they were.

    Other attributes (``metainfo``, ``pipeline``, ``get_data_info``, ...) are
    those of the wrapped dataset, also when they are set.

    Args:
        dataset (dict | Dataset): The dataset to wrap, or its config.
    """

    def __init__(self, dataset):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def __getitem__(self, index: SeededIndex):
        if not isinstance(index, SeededIndex):
            raise TypeError(
                f'SeededDataset was given the index {index!r} without a '
                "seed: its sampler must be a SeededSampler, e.g. sampler="
                "dict(type='SeededSampler', sampler=dict(type="
                "'DefaultSampler', shuffle=True)).")
        with seeded_randomness(index.seed):
            return self.dataset[int(index)]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        # Only called for attributes SeededDataset lacks. 'dataset' itself is
        # missing while pickle rebuilds the object: no recursion then.
        if name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __setattr__(self, name: str, value) -> None:
        # Hooks that switch the pipeline (mmdet's PipelineSwitchHook) set
        # it on the dataset of the data loader: this one's.
        if name == 'dataset':
            super().__setattr__(name, value)
        else:
            setattr(self.dataset, name, value)
