"""dlib's 128-d face ResNet (``dlib_face_recognition_resnet_model_v1.dat``) run by onnxruntime.

dlib-bin is built without BLAS, so one descriptor costs ~75 ms there; the same network run by onnxruntime
(MLAS) costs ~6 ms on one thread. The weights are read straight from dlib's own serialization in the
``face_recognition_models`` package and converted to an ONNX graph in memory (~0.2 s, no file written,
no network), so the descriptors match dlib's ``compute_face_descriptor`` to ~1e-6 and the calibrated
distance threshold stays valid.

Only the network moves: the caller still extracts the 150x150 aligned chip with dlib
(``dlib.get_face_chip(image, shape, size=150, padding=0.25)``, exactly what
``compute_face_descriptor(image, shape)`` does internally).

The parser covers the layer kinds of this one network (dlib's ``anet_type`` from
``examples/dnn_face_recognition_ex.cpp``): ``input_rgb_image_sized``, ``con_``, ``affine_``, ``relu_``,
``max_pool_``, ``avg_pool_``, ``add_prev_``, tag/skip layers, ``fc_`` (no bias) and ``loss_metric_``.
Anything else is rejected with :class:`~reclaim.errors.DependencyError`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reclaim.errors import DependencyError

CHIP_SIZE = 150
DIM = 128
_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
_BATCH = 32
"""Largest batch handed to onnxruntime at once (bounds the activation memory, ~40 MB)."""


class _FormatError(ValueError):
    """The byte stream is not the dlib serialization this parser understands."""


class _Reader:
    """dlib's serialization primitives (dlib/serialize.h, dlib/dnn/tensor.h)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _FormatError(f"truncated at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        """Integers: one header byte (byte count, 0x80 = negative), then little-endian magnitude."""
        header = self._take(1)[0]
        size = header & 0x0F
        if size > 8 or header & 0x70:
            raise _FormatError(f"bad integer header {header:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if header & 0x80 else value

    def string(self) -> str:
        n = self.integer()
        try:
            return self._take(n).decode("ascii")
        except UnicodeDecodeError as exc:
            raise _FormatError(f"non-ASCII string at byte {self.pos - n}") from exc

    def peek_string(self) -> str | None:
        start = self.pos
        try:
            return self.string()
        except _FormatError:
            return None
        finally:
            self.pos = start

    def real(self) -> float:
        """Portable floats: an integer mantissa then an integer base-2 exponent."""
        mantissa = self.integer()
        exponent = self.integer()
        if exponent >= 32000:  # dlib's encodings of inf/-inf/nan
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(mantissa) * 2.0**exponent

    def flag(self) -> bool:
        c = self._take(1)[0]
        if c not in (0x30, 0x31):
            raise _FormatError(f"bad bool {c:#x} at byte {self.pos - 1}")
        return c == 0x31

    def tensor(self) -> np.ndarray:
        version = self.integer()
        n, k, nr, nc = self.integer(), self.integer(), self.integer(), self.integer()
        size = n * k * nr * nc
        if min(n, k, nr, nc) < 0 or size > len(self.data):
            raise _FormatError(f"bad tensor shape {(n, k, nr, nc)} at byte {self.pos}")
        if version == 2:  # raw little-endian IEEE floats
            values = np.frombuffer(self._take(4 * size), dtype="<f4").astype(np.float32)
        elif version == 1:  # portable floats
            values = np.array([self.real() for _ in range(size)], dtype=np.float32)
        else:
            raise _FormatError(f"unknown tensor version {version}")
        return values.reshape(n, k, nr, nc)

    def alias_shape(self) -> tuple[int, int, int, int]:
        if self.integer() != 1:
            raise _FormatError("unknown alias_tensor version")
        return self.integer(), self.integer(), self.integer(), self.integer()


@dataclass
class _Layer:
    kind: str
    """con, affine, relu, max_pool, avg_pool, add_prev, fc, or tag (a tag or skip layer)."""
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    window: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)


@dataclass
class _Net:
    mean_rgb: tuple[float, float, float]
    size: tuple[int, int]
    layers: list[_Layer] = field(default_factory=list)


