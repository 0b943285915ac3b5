"""A deterministic synthetic EEV-style dataset with a planted, learnable signal.

The demo stands in for the real EEV videos and CSVs (which are not available on these machines) so
the whole workflow can run end to end, and so that a temporal model over per-frame visual embeddings
and per-label-time audio embeddings can be *seen* to learn something that a control trained on
time-shuffled labels cannot.

What is generated
-----------------
For every video (``n_train`` / ``n_val`` / ``n_test`` of them, 11-character YouTube-like IDs):

* a real H.264 (libx264, yuv420p) + AAC ``.mp4``; duration uniform in ``[min_seconds,
  max_seconds]`` rounded to a whole number of frames, fps from (12, 15, 24, 25), frame size from
  (320x240, 320x180, 240x240, 256x144), audio sample rate from (44100, 48000, 22050), mono or
  stereo -- so that downstream code assumes nothing about the input;
* label rows at 6 Hz, timestamps ``round(i * 1e6 / 6)`` microseconds for ``i = 0 .. N-1`` with
  ``N = floor(duration * 6)``, so every label time lies inside the video.

The planted signal
------------------
Each modality has its own schedule of *events* covering the video: a lead-in gap uniform in
0-1 s, then events lasting uniform 0.8-1.6 s separated by gaps uniform 1.0-2.5 s. The kind of each
event (K = 6 kinds) comes from concatenated random permutations of the 6 kinds, so every kind occurs
in every video of about 20 s or more. The visual and audio schedules are drawn from independent
random streams.

* Visual kinds: during an event the frame shows one of 6 photos bundled with scikit-image
  (``VISUAL_KINDS``), scaled to cover the frame, with a slow sub-frame pan (jitter) and a per-event
  brightness gain. Between events the frame shows a neutral background: a low-contrast colour
  gradient that slowly rotates and drifts, plus a faint scrolling smooth texture.
* Audio kinds: during an event the audio carries one of 6 sounds (``AUDIO_KINDS``): pure tones at
  250, 500, 1000, 2000 and 4000 Hz and a band of noise (5-7 kHz), at about -13 dBFS RMS, over a
  background noise floor at about -48 dBFS RMS. All are well separated in a 64-band log-mel of
  16 kHz audio.

Expression ``e`` (index 0..14 in ``EXPRESSIONS``) responds to modality ``visual`` if ``e`` is even
else ``audio``, to event kind ``(e // 2) % 6``, with a lag of ``L_e = 3 + e % 4`` label steps (the
expression responds L steps after its cause) and Gaussian smoothing
``sigma_e = 1.0 + 0.5 * (e % 3)`` steps: with ``x`` the 0/1 indicator of that kind at each label
time::

    score = clip(0.08 + 0.7 * gaussian_filter1d(shift(x, L_e), sigma_e) + N(0, noise_std), 1e-3, 1)

==  ==============  ========  ====================  ===  =====
e   expression      modality  kind                  lag  sigma
==  ==============  ========  ====================  ===  =====
0   amusement       visual    0 chelsea (cat)       3    1.0
1   anger           audio     0 tone 250 Hz         4    1.5
2   awe             visual    1 astronaut           5    2.0
3   concentration   audio     1 tone 500 Hz         6    1.0
4   confusion       visual    2 coffee              3    1.5
5   contempt        audio     2 tone 1000 Hz        4    2.0
6   contentment     visual    3 rocket              5    1.0
7   disappointment  audio     3 tone 2000 Hz        6    1.5
8   doubt           visual    4 coins               3    2.0
9   elation         audio     4 tone 4000 Hz        4    1.0
10  interest        visual    5 camera (cameraman)  5    1.5
11  pain            audio     5 noise 5-7 kHz       6    2.0
12  sadness         visual    0 chelsea (cat)       3    1.0
13  surprise        audio     0 tone 250 Hz         4    1.5
14  triumph         visual    1 astronaut           5    2.0
==  ==============  ========  ====================  ===  =====

(``signal_table()`` returns the same table as data.) The visual indicator at label time ``t`` is
taken from the frame shown at ``t`` (frame ``floor(t * fps)``), the audio indicator from whether
``t`` lies inside an audio event. Finally a few contiguous runs of rows (about
``no_detection_fraction`` of each video's rows, at least one row) are set to all 0.0 -- EEV's
"no face detected" -- and no other row is all zero (scores are clipped at 1e-3 from below).

The noise-free signal -- the same formula without the noise term, clipped and rounded alike, all
0.0 on the same no-detection rows -- is kept: ``generate_labels_and_oracle`` returns it, and
``generate_demo(..., test_oracle=PATH)`` writes the test split's in the ground-truth layout (the
report's oracle row, the ceiling of M_rho).

Everything is seeded from ``spec.seed``, the split and the video (whose ID is a function of the
split and its index) through ``numpy.random.SeedSequence``; no global random state is used. The
encoders run single-threaded, which makes the ``.mp4`` files byte-identical from run to run on a
given machine and software stack (another CPU's float32 ``sin`` may move a background pixel by one
grey level; labels never depend on rendering).

A second built-in dataset, cut from real photos, clips and sounds with responses that are not
linear in the content, is ``eevflow.demo.realmedia`` (``demo.kind: realmedia``);
``eevflow.demo.dataset`` dispatches on the kind.

Usage::

    python -m eevflow.demo [--kind synthetic] --videos-dir demo/videos --train demo/train.csv \
        --val demo/val.csv --test demo/test.csv --test-ground-truth demo/test_gt.csv \
        [--test-oracle demo/oracle.csv] [--jobs 2]
"""

from eevflow.demo.dataset import KINDS, generate, main, spec_from_config, video_ids
from eevflow.demo.realmedia import RealMediaSpec, generate_realmedia
from eevflow.demo.render import FrameRenderer, render_audio
from eevflow.demo.signal import (
    event_indicators,
    expression_signal,
    generate_labels,
    generate_labels_and_oracle,
    label_timestamps_us,
    signal_table,
)
from eevflow.demo.spec import (
    AUDIO_KINDS,
    EXPRESSIONS,
    ID_HEADER_TEST,
    ID_HEADER_TRAIN,
    N_KINDS,
    SPLITS,
    TIMESTAMP_HEADER,
    VISUAL_KINDS,
    DemoSpec,
    demo_video_ids,
    kind_name,
    plan_video,
)
from eevflow.demo.write import generate_demo, generate_video

__all__ = [
    "AUDIO_KINDS",
    "EXPRESSIONS",
    "ID_HEADER_TEST",
    "ID_HEADER_TRAIN",
    "N_KINDS",
    "SPLITS",
    "TIMESTAMP_HEADER",
    "VISUAL_KINDS",
    "KINDS",
    "DemoSpec",
    "FrameRenderer",
    "RealMediaSpec",
    "demo_video_ids",
    "event_indicators",
    "expression_signal",
    "generate",
    "generate_demo",
    "generate_labels",
    "generate_labels_and_oracle",
    "generate_realmedia",
    "generate_video",
    "kind_name",
    "label_timestamps_us",
    "main",
    "plan_video",
    "render_audio",
    "signal_table",
    "spec_from_config",
    "video_ids",
]
