"""idx.py — the IDX reader the PyTorch reference scripts in bench/ share
(plain or .gz files, as scripts/fetch-data.sh leaves them)."""
import gzip
import os
import sys

import numpy as np


def read_idx(d, name, who="bench"):
    """the array in IDX file d/name (or d/name.gz); exits naming `who` if missing"""
    p = os.path.join(d, name)
    if not os.path.exists(p):
        p += ".gz"
    if not os.path.exists(p):
        sys.exit("%s: error: %s missing (run scripts/fetch-data.sh)" % (who, p))
    with (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
