"""Reads a safetensors file with NumPy alone and prints {name: [shape, sum, first]} as JSON."""
import json, struct, sys
import numpy as np


def read(path):
    """({name: array}, metadata) of a safetensors file (F32 or F64 tensors)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = f.read()
    arrays = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        arrays[name] = np.frombuffer(body[begin:end], dtype={"F32": "<f4", "F64": "<f8"}[entry["dtype"]]).reshape(entry["shape"])
    return arrays, header.get("__metadata__", {})


if __name__ == "__main__":
    arrays, metadata = read(sys.argv[1])
    out = {name: [list(a.shape), float(a.astype(np.float64).sum()), float(a.ravel()[0])] for name, a in arrays.items()}
    print(json.dumps({"tensors": out, "metadata": metadata}))
