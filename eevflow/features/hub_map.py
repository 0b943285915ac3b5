"""tfhub.dev URL -> Kaggle Models handle, for every TF Hub model eevflow's configs and backends
name. tfhub.dev has been folded into Kaggle Models (tfhub.dev URLs now redirect to
``https://www.kaggle.com/models/<owner>/<model>/<framework>/<variation>/<version>``, and
``hub.load`` of them often fails with HTTP 403: tensorflow/hub issues 922, 931, 932), so
:func:`eevflow.features.hub_handles.load_handle` tries a mapped URL's Kaggle handle through
``kagglehub`` when the URL is not in ``$TFHUB_CACHE_DIR``.

Handles are ``owner/model/framework/variation/version`` as ``kagglehub.model_download`` takes
them, always with the version (an unversioned handle makes kagglehub ask the network for the
latest). The framework is spelt ``tensorFlow1`` / ``tensorFlow2`` as Kaggle writes it
(kagglehub's cache folder uses the string as given).

Status of each row: "V" verified in a public source (cited), "U" inferred. Kaggle numbers the
versions of each framework separately: a tfhub.dev model whose versions 1-3 were TF1 Hub modules
and 4-5 TF2 SavedModels has Kaggle ``tensorFlow2`` versions 1 and 2 (tfhub.dev changelogs of the
``google/imagenet/*`` models: "Version 4: switched to the SavedModel format of TensorFlow 2";
openvino's nightly_tf_hub list maps the unversioned resnet_v2_50 and inception_v3 feature vectors,
i.e. their /5, to Kaggle ``tensorFlow2/.../2``).
"""

from __future__ import annotations

TFHUB_TO_KAGGLE: dict[str, str] = {
    # V: openvinotoolkit/openvino tests/model_hub_tests/tensorflow/model_lists/nightly_tf_hub
    # (".../nonsemantic-speech-benchmark/frameworks/tensorFlow2/variations/trill-distilled/
    # versions/3")
    "https://tfhub.dev/google/nonsemantic-speech-benchmark/trill-distilled/3":
        "google/nonsemantic-speech-benchmark/tensorFlow2/trill-distilled/3",
    # V: same openvino list (".../vggish/frameworks/tensorFlow2/variations/vggish/versions/1"),
    # and public code calling
    # hub.load("https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1")
    "https://tfhub.dev/google/vggish/1": "google/vggish/tensorFlow2/vggish/1",
    # V: same openvino list (".../yamnet/frameworks/tensorFlow2/variations/yamnet/versions/1"),
    # and public code calling
    # hub.load("https://www.kaggle.com/models/google/yamnet/TensorFlow2/yamnet/1")
    "https://tfhub.dev/google/yamnet/1": "google/yamnet/tensorFlow2/yamnet/1",
    # V: same openvino list ("efficientnet/b0/feature-vector,.../tensorflow/efficientnet/frameworks/
    # tensorFlow2/variations/b0-feature-vector/versions/1"; a TF1 copy is google/efficientnet/
    # tensorFlow1/b0-feature-vector/1). tfhub.dev b0/feature-vector/1 is a TF2 SavedModel
    "https://tfhub.dev/tensorflow/efficientnet/b0/feature-vector/1":
        "tensorflow/efficientnet/tensorFlow2/b0-feature-vector/1",
    # U (model, framework and variation V; version inferred): public code loads
    # https://www.kaggle.com/models/google/resnet-v2/tensorFlow2/50-feature-vector/1 and .../2;
    # openvino maps the unversioned URL (tfhub /5) to versions/2; tfhub /4 is the first TF2 version
    # (tfhub.dev assets/docs/google/models/imagenet/resnet_v2_50/feature_vector/5.md changelog)
    "https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/4":
        "google/resnet-v2/tensorFlow2/50-feature-vector/1",
    # U (owner/model V, variation and version inferred): google/inception-resnet-v2/TensorFlow2/
    # classification/2 appears in public code (a Kaggle URL list beside google/inception-v3/...);
    # the feature vector's variation is "feature-vector" as for inception-v3 (openvino list: tfhub
    # inception_v3/feature_vector -> google/inception-v3/tensorFlow2/feature-vector/2). tfhub /5 is
    # the current version (its 5.md changelog: v4 first TF2, v5 adds serving_default) -> Kaggle 2
    "https://tfhub.dev/google/imagenet/inception_resnet_v2/feature_vector/5":
        "google/inception-resnet-v2/tensorFlow2/feature-vector/2",
    # U, as the row above: the TF Hub version before it (the first TF2 one) -> Kaggle 1
    "https://tfhub.dev/google/imagenet/inception_resnet_v2/feature_vector/4":
        "google/inception-resnet-v2/tensorFlow2/feature-vector/1",
    # V: openvinotoolkit/openvino_notebooks s3d-mil-nce notebook:
    # hub.load("https://www.kaggle.com/models/deepmind/mil-nce/TensorFlow1/s3d/1"), a TF1 Hub
    # module
    "https://tfhub.dev/deepmind/mil-nce/s3d/1": "deepmind/mil-nce/tensorFlow1/s3d/1",
    # V: openvino nightly_tf_hub (".../tensorflow/bert/frameworks/tensorFlow2/variations/
    # en-uncased-l-12-h-768-a-12/versions/4"), and public code
    "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4":
        "tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/4",
    # V: openvino nightly_tf_hub (".../tensorflow/bert/frameworks/tensorFlow2/variations/
    # en-uncased-preprocess/versions/3")
    "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3":
        "tensorflow/bert/tensorFlow2/en-uncased-preprocess/3",
}

#: rows not confirmed in a public source (see the comments above): a failed load says so
UNVERIFIED: frozenset[str] = frozenset({
    "https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/4",
    "https://tfhub.dev/google/imagenet/inception_resnet_v2/feature_vector/5",
    "https://tfhub.dev/google/imagenet/inception_resnet_v2/feature_vector/4",
})


def kaggle_handle_for(url: str) -> str | None:
    """The Kaggle Models handle of a tfhub.dev URL (exact string, a trailing ``/`` ignored)."""
    return TFHUB_TO_KAGGLE.get(url.rstrip("/"))
