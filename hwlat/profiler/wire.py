"""The JSON lines the hwlat agent and its host exchange, read and written within bounds.

Both ends of the agent protocol (:mod:`hwlat.profiler.agent` and
:mod:`hwlat.profiler.connection`) read every line with :func:`loads_message` and write with
:func:`dumps_message`. Reading never recurses into or converts more than a message can
legitimately hold: the nesting depth is measured on the raw bytes before the line is parsed (a
vectorised scan, linear in the line's length), integers longer than :data:`MAX_INT_DIGITS` digits
are refused before they are converted, and ``NaN``, ``Infinity`` and numbers that overflow a float
(``1e400``) are refused. Writing produces standard JSON only (``allow_nan=False``). Anything
refused raises :class:`MessageError`, whose text says what was wrong with the line.

Arrays travel as ``{"dtype": "<f4", "shape": [...], "data": BASE64}`` (C order):
:func:`encode_array` and :func:`decode_array`.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
from typing import Any

import numpy as np

from hwlat.errors import InputError

__all__ = ["MAX_MESSAGE_MB", "message_mb", "MAX_DEPTH", "MAX_INT_DIGITS", "MessageError", "loads_message",
           "dumps_message", "too_deep",
           "encode_array", "decode_array"]

#: the deepest nesting of arrays and objects a message may have. The deepest message of the
#: protocol (a ``prepare`` with its input arrays, or a ``hello`` reply with its fingerprint) is 4
#: deep; 64 leaves room for nested runtime options and stays far below Python's recursion limit
MAX_DEPTH = 64
#: the most digits an integer in a message may have: ids, counts, shapes and seeds fit in 64 bits
#: (20 digits); 40 leaves room for a 128-bit seed. Converting longer digit strings costs time
#: quadratic in their length
MAX_INT_DIGITS = 40

_STEP = np.zeros(256, dtype=np.int64)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_CHUNK = 1 << 20
_ARRAY_KINDS = "biuf"


class MessageError(ValueError):
    """A line that is not a message of the agent protocol; the text says why."""


def too_deep(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the arrays and objects of the JSON text ``line`` nest more than ``limit`` deep
    (brackets inside strings do not count), found without parsing: a running sum of the brackets
    outside strings, vectorised over chunks of the line (so linear in its length, whatever it holds)."""
    if line.count(b"[") + line.count(b"{") <= limit:
        return False
    depth, inside, run = 0, 0, 0  # carried over chunks: level, in a string, backslashes just before
    for start in range(0, len(line), _CHUNK):
        a = np.frombuffer(line, dtype=np.uint8, count=min(_CHUNK, len(line) - start), offset=start)
        pos = np.arange(a.size, dtype=np.int64)
        backslash = a == _BACKSLASH
        if run == 0 and not backslash.any():
            quote, last = a == _QUOTE, a.size - 1
        else:
            last_other = np.maximum.accumulate(np.where(backslash, -1, pos))  # last non-backslash <= i
            before = np.empty_like(last_other)  # the same, < i
            before[0], before[1:] = -1, last_other[:-1]
            run_before = pos - 1 - before + np.where(before < 0, run, 0)
            quote = (a == _QUOTE) & (run_before % 2 == 0)  # an unescaped quote opens or closes a string
            last = int(last_other[-1])
        toggles = np.cumsum(quote, dtype=np.int64)
        outside = (inside + toggles - quote) % 2 == 0
        level = np.cumsum(_STEP[a] * outside, dtype=np.int64) + depth
        if int(level.max()) > limit:
            return True
        depth, inside = int(level[-1]), (inside + int(toggles[-1])) % 2
        run = a.size - 1 - last + (run if last < 0 else 0)
    return False


def _parse_int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        raise MessageError(f"it holds an integer of {digits} digits (at most {MAX_INT_DIGITS} are accepted)")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MessageError(f"it holds the number {text[:40]}, which is beyond the range of a float")
    return value


def _parse_constant(name: str) -> Any:
    raise MessageError(f"it holds {name}, which is not standard JSON (send finite numbers only)")


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)


def loads_message(line: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of one line; :class:`MessageError` for invalid UTF-8 or JSON, a nesting
    deeper than ``max_depth``, an over-long integer, or a non-finite number."""
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
    if too_deep(raw, max_depth):
        raise MessageError(f"it nests arrays and objects more than {max_depth} deep, deeper than any message "
                           "of the protocol")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(f"it is not valid JSON: not UTF-8 text (byte {exc.start}); send one JSON object "
                           "per line") from None
    try:
        return _DECODER.decode(text)
    except MessageError:
        raise
    except json.JSONDecodeError as exc:
        raise MessageError(f"it is not valid JSON ({exc}); send one JSON object per line") from None
    except (RecursionError, ValueError) as exc:  # a limit of the interpreter, reached anyway
        raise MessageError(f"it cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None


def dumps_message(value: Any) -> bytes:
    """``value`` as one line of standard JSON with its newline; ``ValueError`` for a non-finite
    number, ``TypeError`` for a value JSON cannot hold."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """An array as a JSON-ready dict: explicit dtype (with byte order), shape, base64 data."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind not in _ARRAY_KINDS:
        raise InputError(f"arrays of dtype {a.dtype} cannot be sent to the agent; use numeric arrays")
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: Any) -> np.ndarray:
    """The inverse of :func:`encode_array`; raises :class:`InputError` on anything malformed."""
    try:
        dtype = np.dtype(str(d["dtype"]))
        shape = d["shape"]
        if not isinstance(shape, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in shape):
            raise TypeError(f"its shape is {type(shape).__name__} {str(shape)[:60]}, not a list of integers")
        if dtype.kind not in _ARRAY_KINDS or any(x < 0 for x in shape):
            raise ValueError(f"dtype {dtype} / shape {shape}")
        if not isinstance(d["data"], str):
            raise TypeError(f"its data is {type(d['data']).__name__}, not a base64 string")
        raw = base64.b64decode(d["data"], validate=True)
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed array in a message: {exc}") from None


#: the largest ``--max-message-mb`` of an agent: a model of about 3 GB, base64-encoded on one line
MAX_MESSAGE_MB = 4096.0


def message_mb(text: str) -> float:
    """``--max-message-mb``: a usage error (exit 2) unless over 0 and at most :data:`MAX_MESSAGE_MB`."""
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not 0 < mb <= MAX_MESSAGE_MB:  # NaN and infinity too
        raise argparse.ArgumentTypeError(f"must be a number of MB over 0, at most {MAX_MESSAGE_MB:g} (a request "
                                         f"line is held in memory whole), got {'NaN' if mb != mb else mb}")
    return mb
