"""A minimal GGUF (v3) writer for tests: metadata, F32/F16/Q8_0/Q4_0/Q4_1 tensors, and a tiny
random-weight decoder in the plain GGUF layout with a byte-level BPE vocabulary.

Written by hand (struct + numpy) so the tests need no GGUF package and can also write files that
are deliberately broken or use a tensor type MLX cannot read.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, IQ2_XXS = 0, 1, 2, 3, 8, 12, 13, 16
Q5_0, Q5_1, BF16 = 6, 7, 30
#: Types quantized by the gguf package (llama.cpp's reference code) when writing.
GGUF_PACKAGE_TYPES = (Q5_0, Q5_1, BF16)
#: Types written as zero blocks (bytes per 256 values): enough to test a reader.
ZERO_BLOCKS = {Q4_K: 144, Q5_K: 176, IQ2_XXS: 66}
_STRING, _ARRAY = 8, 9
ALIGN = 32


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(v: Any) -> tuple[int, bytes]:
    if isinstance(v, bool):
        return 7, struct.pack("<?", v)
    if isinstance(v, int):
        return 4, struct.pack("<I", v)
    if isinstance(v, float):
        return 6, struct.pack("<f", v)
    if isinstance(v, str):
        return _STRING, _str(v)
    if isinstance(v, (list, tuple)):
        if not v or isinstance(v[0], str):
            return _ARRAY, struct.pack("<IQ", _STRING, len(v)) + b"".join(_str(x) for x in v)
        return _ARRAY, struct.pack("<IQ", 5, len(v)) + b"".join(struct.pack("<i", x) for x in v)
    raise TypeError(type(v))


def quantize(x: np.ndarray, kind: int) -> bytes:
    """Blocks of 32 along the last axis, as llama.cpp stores them."""
    blocks = x.astype(np.float32).reshape(-1, 32)
    out = bytearray()
    for b in blocks:
        if kind == Q8_0:
            d = float(np.abs(b).max()) / 127 or 1.0
            q = np.round(b / d).astype(np.int8)
            out += np.float16(d).tobytes() + q.tobytes()
        elif kind == Q4_0:
            d = float(np.abs(b).max()) / 7 or 1.0
            q = (np.clip(np.round(b / d), -8, 7) + 8).astype(np.uint8)
            out += np.float16(d).tobytes() + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
        elif kind == Q4_1:
            lo, hi = float(b.min()), float(b.max())
            d = (hi - lo) / 15 or 1.0
            q = np.clip(np.round((b - lo) / d), 0, 15).astype(np.uint8)
            out += np.float16(d).tobytes() + np.float16(lo).tobytes()
            out += (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
        else:
            raise ValueError(kind)
    return bytes(out)


def dequantize(data: bytes, kind: int, shape: tuple[int, ...]) -> np.ndarray:
    """The reference values of quantized ``data`` (what a correct reader must produce)."""
    size = {Q8_0: 34, Q4_0: 18, Q4_1: 20}[kind]
    vals = []
    for i in range(0, len(data), size):
        blk = data[i:i + size]
        d = float(np.frombuffer(blk[:2], np.float16)[0])
        if kind == Q8_0:
            vals.append(d * np.frombuffer(blk[2:], np.int8).astype(np.float32))
            continue
        m = float(np.frombuffer(blk[2:4], np.float16)[0]) if kind == Q4_1 else 0.0
        qs = np.frombuffer(blk[4 if kind == Q4_1 else 2:], np.uint8)
        q = np.concatenate([qs & 0xF, qs >> 4]).astype(np.float32)
        vals.append(d * q + m if kind == Q4_1 else d * (q - 8))
    return np.concatenate(vals).reshape(shape)


def write_gguf(path: Path, metadata: dict[str, Any], tensors: dict[str, tuple[np.ndarray, int]]) -> Path:
    """Write ``tensors`` (name -> (array in numpy order, ggml type)) and ``metadata``."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, v in metadata.items():
        kind, payload = _value(v)
        head += _str(key) + struct.pack("<I", kind) + payload
    infos, datas, offset = b"", [], 0
    for name, (arr, kind) in tensors.items():
        if kind == F32:
            data = arr.astype(np.float32).tobytes()
        elif kind == F16:
            data = arr.astype(np.float16).tobytes()
        elif kind in ZERO_BLOCKS:
            data = bytes(ZERO_BLOCKS[kind] * (arr.size // 256))
        elif kind in GGUF_PACKAGE_TYPES:
            import gguf

            data = gguf.quants.quantize(arr.astype(np.float32), gguf.GGMLQuantizationType(kind)).tobytes()
        else:
            data = quantize(arr, kind)
        dims = list(reversed(arr.shape))
        infos += _str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", kind, offset)
        pad = (-len(data)) % ALIGN
        datas.append(data + bytes(pad))
        offset += len(data) + pad
    blob = head + infos
    blob += bytes((-len(blob)) % ALIGN)
    path.write_bytes(blob + b"".join(datas))
    return path


# -- a tiny decoder ------------------------------------------------------------------------

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)


def byte_level_vocab() -> tuple[list[str], list[str], list[int]]:
    """Special tokens, the 256 byte symbols, and a few merges ("Ġ" is a space)."""
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "Y e", "Ye s", "N o"]
    merged = ["Ġt", "he", "Ġthe", "Ġa", "Ye", "Yes", "No"]
    tokens = SPECIAL + alphabet + merged
    types = [3] * len(SPECIAL) + [1] * (len(alphabet) + len(merged))
    return tokens, merges, types


