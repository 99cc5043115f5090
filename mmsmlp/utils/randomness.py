# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Random draws that are a function of where they happen in training.

A resumed run draws the same random numbers as an uninterrupted one when
every draw depends only on the run's seed and on its place in training (the
rank, the epoch, the iteration, the sample), not on what the process drew
before it was started. :func:`derive_seed` maps such a place to a seed;
:func:`seeded_randomness` runs code on the generators it draws from
(Python's ``random``, numpy's global generator and torch's CPU generator).
"""
import random
from contextlib import contextmanager

import numpy as np
import torch

# Domains of derive_seed, so that a sample's seed never equals an
# iteration's.
SAMPLE_DOMAIN = 0
ITERATION_DOMAIN = 1


def derive_seed(seed: int, *place: int) -> int:
    """A 32-bit seed for the draws at ``place`` of a run seeded ``seed``
    (numpy's ``SeedSequence``: distinct places give independent streams)."""
    entropy = [seed % 2**32, *place]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (torch's on every
    device) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def seeded_randomness(seed: int):
    """Run the body on Python's, numpy's and torch's CPU generators seeded
    with ``seed``, and give them back their state afterwards, so that the
    body neither depends on nor changes what the process draws elsewhere.

    CUDA generators are left alone: data pipelines run on the CPU, and
    reading a CUDA generator's state would initialise CUDA in every data
    loader worker.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch_state = torch.random.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    # Not torch.manual_seed, which also reseeds the CUDA generators.
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.random.set_rng_state(torch_state)
