"""Read what an image file itself declares about its origin (XMP, EXIF, PNG text chunks).

A declaration is strong when present (the maker or its tool wrote it) but it is not signed: it can be
removed or forged. Its absence proves nothing, because most platforms strip metadata. Nothing here decodes
pixels; only headers and metadata are read, and bad input never raises.
"""

from __future__ import annotations

import io
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image, ImageFile

Source = Literal["xmp", "exif", "png_text"]
Classification = Literal["ai_generated", "ai_composite", "algorithmic", "capture"]

XMP_SCAN_LIMIT = 8 * 1024 * 1024
MAX_XMP_PACKETS = 8
EXIF_VALUE_MAX = 500
PNG_EXCERPT_MAX = 300
XMP_VALUE_MAX = 500

_XMP_OPEN = b"<x:xmpmeta"
_XMP_CLOSE = b"</x:xmpmeta>"
_IPTC_EXT_PREFIX = "http://iptc.org/std/Iptc4xmpExt/"
_RDF_RESOURCE = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"

_SOURCE_TYPES: dict[str, Classification] = {
    "trainedalgorithmicmedia": "ai_generated",
    "compositewithtrainedalgorithmicmedia": "ai_composite",
    "algorithmicmedia": "algorithmic",
    "digitalcapture": "capture",
    "computationalcapture": "capture",
    "negativefilm": "capture",
    "positivefilm": "capture",
    "print": "capture",
}
_PRIORITY: tuple[Classification, ...] = ("ai_generated", "ai_composite", "algorithmic", "capture")

_KNOWN_GENERATORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"stable[ -]?diffusion", re.I), "Stable Diffusion"),
    (re.compile(r"midjourney", re.I), "Midjourney"),
    (re.compile(r"dall[-·‧•. ]?e", re.I), "DALL·E"),
    (re.compile(r"firefly", re.I), "Adobe Firefly"),
    (re.compile(r"comfyui", re.I), "ComfyUI"),
    (re.compile(r"novelai", re.I), "NovelAI"),
    (re.compile(r"invokeai", re.I), "InvokeAI"),
    (re.compile(r"leonardo", re.I), "Leonardo.Ai"),
    (re.compile(r"\bflux\b", re.I), "FLUX"),
)

_EXIF_TAGS: tuple[tuple[int, str], ...] = (
    (0x0131, "Software"),
    (0x010E, "ImageDescription"),
    (0x010F, "Make"),
    (0x0110, "Model"),
    (0x013B, "Artist"),
)

# PNG text keys written by generators: key -> (generator, meaning)
_PNG_GENERATOR_KEYS: dict[str, tuple[str, str]] = {
    "parameters": (
        "Stable Diffusion web UI (AUTOMATIC1111)",
        "generation parameters in the AUTOMATIC1111 format (prompt, sampler, seed, model)",
    ),
    "prompt": ("ComfyUI", "ComfyUI prompt graph (JSON)"),
    "workflow": ("ComfyUI", "ComfyUI workflow (JSON)"),
    "invokeai_metadata": ("InvokeAI", "InvokeAI generation metadata"),
    "sd-metadata": ("InvokeAI", "legacy InvokeAI generation metadata"),
    "Dream": ("InvokeAI", "legacy InvokeAI 'dream' command line"),
}
_PNG_PLAIN_KEYS = ("Software", "Description", "Comment")


@dataclass(frozen=True)
class Finding:
    source: Source
    field: str
    value: str
    meaning: str


