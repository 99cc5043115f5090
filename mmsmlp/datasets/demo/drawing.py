# Copyright (c) mmsmlp contributors. All rights reserved.
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
