#!/usr/bin/env python3
"""ctvec - interoperability vectors for the CryptoTensors format.

Model Vault copy of shared/spec/tools/ctvec.py, with smaller tensors (chunk tests up to 192 bytes,
chunk-default 1000 bytes, mut-base a=F32[16,16] at chunk_size 256) so the committed vectors stay small.

Companion to ../cryptotensors-format.md and ../test-vectors-plan.md.

This file contains:
  * an independent implementation of the spec: the canonical header, the
    signature, and v1/v2 encryption, built on the `cryptography` package;
  * generators for reference vectors (these need `pip install cryptotensors==0.2.3 numpy`);
  * mutation (tamper) helpers;
  * probes that record how the reference implementation handles each file.

Subcommands:
  selftest                 offline: spec writer -> spec reader round trips, kept in memory
  gen-ref   OUTDIR         needs the reference: writes reference-made vectors, mutants and manifest.json
  gen-synth OUTDIR         spec-made vectors (edge cases the reference writer never emits)
  check-spec DIR           checks every file in DIR/manifest.json against the spec
                           (canonical header, signature, inner JSON shapes, decryption)
  probe-ref DIR            needs the reference: loads every file in DIR/manifest.json with it
                           and writes DIR/reference_outcomes.json
  tie-experiment OUTDIR    needs the reference: measures how often it fails to verify tied empty tensors

Nothing in here is copied from the reference implementation.
"""
import base64
import hashlib
import json
import os
import platform
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# ---------------------------------------------------------------------------
# Fixed key material (documented in test-vectors-plan.md section 2)
# ---------------------------------------------------------------------------
MASTER = {
    "aes128gcm": bytes(range(0x00, 0x10)),
    "aes256gcm": bytes(range(0x00, 0x20)),
    "chacha20poly1305": bytes(range(0x80, 0xA0)),
}
MASTER_NEW = {a: bytes(b ^ 0x5A for b in k) for a, k in MASTER.items()}
SEED1 = bytes(range(0x20, 0x40))  # publisher signing key
SEED2 = bytes(range(0x60, 0x80))  # rotated signing key
SEED_EVIL = bytes(range(0xC0, 0xE0))  # "attacker" key for mutants

DEFAULT_CHUNK = 2 * 1024 * 1024
DEFAULT_POLICY = "package model\nallow = true"
RESERVED = ("__crypto_keys__", "__encryption__", "__policy__", "__signature__")

