"""The demo's GIF writer (tools/gif.py) read back frame by frame by Pillow, a reader no one here wrote
(pinned in requirements/blender-4.2.txt; tests/formats runs in that venv and never skips)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tools import gif


def test_gif_writer_matches_pillow_frame_by_frame(tmp_path):
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (3, 90, 120, 3), dtype=np.uint8)  # > 4096 codes: the LZW table is reset
    ramp = np.broadcast_to(np.arange(160, dtype=np.uint8)[None, :, None], (2, 50, 160, 3)).copy()
    for frames in (noise, ramp, np.zeros((1, 1, 1, 3), np.uint8)):
        palette, indices = gif.write_gif(tmp_path / "b.gif", frames, delay_ms=80)
        with Image.open(tmp_path / "b.gif") as image:
            assert (image.n_frames, image.size) == (len(frames), (frames.shape[2], frames.shape[1]))
            assert image.info["loop"] == 0 and image.info["duration"] == 80
            for i in range(len(frames)):
                image.seek(i)
                assert np.array_equal(np.asarray(image.convert("RGB")), palette[indices[i]])
        if len(np.unique(frames.reshape(-1, 3), axis=0)) <= 256:
            assert np.array_equal(palette[indices], frames)