@dataclass(frozen=True)
class Declarations:
    ai_declared: bool
    classification: Classification | None
    generator: str | None
    findings: list[Finding] = field(default_factory=list)

    def summary(self, lang: str = "en") -> str:
        """Honest plain-language summary. Only English is available; other languages fall back to it."""
        if not self.findings:
            return (
                "The file declares nothing about its origin. This is normal (most platforms strip "
                "metadata) and proves nothing either way."
            )
        caveat = "Declarations can be removed or forged; this one is not cryptographically signed."
        where = _where([f for f in self.findings if f.field == "Iptc4xmpExt:DigitalSourceType"])
        parts: list[str] = []
        if self.classification == "ai_generated":
            parts.append(f"The file declares it was made with a trained AI model ({where}).")
        elif self.classification == "ai_composite":
            parts.append(
                "The file declares it combines a real image with content made by a trained AI model "
                f"({where})."
            )
        elif self.classification == "algorithmic":
            parts.append(
                f"The file declares it was made purely by an algorithm, not a trained AI model ({where})."
            )
        elif self.classification == "capture":
            parts.append(f"The file declares it is a camera capture ({where}).")
        if self.generator is not None:
            gen_where = _where([f for f in self.findings if f.meaning.startswith("generator")])
            if self.classification in (None, "capture"):
                parts.append(
                    f"The file declares it was made with the AI generator {self.generator} ({gen_where})."
                )
            else:
                parts.append(f"It names the generator: {self.generator} ({gen_where}).")
        if self.classification == "capture" and not self.ai_declared:
            parts.append(
                "Such a declaration can be written into any file; it does not show the image is authentic."
            )
        if not parts:
            return (
                "The file carries some metadata but declares nothing about AI generation. Absence of a "
                "declaration proves nothing: metadata is easily removed or never written."
            )
        parts.append(caveat)
        return " ".join(parts)


def _where(findings: list[Finding]) -> str:
    labels = {"xmp": "in XMP", "exif": "in EXIF", "png_text": "in a PNG text chunk"}
    seen: list[str] = []
    for f in findings:
        if f.source == "xmp" and f.field == "Iptc4xmpExt:DigitalSourceType":
            label = "IPTC DigitalSourceType in XMP"
        else:
            label = f"{f.field} {labels[f.source]}"
        if label not in seen:
            seen.append(label)
    return "; ".join(seen[:3])


def _clean(value: object, limit: int) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.replace("\x00", "").strip()
    return text[:limit]


def _known_generator(text: str) -> str | None:
    for pattern, name in _KNOWN_GENERATORS:
        if pattern.search(text):
            return name
    return None


# --- XMP -------------------------------------------------------------------------------------------------


def _xmp_packets(data: bytes) -> list[bytes]:
    window = data[:XMP_SCAN_LIMIT]
    packets: list[bytes] = []
    start = window.find(_XMP_OPEN)
    while start != -1 and len(packets) < MAX_XMP_PACKETS:
        end = window.find(_XMP_CLOSE, start)
        if end == -1:
            break
        end += len(_XMP_CLOSE)
        packets.append(window[start:end])
        start = window.find(_XMP_OPEN, end)
    return packets


def _parse_xmp(packet: bytes) -> ET.Element | None:
    upper = packet.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        return None  # never resolve or expand entities
    try:
        return ET.fromstring(packet)
    except (ET.ParseError, ValueError):
        return None


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _element_value(el: ET.Element) -> str:
    resource = el.get(_RDF_RESOURCE)
    if resource:
        return resource
    texts = [t.strip() for t in el.itertext() if t.strip()]
    return texts[0] if texts else ""


def _read_xmp(data: bytes) -> list[Finding]:
    findings: list[Finding] = []
    for packet in _xmp_packets(data):
        root = _parse_xmp(packet)
        if root is None:
            continue
        for el in root.iter():
            values: list[tuple[str, str, str]] = []  # (ns, local name, value)
            for key, val in el.attrib.items():
                ns, name = _local(key)
                values.append((ns, name, val))
            if isinstance(el.tag, str):
                ns, name = _local(el.tag)
                if name in ("DigitalSourceType", "CreatorTool"):
                    values.append((ns, name, _element_value(el)))
            for ns, name, raw in values:
                value = _clean(raw, XMP_VALUE_MAX)
                if not value:
                    continue
                if name == "DigitalSourceType" and ns.startswith(_IPTC_EXT_PREFIX):
                    findings.append(
                        Finding("xmp", "Iptc4xmpExt:DigitalSourceType", value, _source_type_meaning(value))
                    )
                elif name == "CreatorTool":
                    gen = _known_generator(value)
                    meaning = f"generator: {gen}" if gen else "software that created the file"
                    findings.append(Finding("xmp", "xmp:CreatorTool", value, meaning))
    return findings


def _source_type_code(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1].strip()