def _split(params: np.ndarray, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    flat = params.ravel()
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != flat.size:
        raise _FormatError(f"parameter count {flat.size} does not match {shapes}")
    out, start = [], 0
    for shape, n in zip(shapes, sizes, strict=True):
        out.append(flat[start : start + n].reshape(shape))
        start += n
    return out


def _parse_details(r: _Reader) -> _Layer:
    name = r.string()
    if name == "con_4":
        params = r.tensor()
        filters, nr, nc = r.integer(), r.integer(), r.integer()
        stride = (r.integer(), r.integer())
        pad = (r.integer(), r.integer())
        fshape, bshape = r.alias_shape(), r.alias_shape()
        if fshape[0] != filters or fshape[2:] != (nr, nc) or int(np.prod(bshape)) != filters:
            raise _FormatError(f"inconsistent con_ shapes {fshape} {bshape}")
        w, b = _split(params, fshape, (filters,))
        for _ in range(4):  # learning-rate / weight-decay multipliers
            r.real()
        return _Layer("con", w, b, (nr, nc), stride, pad)
    if name in ("affine_", "affine_2"):
        params = r.tensor()
        gshape, bshape = r.alias_shape(), r.alias_shape()
        gamma, beta = _split(params, (int(np.prod(gshape)),), (int(np.prod(bshape)),))
        mode = r.integer()
        if mode != 0:  # CONV_MODE: one gamma/beta per channel
            raise _FormatError(f"affine_ in mode {mode} is not supported")
        if name == "affine_2" and r.flag():
            gamma, beta = np.ones_like(gamma), np.zeros_like(beta)  # disabled layer = identity
        return _Layer("affine", gamma, beta)
    if name == "relu_":
        return _Layer("relu")
    if name == "add_prev_":
        return _Layer("add_prev")
    if name in ("max_pool_2", "avg_pool_2"):
        window = (r.integer(), r.integer())
        stride = (r.integer(), r.integer())
        pad = (r.integer(), r.integer())
        return _Layer(name[:-2], window=window, stride=stride, pad=pad)
    if name == "fc_2":
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor()
        wshape, bshape = r.alias_shape(), r.alias_shape()
        bias_mode = r.integer()
        if bias_mode != 1 or int(np.prod(bshape)) != 0 or wshape != (inputs, outputs, 1, 1):
            raise _FormatError(f"only fc_no_bias is supported (mode {bias_mode}, weights {wshape})")
        (w,) = _split(params, (inputs, outputs))
        for _ in range(4):
            r.real()
        return _Layer("fc", w)
    raise _FormatError(f"unsupported layer {name!r}")


def _parse(data: bytes) -> _Net:
    """Parse ``add_loss_layer<loss_metric_, add_layer<...>>`` as written by dlib::serialize."""
    r = _Reader(data)
    if r.integer() != 1:
        raise _FormatError("unknown add_loss_layer version")
    loss = r.string()
    if loss != "loss_metric_2":
        raise _FormatError(f"unsupported loss layer {loss!r}")
    r.real()  # margin (training only)
    r.real()  # distance threshold (training only)
    # Each wrapper writes its version and then its subnetwork first, so the file holds the versions of
    # all layers (outermost first), then the input layer, then each layer's details innermost first.
    versions: list[int] = []
    while True:
        version = r.integer()
        upcoming = r.peek_string()
        if upcoming is not None and upcoming.startswith("input_"):
            break
        if version not in (1, 2) or len(versions) > 10_000:
            raise _FormatError(f"unexpected layer version {version} at byte {r.pos}")
        versions.append(version)
    if version not in (2, 3) or r.string() != "input_rgb_image_sized":
        raise _FormatError("unsupported input layer")
    net = _Net(mean_rgb=(r.real(), r.real(), r.real()), size=(r.integer(), r.integer()))

    def trailer() -> None:
        for _ in range(3):  # setup called, gradient stale, output/gradient getters disabled
            r.flag()
        for _ in range(3):  # x_grad, cached_output, params_grad (grad_final for the input layer)
            r.tensor()

    net.layers.append(_parse_details(r))
    trailer()
    if version >= 3:
        r.integer()  # sample expansion factor
    for v in reversed(versions):
        if v == 1:  # add_tag_layer / add_skip_layer: nothing but the version
            net.layers.append(_Layer("tag"))
        else:
            net.layers.append(_parse_details(r))
            trailer()
    if r.pos != len(data):
        raise _FormatError(f"{len(data) - r.pos} trailing bytes")
    return net


def _to_onnx(net: _Net) -> bytes:
    """The ONNX graph (opset 17): uint8 (N, 150, 150, 3) RGB chips -> float32 (N, 128) descriptors."""
    from onnx import (  # type: ignore[import-not-found, unused-ignore]
        TensorProto,
        helper,
        numpy_helper,
    )

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = 0

    def fresh(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}_{counter}"

    def const(arr: np.ndarray, prefix: str) -> str:
        name = fresh(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = fresh(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    height, width = net.size
    mean = np.array(net.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    # input_rgb_image_sized: (pixel - mean) / 256, planar RGB.
    x = op("Cast", ["chips"], to=TensorProto.FLOAT)
    x = op("Transpose", [x], perm=[0, 3, 1, 2])
    x = op("Sub", [x, const(mean, "mean")])
    x = op("Mul", [x, const(np.array(1.0 / 256.0, dtype=np.float32), "scale")])
    shape: tuple[int, ...] = (3, height, width)
    tag1: tuple[str, tuple[int, ...]] | None = None
    tag2: tuple[str, tuple[int, ...]] | None = None
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer.kind == "con":
            assert layer.weights is not None and layer.bias is not None
            w = layer.weights.astype(np.float64)
            b = layer.bias.astype(np.float64)
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if nxt is not None and nxt.kind == "affine":  # fold the per-channel affine into the conv
                assert nxt.weights is not None and nxt.bias is not None
                gamma = nxt.weights.astype(np.float64)
                w = w * gamma[:, None, None, None]
                b = b * gamma + nxt.bias.astype(np.float64)
                i += 1
            (kh, kw), (sy, sx), (py, px) = layer.window, layer.stride, layer.pad
            x = op(
                "Conv",
                [x, const(w.astype(np.float32), "w"), const(b.astype(np.float32), "b")],
                kernel_shape=[kh, kw],
                strides=[sy, sx],
                pads=[py, px, py, px],
            )
            shape = (w.shape[0], 1 + (shape[1] + 2 * py - kh) // sy, 1 + (shape[2] + 2 * px - kw) // sx)
        elif layer.kind == "affine":
            assert layer.weights is not None and layer.bias is not None
            k = shape[0]
            x = op("Mul", [x, const(layer.weights.reshape(1, k, 1, 1), "gamma")])
            x = op("Add", [x, const(layer.bias.reshape(1, k, 1, 1), "beta")])
        elif layer.kind == "relu":
            x = op("Relu", [x])
        elif layer.kind in ("max_pool", "avg_pool"):
            (kh, kw), (sy, sx), (py, px) = layer.window, layer.stride, layer.pad
            if (kh, kw) == (0, 0) and layer.kind == "avg_pool":  # avg_pool_everything
                x = op("GlobalAveragePool", [x])
                shape = (shape[0], 1, 1)
            elif kh > 0 and kw > 0 and (py, px) == (0, 0):
                kind = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
                x = op(kind, [x], kernel_shape=[kh, kw], strides=[sy, sx])
                shape = (shape[0], 1 + (shape[1] - kh) // sy, 1 + (shape[2] - kw) // sx)
            else:
                raise _FormatError(f"unsupported pooling window {(kh, kw)} padding {(py, px)}")
        elif layer.kind == "tag":
            after = [lay.kind for lay in layers[i + 1 : i + 3]]
            if after == ["tag", "avg_pool"]:
                # residual_down: tag2 marks the block output, skip1 goes back to the block input.
                if tag1 is None:
                    raise _FormatError("skip layer without a tag")
                tag2 = (x, shape)
                x, shape = tag1
                i += 1
            else:
                tag1 = (x, shape)
        elif layer.kind == "add_prev":
            other = tag2 if tag2 is not None else tag1
            if other is None:
                raise _FormatError("add_prev without a tag")
            tag2 = None
            out = tuple(max(a, b) for a, b in zip(shape, other[1], strict=True))

            def zero_pad(v: str, s: tuple[int, ...], out: tuple[int, ...] = out) -> str:
                # dlib adds tensors of different sizes as if the smaller were zero-padded at the end.
                if s == out:
                    return v
                pads = np.array(
                    [0, 0, 0, 0, 0, *(o - d for o, d in zip(out, s, strict=True))], dtype=np.int64
                )
                return op("Pad", [v, const(pads, "pads")], mode="constant")

            x = op("Add", [zero_pad(x, shape), zero_pad(*other)])
            shape = out
        elif layer.kind == "fc":
            assert layer.weights is not None
            if int(np.prod(shape)) != layer.weights.shape[0]:
                raise _FormatError(f"fc_ expects {layer.weights.shape[0]} inputs, got {shape}")
            x = op("Flatten", [x], axis=1)
            x = op("MatMul", [x, const(layer.weights.astype(np.float32), "fc")])
            shape = (layer.weights.shape[1],)
        else:  # pragma: no cover - _parse_details only produces the kinds above
            raise _FormatError(f"unexpected layer kind {layer.kind}")
        i += 1
    if shape != (DIM,) or (height, width) != (CHIP_SIZE, CHIP_SIZE):
        raise _FormatError(f"network maps {(height, width)} chips to {shape}, expected {DIM}-d")
    nodes[-1].output[0] = "descriptors"
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", height, width, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", DIM])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def model_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise DependencyError("the face_recognition_models package is not installed")
    path = Path(spec.origin).parent / "models" / _MODEL_FILE
    if not path.is_file():
        raise DependencyError(f"the face model {path} is missing")
    return path


def _onnx_model(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DependencyError(f"could not read the face model {path}: {exc}") from exc
    try:
        return _to_onnx(_parse(data))
    except (ValueError, IndexError, TypeError) as exc:  # _FormatError is a ValueError
        raise DependencyError(f"could not convert the dlib face model {path} to ONNX: {exc}") from exc


CONVERTER_VERSION = 1
"""Bumped when :func:`_to_onnx` changes the graph it writes: older cached conversions are then unused."""


def cache_dir() -> Path:
    """Where converted models are kept between runs: ``RECLAIM_CACHE_DIR``, else the user's cache folder
    (``$XDG_CACHE_HOME/reclaim`` or ``~/.cache/reclaim``). It holds only conversions of the public model
    files installed with the face_recognition_models package: nothing about a person or a workspace."""
    explicit = os.environ.get("RECLAIM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reclaim"


def converted_model() -> bytes:
    """The ONNX graph of the installed dlib model. Converting costs ≈ 0.2 s plus ≈ 0.5 s to import
    ``onnx``, so the result is kept in :func:`cache_dir`, named by the SHA-256 of the model file and
    checked against its own SHA-256 when read (a missing, stale or damaged copy is converted again; a
    cache folder that cannot be written only costs the conversion), and once per process."""
    return _converted(model_path())


def converted_model_file() -> Path | None:
    """The checked conversion's file in :func:`cache_dir` (converted and written first when missing,
    stale or damaged; checked once per process), or None when the folder cannot be written. The scan's
    fork server calls this before it forks the workers; each worker's onnxruntime session then reads the
    file itself (≈ 0.07 s), and no process keeps the 22 MB graph as bytes (it would count in the memory
    of the fork server and of every worker forked from it)."""
    return _converted_file(model_path())


def _cache_files(path: Path) -> tuple[Path, Path]:
    """The conversion of the model file ``path`` in :func:`cache_dir`, and its SHA-256 file."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise DependencyError(f"could not read the face model {path}: {exc}") from exc
    name = f"dlib-resnet-{hashlib.sha256(source).hexdigest()[:32]}-v{CONVERTER_VERSION}"
    folder = cache_dir()
    return folder / f"{name}.onnx", folder / f"{name}.sha256"


def _read_checked(cached: Path, check: Path) -> bytes | None:
    with contextlib.suppress(OSError, ValueError):
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == check.read_text(encoding="ascii").strip():
            return data
    return None


def _convert_and_keep(path: Path, cached: Path, check: Path) -> bytes:
    try:
        import onnx  # type: ignore[import-not-found, unused-ignore]  # noqa: F401  (the converter needs it)
    except ImportError as exc:
        raise DependencyError(f"the ONNX face encoder needs the onnx package: {exc}") from exc
    data = _onnx_model(path)
    with contextlib.suppress(OSError):  # a read-only home: converted again next time
        cached.parent.mkdir(parents=True, exist_ok=True)
        part = cached.parent / f".{cached.stem}.{os.getpid()}.part"
        part.write_bytes(data)
        part.replace(cached)
        check.write_text(hashlib.sha256(data).hexdigest() + "\n", encoding="ascii")
    return data


@functools.cache
def _converted(path: Path) -> bytes:
    cached, check = _cache_files(path)
    data = _read_checked(cached, check)
    return data if data is not None else _convert_and_keep(path, cached, check)


@functools.cache
def _converted_file(path: Path) -> Path | None:
    cached, check = _cache_files(path)
    if _read_checked(cached, check) is None:
        _convert_and_keep(path, cached, check)
        if _read_checked(cached, check) is None:  # the folder cannot be written
            return None
    return cached


def frontal_face_detector(dlib: Any) -> Any:
    """dlib's HOG face detector (``dlib.get_frontal_face_detector()``), read from :func:`cache_dir`.

    dlib builds it from a text copy compiled into the library: ≈ 0.3 CPU s at every start of a command
    that detects faces (each scan's fork server, an enrolment). Saved once in dlib's binary format (named
    by dlib's version, checked against its SHA-256 when read), it loads in ≈ 1 ms and detects exactly the
    same boxes with the same scores. A missing or damaged copy is rebuilt; a folder that cannot be written
    only costs the build."""
    name = f"dlib-frontal-face-{getattr(dlib, '__version__', 'unknown')}"
    folder = cache_dir()
    cached, check = folder / f"{name}.svm", folder / f"{name}.sha256"
    with contextlib.suppress(OSError, ValueError):
        if hashlib.sha256(cached.read_bytes()).hexdigest() == check.read_text(encoding="ascii").strip():
            with contextlib.suppress(RuntimeError):  # unreadable after all: built again below
                return dlib.fhog_object_detector(str(cached))
    detector = dlib.get_frontal_face_detector()
    with contextlib.suppress(OSError, RuntimeError):
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{name}.{os.getpid()}.part"
        detector.save(str(part))
        digest = hashlib.sha256(part.read_bytes()).hexdigest()
        part.replace(cached)
        check.write_text(digest + "\n", encoding="ascii")
    return detector


def import_onnxruntime() -> Any:
    """onnxruntime, imported with its telemetry off (imported on first use: it costs ≈ 0.2 s at start-up).

    The uploader itself is kept from starting by the environment variables ``reclaim/__init__.py`` sets
    before any import of onnxruntime; this also switches off the session events, the library's own switch.
    """
    try:
        import onnxruntime as ort  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as exc:
        raise DependencyError(f"the ONNX face encoder needs the onnxruntime package: {exc}") from exc
    ort.disable_telemetry_events()
    return ort


class OnnxResNetEncoder:
    """Encode 150x150 aligned RGB face chips with dlib's ResNet, run by onnxruntime."""

    def __init__(self, *, threads: int = 1) -> None:
        ort = import_onnxruntime()
        file = converted_model_file()
        model: str | bytes = str(file) if file is not None else converted_model()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DependencyError(f"onnxruntime could not load the converted face model: {exc}") from exc

    @staticmethod
    def _check(chips: np.ndarray) -> np.ndarray:
        if chips.dtype != np.uint8 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(
                f"expected uint8 RGB chips of shape ({CHIP_SIZE}, {CHIP_SIZE}, 3), "
                f"got {chips.dtype} {chips.shape[1:]}"
            )
        return np.ascontiguousarray(chips)

    def encode(self, chip: np.ndarray) -> np.ndarray:
        """float32 (128,) descriptor of one (150, 150, 3) uint8 RGB chip from ``dlib.get_face_chip``."""
        return np.asarray(self.encode_batch(np.asarray(chip)[None])[0], dtype=np.float32)

    def encode_batch(self, chips: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """float32 (n, 128) descriptors of n chips (a sequence of chips or an (n, 150, 150, 3) array)."""
        if len(chips) == 0:
            return np.zeros((0, DIM), dtype=np.float32)
        batch = self._check(np.asarray(chips) if isinstance(chips, np.ndarray) else np.stack(chips))
        out: list[np.ndarray] = []
        for start in range(0, len(batch), _BATCH):
            (result,) = self._session.run(["descriptors"], {"chips": batch[start : start + _BATCH]})
            out.append(np.asarray(result, dtype=np.float32))
        return np.concatenate(out)
