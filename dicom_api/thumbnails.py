"""A small picture of one DICOM instance: its middle frame, windowed, as PNG bytes.

Memory is bounded by one frame, never by the file: the header is read without the pixel data,
then ``pydicom.pixels.pixel_array(path, index=...)`` reads and decodes only the frame asked for
(native frames are read at their offset, encapsulated ones from their fragments; a 1 GB
multi-frame instance costs one frame, ``tests`` measure it). A frame larger than
``MAX_FRAME_BYTES`` decoded is refused rather than decoded. Before any floating-point work the
frame is subsampled to at most ``4 × size`` pixels a side, so the arithmetic costs little more
than the thumbnail.

The grey levels follow the header as a viewer would (PS3.3 C.11): the Modality LUT (rescale
slope and intercept, or a Modality LUT Sequence), then the VOI LUT Sequence or the first window
(Window Center / Width with its VOI LUT Function), else a percentile window (0.5 % – 99.5 %);
MONOCHROME1 is inverted. Colour: YCbCr is converted to RGB by pydicom, PALETTE COLOR through its
lookup tables. The compressed syntaxes are decoded by pydicom's plugins: pylibjpeg with its
libjpeg (JPEG), openjpeg (JPEG 2000) and rle plugins, pyjpegls (JPEG-LS).

No Django here: callers pass a path and get bytes, or ``NoImage`` / ``ImageUnreadable`` with a
reason a person understands.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

MAX_FRAME_BYTES = 256 * 1024 * 1024  # decoded; a whole-slide level beyond this is not previewed
DEFAULT_SIZE = 128
_DEFER_BYTES = 1024 * 1024  # larger values before the pixel data (overlays, private blobs) stay unread
_UNDECODABLE = "it could not be decoded (damaged, or in an encoding no installed decoder reads)"
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "YBR_PARTIAL_422"}
_MONOCHROME = {"MONOCHROME1", "MONOCHROME2"}


class NoImage(Exception):
    """The instance holds no picture (a structured report, an RT plan, a waveform...)."""


class ImageUnreadable(Exception):
    """The instance has pixel data, but it can't be shown (damaged, an unknown encoding, too large)."""


