"""What a file is, judged by its bytes: the kinds vault knows and the verdict on one file.

The name of a file says what its owner claims; the bytes say what a loader
will do with it. `torch.load` does not care that a pickle is called
`weights.dat`, and `numpy.load` unpickles an object array whatever the suffix.
So every file is classified by magic numbers and structure, and a name can
only add a check (a `.safetensors` that is not safetensors is refused), never
waive one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vault.errors import UnsafeContentError


class FileKind(enum.Enum):
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    NUMPY = "numpy"  # .npy
    NUMPY_ZIP = "numpy-zip"  # .npz
    TORCH_ZIP = "torch-zip"  # torch.save's zip, pickles inside
    PICKLE = "pickle"  # a raw pickle, or a legacy (pre-zip) torch checkpoint
    KERAS = "keras"  # Keras v3 .keras zip
    HDF5 = "hdf5"  # Keras .h5 or any HDF5
    ONNX = "onnx"
    SAVEDMODEL = "savedmodel"  # TensorFlow saved_model.pb whose every op is on the allow-list
    SENTENCEPIECE = "sentencepiece"  # tokenizer.model: a protobuf of pieces, data only
    IMAGE = "image"  # PNG, JPEG, GIF, WebP in model cards: no loader runs them
    TEXT = "text"  # JSON, tokenizer files, markdown, plain text
    COMPRESSED = "compressed"  # gzip, bz2, xz, zlib or tar whose every member was judged and admitted
    UNKNOWN = "unknown"  # binary vault cannot judge: refused unless allowed


class FormatError(UnsafeContentError):
    """A file that breaks its format's grammar; the message says what was expected and found."""


@dataclass(frozen=True)
class Verdict:
    """What one file is and what its checks found, independent of the name it goes by.

    `pickle` means loading it unpickles (a pickle, a torch checkpoint, an
    object-dtype NumPy array): admitted only with --allow-pickle, and only
    after the allow-list scan, which has already passed if this exists.
    `external` lists the ONNX external-data locations it reads, relative to
    its own directory; the revision must sign each of them. `runs_code` says
    why a loader runs code from it (an auto_map, a Hydra `_target_`), and
    `code_refs` are the `module.Class` references it names; `template`, for
    text, says why it must not be rendered as a Jinja template (it matters
    where a loader reads the file as one, by its name).
    """

    kind: FileKind
    pickle: bool = False
    external: tuple[str, ...] = ()
    detail: str = ""
    runs_code: str = ""
    code_refs: tuple[str, ...] = ()
    template: str | None = None


# Names that announce a format: the bytes must then be that format.
NAMED_KINDS: dict[str, frozenset[FileKind]] = {
    ".safetensors": frozenset({FileKind.SAFETENSORS}),
    ".gguf": frozenset({FileKind.GGUF}),
    ".npy": frozenset({FileKind.NUMPY}),
    ".npz": frozenset({FileKind.NUMPY_ZIP}),
    ".onnx": frozenset({FileKind.ONNX}),
    "saved_model.pb": frozenset({FileKind.SAVEDMODEL}),
    ".keras": frozenset({FileKind.KERAS}),
    ".h5": frozenset({FileKind.HDF5}),
    ".hdf5": frozenset({FileKind.HDF5}),
}


def check_name_matches(name: str, verdict: Verdict) -> None:
    lower = name.lower()
    for suffix, kinds in NAMED_KINDS.items():
        if lower.endswith(suffix) and verdict.kind not in kinds:
            expected = " or ".join(sorted(k.value for k in kinds))
            found = verdict.kind.value
            raise FormatError(f"{name}: named {suffix} but the bytes are {found}, not {expected}")
