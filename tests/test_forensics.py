"""Forensic signals end to end: registered, computed during scans, stored, explained, exported, erased."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.demo import SampleExport, _sk, build_sample_export, jpeg
from reclaim.forensics.base import ForensicResult
from reclaim.forensics.orientation import box_to_stored, to_stored
from reclaim.forensics.service import NO_INDICATORS, explain_item, refresh_item, statements
from reclaim.media.decode import _TRANSPOSE_FOR_ORIENTATION
from reclaim.persons.service import add_person, forget_person
from reclaim.scan.service import scan_paths
from reclaim.signals import SIGNAL_TYPES, SIGNALS_BY_NAME
from reclaim.signals import forensic as forensic_mod
from reclaim.signals.forensic import FORENSIC_SIGNALS
from reclaim.store.models import Finding, Item, Match, ReferencePhoto
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE

runner = CliRunner()

FILE_SIGNALS = {"declarations", "c2pa", "sd-watermark", "jpeg-dq", "noise"}


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("fx") / "ChatExport")


def _png_with_parameters(path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters", "a mountain lake\nSteps: 20, Sampler: Euler a, Seed: 1, Model: sd_xl_base_1.0"
    )
    Image.fromarray(_sk("coffee")).save(path, "PNG", pnginfo=info)


def _findings(ws: Workspace, sha: str) -> dict[str, Finding]:
    with ws.session() as s:
        item = s.scalar(select(Item).where(Item.sha256 == sha))
        assert item is not None
        rows = s.scalars(select(Finding).where(Finding.item_id == item.id)).all()
        return {f"{r.signal}{'@' + r.scope if r.scope else ''}": r for r in rows}


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- registry and pure parts ---------------------------------------------------------------------------


def test_forensic_signals_are_registered_with_unique_names() -> None:
    names = [s.name for s in SIGNAL_TYPES]
    assert len(names) == len(set(names))
    for sig in FORENSIC_SIGNALS:
        assert SIGNALS_BY_NAME[sig.name] is sig and sig.description
        assert sig.validate("error") == "error"
        for verdict in sig.verdicts:
            assert sig.validate(verdict) == verdict
        with pytest.raises(ValueError):
            sig.validate("real")
    assert FILE_SIGNALS | {"source-photo"} == {s.name for s in FORENSIC_SIGNALS}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_undone_for_pixels_and_boxes(orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    stored = rng.integers(0, 255, (6, 9, 3), dtype=np.uint8)
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    shown = np.asarray(Image.fromarray(stored).transpose(method)) if method is not None else stored
    assert np.array_equal(to_stored(shown, orientation), stored)
    mark = np.zeros((6, 9), np.uint8)
    mark[2, 5] = 255
    shown_mark = np.asarray(Image.fromarray(mark).transpose(method)) if method is not None else mark
    y, x = (int(v) for v in np.argwhere(shown_mark)[0])
    assert box_to_stored((x, y, x + 1, y + 1), orientation, 9, 6) == (5, 2, 6, 3)


def test_statements_never_claim_authenticity_or_blend() -> None:
    none = ForensicResult("noise", "no_indicator", "none", "x")
    weak = ForensicResult(
        "noise", "indicator_here", "weak", "x", detail={"percentile": 99.0, "measured_auc": 0.54}
    )
    assert [s.text for s in statements([none])] == [NO_INDICATORS]
    c2pa = ForensicResult("c2pa", "ai_declared", "strong", "x", detail={"state": "valid_untrusted"})
    trusted = ForensicResult("c2pa", "ai_declared", "strong", "x", detail={"state": "trusted"})
    copied = ForensicResult(
        "source-photo",
        "face_copied_from_reference",
        "strong",
        "x",
        detail={"reference": "reference photo 2 (a)"},
    )
    texts = [s.text for s in statements([none, c2pa, copied])]
    assert texts[0].startswith("declared AI-generated in its C2PA manifest (signature valid but")
    assert texts[1] == "face copied from reference photo 2 (a)"
    assert "signature trusted" in statements([trusted])[0].text
    # a weak indicator is listed as such, never as evidence of editing
    codes = [st.code for st in statements([none, weak])]
    assert codes == ["no_indicators", "weak_indicator"]
    assert "not evidence of editing" in statements([weak])[1].text
    assert [st.code for st in statements([copied, weak])] == ["face_copied", "weak_indicator"]
    for text in [*texts, NO_INDICATORS]:
        assert "probab" not in text and " real" not in text


# -- scans store findings ------------------------------------------------------------------------------


def test_scan_computes_and_stores_every_file_signal(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _png_with_parameters(folder / "generated.png")
    (folder / "plain.jpg").write_bytes(jpeg(Image.fromarray(_sk("astronaut")), 90))
    report = scan_paths(workspace, [folder], workers=1, forensics="all")
    assert report.new_items == 2 and not report.errors
    gen = _findings(workspace, _sha(folder / "generated.png"))
    assert set(gen) == FILE_SIGNALS
    assert gen["declarations"].verdict == "ai_declared" and gen["declarations"].strength == "strong"
    assert "AUTOMATIC1111" in gen["declarations"].summary
    assert gen["c2pa"].verdict == "no_manifest" and gen["jpeg-dq"].verdict == "not_applicable"
    plain = _findings(workspace, _sha(folder / "plain.jpg"))
    assert set(plain) == FILE_SIGNALS
    assert (
        plain["declarations"].verdict == "nothing_declared" and plain["sd-watermark"].verdict == "no_evidence"
    )
    assert plain["noise"].verdict in ("indicator_here", "no_indicator")  # the astronaut has a face
    with workspace.session() as s:
        item = s.scalar(select(Item).where(Item.sha256 == _sha(folder / "generated.png")))
        assert item is not None
        explained = explain_item(s, item)
    assert explained["statements"][0]["code"] == "declared_ai_metadata"
    assert "Stable Diffusion web UI" in explained["statements"][0]["text"]
    # rescanning adds nothing twice
    scan_paths(workspace, [folder], workers=1, forensics="all")
    with workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(Finding)) == 2 * len(FILE_SIGNALS)


def test_by_default_pixel_passes_run_on_matched_items_only(tmp_path: Path, sample: SampleExport) -> None:
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        scan_paths(ws, [sample.root], workers=1)  # nobody enrolled yet: no match
        with ws.session() as s:
            per_item = {
                i.sha256: {f.signal for f in i.findings} for i in s.scalars(select(Item)).unique().all()
            }
        assert per_item and all(v == {"declarations", "c2pa"} for v in per_item.values())
        with ws.session() as s:  # enrolling matches stored items: their pixel passes are added then
            add_person(s, ws.key, name="P", photos=sample.enrol_photos, consent="t", vault=ws.vault)
        with ws.session() as s:
            matched = s.scalars(select(Item).join(Match, Match.item_id == Item.id)).unique().all()
            still = [i for i in matched if i.kind == "image"]
            assert still and all({f.signal for f in i.findings} == FILE_SIGNALS for i in still)
            others = s.scalars(select(Item).where(Item.id.not_in([i.id for i in matched]))).all()
            assert others and all({f.signal for f in i.findings} == {"declarations", "c2pa"} for i in others)
        # a scan after enrolment computes them at once for new matched items
        folder = tmp_path / "more"
        folder.mkdir()
        copy = sample.root / "chats/chat_001/photos/photo_1.jpg"
        Image.open(copy).save(folder / "again.jpg", quality=70)
        scan_paths(ws, [folder], workers=1)
        assert set(_findings(ws, _sha(folder / "again.jpg"))) >= FILE_SIGNALS
    finally:
        ws.close()


def test_a_failing_signal_reports_an_error_and_loses_nothing(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(cls: object, inp: object) -> list[ForensicResult]:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(forensic_mod.SdWatermarkSignal, "analyze", classmethod(boom))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg(Image.fromarray(_sk("chelsea")), 85))
    report = scan_paths(workspace, [folder], workers=1, forensics="all")
    assert report.new_items == 1 and not report.errors
    found = _findings(workspace, _sha(folder / "a.jpg"))
    assert found["sd-watermark"].verdict == "error" and "decoder bug" in (found["sd-watermark"].error or "")
    assert found["declarations"].verdict == "nothing_declared"  # the others still ran


def test_no_forensics_then_refresh(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _png_with_parameters(folder / "g.png")
    scan_paths(workspace, [folder], workers=1, forensics="none")
    assert _findings(workspace, _sha(folder / "g.png")) == {}
    with workspace.session() as s:
        item = s.scalar(select(Item))
        assert item is not None and not explain_item(s, item)["computed"]
        refresh_item(s, workspace.vault, workspace.key, item)
        s.commit()
    assert set(_findings(workspace, _sha(folder / "g.png"))) == FILE_SIGNALS


def test_hash_only_items_keep_findings_but_cannot_be_refreshed(workspace: Workspace, tmp_path: Path) -> None:
    from reclaim.errors import UserError

    folder = tmp_path / "in"
    folder.mkdir()
    _png_with_parameters(folder / "g.png")
    scan_paths(workspace, [folder], workers=1, hash_only=True)
    assert _findings(workspace, _sha(folder / "g.png"))["declarations"].verdict == "ai_declared"
    with workspace.session() as s:
        item = s.scalar(select(Item))
        assert item is not None and not item.stored
        with pytest.raises(UserError, match="not stored"):
            refresh_item(s, workspace.vault, workspace.key, item)


# -- source-photo match: kept photos, findings, erasure --------------------------------------------------


def test_kept_photos_show_the_face_was_copied_and_are_erased(tmp_path: Path, sample: SampleExport) -> None:
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            person = add_person(
                s,
                ws.key,
                name="P",
                photos=sample.enrol_photos,
                known_images=[sample.known_image],
                consent="test",
                vault=ws.vault,
                keep_photos=True,
            )
        assert person.kept_photos == 3
        with ws.session() as s:
            kept = s.scalars(select(ReferencePhoto)).all()
            assert sorted(r.kind for r in kept) == ["known", "reference", "reference"]
            kept_shas = [r.sha256 for r in kept]
        assert all(ws.vault.has(sha) for sha in kept_shas)
        scan_paths(ws, [sample.root], workers=1)
        with ws.session() as s:
            rows = s.scalars(select(Finding).where(Finding.signal == "source-photo")).all()
            verdicts = {s.get(Item, r.item_id).sha256: r.verdict for r in rows}  # type: ignore[union-attr]
            face_matches = s.scalars(select(Match).where(Match.kind == "face")).all()
            still = [m for m in face_matches if m.item.kind == "image"]
            assert still and len(rows) == len(still)
            photo_1 = _sha(sample.root / "chats/chat_001/photos/photo_1.jpg")
            assert verdicts[photo_1] == "face_copied_from_reference"
            copied = [r for r in rows if r.verdict == "face_copied_from_reference"]
            assert len(copied) >= len(still) - 1, verdicts  # the mirrored repost too; q40 + 60 % may miss
            item = s.scalar(select(Item).where(Item.sha256 == photo_1))
            assert item is not None
            st = explain_item(s, item)["statements"]
            assert any(x["code"] == "face_copied" and "reference photo" in x["text"] for x in st)

        with ws.session() as s:
            counts = forget_person(s, person.person_id, vault=ws.vault)
        assert counts["kept_photos"] == 3 and counts["findings"] == len(rows)
        assert not any(ws.vault.has(sha) for sha in kept_shas)
        with ws.session() as s:
            assert s.scalar(select(func.count()).select_from(Finding).where(Finding.scope != "")) == 0
            assert s.scalar(select(func.count()).select_from(ReferencePhoto)) == 0
            stored = s.scalars(select(Item).where(Item.stored)).all()
        assert stored and all(ws.vault.has(i.sha256) for i in stored)  # the items' media stay
    finally:
        ws.close()


def test_without_keep_photos_nothing_is_kept(workspace: Workspace, sample: SampleExport) -> None:
    with workspace.session() as s:
        add_person(
            s, workspace.key, name="P", photos=sample.enrol_photos, consent="test", vault=workspace.vault
        )
    with workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(ReferencePhoto)) == 0
    blobs = [p for p in (workspace.root / "vault").rglob("*") if p.is_file()]
    assert blobs == []


# -- CLI: explain and trust ----------------------------------------------------------------------------


def test_cli_explain_and_trust(cli_env: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _png_with_parameters(folder / "g.png")
    assert invoke("init")[0] == 0
    assert invoke("scan", str(folder), "--workers", "1")[0] == 0
    assert invoke("scan", str(folder), "--forensics", "some")[0] == 2
    sha = _sha(folder / "g.png")
    code, out, err = invoke("explain", sha[:10], "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["item"]["sha256"] == sha and data["computed"]
    # not matched: by default only the metadata passes ran; the pixel passes are listed as not computed
    assert {f["signal"] for f in data["findings"]} == {"declarations", "c2pa"}
    assert data["not_computed"] == ["sd-watermark", "jpeg-dq", "noise"]
    assert data["statements"][0]["code"] == "declared_ai_metadata"
    code, out, _ = invoke("explain", sha[:10])
    assert code == 0 and "What the evidence supports" in out and "declared AI-generated" in out
    assert "Not computed: sd-watermark" in out
    assert invoke("explain", "zz")[0] == 2
    assert invoke("explain", "0123456789abcdef0")[0] == 2  # no such item

    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    code, _, err = invoke("trust", "set", str(bad))
    assert code == 2 and "no PEM certificate" in err
    pem = tmp_path / "anchor.pem"
    pem.write_bytes(_self_signed_pem())
    code, out, _ = invoke("trust", "set", str(pem), "--json")
    assert code == 0 and json.loads(out)["anchors"] == 1
    code, out, _ = invoke("trust", "show", "--json")
    assert code == 0 and "reclaim test anchor" in json.loads(out)[0]["subject"]
    code, out, _ = invoke("explain", sha[:10], "--refresh", "--json")
    assert code == 0 and json.loads(out)["computed"] and json.loads(out)["not_computed"] == []
    assert {f["signal"] for f in json.loads(out)["findings"]} == FILE_SIGNALS
    assert invoke("trust", "clear")[0] == 0
    code, out, _ = invoke("trust", "show", "--json")
    assert code == 0 and json.loads(out) == []


def _self_signed_pem() -> bytes:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reclaim test anchor")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# -- ../shared/data: the provenance fixtures through a real scan ----------------------------------------


def test_provenance_fixtures_through_a_scan_and_a_trust_list(
    cli_env: Path, shared_data: Path, tmp_path: Path
) -> None:
    prov = shared_data / "provenance"
    assert invoke("init")[0] == 0
    code, out, err = invoke(
        "scan", str(prov / "c2pa_generated"), str(prov / "watermark"), "--forensics", "all", "--json"
    )
    assert code == 0 and not json.loads(out)["errors"], err

    def explain(name: str) -> dict[str, object]:
        code, out, err = invoke("explain", _sha(name_path[name])[:12], "--json")
        assert code == 0, err
        return json.loads(out)  # type: ignore[no-any-return]

    name_path = {p.name: p for p in [*(prov / "c2pa_generated").iterdir(), *(prov / "watermark").iterdir()]}
    texts = [s["text"] for s in explain("A_ai_generated.jpg")["statements"]]  # type: ignore[attr-defined]
    untrusted = "signature valid but its certificate is not on the trust list"
    assert texts == [f"declared AI-generated in its C2PA manifest ({untrusted})"]
    composite = explain("A_ai_composite.jpg")["statements"][0]["text"]  # type: ignore[index]
    assert composite.startswith("declared a composite with AI-generated content in its C2PA manifest")
    camera = explain("A_camera_capture.jpg")["statements"]
    assert [s["code"] for s in camera] == ["no_indicators"]  # type: ignore[attr-defined]
    wm = explain("astronaut_sdv2.png")["statements"]
    assert [s["code"] for s in wm] == ["sd_watermark"] and "32/32" in wm[0]["text"]  # type: ignore[index]
    for jpg in ("astronaut_sdv2_q90.jpg", "astronaut_sdv2_q75.jpg"):
        found = {f["signal"]: f for f in explain(jpg)["findings"]}  # type: ignore[attr-defined]
        assert found["sd-watermark"]["verdict"] == "no_evidence"

    assert invoke("trust", "set", str(prov / "c2pa" / "test_creds" / "es256_certs.pem"))[0] == 0
    code, out, _ = invoke("explain", _sha(name_path["A_ai_generated.jpg"])[:12], "--refresh", "--json")
    assert code == 0
    assert (
        json.loads(out)["statements"][0]["text"]
        == "declared AI-generated in its C2PA manifest (signature trusted)"
    )


def test_report_has_the_forensic_section(tmp_path: Path, sample: SampleExport) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    from reclaim.evidence.package import export_package
    from reclaim.evidence.report import pdf_report

    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            pid = add_person(
                s, ws.key, name="P", photos=sample.enrol_photos, consent="t", vault=ws.vault, keep_photos=True
            ).person_id
        scan_paths(ws, [sample.root], workers=1)
        result = export_package(ws, person_id=pid, out=tmp_path / "e.zip", report=pdf_report("en"))
    finally:
        ws.close()
    import zipfile

    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
        pdf = zf.read("report/report.pdf")
        manifest = json.loads(zf.read("manifest.json"))
    assert any(n.endswith("-source-photo.png") for n in names)
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "How it was made" in text and "face copied from reference photo" in text
    assert "no blended" in text
    for it in manifest["items"]:
        assert {f["signal"] for f in it["forensics"]["findings"]} >= {"declarations", "c2pa"}


def test_pixel_pictures_are_pngs_of_maps_and_ela() -> None:
    from reclaim.forensics.pictures import pixel_pictures

    data = jpeg(Image.fromarray(_sk("astronaut")), 80)
    pictures = pixel_pictures(data, [(170, 40, 290, 180)])
    assert set(pictures) == {"maps", "ela"}
    for png in pictures.values():
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.width > 100
    assert pixel_pictures(b"not an image", []) == {}
