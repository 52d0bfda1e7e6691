"""Write the benign PyTorch checkpoints of the test corpus with real `torch.save`.

torch is too large to be a test dependency, so its output is kept here as
fixtures (a few KiB). Regenerate with a Python that has torch:

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchvenv/bin/python tests/corpus/make_torch_fixtures.py tests/corpus
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import torch


def main(out: Path) -> None:
    torch.manual_seed(0)
    state = collections.OrderedDict(
        [
            ("embed.weight", torch.randn(8, 4)),
            ("head.bias", torch.zeros(4, dtype=torch.float16)),
            ("head.scale", torch.ones(2, dtype=torch.bfloat16)),
            ("steps", torch.tensor([3], dtype=torch.int64)),
        ]
    )
    torch.save(state, out / "torch-zip.pt")
    torch.save(state, out / "torch-legacy.pt", _use_new_zipfile_serialization=False)
    # Parameters, as an nn.Module's own state_dict holds them in a full checkpoint.
    model = torch.nn.Linear(4, 2)
    torch.save({"model": model.state_dict(), "epoch": 7}, out / "torch-checkpoint.pth")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