def render_thumbnail(path: Path, *, size: int = DEFAULT_SIZE) -> bytes:
    """A PNG of at most ``size`` × ``size`` pixels of the middle frame of the instance at ``path``.

    Raises ``NoImage`` for an instance without pixel data, ``ImageUnreadable`` for pixel data
    that can't be decoded or is larger than ``MAX_FRAME_BYTES`` a frame.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings about odd values: not ours to log
        header = _read_header(path)
        frames = _number_of_frames(header)
        index = frames // 2
        frame = _decode_frame(path, header, index if frames > 1 else None)
        picture = _to_picture(frame, header, index, size)
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _read_header(path: Path) -> Dataset:
    """Everything before the pixel data, and whether there is any (its tag, not its value)."""
    seen: dict[str, bool] = {}

    def stop(tag: Any, vr: str | None, length: int) -> bool:
        if int(tag) in (0x7FE00008, 0x7FE00009, 0x7FE00010):
            seen["pixels"] = True
            return True
        return False

    try:
        with path.open("rb") as fp:
            dataset = pydicom.filereader.read_partial(fp, stop_when=stop, defer_size=_DEFER_BYTES, force=True)
    except Exception as e:
        raise ImageUnreadable("its header could not be read") from e
    if not seen.get("pixels") and not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise NoImage("this series has no image (no pixel data)")
    if not {"Rows", "Columns"} <= set(dataset.dir()):
        raise NoImage("this series has no image (no rows or columns)")
    return dataset


def _number_of_frames(header: Dataset) -> int:
    try:
        return max(1, int(header.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _decode_frame(path: Path, header: Dataset, index: int | None) -> NDArray[Any]:
    try:
        samples = int(header.get("SamplesPerPixel") or 1)
        allocated = int(header.get("BitsAllocated") or 16)
        frame_bytes = int(header.Rows) * int(header.Columns) * samples * max(1, math.ceil(allocated / 8))
    except (TypeError, ValueError, AttributeError) as e:
        raise ImageUnreadable("its image attributes are damaged") from e
    if frame_bytes > MAX_FRAME_BYTES:
        raise ImageUnreadable(f"its frames are too large to preview ({frame_bytes // (1024 * 1024)} MB each)")
    try:
        return pixel_array(str(path), index=index)
    except Exception as first:
        # A deflated data set, or fragments pydicom's file reader can't index: read the whole data
        # set, which is safe for these (a deflated one is bounded at import by
        # DICOM_MAX_INFLATED_HEADER_BYTES; others are refused when larger than a few frames).
        if not _is_deflated(header) and path.stat().st_size > 4 * frame_bytes + 16 * 1024 * 1024:
            raise ImageUnreadable(_UNDECODABLE) from first
        try:
            dataset = pydicom.dcmread(path, force=True)
            return pixel_array(dataset, index=index)
        except Exception as e:
            raise ImageUnreadable(_UNDECODABLE) from e


def _is_deflated(header: Dataset) -> bool:
    meta = getattr(header, "file_meta", None)
    return str(getattr(meta, "TransferSyntaxUID", "")) == "1.2.840.10008.1.2.1.99"


def _subsample(frame: NDArray[Any], size: int) -> NDArray[Any]:
    step = max(1, min(frame.shape[0], frame.shape[1]) // (4 * size))
    return frame[::step, ::step] if step > 1 else frame


def _to_picture(frame: NDArray[Any], header: Dataset, index: int, size: int) -> Image.Image:
    photometric = str(header.get("PhotometricInterpretation", "")).strip().upper()
    if frame.ndim == 3 and frame.shape[2] not in (3, 4):
        frame = frame[..., 0]  # an odd multi-sample: show its first sample
    if photometric == "PALETTE COLOR":
        try:
            colour = apply_color_lut(_subsample(frame, size), header)
        except Exception as e:
            raise ImageUnreadable("its palette could not be applied") from e
        return Image.fromarray(_to_uint8(colour, _palette_bits(header)), mode="RGB")
    if frame.ndim == 3:
        bits = int(header.get("BitsStored") or 8)
        return Image.fromarray(_to_uint8(_subsample(frame, size)[..., :3], bits), mode="RGB")
    grey = _window(_subsample(frame, size), header, index)
    if photometric == "MONOCHROME1":
        grey = 1.0 - grey
    return Image.fromarray(np.round(grey * 255).astype(np.uint8), mode="L")


def _to_uint8(colour: NDArray[Any], bits: int) -> NDArray[np.uint8]:
    if colour.dtype == np.uint8:
        return colour.astype(np.uint8, copy=False)
    top = float((1 << max(1, min(bits, 32))) - 1)
    return np.clip(np.round(colour.astype(np.float32) * (255.0 / top)), 0, 255).astype(np.uint8)


def _palette_bits(header: Dataset) -> int:
    try:
        return int(header.RedPaletteColorLookupTableDescriptor[2])
    except (AttributeError, IndexError, TypeError, ValueError):
        return 16


def _window(frame: NDArray[Any], header: Dataset, index: int) -> NDArray[np.float32]:
    """Grey levels in [0, 1] per the header's Modality and VOI LUTs, or a percentile window."""
    view = _frame_view(header, index)
    try:
        values = np.asarray(apply_modality_lut(frame, view), dtype=np.float32)
    except Exception:
        values = frame.astype(np.float32)
    if "VOILUTSequence" in view:
        looked_up = _voi_lut(values, view)
        if looked_up is not None:
            return _stretch(looked_up, float(looked_up.min()), float(looked_up.max()))
    window = _first_window(view)
    if window is not None:
        centre, width = window
        function = str(view.get("VOILUTFunction", "LINEAR")).strip().upper()
        if function == "SIGMOID":
            return (1.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))).astype(np.float32)
        if function == "LINEAR_EXACT":
            return np.clip((values - centre) / width + 0.5, 0.0, 1.0).astype(np.float32)
        if width > 1:  # LINEAR, PS3.3 C.11.2.1.2.1
            return np.clip((values - (centre - 0.5)) / (width - 1) + 0.5, 0.0, 1.0).astype(np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.float32)
    low, high = np.percentile(finite, [0.5, 99.5])
    return _stretch(values, float(low), float(high))


def _voi_lut(values: NDArray[np.float32], view: Dataset) -> NDArray[np.float32] | None:
    """The first VOI LUT of the header applied, or None when it is damaged (a window is used then)."""
    try:
        return np.asarray(apply_voi_lut(values, view, index=0, prefer_lut=True), dtype=np.float32)
    except Exception:
        return None


def _stretch(values: NDArray[Any], low: float, high: float) -> NDArray[np.float32]:
    if not high > low:
        return np.where(values > low, 1.0, 0.0).astype(np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _first_window(view: Dataset) -> tuple[float, float] | None:
    try:
        centre, width = view.get("WindowCenter"), view.get("WindowWidth")
        if centre is None or width is None:
            return None
        centre = float(centre[0] if isinstance(centre, list | tuple | pydicom.multival.MultiValue) else centre)
        width = float(width[0] if isinstance(width, list | tuple | pydicom.multival.MultiValue) else width)
    except (TypeError, ValueError, IndexError):
        return None
    return (centre, width) if width > 0 and math.isfinite(centre) and math.isfinite(width) else None


def _frame_view(header: Dataset, index: int) -> Dataset:
    """The header, with the rescale and window of an enhanced multi-frame object's functional
    groups (shared, then this frame's) brought to the top level where the LUT functions read them."""
    groups = []
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        sequence = header.get(keyword)
        if not sequence:
            continue
        try:
            groups.append(sequence[0] if keyword.startswith("Shared") else sequence[index])
        except IndexError:
            continue
    if not groups:
        return header
    view = Dataset()
    for keyword in ("RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence", "Modality"):
        if keyword in header:
            setattr(view, keyword, header.get(keyword))
    for keyword in ("WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence"):
        if keyword in header:
            setattr(view, keyword, header.get(keyword))
    for item in groups:
        for macro in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            for inner in item.get(macro) or []:
                for element in inner:
                    view[element.tag] = element
    for keyword in ("BitsStored", "PixelRepresentation", "PhotometricInterpretation"):
        if keyword in header:
            setattr(view, keyword, header.get(keyword))
    return view
