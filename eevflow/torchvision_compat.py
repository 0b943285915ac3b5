"""Import torchvision beside the CPU build of torch 2.13.

PyPI's only torchvision for torch 2.13 (0.28.0) is a CUDA build: its ``_C`` extension needs
``libtorch_cuda.so``, which the CPU torch lacks. torchvision copes with a missing extension for its
Python parts (transforms, ``ops.misc``), except that ``torchvision._meta_registrations`` registers
fake kernels for ``torchvision::nms`` and ``torchvision::qnms`` without checking that the extension
loaded, so ``import torchvision`` itself fails ("operator torchvision::nms does not exist"), and
with it every package that imports it (timm, facenet-pytorch).

:func:`import_torchvision` imports it as is where it works (a CUDA torch, or a CPU torchvision
from PyTorch's own index). Where it fails in exactly that way, it defines the two operators'
schemas (as torchvision's C++ declares them), gives ``nms`` a CPU kernel written in torch (greedy
non-maximum suppression, the algorithm of torchvision's ``nms_kernel.cpp``: boxes by descending
score, each kept one suppresses the later ones whose IoU with it is above the threshold), and
imports it again. Only ``nms`` (and ``batched_nms`` over it) gains a kernel; any other compiled
operator (``roi_align``, ``deform_conv2d``, ...) fails when called with PyTorch's "no such
operator" error, as it would without the extension.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARY = None  # the torch.library fragment holding the definitions (kept alive)


def nms_reference(dets, scores, iou_threshold: float):
    """Indices (int64, by descending score) of the boxes kept by greedy NMS; ``dets`` is (N, 4)
    x1, y1, x2, y2. Ties in score keep the lower index first (a stable sort)."""
    import torch

    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=dets.device)
    boxes = dets.to(torch.float64)
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    ix1 = torch.maximum(b[:, None, 0], b[None, :, 0])
    iy1 = torch.maximum(b[:, None, 1], b[None, :, 1])
    ix2 = torch.minimum(b[:, None, 2], b[None, :, 2])
    iy2 = torch.minimum(b[:, None, 3], b[None, :, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    a = area[order]
    union = a[:, None] + a[None, :] - inter
    over = (inter / union.clamp(min=torch.finfo(torch.float64).tiny)) > iou_threshold
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i]
    return order[torch.as_tensor(keep, dtype=torch.int64)].to(dets.device)


def _define_operators() -> None:
    global _LIBRARY
    import torch

    if _LIBRARY is not None:
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in _SCHEMAS.items():
        try:
            lib.define(schema)
        except RuntimeError:  # already defined (by the extension after all)
            continue
        if name == "nms":
            lib.impl("nms", nms_reference, "CPU")
    _LIBRARY = lib


def _forget_partial_import() -> None:
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def import_torchvision():
    """``import torchvision``, working around its CUDA-only build beside a CPU torch (see the
    module docstring). Other import failures propagate unchanged."""
    try:
        import torchvision

        return torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc) or "does not exist" not in str(exc):
            raise
        log.info("torchvision's compiled operators did not load (%s); defining nms in torch",
                 " ".join(str(exc).split())[:120])
    _forget_partial_import()
    _define_operators()
    import torchvision
    import torchvision.extension

    # torchvision's Python wrappers check for the extension before calling an operator; nms now
    # has a kernel, the others fail at call time with PyTorch's own error
    torchvision.extension._has_ops = lambda: True
    return torchvision
