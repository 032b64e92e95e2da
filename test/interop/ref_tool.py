#!/usr/bin/env python3
"""Interop helper for test/interop/*.test.ts: runs a batch of jobs (JSON on stdin) against the reference
`cryptotensors` 0.2.3 and upstream `safetensors`, and prints one JSON result per job (a JSON list on stdout).

Jobs:
  {"op": "load", "path", "keys": {enc jwk, sign jwk}}          -> {"ok", "tensors": {name: sha256}} (safe_open, direct keys)
  {"op": "deserialize", "path", "keys"}                        -> same via the registry path (all dtypes)
  {"op": "write", "path", "tensors": [{name, dtype, shape, nbytes}], "metadata", "config"}
  {"op": "rewrap", "path", "out", "new_config", "old_config"}
  {"op": "plain_st", "path", "tensors", "metadata"}             -> upstream safetensors.serialize_file
  {"op": "load_st", "path"}                                     -> upstream safetensors loads: {name: sha256}
Tensor bytes are det_bytes(name, n) as in the vectors plan. Errors are reported, never raised.
"""
import hashlib
import json
import sys

import cryptotensors as ct
import numpy
import safetensors

ct.disable_provider("env")
ct.disable_provider("file")

PY = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16", "I32": "int32", "U32": "uint32",
      "I64": "int64", "U64": "uint64", "F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
      "C64": "complex64", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
      "F4": "float4_e2m1fn_x2"}
NUMPY_OK = {"BOOL", "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "F16", "F32", "F64", "C64"}


def det_bytes(name, n, dtype="U8"):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s:%d" % (name, i)).encode()).digest()
        i += 1
    out = out[:n]
    if dtype == "BOOL":
        out = bytes(b & 1 for b in out)
    return out


def sha(b):
    return hashlib.sha256(bytes(b)).hexdigest()


def tensor_dict(rows):
    td = {}
    for r in rows:
        shape = list(r["shape"])
        if r["dtype"] == "F4":
            shape[-1] //= 2
        td[r["name"]] = {"dtype": PY[r["dtype"]], "shape": shape, "data": det_bytes(r["name"], r["nbytes"], r["dtype"])}
    return td


def cfg(keys, public_only=False):
    e, s = keys["enc"], keys["sign"]
    enc = {k: e[k] for k in ("alg", "k", "kid", "jku") if k in e}
    sign = {k: s[k] for k in ("alg", "x", "d", "kid", "jku") if k in s and not (public_only and k == "d")}
    return {"enc_key": enc, "sign_key": sign}


def run(job):
    op = job["op"]
    if op == "load":
        out = {}
        with ct.safe_open(job["path"], framework="numpy", config=cfg(job["keys"], public_only=True)) as f:
            meta = f.metadata()
            for name in f.keys():
                if f.get_slice(name).get_dtype() in NUMPY_OK:
                    out[name] = sha(f.get_tensor(name).tobytes())
        return {"ok": True, "tensors": out, "metadata": meta}
    if op == "deserialize":
        e = dict(job["keys"]["enc"], kty="oct")
        s = dict(job["keys"]["sign"], kty="okp")
        e.setdefault("kid", "k-enc")
        s.setdefault("kid", "k-sign")
        ct.register_direct_key_provider(keys=[e, s])
        try:
            res = ct.deserialize(open(job["path"], "rb").read())
        finally:
            ct.disable_provider("DirectKeyProvider")
        return {"ok": True, "tensors": {n: sha(t["data"]) for n, t in res}}
    if op == "write":
        ct.serialize_file(tensor_dict(job["tensors"]), job["path"], metadata=job.get("metadata"), config=job.get("config"))
        return {"ok": True}
    if op == "rewrap":
        buf = open(job["path"], "rb").read()
        out = ct.rewrap(buf, job["new_config"], job.get("old_config"))
        open(job["out"], "wb").write(bytes(out))
        return {"ok": True}
    if op == "plain_st":
        # safetensors 0.8 takes TensorSpec(dtype, shape, data_ptr, data_len); keep the buffers alive meanwhile.
        keep = []
        specs = {}
        for name, t in tensor_dict(job["tensors"]).items():
            arr = numpy.frombuffer(t["data"], dtype=numpy.uint8).copy()
            keep.append(arr)
            specs[name] = safetensors.TensorSpec(dtype=t["dtype"], shape=t["shape"], data_ptr=arr.ctypes.data, data_len=arr.nbytes)
        safetensors.serialize_file(specs, job["path"], metadata=job.get("metadata"))
        return {"ok": True}
    if op == "load_st":
        res = safetensors.deserialize(open(job["path"], "rb").read())
        return {"ok": True, "tensors": {n: sha(t["data"]) for n, t in res}}
    return {"ok": False, "error": "unknown op"}


def main():
    jobs = json.load(sys.stdin)
    results = []
    for job in jobs:
        try:
            results.append(run(job))
        except Exception as e:  # noqa: BLE001 - every failure is a result
            results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
