"""Write RGB frames ``(H, W, 3) uint8`` as a GIF (Pillow) or an MP4 (OpenCV), chosen by suffix."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_video(frames: list[np.ndarray], path: str | Path, fps: int = 10) -> Path:
    """Write ``frames`` to ``path`` (``.gif`` or ``.mp4``) at ``fps`` frames per second."""
    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{path}: video must end in .gif or .mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames]
    if suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    else:
        import cv2

        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    return path