def tiny_decoder(
    path: Path,
    *,
    kind: int = Q8_0,
    arch: str = "llama",
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    ffn: int = 128,
    tied: bool = True,
    seed: int = 0,
    extra_tensors: dict[str, tuple[np.ndarray, int]] | None = None,
    drop: tuple[str, ...] = (),
) -> tuple[Path, dict[str, tuple[np.ndarray, int]]]:
    """A random-weight decoder with ``kind`` linear weights; returns the path and the tensors."""
    rng = np.random.default_rng(seed)
    tokens, merges, types = byte_level_vocab()
    vocab = len(tokens) + (-len(tokens)) % 32
    tokens = tokens + [f"<extra_{i}>" for i in range(vocab - len(tokens))]
    types = types + [4] * (vocab - len(types))
    head_dim = hidden // heads

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    t: dict[str, tuple[np.ndarray, int]] = {"token_embd.weight": (w(vocab, hidden), kind)}
    for i in range(layers):
        p = f"blk.{i}."
        t[p + "attn_norm.weight"] = (np.ones(hidden, np.float32), F32)
        t[p + "ffn_norm.weight"] = (np.ones(hidden, np.float32), F32)
        t[p + "attn_q.weight"] = (w(hidden, hidden), kind)
        t[p + "attn_k.weight"] = (w(kv_heads * head_dim, hidden), kind)
        t[p + "attn_v.weight"] = (w(kv_heads * head_dim, hidden), kind)
        t[p + "attn_output.weight"] = (w(hidden, hidden), kind)
        t[p + "ffn_gate.weight"] = (w(ffn, hidden), kind)
        t[p + "ffn_up.weight"] = (w(ffn, hidden), kind)
        t[p + "ffn_down.weight"] = (w(hidden, ffn), Q8_0 if kind in (Q4_0, Q4_1) else kind)
    t["output_norm.weight"] = (np.ones(hidden, np.float32), F32)
    if not tied:
        t["output.weight"] = (w(vocab, hidden), kind)
    t.update(extra_tensors or {})
    for name in drop:
        t.pop(name)
    md: dict[str, Any] = {
        "general.architecture": arch,
        "general.name": "tiny test decoder",
        f"{arch}.block_count": layers,
        f"{arch}.context_length": 256,
        f"{arch}.embedding_length": hidden,
        f"{arch}.feed_forward_length": ffn,
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": kv_heads,
        f"{arch}.rope.freq_base": 10000.0,
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.padding_token_id": 2,
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.chat_template": CHAT_TEMPLATE,
    }
    return write_gguf(path, md, t), t
