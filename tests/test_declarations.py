"""What an image file declares about its origin: XMP (IPTC DigitalSourceType), EXIF and PNG text chunks."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from reclaim.forensics.declarations import (
    EXIF_VALUE_MAX,
    PNG_EXCERPT_MAX,
    Declarations,
    read_declarations,
)

NOTHING = (
    "The file declares nothing about its origin. This is normal (most platforms strip metadata) "
    "and proves nothing either way."
)
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _png(text: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 60, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _jpeg(*, software: str | None = None, xmp: bytes | None = None) -> bytes:
    img = Image.new("RGB", (16, 16), (10, 200, 90))
    exif = Image.Exif()
    if software is not None:
        exif[0x0131] = software
    kwargs: dict[str, object] = {"exif": exif.tobytes()}
    if xmp is not None:
        kwargs["xmp"] = xmp
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _xmp(source_type: str, *, element_form: bool = False, prolog: str = "") -> bytes:
    uri = IPTC + source_type
    ns = 'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    if element_form:
        desc = (
            f'<rdf:Description rdf:about="" {ns}>'
            f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{uri}"/>'
            "<xmp:CreatorTool>Midjourney v6</xmp:CreatorTool></rdf:Description>"
        )
    else:
        desc = f'<rdf:Description rdf:about="" {ns} Iptc4xmpExt:DigitalSourceType="{uri}"/>'
    packet = (
        f'{prolog}<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">{desc}</rdf:RDF></x:xmpmeta>'
    )
    return packet.encode()


def _assert_nothing(d: Declarations) -> None:
    assert d.findings == []
    assert not d.ai_declared
    assert d.classification is None and d.generator is None
    assert d.summary() == NOTHING


def test_png_automatic1111_parameters() -> None:
    params = (
        "a portrait of a person, photorealistic\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, " * 20
    )
    d = read_declarations(_png({"parameters": params}))
    assert d.ai_declared
    assert d.generator == "Stable Diffusion web UI (AUTOMATIC1111)"
    (f,) = d.findings
    assert f.source == "png_text" and f.field == "parameters"
    assert len(f.value) <= PNG_EXCERPT_MAX and params.startswith(f.value)
    assert "AUTOMATIC1111" in d.summary() and "not cryptographically signed" in d.summary()


def test_png_comfyui_prompt() -> None:
    prompt = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20}}})
    d = read_declarations(_png({"prompt": prompt, "Comment": "hello"}))
    assert d.ai_declared and d.generator == "ComfyUI"
    assert {(f.source, f.field) for f in d.findings} == {("png_text", "prompt"), ("png_text", "Comment")}


def test_png_novelai_software() -> None:
    d = read_declarations(_png({"Software": "NovelAI", "Description": "a cat"}))
    assert d.ai_declared and d.generator == "NovelAI"


def test_png_ordinary_software_is_not_ai() -> None:
    d = read_declarations(_png({"Software": "GIMP 2.10"}))
    assert not d.ai_declared and d.generator is None
    assert len(d.findings) == 1
    assert "declares nothing about AI generation" in d.summary()


def test_jpeg_exif_software_firefly() -> None:
    d = read_declarations(_jpeg(software="Adobe Firefly"))
    assert d.ai_declared and d.generator == "Adobe Firefly"
    assert d.classification is None
    (f,) = d.findings
    assert (f.source, f.field, f.value) == ("exif", "Software", "Adobe Firefly")
    assert "Adobe Firefly" in d.summary()


def test_exif_value_is_trimmed_and_capped() -> None:
    d = read_declarations(_jpeg(software="  " + "x" * 2000 + "  "))
    (f,) = d.findings
    assert f.value == "x" * EXIF_VALUE_MAX


def test_jpeg_xmp_trained_algorithmic_media() -> None:
    d = read_declarations(_jpeg(xmp=_xmp("trainedAlgorithmicMedia")))
    assert d.ai_declared and d.classification == "ai_generated"
    assert d.findings[0].source == "xmp" and d.findings[0].value.endswith("/trainedAlgorithmicMedia")
    assert d.summary().startswith(
        "The file declares it was made with a trained AI model (IPTC DigitalSourceType in XMP). "
        "Declarations can be removed or forged; this one is not cryptographically signed."
    )


def test_xmp_element_form_and_creator_tool() -> None:
    d = read_declarations(_jpeg(xmp=_xmp("trainedAlgorithmicMedia", element_form=True)))
    assert d.classification == "ai_generated"
    assert d.generator == "Midjourney"
    assert ("xmp", "xmp:CreatorTool", "Midjourney v6") in {(f.source, f.field, f.value) for f in d.findings}


def test_jpeg_xmp_composite() -> None:
    d = read_declarations(_jpeg(xmp=_xmp("compositeWithTrainedAlgorithmicMedia")))
    assert d.ai_declared and d.classification == "ai_composite"


def test_xmp_algorithmic_media_is_not_trained_ai() -> None:
    d = read_declarations(_jpeg(xmp=_xmp("algorithmicMedia")))
    assert d.classification == "algorithmic" and not d.ai_declared


def test_jpeg_xmp_digital_capture_is_not_ai() -> None:
    d = read_declarations(_jpeg(xmp=_xmp("digitalCapture")))
    assert d.classification == "capture" and not d.ai_declared
    assert "camera capture" in d.summary() and "does not show the image is authentic" in d.summary()


def test_xmp_other_source_type_is_reported_not_classified() -> None:
    d = read_declarations(_jpeg(xmp=_xmp("digitalCreation")))
    assert d.classification is None and not d.ai_declared
    assert d.findings[0].value.endswith("/digitalCreation")


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    ],
)
def test_xmp_with_doctype_or_entities_is_ignored(prolog: str) -> None:
    xmp = _xmp("trainedAlgorithmicMedia", prolog="")
    hostile = xmp.replace(b"<rdf:RDF", prolog.encode() + b"<rdf:RDF", 1)
    _assert_nothing(read_declarations(_jpeg(xmp=hostile)))


def test_malformed_xmp_is_ignored() -> None:
    _assert_nothing(read_declarations(b"junk<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed></x:xmpmeta>junk"))


def test_plain_image_declares_nothing() -> None:
    _assert_nothing(read_declarations(_jpeg()))
    _assert_nothing(read_declarations(_png({})))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 100, b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\xff" * 50],
)
def test_garbage_declares_nothing(data: bytes) -> None:
    _assert_nothing(read_declarations(data))


def test_truncated_files_declare_nothing_or_what_survives() -> None:
    full = _jpeg(software="Adobe Firefly")
    for cut in (2, 10, 40, len(full) // 2):
        read_declarations(full[:cut])  # must not raise or warn
    png = _png({"parameters": "steps: 20"})
    _assert_nothing(read_declarations(png[:20]))


def test_huge_dimensions_still_read_metadata_without_decoding() -> None:
    # A header claiming 60000 x 60000 pixels: Pillow's Image.open refuses it as a decompression bomb;
    # the metadata is still read, and no pixel is decoded (that would need ~10 GB).
    png = bytearray(_png({"parameters": "steps: 20"}))
    png[16:24] = (60000).to_bytes(4, "big") * 2
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bytes(png)))
    d = read_declarations(bytes(png))
    assert d.generator == "Stable Diffusion web UI (AUTOMATIC1111)"


@pytest.mark.shared
def test_shared_composite_with_xmp(shared_data: Path) -> None:
    files = sorted((shared_data / "provenance" / "composites").glob("*_xmp*"))
    assert files
    for path in files:
        d = read_declarations(path.read_bytes())
        assert d.classification == "ai_composite" and d.ai_declared
        assert any(f.source == "exif" and f.field == "Software" and f.value for f in d.findings)
        assert "combines a real image" in d.summary()
    for path in (shared_data / "provenance" / "composites").glob("*_plain*"):
        assert read_declarations(path.read_bytes()).findings == []


@pytest.mark.shared
def test_shared_c2pa_generated_does_not_raise(shared_data: Path) -> None:
    # These declare AI in a C2PA manifest (out of scope here); their XMP/EXIF is the original camera metadata.
    for path in sorted((shared_data / "provenance" / "c2pa_generated").glob("A_ai_generated*")):
        d = read_declarations(path.read_bytes())
        assert isinstance(d.summary(), str)
        print(path.name, d)
