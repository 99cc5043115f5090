# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Seeded training data (SeededSampler, SeededDataset): each sample's
augmentation depends on its place in training only, built by mmengine's
Runner from configs, with mmpretrain's random transforms on image files.
(Resuming real runs with them: test_resume_augmented.py.)"""
import random

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import DATASETS, init_default_scope
from mmengine.runner import Runner

import mmsmlp  # noqa: F401  (registers the seeded sampler and dataset)
from mmsmlp.datasets import SeededIndex


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """mmpretrain's folder layout: 2 classes of 6 random 24x24 images."""
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for label in ('a', 'b'):
        (root / label).mkdir()
        for i in range(6):
            image = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            cv2.imwrite(str(root / label / f'{i}.png'), image)
    return root


def loader_config(root, num_workers, seeded=True, shuffle=True):
    dataset = dict(
        type='CustomDataset',
        data_root=str(root),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=16),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ])
    sampler = dict(type='DefaultSampler', shuffle=shuffle)
    if seeded:
        dataset = dict(type='SeededDataset', dataset=dataset)
        sampler = dict(type='SeededSampler', sampler=sampler)
    return dict(
        batch_size=4,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        sampler=sampler,
        dataset=dataset)


def images_by_epoch(config, epochs=2):
    """{epoch: {sample index: image}} of the loader built from config."""
    init_default_scope('mmpretrain')
    loader = Runner.build_dataloader(config, seed=0)
    images = {}
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        images[epoch] = {
            sample.sample_idx: inputs
            for batch in loader
            for inputs, sample in zip(batch['inputs'], batch['data_samples'])
        }
    return images


def test_augmentation_is_the_same_with_any_number_of_workers(image_folder):
    in_process = images_by_epoch(loader_config(image_folder, 0))
    in_workers = images_by_epoch(loader_config(image_folder, 2))
    for epoch in in_process:
        assert in_process[epoch].keys() == set(range(12))
        for index, image in in_process[epoch].items():
            assert torch.equal(image, in_workers[epoch][index])


def test_each_epoch_augments_anew(image_folder):
    """With mmengine's per-worker seeds and workers that are started each
    epoch, every epoch repeats the draws of the first, position by position
    (the same crops of the same images, unshuffled); seeded, they are new
    (12 random crops of 24x24 images: all equal by chance never happens)."""

    def changed(images):
        return sum(not torch.equal(images[0][i], images[1][i])
                   for i in range(12))

    for shuffle in (False, True):
        assert changed(
            images_by_epoch(loader_config(image_folder, 2,
                                          shuffle=shuffle))) == 12
    unseeded = loader_config(image_folder, 2, seeded=False, shuffle=False)
    unseeded['persistent_workers'] = False
    assert changed(images_by_epoch(unseeded)) == 0


def test_loading_in_process_leaves_the_process_generators_alone(image_folder):
    """With num_workers=0 the transforms run in the training process; they
    must not consume the draws of the model (drop path, mixup)."""
    init_default_scope('mmpretrain')
    loader = Runner.build_dataloader(loader_config(image_folder, 0), seed=0)
    # Starting an iterator draws its workers' base seed from torch's
    # generator (torch's DataLoader, workers or not); loading draws nothing.
    batches = iter(loader)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    states = (random.getstate(), np.random.get_state()[1].copy(),
              torch.get_rng_state())
    next(batches)
    assert random.getstate() == states[0]
    np.testing.assert_array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])


def test_seeded_dataset_refuses_an_index_without_a_seed(image_folder):
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(loader_config(image_folder, 0)['dataset'])
    assert len(dataset) == 12
    assert dataset.metainfo['classes'] == ('a', 'b')
    with pytest.raises(TypeError, match="must be a SeededSampler"):
        dataset[0]
    first = dataset[SeededIndex(0, seed=5)]
    assert torch.equal(first['inputs'], dataset[SeededIndex(0,
                                                            seed=5)]['inputs'])
