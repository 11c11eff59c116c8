"""Reads a safetensors file with NumPy alone and prints {name: [shape, sum, first]} as JSON."""
import json, struct, sys
import numpy as np

with open(sys.argv[1], "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    body = f.read()
out = {}
for name, entry in header.items():
    if name == "__metadata__":
        continue
    begin, end = entry["data_offsets"]
    array = np.frombuffer(body[begin:end], dtype={"F32": "<f4", "F64": "<f8"}[entry["dtype"]]).reshape(entry["shape"])
    out[name] = [list(array.shape), float(array.astype(np.float64).sum()), float(array.ravel()[0])]
print(json.dumps({"tensors": out, "metadata": header.get("__metadata__", {})}))
