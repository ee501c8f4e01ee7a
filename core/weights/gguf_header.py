"""Reading a GGUF file's header (metadata keys and tensor types) without its tensor data.

Used to give one clear line about a file clinpred cannot read (not a GGUF file, truncated, or a
tensor type nothing here dequantizes), and to read the tokenizer and chat template from the
metadata alone (:func:`read_metadata`): the first chunk of a split GGUF is enough.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from attrs import define, field

from clinpred.core.errors import ModelError

#: ggml tensor type ids -> names (llama.cpp's ``ggml_type``).
GGML_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
    24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
}
#: Types MLX keeps quantized (affine, group 32) or reads as floats.
KEPT_TYPES = frozenset({"F32", "F16", "Q4_0", "Q4_1", "Q8_0"})
#: Types the ``gguf`` package dequantizes (to float16; BF16 stays bfloat16).
DEQUANTIZED_TYPES = frozenset({"BF16", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
READABLE_TYPES = KEPT_TYPES | DEQUANTIZED_TYPES

#: (values per block, bytes per block) of the readable types: the file format's constants.
BLOCK_SIZES = {
    "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22),
    "Q5_1": (32, 24), "Q8_0": (32, 34), "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144),
    "Q5_K": (256, 176), "Q6_K": (256, 210),
}

_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_MAX_STRING = 1 << 26


@define(frozen=True)
class GGUFHeader:
    version: int
    scalars: dict[str, Any]  # metadata keys with scalar or string values (arrays are left out)
    tensor_types: dict[str, str]  # tensor name -> ggml type name
    arrays: dict[str, list[Any]] = field(factory=dict)
    data_end: int | None = None  # bytes the file needs to hold every tensor (None: unknown type)  # array metadata (only with ``read_header(..., arrays=True)``)

    @property
    def metadata(self) -> dict[str, Any]:
        """Every metadata key read: scalars and (when read) arrays."""
        return {**self.scalars, **self.arrays}


class _Truncated(Exception):
    pass


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _Truncated
    return data


def _unpack(f: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]


def _string(f: BinaryIO) -> str:
    n = _unpack(f, "<Q")
    if n > _MAX_STRING:
        raise ValueError("string length out of range")
    return _read(f, n).decode("utf-8", errors="replace")


_ARRAY = object()  # marks an array value that was skipped


def _value(f: BinaryIO, kind: int, keep_arrays: bool = False) -> Any:
    if kind in _FIXED:
        return _unpack(f, _FIXED[kind])
    if kind == 8:
        return _string(f)
    if kind == 9:
        item, count = _unpack(f, "<I"), _unpack(f, "<Q")
        if count > _MAX_STRING:
            raise ValueError("array length out of range")
        if item in _FIXED:
            fmt = _FIXED[item]
            data = _read(f, struct.calcsize(fmt) * count)
            return list(struct.unpack(f"<{count}{fmt[1]}", data)) if keep_arrays else _ARRAY
        values = [_value(f, item, keep_arrays) for _ in range(count)]
        return values if keep_arrays else _ARRAY
    raise ValueError(f"unknown metadata value type {kind}")


def read_header(path: str | Path, *, arrays: bool = False) -> GGUFHeader:
    """The header of a GGUF file; :class:`ModelError` when it is not one or is cut short.

    With ``arrays`` the array metadata (vocabulary, merges, token types) is kept too.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelError(f"{path}: not a GGUF file (it does not start with 'GGUF')")
            version = _unpack(f, "<I")
            if version not in (2, 3):
                raise ModelError(f"{path}: GGUF version {version} is not supported (2 or 3 are)")
            n_tensors, n_kv = _unpack(f, "<Q"), _unpack(f, "<Q")
            scalars: dict[str, Any] = {}
            kept: dict[str, list[Any]] = {}
            for _ in range(n_kv):
                key = _string(f)
                value = _value(f, _unpack(f, "<I"), arrays)
                if isinstance(value, list):
                    kept[key] = value
                elif value is not _ARRAY:
                    scalars[key] = value
            types: dict[str, str] = {}
            extent: int | None = 0
            for _ in range(n_tensors):
                name = _string(f)
                n_dims = _unpack(f, "<I")
                if n_dims > 8:
                    raise ValueError("tensor rank out of range")
                count = 1
                for d in struct.unpack(f"<{n_dims}Q", _read(f, 8 * n_dims)):
                    count *= d
                kind = _unpack(f, "<I")
                offset = _unpack(f, "<Q")
                types[name] = GGML_TYPES.get(kind, f"type {kind}")
                block = BLOCK_SIZES.get(types[name])
                if block is None or extent is None:
                    extent = None
                else:
                    extent = max(extent, offset + -(-count // block[0]) * block[1])
            align = int(scalars.get("general.alignment", 32) or 32)
            start = -(-f.tell() // align) * align
            data_end = None if extent is None else start + extent
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    except _Truncated:
        raise ModelError(
            f"{path}: the GGUF file is truncated (incomplete download?); download it again"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: corrupt GGUF header ({exc}); download the file again") from None
    return GGUFHeader(version, scalars, types, kept, data_end)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """All metadata of a GGUF file (arrays included), without reading any tensor data."""
    return read_header(path, arrays=True).metadata


def unreadable_tensors(header: GGUFHeader) -> dict[str, str]:
    """Tensors whose type neither MLX nor the ``gguf`` package reads (name -> type name)."""
    return {name: kind for name, kind in header.tensor_types.items() if kind not in READABLE_TYPES}
