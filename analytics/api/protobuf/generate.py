"""Regenerate the checked-in protobuf modules of the ML endpoint (`energyleaf_ml`).

Usage (from the repository root, inside the dev virtualenv)::

    python -m analytics.api.protobuf.generate          # rewrite the generated files
    python -m analytics.api.protobuf.generate --check  # CI: fail if they are stale

The machinery and its contract are those of `sensors.protobuf.generate`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sensors.protobuf.generate import ProtoPackage, main

ML = ProtoPackage(directory=Path(__file__).resolve().parent, protos=("energyleaf_ml.proto",))

if __name__ == "__main__":
    sys.exit(main(package=ML))