def _source_type_meaning(value: str) -> str:
    kind = _SOURCE_TYPES.get(_source_type_code(value).lower())
    return {
        "ai_generated": "made with a trained AI model (IPTC trainedAlgorithmicMedia)",
        "ai_composite": "composite including trained-AI content (IPTC compositeWithTrainedAlgorithmicMedia)",
        "algorithmic": "made purely by an algorithm, not a trained model (IPTC algorithmicMedia)",
        "capture": "declared as captured from the real world",
        None: "declared source type (not an AI declaration)",
    }[kind]


# --- EXIF and PNG text (via Pillow, headers only) -------------------------------------------------------


def _open_headers(data: bytes) -> ImageFile.ImageFile:
    """Open a file's headers and metadata without decoding pixels.

    Pillow refuses huge declared sizes (decompression bombs) in Image.open; since nothing here ever
    decodes pixels, such a file's metadata is still read by calling the format's opener directly.
    """
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        pass
    Image.init()
    prefix = data[:16]
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is None or not accept(prefix):
            continue
        try:
            return factory(io.BytesIO(data), "")
        except Exception:
            continue
    raise ValueError("unreadable image")


def _read_pillow(data: bytes) -> list[Finding]:
    findings: list[Finding] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _open_headers(data) as im:  # lazy: pixels are never decoded here
                info: dict[str, object] = {k: v for k, v in im.info.items() if isinstance(k, str)}
                if im.format == "PNG":
                    # PngImageFile.getexif() may load pixels; only use an eXIf chunk already read.
                    exif = Image.Exif()
                    raw = info.get("exif")
                    if isinstance(raw, bytes):
                        exif.load(raw)
                else:
                    exif = im.getexif()
                fmt = im.format
    except Exception:  # bad, truncated or hostile input: declare nothing (decompression bombs included)
        return findings
    for tag, name in _EXIF_TAGS:
        try:
            raw_value = exif.get(tag)
        except Exception:
            continue
        if raw_value is None:
            continue
        value = _clean(raw_value, EXIF_VALUE_MAX)
        if not value:
            continue
        gen = _known_generator(value) if name == "Software" else None
        meaning = f"generator: {gen}" if gen else f"EXIF {name}"
        findings.append(Finding("exif", name, value, meaning))
    if fmt == "PNG":
        findings.extend(_png_text(info))
    return findings


def _png_text(info: dict[str, object]) -> list[Finding]:
    findings: list[Finding] = []
    for key, (gen, meaning) in _PNG_GENERATOR_KEYS.items():
        raw = info.get(key)
        if isinstance(raw, str | bytes):
            excerpt = _clean(raw, PNG_EXCERPT_MAX)
            if excerpt:
                findings.append(Finding("png_text", key, excerpt, f"generator: {gen}; {meaning}"))
    for key in _PNG_PLAIN_KEYS:
        raw = info.get(key)
        if not isinstance(raw, str | bytes):
            continue
        excerpt = _clean(raw, PNG_EXCERPT_MAX)
        if not excerpt:
            continue
        gen_name: str | None
        if key == "Software" and excerpt.lower() == "novelai":
            gen_name = "NovelAI"
        elif key == "Software":
            gen_name = _known_generator(excerpt)
        else:
            gen_name = None
        meaning = f"generator: {gen_name}" if gen_name else f"PNG text {key}"
        findings.append(Finding("png_text", key, excerpt, meaning))
    return findings


# --- public API -----------------------------------------------------------------------------------------


def read_declarations(data: bytes) -> Declarations:
    """What the file declares about its origin. Never raises; unreadable input declares nothing."""
    try:
        findings = _read_xmp(data) + _read_pillow(data)
    except Exception:
        findings = []
    kinds: set[Classification] = set()
    for f in findings:
        if f.source == "xmp" and f.field == "Iptc4xmpExt:DigitalSourceType":
            kind = _SOURCE_TYPES.get(_source_type_code(f.value).lower())
            if kind is not None:
                kinds.add(kind)
    classification = next((k for k in _PRIORITY if k in kinds), None)
    generator: str | None = None
    for f in findings:
        if f.meaning.startswith("generator: "):
            generator = f.meaning[len("generator: ") :].split("; ", 1)[0]
            break
    ai_declared = classification in ("ai_generated", "ai_composite") or generator is not None
    return Declarations(ai_declared, classification, generator, findings)
