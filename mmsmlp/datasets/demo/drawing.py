# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What the three demo datasets draw alike."""
import cv2
import numpy as np


def draw_background(rng: np.random.Generator,
                    height: int,
                    width: int,
                    noise_std: float = 10) -> np.ndarray:
    """A smooth random colour gradient plus pixel noise, as uint8 RGB."""
    corners = rng.uniform(0, 255, size=(2, 2, 3)).astype(np.float32)
    background = cv2.resize(
        corners, (width, height), interpolation=cv2.INTER_LINEAR)
    noise = rng.normal(0, noise_std, size=(height, width, 3))
    return np.clip(background + noise, 0, 255).astype(np.uint8)


def check_counts(**counts: int) -> None:
    """Refuse a count below 1, naming it."""
    for name, count in counts.items():
        if count < 1:
            raise ValueError(f'{name} must be >= 1, got {count}.')


def check_size(name: str, size: int, minimum: int, reason: str) -> None:
    """Refuse an image size below ``minimum``, naming it and why."""
    if size < minimum:
        raise ValueError(
            f'{name} must be >= {minimum} ({reason}), got {size}.')