# rust dtype -> (bits, enum order); python dtype name -> rust dtype
DTYPES = {
    "BOOL": (8, 0), "F4": (4, 1), "F6_E2M3": (6, 2), "F6_E3M2": (6, 3), "U8": (8, 4),
    "I8": (8, 5), "F8_E5M2": (8, 6), "F8_E4M3": (8, 7), "F8_E8M0": (8, 8), "I16": (16, 9),
    "U16": (16, 10), "F16": (16, 11), "BF16": (16, 12), "I32": (32, 13), "U32": (32, 14),
    "F32": (32, 15), "C64": (64, 16), "F64": (64, 17), "I64": (64, 18), "U64": (64, 19),
}
PY2RUST = {
    "bool": "BOOL", "int8": "I8", "uint8": "U8", "int16": "I16", "uint16": "U16",
    "int32": "I32", "uint32": "U32", "int64": "I64", "uint64": "U64", "float16": "F16",
    "float32": "F32", "float64": "F64", "bfloat16": "BF16", "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2", "float8_e8m0fnu": "F8_E8M0", "float4_e2m1fn_x2": "F4",
    "complex64": "C64",
}
RUST2PY = {v: k for k, v in PY2RUST.items()}
NUMPY_READABLE = {"BOOL", "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "F16", "F32", "F64", "C64"}


def b64(b):
    return base64.b64encode(b).decode("ascii")


def b64d(s):
    """Strict standard base64 with padding, canonical (mirrors R-B64)."""
    raw = base64.b64decode(s, validate=True)
    if b64(raw) != s:
        raise ValueError("non-canonical base64")
    return raw


def ed_pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def sha(b):
    return hashlib.sha256(b).hexdigest()


def det_bytes(name, n, dtype="U8"):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s:%d" % (name, i)).encode()).digest()
        i += 1
    out = bytes(out[:n])
    if dtype == "BOOL":
        out = bytes(x & 1 for x in out)
    return out


def nbytes(dtype, shape):
    n = 1
    for d in shape:
        n *= d
    bits = n * DTYPES[dtype][0]
    assert bits % 8 == 0, "misaligned"
    return bits // 8


def utf8key(s):
    return s.encode("utf-8")


# ---------------------------------------------------------------------------
# Canonical JSON (spec section 1.6) and the signed message (section 5.1)
# ---------------------------------------------------------------------------
def cj(s):
    # json.dumps(ensure_ascii=False) escapes exactly like serde_json:
    # \" \\ \b \t \n \f \r, other C0 controls as lowercase \u00xx, nothing else.
    return json.dumps(s, ensure_ascii=False)


def H(meta, tensors):
    """meta: dict or None; tensors: list of (name, dtype, shape, (begin, end)) in order."""
    parts = []
    if meta is not None:
        parts.append(
            '"__metadata__":{'
            + ",".join(cj(k) + ":" + cj(meta[k]) for k in sorted(meta, key=utf8key))
            + "}"
        )
    for name, dtype, shape, (b, e) in tensors:
        parts.append(
            cj(name)
            + ':{"dtype":' + cj(dtype)
            + ',"shape":[' + ",".join(str(int(d)) for d in shape)
            + '],"data_offsets":[' + str(int(b)) + "," + str(int(e)) + "]}"
        )
    return "{" + ",".join(parts) + "}"


def pad8(header_bytes):
    return header_bytes + b" " * ((-len(header_bytes)) % 8)


def assemble(meta, tensors, data):
    hb = pad8(H(meta, tensors).encode("utf-8"))
    return struct.pack("<Q", len(hb)) + hb + data


def crypto_keys_json(version, alg, enc_kid, enc_jku, sign_kid, sign_jku, chunk_size):
    enc = {"kty": "oct", "alg": alg}
    sign = {"kty": "okp", "alg": "ed25519"}
    if enc_kid is not None:
        enc["kid"] = enc_kid
    if enc_jku is not None:
        enc["jku"] = enc_jku
    if sign_kid is not None:
        sign["kid"] = sign_kid
    if sign_jku is not None:
        sign["jku"] = sign_jku
    obj = {"version": version, "enc": enc, "sign": sign}
    if chunk_size is not None:
        obj["chunk_size"] = chunk_size
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


ENTRY_FIELDS = ("wrapped_key", "key_iv", "key_tag", "iv", "tag", "base_iv", "tags")


def encryption_json(entries):
    out = []
    for name in sorted(entries, key=utf8key):
        e = entries[name]
        out.append(
            cj(name) + ":{" + ",".join(cj(f) + ":" + cj(e[f]) for f in ENTRY_FIELDS if f in e) + "}"
        )
    return "{" + ",".join(out) + "}"


def policy_json(local, remote):
    return json.dumps({"local": local, "remote": remote}, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------
# AEAD helpers (section 3)
# ---------------------------------------------------------------------------
KEYLEN = {"aes128gcm": 16, "aes256gcm": 32, "chacha20poly1305": 32}


def norm_alg(a):
    a = a.replace("-", "").lower()
    if a not in KEYLEN:
        raise ValueError("unsupported alg %r" % a)
    return a


def _aead(alg, key):
    a = norm_alg(alg)
    if len(key) != KEYLEN[a]:
        raise ValueError("InvalidKeyLength")
    return ChaCha20Poly1305(key) if a == "chacha20poly1305" else AESGCM(key)


def seal(alg, key, nonce, pt):
    r = _aead(alg, key).encrypt(nonce, pt, None)
    return r[:-16], r[-16:]


def aopen(alg, key, nonce, ct, tag):
    if len(nonce) != 12 or len(tag) != 16:
        raise ValueError("bad nonce/tag length")
    return _aead(alg, key).decrypt(nonce, ct + tag, None)


def chunk_iv(base_iv, i):
    c = int.from_bytes(base_iv[8:12], "big") + i
    if i >= 2**32 or c > 0xFFFFFFFF:
        raise ValueError("Chunk index overflowed IV counter")
    return base_iv[:8] + c.to_bytes(4, "big")


# ---------------------------------------------------------------------------
# Spec writer
# ---------------------------------------------------------------------------
class Rng:
    """os.urandom by default; deterministic (sha256 counter) when a seed is given."""

    def __init__(self, seed=None):
        self.seed, self.i = seed, 0

    def __call__(self, n):
        if self.seed is None:
            return os.urandom(n)
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.seed + self.i.to_bytes(8, "big")).digest()
            self.i += 1
        return out[:n]


def writer_order(tensors):
    return sorted(tensors, key=lambda t: (-DTYPES[t[1]][1], utf8key(t[0])))


def spec_write(tensors, metadata=None, crypto=None):
    """tensors: list of (name, rust_dtype, shape, data). crypto: dict, or None for a plain file.

    crypto keys: alg, master, sign_seed, enc_kid, enc_jku, sign_kid, sign_jku, version ("1"/"2"),
    chunk_size, write_chunk_size (default: version == "2"), tensors (filter), policy_local,
    policy_remote, rng (Rng), base_iv_override {name: 12 bytes}, order (explicit name order).
    """
    if crypto and crypto.get("order"):
        pos = {n: i for i, n in enumerate(crypto["order"])}
        order = sorted(tensors, key=lambda t: pos[t[0]])
    else:
        order = writer_order(tensors)
    layout, data, off = [], b"", 0
    for name, dtype, shape, payload in order:
        assert len(payload) == nbytes(dtype, shape), name
        layout.append([name, dtype, list(shape), payload, off, off + len(payload)])
        off += len(payload)
    selected = []
    if crypto is not None:
        flt = crypto.get("tensors")
        names = [t[0] for t in order]
        selected = names if flt is None else [n for n in flt if n in names]
    if not selected:  # the reference then silently writes a plain file
        meta = None if metadata is None else dict(metadata)
        body = b"".join(t[3] for t in layout)
        return assemble(meta, [(n, d, s, (b, e)) for n, d, s, _, b, e in layout], body)
    alg, master, rng = crypto["alg"], crypto["master"], crypto.get("rng") or Rng()
    version = crypto.get("version", "2")
    cs = crypto.get("chunk_size") or DEFAULT_CHUNK
    entries = {}
    for row in layout:
        name, payload = row[0], row[3]
        if name not in selected:
            continue
        dek = rng(KEYLEN[norm_alg(alg)])
        e = {}
        if version == "1":
            if payload:
                iv = rng(12)
                ct, tag = seal(alg, dek, iv, payload)
            else:
                iv, ct, tag = b"", b"", b""
            e["iv"], e["tag"] = b64(iv), b64(tag)
        else:
            base = (crypto.get("base_iv_override") or {}).get(name) or rng(12)
            if payload:
                cts, tags = [], []
                for i in range(0, len(payload), cs):
                    c, t = seal(alg, dek, chunk_iv(base, i // cs), payload[i:i + cs])
                    cts.append(c)
                    tags.append(t)
                ct, tagsb = b"".join(cts), b"".join(tags)
            else:
                ct, tagsb = b"", seal(alg, dek, base, b"")[1]
            e["base_iv"], e["tags"] = b64(base), b64(tagsb)
        key_iv = rng(12)
        wk, ktag = seal(alg, master, key_iv, dek)
        e["wrapped_key"], e["key_iv"], e["key_tag"] = b64(wk), b64(key_iv), b64(ktag)
        entries[name] = e
        row[3] = ct
    meta = {k: v for k, v in (metadata or {}).items() if k not in RESERVED}
    write_cs = crypto.get("write_chunk_size", version == "2")
    meta["__crypto_keys__"] = crypto_keys_json(
        version, alg, crypto.get("enc_kid"), crypto.get("enc_jku"), crypto.get("sign_kid"),
        crypto.get("sign_jku"), cs if write_cs else None,
    )
    meta["__encryption__"] = encryption_json(entries)
    meta["__policy__"] = policy_json(
        crypto.get("policy_local", DEFAULT_POLICY), crypto.get("policy_remote", DEFAULT_POLICY)
    )
    tlist = [(n, d, s, (b, e)) for n, d, s, _, b, e in layout]
    sk = Ed25519PrivateKey.from_private_bytes(crypto["sign_seed"])
    meta["__signature__"] = b64(sk.sign(H(meta, tlist).encode("utf-8")))
    return assemble(meta, tlist, b"".join(r[3] for r in layout))


# ---------------------------------------------------------------------------
# Spec reader / checker
# ---------------------------------------------------------------------------
def _no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate key %r" % k)
        d[k] = v
    return d


def parse(buf):
    n = int.from_bytes(buf[:8], "little")
    text = buf[8:8 + n].decode("utf-8")
    top = json.loads(text, object_pairs_hook=_no_dups)
    meta = top.get("__metadata__")
    tensors = [
        (k, v["dtype"], v["shape"], tuple(v["data_offsets"])) for k, v in top.items() if k != "__metadata__"
    ]
    tensors.sort(key=lambda t: t[3])  # stable: ties keep header text order (spec 5.4)
    return n, text, meta, tensors, buf[8 + n:]


def spec_read(buf, master=None, pub=None, alg=None):
    """Returns (tensors {name: bytes}, info). Raises on any failure."""
    n, text, meta, tensors, data = parse(buf)
    end = 0
    for name, dtype, shape, (b, e) in tensors:
        if b != end or e < b or e - b != nbytes(dtype, shape):
            raise ValueError("offset/size check failed for %r" % name)
        end = e
    if end != len(data):
        raise ValueError("MetadataIncompleteBuffer")
    info = {"encrypted": False}
    out = {name: data[b:e] for name, _, _, (b, e) in tensors}
    if not meta or "__encryption__" not in meta:
        return out, info
    info["encrypted"] = True
    ck = json.loads(meta["__crypto_keys__"])
    version = ck["version"]
    assert version in ("1", "2"), version
    cs = ck.get("chunk_size", DEFAULT_CHUNK if version == "2" else None)
    m2 = {k: v for k, v in meta.items() if k != "__signature__"}
    msg = H(m2, tensors).encode("utf-8")
    info["signed_message_sha256"] = sha(msg)
    if pub is not None:
        Ed25519PublicKey.from_public_bytes(pub).verify(b64d(meta["__signature__"]), msg)
        info["signature"] = "ok"
    pol = json.loads(meta["__policy__"])
    info["policy"] = pol
    if master is None:
        return out, info
    a = alg or ck["enc"]["alg"]
    enc = json.loads(meta["__encryption__"])
    for name, dtype, shape, (b, e) in tensors:
        if name not in enc:
            continue
        en = enc[name]
        dek = aopen(a, master, b64d(en["key_iv"]), b64d(en["wrapped_key"]), b64d(en["key_tag"]))
        ct = data[b:e]
        if cs is None:
            iv, tag = b64d(en["iv"]), b64d(en["tag"])
            pt = b"" if (not ct and not iv and not tag) else aopen(a, dek, iv, ct, tag)
        else:
            base, tags = b64d(en["base_iv"]), b64d(en["tags"])
            if not ct:
                aopen(a, dek, base, b"", tags[:16])
                pt = b""
            else:
                k = (len(ct) + cs - 1) // cs
                if len(tags) < 16 * k:
                    raise ValueError("Missing tag")
                pt = b"".join(
                    aopen(a, dek, chunk_iv(base, i), ct[i * cs:(i + 1) * cs], tags[16 * i:16 * i + 16])
                    for i in range(k)
                )
        out[name] = pt
    return out, info


def canonical_form_report(buf):
    """Checks that a reference-written file has exactly the canonical form the spec describes."""
    n, text, meta, tensors, _ = parse(buf)
    rep = {}
    rep["header_is_canonical"] = text.rstrip(" ") == H(meta, tensors) and text.startswith("{")
    rep["n_multiple_of_8"] = n % 8 == 0
    if meta and "__crypto_keys__" in meta:
        ck = json.loads(meta["__crypto_keys__"])
        rep["crypto_keys_canonical"] = meta["__crypto_keys__"] == json.dumps(
            ck, separators=(",", ":"), sort_keys=True, ensure_ascii=False
        )
        enc = json.loads(meta["__encryption__"])
        rep["encryption_canonical"] = meta["__encryption__"] == encryption_json(enc)
        pol = json.loads(meta["__policy__"])
        rep["policy_canonical"] = meta["__policy__"] == policy_json(pol["local"], pol["remote"])
    return rep


# ---------------------------------------------------------------------------
# Mutation helpers (tamper vectors)
# ---------------------------------------------------------------------------
def rebuild(buf, edit, resign_seed=None, raw_header=None):
    """edit(meta, tensors, data) -> (meta, tensors, data). Re-signs if resign_seed is given."""
    _, _, meta, tensors, data = parse(buf)
    meta = dict(meta) if meta is not None else None
    tensors = [list(t) for t in tensors]
    meta, tensors, data = edit(meta, tensors, data)
    tl = [(t[0], t[1], t[2], tuple(t[3])) for t in tensors]
    if resign_seed is not None and meta is not None:
        m2 = {k: v for k, v in meta.items() if k != "__signature__"}
        meta["__signature__"] = b64(Ed25519PrivateKey.from_private_bytes(resign_seed).sign(H(m2, tl).encode()))
    if raw_header is not None:
        hb = raw_header(meta, tl)
        return struct.pack("<Q", len(hb)) + hb + data
    return assemble(meta, tl, data)


def flip(data, pos):
    b = bytearray(data)
    b[pos] ^= 0x01
    return bytes(b)


def keys_for(alg, master=None, seed=SEED1, enc_kid="ct-enc", sign_kid="ct-sign", jku=None):
    master = master or MASTER[alg]
    return {
        "enc": {"kty": "oct", "alg": alg, "kid": enc_kid, "k": b64(master), **({"jku": jku} if jku else {})},
        "sign": {"kty": "okp", "alg": "ed25519", "kid": sign_kid, "x": b64(ed_pub(seed)), "d": b64(seed),
                 **({"jku": jku} if jku else {})},
    }


def tensor_rows(spec):
    """spec: list of (name, rust_dtype, shape). Returns (name, dtype, shape, deterministic data)."""
    return [(n, d, list(s), det_bytes(n, nbytes(d, s), d)) for n, d, s in spec]


def manifest_tensor(rows, encrypted):
    return [
        {"name": n, "dtype": d, "shape": s, "nbytes": len(p), "sha256": sha(p), "encrypted": n in encrypted}
        for n, d, s, p in rows
    ]


# ---------------------------------------------------------------------------
# selftest (offline)
# ---------------------------------------------------------------------------
def selftest():
    rows = tensor_rows([("w", "F32", [4, 4]), ("b", "U8", [37]), ("e", "F16", [0]), ("s", "I64", [])])
    ok = 0
    for alg in MASTER:
        for version, cs in (("1", None), ("2", 8), ("2", 1), ("2", None)):
            buf = spec_write(rows, {"format": "pt", "z\u00e9": "\u0001"}, {
                "alg": alg, "master": MASTER[alg], "sign_seed": SEED1, "enc_kid": "k1", "sign_kid": "s1",
                "version": version, "chunk_size": cs, "rng": Rng(b"selftest"),
            })
            got, info = spec_read(buf, MASTER[alg], ed_pub(SEED1))
            assert info["signature"] == "ok"
            for n, d, s, p in rows:
                assert got[n] == p, (alg, version, n)
            rep = canonical_form_report(buf)
            assert all(rep.values()), rep
            ok += 1
    # tamper checks
    base = spec_write(rows, None, {"alg": "aes256gcm", "master": MASTER["aes256gcm"], "sign_seed": SEED1,
                                   "chunk_size": 8, "rng": Rng(b"t")})
    _, _, _, tl, data = parse(base)
    w = [t for t in tl if t[0] == "w"][0]
    bad = rebuild(base, lambda m, t, d: (m, t, flip(d, w[3][0] + 9)))
    try:
        spec_read(bad, MASTER["aes256gcm"], ed_pub(SEED1))
        raise SystemExit("tamper not detected")
    except Exception as e:  # InvalidTag
        assert "tamper" not in str(e)
    bad = rebuild(base, lambda m, t, d: (dict(m, x="y"), t, d))
    try:
        spec_read(bad, None, ed_pub(SEED1))
        raise SystemExit("header tamper not detected")
    except Exception:
        pass
    # IV boundary: counter 0xFFFFFFFE with 2 chunks is valid, with 3 chunks it overflows
    r2 = tensor_rows([("x", "U8", [16])])
    over = {"x": bytes(8) + b"\xff\xff\xff\xfe"}
    buf = spec_write(r2, None, {"alg": "aes256gcm", "master": MASTER["aes256gcm"], "sign_seed": SEED1,
                                "chunk_size": 8, "base_iv_override": over, "rng": Rng(b"o")})
    assert spec_read(buf, MASTER["aes256gcm"], ed_pub(SEED1))[0]["x"] == r2[0][3]
    try:
        spec_write(tensor_rows([("x", "U8", [17])]), None, {"alg": "aes256gcm", "master": MASTER["aes256gcm"],
                   "sign_seed": SEED1, "chunk_size": 8, "base_iv_override": over})
        raise SystemExit("overflow not detected")
    except ValueError:
        pass
    print("selftest: %d round trips ok, tamper + IV-boundary checks ok" % ok)


# ---------------------------------------------------------------------------
# Reference-dependent parts (need `pip install cryptotensors==0.2.3 numpy`)
# ---------------------------------------------------------------------------
def _ct():
    import cryptotensors as ct  # noqa: WPS433

    return ct


def ref_tensor_dict(rows):
    td = {}
    for n, d, s, p in rows:
        shape = list(s)
        if d == "F4":  # python passes torch-style x2 shape; the reference doubles the last dim
            shape[-1] //= 2
        td[n] = {"dtype": RUST2PY[d], "shape": shape, "data": p}
    return td


def cfg_keys(keys, public_only=False):
    e, s = keys["enc"], keys["sign"]
    enc = {"alg": e["alg"], "k": e["k"]}
    sign = {"alg": "ed25519", "x": s["x"]} if public_only else {"alg": "ed25519", "x": s["x"], "d": s["d"]}
    for src, dst in ((e, enc), (s, sign)):
        for f in ("kid", "jku"):
            if f in src:
                dst[f] = src[f]
    return {"enc_key": enc, "sign_key": sign}


def gen_ref(outdir):
    ct = _ct()
    os.makedirs(outdir, exist_ok=True)
    for p in ("env", "file"):  # deterministic registry: Direct provider only
        ct.disable_provider(p)
    man = {"reference": {"cryptotensors": ct.__version__, "python": sys.version, "platform": platform.platform()},
           "vectors": []}

    def add(vid, rows, metadata, config, keys, encrypted, expect="ok", note="", raw=None):
        path = os.path.join(outdir, vid + ".safetensors")
        if raw is None:
            ct.serialize_file(ref_tensor_dict(rows), path, metadata=metadata, config=config)
        else:
            with open(path, "wb") as f:
                f.write(raw)
        man["vectors"].append({"id": vid, "file": vid + ".safetensors", "kind": "ref" if raw is None else "mutant",
                               "keys": keys, "metadata": metadata, "config": _jsonable(config),
                               "tensors": manifest_tensor(rows, encrypted), "expect": expect, "note": note})
        return path

    small = [("a", "F32", [4, 4]), ("b", "U8", [100]), ("c", "I64", [3])]
    # --- plain (byte-exact targets) --------------------------------------
    add("plain-basic", tensor_rows(small), None, None, None, [])
    add("plain-meta", tensor_rows(small), {"framework": "pt", "b": "2", "a": "1"}, None, None, [])
    every = [
        ("t_bool", "BOOL", [5]), ("t_u8", "U8", [3]), ("t_i8", "I8", [3]), ("t_i16", "I16", [3]),
        ("t_u16", "U16", [3]), ("t_i32", "I32", [3]), ("t_u32", "U32", [3]), ("t_i64", "I64", [3]),
        ("t_u64", "U64", [3]), ("t_f16", "F16", [3]), ("t_bf16", "BF16", [3]), ("t_f32", "F32", [3]),
        ("t_f64", "F64", [3]), ("t_c64", "C64", [3]), ("t_f8e4m3", "F8_E4M3", [3]),
        ("t_f8e5m2", "F8_E5M2", [3]), ("t_f8e8m0", "F8_E8M0", [3]), ("t_f4", "F4", [2, 6]),
        ("t_scalar", "F32", []), ("t_empty", "F32", [0, 3])]
    assert all(d in RUST2PY for _, d, _ in every)  # every dtype must be writable from Python
    add("plain-all-dtypes", tensor_rows(every), None, None, None, [])
    weird = {"z": "last", "A": "upper", "\u00e9": "e-acute", "\uff01": "fullwidth", "\U0001F600": "emoji",
             "__custom__": "kept", "q": "quote\" backslash\\ nl\n tab\t ctl\u0001 del\u007f slash/"}
    add("plain-unicode-meta", tensor_rows([("\u00e9", "F32", [2]), ("a/b", "U8", [1]), ("", "U8", [2])]),
        weird, None, None, [])
    # --- encrypted: algorithms x versions ---------------------------------
    for alg in MASTER:
        for ver in ("1", "2"):
            k = keys_for(alg)
            cfg = dict(cfg_keys(k), version=ver)
            add("enc-%s-v%s" % (alg, ver), tensor_rows(small), {"format": "pt"}, cfg, k, ["a", "b", "c"])
    k = keys_for("aes256gcm")
    # --- chunk sizes --------------------------------------------------------
    sizes = [("s0", "U8", [0]), ("s1", "U8", [1]), ("s15", "U8", [15]), ("s16", "U8", [16]),
             ("s17", "U8", [17]), ("s63", "U8", [63]), ("s64", "U8", [64]), ("s65", "U8", [65]),
             ("s192", "U8", [192])]
    names = [s[0] for s in sizes]
    for cs in (1, 7, 16, 64):
        add("chunk-%d" % cs, tensor_rows(sizes), None, dict(cfg_keys(k), chunk_size=cs), k, names)
    add("chunk-default", tensor_rows([("big", "U8", [1000])]), None, cfg_keys(k), k, ["big"])
    # --- empty tensors, scalars, all dtypes encrypted -------------------------
    for ver in ("1", "2"):
        add("empty-single-v%s" % ver, tensor_rows([("e", "F32", [0]), ("x", "F32", [2])]), None,
            dict(cfg_keys(k), version=ver), k, ["e", "x"])
        add("scalar-v%s" % ver, tensor_rows([("s", "F64", []), ("t", "I8", [])]), None,
            dict(cfg_keys(k), version=ver), k, ["s", "t"])
    add("empty-separated-v2", tensor_rows([("a_empty", "F64", [0]), ("b", "F32", [4]), ("c_empty", "U8", [0])]),
        None, cfg_keys(k), k, ["a_empty", "b", "c_empty"], note="empty tensors at distinct offsets: no tie")
    add("empty-tied-v2", tensor_rows([("e1", "F32", [0]), ("e2", "F32", [2, 0]), ("x", "U8", [3])]), None,
        cfg_keys(k), k, ["e1", "e2", "x"], expect="flaky",
        note="e1/e2 share offset [0,0]: the reference verifies this file only sometimes (spec 5.4 / W-1)")
    add("enc-all-dtypes-v2", tensor_rows(every), None, cfg_keys(k), k, [r[0] for r in every])
    add("enc-all-dtypes-v1", tensor_rows(every), None, dict(cfg_keys(k), version="1"), k, [r[0] for r in every])
    add("enc-unicode-meta", tensor_rows([("\u00e9", "F32", [2]), ("a/b", "U8", [1]), ("", "U8", [2])]),
        dict(weird, __encryption__="user value must be dropped"), cfg_keys(k), k, ["\u00e9", "a/b", ""])
    add("many-tensors-20", tensor_rows([("t%02d" % i, "F32", [i + 1]) for i in range(20)]), None,
        cfg_keys(k), k, ["t%02d" % i for i in range(20)], note=">=16 entries: parallel DEK unwrap path")
    # --- partial encryption ---------------------------------------------------
    add("partial", tensor_rows(small), None, dict(cfg_keys(k), tensors=["a"]), k, ["a"])
    add("partial-nomatch", tensor_rows(small), None, dict(cfg_keys(k), tensors=["nope"]), k, [],
        note="reference silently writes a PLAIN unsigned file")
    add("partial-emptylist", tensor_rows(small), None, dict(cfg_keys(k), tensors=[]), k, [],
        note="reference silently writes a PLAIN unsigned file")
    # --- key descriptors ----------------------------------------------------------
    kj = keys_for("aes256gcm", jku="file:///nonexistent/ct-keys.jwk")
    add("kid-jku", tensor_rows(small), None, cfg_keys(kj), kj, ["a", "b", "c"])
    knk = keys_for("aes256gcm")
    for part in ("enc", "sign"):
        knk[part].pop("kid")
    add("no-kid", tensor_rows(small), None, cfg_keys(knk), knk, ["a", "b", "c"])
    kalg = keys_for("aes256gcm")
    kalg["enc"]["alg"] = "AES-256-GCM"
    add("alg-spelling", tensor_rows(small), None, cfg_keys(kalg), kalg, ["a", "b", "c"],
        note="header keeps alg verbatim: AES-256-GCM")
    kreg = keys_for("aes256gcm", enc_kid="reg-enc", sign_kid="reg-sign")
    ct.register_direct_key_provider(keys=[kreg["enc"], kreg["sign"]])
    add("registry-save", tensor_rows(small), None,
        {"enc_kid": "reg-enc", "sign_kid": "reg-sign", "enc_jku": "file:///override.jwk"}, kreg, ["a", "b", "c"],
        note="header enc.jku must be the config override")
    ct.disable_provider("DirectKeyProvider")
    # --- policies (all saves succeed; outcome is observed at load) -------------
    pols = {
        "allow-v1": "package model\nallow := true",
        "deny": "package model\nallow := false",
        "default-false": "package model\ndefault allow := false",
        "wrong-package": "package other\nallow := true",
        "v0-syntax": "package model\nallow { true }",
        "non-bool": "package model\nallow := 1",
        "undefined": "package model\nallow if { input.x == 1 }",
        "time": "package model\ndefault allow := false\nallow if { time.now_ns() > 0 }",
    }
    for pid, text in pols.items():
        add("policy-" + pid, tensor_rows(small), None, dict(cfg_keys(k), policy={"local": text}), k,
            ["a", "b", "c"], expect="observe")
    add("policy-remote-only", tensor_rows(small), None,
        dict(cfg_keys(k), policy={"remote": "package model\nallow := false"}), k, ["a", "b", "c"],
        note="remote is stored but never evaluated")
    # --- rewrap -------------------------------------------------------------------
    for src in ("enc-aes256gcm-v2", "enc-aes256gcm-v1", "partial"):
        old = [v for v in man["vectors"] if v["id"] == src][0]
        newk = keys_for("aes256gcm", master=MASTER_NEW["aes256gcm"], seed=SEED2, enc_kid="rot-enc",
                        sign_kid="rot-sign")
        buf = open(os.path.join(outdir, src + ".safetensors"), "rb").read()
        out = ct.rewrap(buf, cfg_keys(newk), cfg_keys(old["keys"], public_only=True))
        rows = _rows_from_manifest(old)
        add("rewrap-" + src, rows, None, None, newk, [t["name"] for t in old["tensors"] if t["encrypted"]],
            raw=bytes(out))
        man["vectors"][-1]["kind"] = "ref-rewrap"
    old = [v for v in man["vectors"] if v["id"] == "enc-aes256gcm-v2"][0]
    newk = keys_for("aes256gcm", master=MASTER_NEW["aes256gcm"], seed=SEED2, enc_kid="rot-enc", sign_kid="rot-sign")
    buf = open(os.path.join(outdir, "enc-aes256gcm-v2.safetensors"), "rb").read()
    out = ct.rewrap(buf, dict(cfg_keys(newk), policy={"local": "package model\nallow := true"}),
                    cfg_keys(old["keys"], public_only=True))
    add("rewrap-new-policy", _rows_from_manifest(old), None, None, newk, ["a", "b", "c"], raw=bytes(out))
    man["vectors"][-1]["kind"] = "ref-rewrap"
    # --- mutants of one base file (kind "mutant"; outcomes come from probe-ref) ---
    base_id = "mut-base"
    base_rows = tensor_rows([("a", "F32", [16, 16]), ("b", "U8", [100])])
    add(base_id, base_rows, {"format": "pt"}, dict(cfg_keys(k), chunk_size=256), k, ["a", "b"])
    mutants(os.path.join(outdir, base_id + ".safetensors"), base_rows, k, add)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1, ensure_ascii=False)
    print("wrote %d vectors to %s" % (len(man["vectors"]), outdir))


def _rows_from_manifest(v):
    return [(t["name"], t["dtype"], t["shape"], det_bytes(t["name"], t["nbytes"], t["dtype"])) for t in v["tensors"]]


def _jsonable(x):
    return json.loads(json.dumps(x)) if x is not None else None


def mutants(base_path, rows, keys, add):
    buf = open(base_path, "rb").read()
    _, _, meta, tl, data = parse(buf)
    a = [t for t in tl if t[0] == "a"][0]
    enc_names = ["a", "b"]

    def m(vid, new, note, expect="error"):
        add("mut-" + vid, rows, None, None, keys, enc_names, expect=expect, note=note, raw=new)

    def set_ck(fn):
        def edit(me, t, d):
            ck = json.loads(me["__crypto_keys__"])
            fn(ck)
            me["__crypto_keys__"] = json.dumps(ck, separators=(",", ":"), sort_keys=True)
            return me, t, d
        return edit

    def set_entry(name, fn):
        def edit(me, t, d):
            enc = json.loads(me["__encryption__"])
            fn(enc[name])
            me["__encryption__"] = encryption_json(enc)
            return me, t, d
        return edit

    m("ct-chunk0", rebuild(buf, lambda me, t, d: (me, t, flip(d, a[3][0] + 1))), "bit flip chunk 0 -> get_tensor fails")
    m("ct-chunk-last", rebuild(buf, lambda me, t, d: (me, t, flip(d, a[3][1] - 1))), "bit flip last chunk")
    sw = lambda me, t, d: (me, t, d[:a[3][0]] + d[a[3][0] + 256:a[3][0] + 512] + d[a[3][0]:a[3][0] + 256] + d[a[3][0] + 512:])
    m("ct-swap-chunks", rebuild(buf, sw), "chunks 0 and 1 swapped")
    m("sig-flip", rebuild(buf, lambda me, t, d: (dict(me, __signature__=b64(flip(b64d(me["__signature__"]), 5))), t, d)),
      "signature bit flip")
    m("sig-urlsafe", rebuild(buf, lambda me, t, d: (dict(me, __signature__=me["__signature__"].replace("+", "-").replace("/", "_").rstrip("=")), t, d)),
      "signature in unpadded url-safe base64 -> InvalidSignatureFormat")

    def shape_edit(me, t, d):
        for x in t:
            if x[0] == "a":
                x[2] = [256, 1]
        return me, t, d
    m("shape-changed", rebuild(buf, shape_edit), "same byte size, different shape -> verification fails")
    m("meta-changed", rebuild(buf, lambda me, t, d: (dict(me, format="np"), t, d)), "user metadata changed")
    m("no-signature", rebuild(buf, lambda me, t, d: ({k: v for k, v in me.items() if k != "__signature__"}, t, d)),
      "MissingSignature")
    m("no-policy", rebuild(buf, lambda me, t, d: ({k: v for k, v in me.items() if k != "__policy__"}, t, d)),
      "Policy missing")
    m("no-encryption", rebuild(buf, lambda me, t, d: ({k: v for k, v in me.items() if k != "__encryption__"}, t, d)),
      "reference loads as PLAIN and returns ciphertext (downgrade, W-2)", expect="observe")
    m("no-crypto-at-all", rebuild(buf, lambda me, t, d: ({k: v for k, v in me.items() if k not in RESERVED}, t, d)),
      "plain unsigned file containing ciphertext (W-2)", expect="observe")
    m("header-x-injected", rebuild(buf, set_ck(lambda ck: ck["sign"].update(x=b64(ed_pub(SEED_EVIL)))), resign_seed=SEED_EVIL),
      "attacker key in header + attacker signature -> must fail")
    m("unknown-sign-kid", rebuild(buf, set_ck(lambda ck: ck["sign"].update(kid="who")), resign_seed=SEED1),
      "re-signed with the right key but unknown kid: registry path fails, direct path ok", expect="observe")
    m("version-3", rebuild(buf, set_ck(lambda ck: ck.update(version="3")), resign_seed=SEED1), "UnsupportedVersion")
    m("chunk-size-0", rebuild(buf, set_ck(lambda ck: ck.update(chunk_size=0)), resign_seed=SEED1), "chunk_size 0")
    m("chunk-size-changed", rebuild(buf, set_ck(lambda ck: ck.update(chunk_size=512)), resign_seed=SEED1),
      "valid signature, wrong chunking -> get_tensor fails")
    m("tags-truncated", rebuild(buf, set_entry("a", lambda e: e.update(tags=b64(b64d(e["tags"])[:-16]))), resign_seed=SEED1),
      "Missing tag for last chunk")
    m("enc-algo-field", rebuild(buf, set_entry("a", lambda e: e.update(enc_algo="aes256gcm")), resign_seed=SEED1),
      "documented-but-unused field: reference ignores it", expect="ok")
    pretty = lambda me, tl2: ("\n  " + json.dumps({"__metadata__": me, **{n: {"shape": s, "data_offsets": list(o), "dtype": dt} for n, dt, s, o in reversed(tl2)}}, indent=3, ensure_ascii=False) + "\n").encode()
    m("reformatted-header", rebuild(buf, lambda me, t, d: (me, t, d), raw_header=lambda me, tl2: pad8(pretty(me, tl2))),
      "whitespace, leading spaces, key order changed: signature still valid", expect="ok")

    def extra_field(me, tl2):
        body = H(me, tl2).replace('"data_offsets":[0,', '"extra":1,"data_offsets":[0,', 1)
        return pad8(body.encode())
    m("unknown-tensor-field", rebuild(buf, lambda me, t, d: (me, t, d), raw_header=extra_field),
      "unknown field inside a tensor entry: ignored by the reference", expect="ok")
    m("truncated", buf[:-1], "MetadataIncompleteBuffer")
    m("extended", buf + b"\x00", "MetadataIncompleteBuffer")
    m("n-too-big", struct.pack("<Q", len(buf)) + buf[8:], "InvalidHeaderLength")
    m("n-over-limit", struct.pack("<Q", 100_000_001) + buf[8:], "HeaderTooLarge")
    wrongk = keys_for("aes256gcm", master=MASTER_NEW["aes256gcm"])
    add("mut-wrong-master", rows, None, None, wrongk, enc_names, expect="error", note="wrong master key -> open fails", raw=buf)
    wrongs = keys_for("aes256gcm", seed=SEED2)
    add("mut-wrong-verify", rows, None, None, wrongs, enc_names, expect="error", note="wrong verify key -> open fails", raw=buf)


def probe_ref(d):
    ct = _ct()
    for p in ("env", "file"):
        try:
            ct.disable_provider(p)
        except Exception:
            pass
    man = json.load(open(os.path.join(d, "manifest.json")))
    outcomes = {}
    for v in man["vectors"]:
        path = os.path.join(d, v["file"])
        res = {}
        keys = v.get("keys")
        cfg = cfg_keys(keys, public_only=True) if keys else None
        try:
            with ct.safe_open(path, framework="numpy", config=cfg) as f:
                res["open_direct"] = "ok"
                for t in v["tensors"]:
                    if t["dtype"] not in NUMPY_READABLE:
                        continue
                    try:
                        got = f.get_tensor(t["name"]).tobytes()
                        res["get:" + t["name"]] = "ok" if sha(got) == t["sha256"] else "MISMATCH"
                    except Exception as e:  # noqa: BLE001
                        res["get:" + t["name"]] = "error: %s" % e
        except Exception as e:  # noqa: BLE001
            res["open_direct"] = "error: %s" % e
        if keys:
            reg = [dict(keys["enc"]), dict(keys["sign"])]
            for j, dflt in zip(reg, ("probe-enc", "probe-sign")):
                j.setdefault("kid", dflt)
            ct.register_direct_key_provider(keys=reg)
        try:
            items = dict(ct.deserialize(open(path, "rb").read()))
            res["deserialize"] = {
                t["name"]: ("ok" if sha(bytes(items[t["name"]]["data"])) == t["sha256"] else "MISMATCH")
                for t in v["tensors"] if t["name"] in items
            }
        except Exception as e:  # noqa: BLE001
            res["deserialize"] = "error: %s" % e
        if keys:
            ct.disable_provider("DirectKeyProvider")
        outcomes[v["id"]] = res
    out = os.path.join(d, "reference_outcomes.json")
    json.dump({"reference": ct.__version__, "outcomes": outcomes}, open(out, "w"), indent=1, ensure_ascii=False)
    print("wrote", out)


def check_spec(d):
    man = json.load(open(os.path.join(d, "manifest.json")))
    report = {}
    for v in man["vectors"]:
        buf = open(os.path.join(d, v["file"]), "rb").read()
        r = {}
        try:
            keys = v.get("keys")
            master = b64d(keys["enc"]["k"]) if keys else None
            pub = b64d(keys["sign"]["x"]) if keys else None
            got, info = spec_read(buf, master, pub)
            r["spec_read"] = "ok"
            r["encrypted"] = info["encrypted"]
            r["tensors"] = "ok" if all(sha(got[t["name"]]) == t["sha256"] for t in v["tensors"]) else "MISMATCH"
        except Exception as e:  # noqa: BLE001
            r["spec_read"] = "error: %r" % e
        if v["kind"] in ("ref", "ref-rewrap", "synth", "ts"):
            try:
                r["canonical"] = canonical_form_report(buf)
            except Exception as e:  # noqa: BLE001
                r["canonical"] = "error: %r" % e
        report[v["id"]] = r
    out = os.path.join(d, "spec_check.json")
    json.dump(report, open(out, "w"), indent=1, ensure_ascii=False)
    bad = [k for k, r in report.items() if r.get("spec_read") != "ok" or r.get("tensors") == "MISMATCH"]
    print("wrote %s; %d vectors not readable by the spec implementation: %s" % (out, len(bad), bad))


def gen_synth(outdir):
    os.makedirs(outdir, exist_ok=True)
    man = {"reference": None, "vectors": []}
    k = keys_for("aes256gcm")
    rows = tensor_rows([("a", "F32", [4, 4]), ("b", "U8", [100])])

    def add(vid, buf, expect, note, rws=rows, encrypted=("a", "b")):
        open(os.path.join(outdir, vid + ".safetensors"), "wb").write(buf)
        man["vectors"].append({"id": vid, "file": vid + ".safetensors", "kind": "synth", "keys": k,
                               "tensors": manifest_tensor(rws, list(encrypted)), "expect": expect, "note": note})

    base = {"alg": "aes256gcm", "master": MASTER["aes256gcm"], "sign_seed": SEED1, "enc_kid": "ct-enc",
            "sign_kid": "ct-sign", "rng": Rng(b"synth")}
    add("synth-v2-default", spec_write(rows, {"format": "pt"}, dict(base, chunk_size=16)), "ok",
        "spec writer output; the reference must read it")
    add("synth-v2-no-chunk-size", spec_write(rows, None, dict(base, write_chunk_size=False)), "ok",
        "v2 without chunk_size -> 2 MiB default")
    add("synth-v1-with-chunk-size", spec_write(rows, None, dict(base, version="1", write_chunk_size=True,
        chunk_size=16)), "error", "version 1 + chunk_size -> chunked path -> Missing base_iv")
    over = {"a": bytes(8) + b"\xff\xff\xff\xfc"}
    add("synth-iv-boundary", spec_write(rows, None, dict(base, chunk_size=16, base_iv_override=over)), "ok",
        "a has 4 chunks; counter0 = 0xFFFFFFFC reaches 0xFFFFFFFF exactly")
    tie_rows = tensor_rows([("e1", "F32", [0]), ("e2", "F32", [0]), ("x", "U8", [3])])
    add("synth-tie-textorder", spec_write(tie_rows, None, dict(base, order=["e2", "e1", "x"])), "flaky",
        "e2 before e1 in text and in the signed message (not the reference writer order)",
        rws=tie_rows, encrypted=("e1", "e2", "x"))
    add("synth-tie-avoided", spec_write(tie_rows, None, dict(base, order=["e1", "x", "e2"])), "ok",
        "our writer's tie avoidance: e1 at 0, x, e2 at 3", rws=tie_rows, encrypted=("e1", "e2", "x"))
    json.dump(man, open(os.path.join(outdir, "manifest.json"), "w"), indent=1, ensure_ascii=False)
    print("wrote %d synthetic vectors to %s" % (len(man["vectors"]), outdir))


def tie_experiment(outdir, runs=200):
    ct = _ct()
    for p in ("env", "file"):
        ct.disable_provider(p)
    k = keys_for("aes256gcm")
    rows = tensor_rows([("e1", "F32", [0]), ("e2", "F32", [2, 0]), ("x", "U8", [3])])
    buf = bytes(ct.serialize(ref_tensor_dict(rows), config=cfg_keys(k)))
    ct.register_direct_key_provider(keys=[k["enc"], k["sign"]])
    ok = 0
    errs = {}
    for _ in range(runs):
        try:
            ct.deserialize(buf)
            ok += 1
        except Exception as e:  # noqa: BLE001
            errs[str(e)[:120]] = errs.get(str(e)[:120], 0) + 1
    os.makedirs(outdir, exist_ok=True)
    res = {"runs": runs, "verified": ok, "errors": errs}
    json.dump(res, open(os.path.join(outdir, "tie_experiment.json"), "w"), indent=1)
    print(res)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "selftest"
    arg = sys.argv[2] if len(sys.argv) > 2 else None
    {"selftest": lambda: selftest(), "gen-ref": lambda: gen_ref(arg), "gen-synth": lambda: gen_synth(arg),
     "check-spec": lambda: check_spec(arg), "probe-ref": lambda: probe_ref(arg),
     "tie-experiment": lambda: tie_experiment(arg)}[cmd]()
