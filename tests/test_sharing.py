"""Hash sharing: export to python-threatexchange / StopNCII / NCMEC formats, parsed back with
python-threatexchange's own code; PDQ parity with its PdqSignal; import into banks that scans match."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.errors import NotFound, UserError
from reclaim.matching.banks import bank_hits, list_hits
from reclaim.review.service import review_match
from reclaim.scan.service import scan_paths
from reclaim.sharing.export import select_hashes, te_pdq_from_bytes
from reclaim.sharing.importer import parse_hash_list
from reclaim.sharing.service import export_hashes, import_hashes, list_banks
from reclaim.store.models import BankHit, Consent, Event, Item, Match, Person, Signal
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE

te = pytest.importorskip("threatexchange", reason="python-threatexchange (dev dependency) not installed")

from threatexchange.exchanges.clients.ncmec.hash_api import FingerprintType, NCMECEntryType  # noqa: E402
from threatexchange.exchanges.clients.stopncii.api import StopNCIISignalType  # noqa: E402
from threatexchange.exchanges.impl.file_api import (  # noqa: E402
    FileCollaborationConfig,
    LocalFileSignalExchangeAPI,
)
from threatexchange.signal_type.md5 import VideoMD5Signal  # noqa: E402
from threatexchange.signal_type.pdq.signal import PdqSignal as TePdqSignal  # noqa: E402

from reclaim.signals.vpdq import unavailable_reason  # noqa: E402

HAVE_VPDQ = unavailable_reason() is None
if HAVE_VPDQ:  # python-threatexchange's vPDQ extension imports the vpdq package
    from threatexchange.extensions.vpdq.vpdq import VPDQSignal

runner = CliRunner()


def texture(seed: int, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A smooth random picture (high PDQ quality) of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    small = rng.integers(0, 256, (12, 16, channels), dtype=np.uint8)
    if mode == "RGBA":
        small[..., 3] = np.where(small[..., 3] > 128, 255, 60)
    img = Image.fromarray(small[..., 0] if channels == 1 else small, mode)
    return img.resize(size, Image.Resampling.BICUBIC)


def write_video(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(10):
            pixels = np.asarray(texture(100 + i // 5, (96, 64)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@dataclass
class Case:
    ws: Workspace
    root: Path
    adult: str
    minor: str
    adult_files: list[Path]
    minor_files: list[Path]
    flat: Path
    video: Path


def make_files(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def save(name: str, img: Image.Image, **kw: Any) -> None:
        files[name] = root / name
        img.save(root / name, **kw)

    save("big.jpg", texture(1, (1600, 1200)), quality=90)  # > 512 px: scan hashes a downscale
    save("small.png", texture(2, (400, 300)))
    save("alpha.png", texture(3, (320, 320), "RGBA"))  # alpha: threatexchange passes 4 channels
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° on display: threatexchange ignores EXIF orientation
    save("exif.jpg", texture(4, (900, 600)), quality=92, exif=exif)
    save("grey.png", texture(5, (700, 500), "L"))
    save("palette.png", texture(6, (480, 360)).quantize(64))
    save("flat.png", Image.new("RGB", (300, 200), (128, 128, 128)))  # quality 0: no PDQ exported
    files["clip.mp4"] = root / "clip.mp4"
    write_video(files["clip.mp4"])
    save("minor.jpg", texture(7, (640, 480)), quality=90)
    return files


def confirm(ws: Workspace, person_id: str, paths: list[Path]) -> None:
    import hashlib

    with ws.session() as session:
        for path in paths:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            item = session.scalar(select(Item).where(Item.sha256 == sha))
            assert item is not None, path
            match = Match(person_id=person_id, item_id=item.id, kind="hash", distance=0.0)
            session.add(match)
            session.flush()
            review_match(session, match_id=match.id, decision="confirmed", actor="test")


def new_person(ws: Workspace, name: str, *, minor: bool) -> str:
    with ws.session() as session:
        person = Person(name=name, minor=minor)
        person.consents.append(Consent(statement="signed form", recorded_by="test"))
        session.add(person)
        session.commit()
        return person.id


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    tmp = tmp_path_factory.mktemp("sharing")
    files = make_files(tmp / "material")
    ws = Workspace.create(tmp / "ws", PASSPHRASE)
    report = scan_paths(ws, [tmp / "material"], workers=1, faces=False, forensics="none")
    assert not report.errors and report.new_items == len(files)
    adult = new_person(ws, "Client 07", minor=False)
    minor = new_person(ws, "Client 08", minor=True)
    adult_files = [p for n, p in files.items() if n != "minor.jpg"]
    confirm(ws, adult, adult_files)
    confirm(ws, minor, [files["minor.jpg"]])
    with ws.session() as session:  # as enrolling a minor does: their items' media leave the vault
        item = session.scalar(select(Item).join(Match).where(Match.person_id == minor))
        assert item is not None and ws.vault.delete(item.sha256)
        item.stored = False
        session.commit()
    return Case(
        ws, tmp, adult, minor, adult_files, [files["minor.jpg"]], files["flat.png"], files["clip.mp4"]
    )


def te_expected(paths: list[Path], *, vpdq: bool = False) -> set[tuple[str, str]]:
    """What python-threatexchange itself computes for these files (the flat one has no PDQ); with
    ``vpdq``, videos' vPDQ too (only the te format carries it)."""
    out: set[tuple[str, str]] = set()
    for p in paths:
        if p.suffix == ".mp4":
            out.add((VideoMD5Signal.get_name(), VideoMD5Signal.hash_from_file(p)))
            if vpdq:  # and the video's vPDQ, as VPDQSignal computes it
                out.add((VPDQSignal.get_name(), VPDQSignal.hash_from_file(p)))
        elif pdq := TePdqSignal.hash_from_file(p):
            out.add((TePdqSignal.get_name(), pdq))
    return out


def te_parse(path: Path) -> set[tuple[str, str]]:
    """Parse a signal list with python-threatexchange's own file exchange, validating every signal."""
    api = LocalFileSignalExchangeAPI(FileCollaborationConfig(name="reclaim", filename=str(path)))
    types: list[Any] = [TePdqSignal, VideoMD5Signal, *([VPDQSignal] if HAVE_VPDQ else [])]
    by_name = {s.get_name(): s for s in types}
    out: set[tuple[str, str]] = set()
    for delta in api.fetch_iter(types, None):
        for signal_type, signal in delta.updates:
            if signal_type in by_name:
                assert by_name[signal_type].validate_signal_str(signal) == signal
            out.add((signal_type, signal))
    return out


# --- the bar: threatexchange round trip and PDQ parity --------------------------------------------------


def test_te_list_round_trips_through_threatexchange_bit_identical(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "client07.te"
    with case.ws.session() as session:
        result = export_hashes(session, fmt="te", out=out, person_id=case.adult, vault=case.ws.vault)
    parsed = te_parse(out)
    # same signals back, PDQ bit-identical to PdqSignal, vPDQ to VPDQSignal
    assert parsed == te_expected(case.adult_files, vpdq=HAVE_VPDQ)
    # 6 images with a usable PDQ + 1 video MD5 (+ the video's vPDQ where the vpdq package is installed)
    assert len(parsed) == result.hashes == (8 if HAVE_VPDQ else 7)
    assert result.selection.skipped_low_quality == 1  # the flat image
    assert result.selection.pdq_from_original == 6 and result.selection.pdq_from_scan == 0
    assert ("video_md5", VideoMD5Signal.hash_from_file(case.video)) in parsed


def test_scan_pdq_differs_from_threatexchange_where_documented(case: Case) -> None:
    """The scan's PDQ (≤ 512 px, EXIF-rotated, RGB) equals threatexchange's only for ≤ 512 px RGB/grey
    images without EXIF rotation or alpha: that is why the export recomputes PDQ from the original."""
    import hashlib

    same: dict[str, bool] = {}
    with case.ws.session() as session:
        for p in case.adult_files:
            if p.suffix == ".mp4" or p == case.flat:
                continue
            sha = hashlib.sha256(p.read_bytes()).hexdigest()
            scan = session.scalar(
                select(Signal.value)
                .join(Item, Item.id == Signal.item_id)
                .where(Item.sha256 == sha, Signal.signal_type == "pdq", Signal.variant == 0)
            )
            same[p.name] = scan == TePdqSignal.hash_from_file(p)
    print(same)
    assert same == {
        "small.png": True,  # ≤ 512 px RGB, no EXIF rotation: identical
        "big.jpg": False,  # over 512 px: the scan hashes a downscale
        "alpha.png": False,  # alpha: threatexchange passes 4 channels, the scan composites to RGB
        "exif.jpg": False,  # the scan hashes the upright picture, threatexchange the stored pixels
        "grey.png": False,  # over 512 px
        "palette.png": False,  # threatexchange hashes the palette indices, the scan the colours
    }


def test_te_pdq_is_threatexchange_pdq(case: Case) -> None:
    for p in case.adult_files + case.minor_files:
        if p.suffix == ".mp4":
            continue
        value, quality = te_pdq_from_bytes(p.read_bytes())
        assert (value if quality >= 50 else "") == TePdqSignal.hash_from_file(p), p.name


@pytest.mark.shared
def test_te_pdq_parity_on_shared_images(shared_data: Path) -> None:
    files = sorted(
        p for p in shared_data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")
    )
    assert files
    for p in files:
        value, quality = te_pdq_from_bytes(p.read_bytes())
        assert (value if quality >= 50 else "") == TePdqSignal.hash_from_file(p), p


# --- the other formats and the minor rule ---------------------------------------------------------------


def test_stopncii_file_uses_stopncii_types(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "stopncii.json"
    with case.ws.session() as session:
        export_hashes(session, fmt="stopncii", out=out, vault=case.ws.vault)
    body = json.loads(out.read_text())
    assert body["format"] == "reclaim-stopncii-submission" and body["version"] == 1
    got = set()
    for record in body["hashes"]:
        assert set(record) == {"signalType", "hashValue"}
        kind = StopNCIISignalType(record["signalType"])
        signal = TePdqSignal if kind is StopNCIISignalType.ImagePDQ else VideoMD5Signal
        got.add((signal.get_name(), signal.validate_signal_str(record["hashValue"])))
    assert got == te_expected(case.adult_files)  # all confirmed items, the minor's left out
    assert te_expected(case.minor_files).isdisjoint(got)


def test_ncmec_file_only_minors(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "ncmec.json"
    with case.ws.session() as session:
        result = export_hashes(session, fmt="ncmec", out=out, vault=case.ws.vault)
        body = json.loads(out.read_text())
        assert body["format"] == "reclaim-ncmec-take-it-down"
        assert len(body["hashes"]) == result.hashes == 1
        record = body["hashes"][0]
        assert NCMECEntryType(record["mediaType"]) is NCMECEntryType.image
        assert FingerprintType(record["fingerprintType"]) is FingerprintType.pdq
        # a minor's media are never stored, so the PDQ is the scan's (640x480: a downscaled decode)
        assert result.selection.pdq_from_scan == 1
        scan_pdq = session.scalar(
            select(Signal.value)
            .join(Item, Item.id == Signal.item_id)
            .join(Match, Match.item_id == Item.id)
            .where(Match.person_id == case.minor, Signal.signal_type == "pdq", Signal.variant == 0)
        )
        assert record["value"] == scan_pdq


def test_minor_refused_outside_ncmec_and_adult_refused_for_ncmec(case: Case, tmp_path: Path) -> None:
    with case.ws.session() as session:
        for fmt in ("te", "stopncii"):
            with pytest.raises(UserError, match="minor"):
                select_hashes(session, fmt=fmt, person_id=case.minor)
        with pytest.raises(UserError, match="under 18"):
            select_hashes(session, fmt="ncmec", person_id=case.adult)
        with pytest.raises(NotFound):
            select_hashes(session, fmt="te", person_id="nobody")
        assert select_hashes(session, fmt="te").withheld_minor == 1
        assert not (tmp_path / "x").exists()


def test_exports_hold_no_identities_or_media(case: Case, tmp_path: Path) -> None:
    import hashlib

    with case.ws.session() as session:
        persons = session.scalars(select(Person)).all()
        shas = session.scalars(select(Item.sha256)).all()
        texts = []
        for fmt, pid in (("te", None), ("stopncii", case.adult), ("ncmec", case.minor)):
            out = tmp_path / f"{fmt}.out"
            export_hashes(session, fmt=fmt, out=out, person_id=pid, vault=case.ws.vault)  # type: ignore[arg-type]
            texts.append(out.read_text())
        events = session.scalars(select(Event).where(Event.kind == "hashes.exported")).all()
        assert events
    for text in texts:
        assert len(text) < 2000  # hashes only: no media
        for p in persons:
            assert p.id not in text and p.name not in text
        for sha in shas:
            assert sha not in text
        for f in case.adult_files + case.minor_files:
            assert f.name not in text and hashlib.sha256(f.read_bytes()).hexdigest() not in text


# --- import and matching --------------------------------------------------------------------------------


def test_import_parses_and_rejects() -> None:
    pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    parsed = parse_hash_list(
        f"pdq {pdq}\n\nurl https://example.org\nvideo_md5 {'A' * 32}\npdq {pdq}\n".encode()
    )
    assert parsed.hashes == [("pdq", pdq), ("md5", "a" * 32)] and parsed.skipped == {"url": 1}
    with pytest.raises(UserError, match="line 2"):
        parse_hash_list(f"pdq {pdq}\npdq 1234\n".encode())
    body = {
        "hashes": [{"fingerprintType": "PDNA", "value": "x"}, {"fingerprintType": "MD5", "value": "b" * 32}]
    }
    parsed = parse_hash_list(json.dumps(body).encode())
    assert parsed.hashes == [("md5", "b" * 32)] and parsed.skipped == {"PDNA": 1}
    with pytest.raises(UserError, match="record 1"):
        parse_hash_list(json.dumps({"hashes": [{"signalType": "ImagePDQ", "hashValue": "zz"}]}).encode())


def test_imported_list_is_matched_by_scans(tmp_path: Path) -> None:
    """A partner's list written as threatexchange writes it: a later scan flags a recompressed and a
    flipped copy; items already in the workspace are checked at import."""
    original = texture(11, (900, 700))
    (tmp_path / "theirs").mkdir()
    original.save(tmp_path / "theirs" / "original.jpg", quality=95)
    video = tmp_path / "theirs" / "clip.mp4"
    write_video(video)
    listing = tmp_path / "partner.te"
    listing.write_text(
        f"{TePdqSignal.get_name()} {TePdqSignal.hash_from_file(tmp_path / 'theirs' / 'original.jpg')}\n"
        f"{VideoMD5Signal.get_name()} {VideoMD5Signal.hash_from_file(video)}\nurl https://example.org\n"
    )
    assert len(te_parse(listing)) == 3
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        before = tmp_path / "before"
        before.mkdir()
        (before / "clip.mp4").write_bytes(video.read_bytes())
        scan_paths(ws, [before], workers=1, faces=False, forensics="none")
        with ws.session() as session:
            result = import_hashes(session, path=listing, bank="partner")
        assert (result.added, result.skipped, result.existing_items_hit) == (2, {"url": 1}, 1)

        later = tmp_path / "later"
        later.mkdir()
        buf = io.BytesIO()
        original.resize((700, 544)).save(buf, "JPEG", quality=60)
        (later / "recompressed.jpg").write_bytes(buf.getvalue())
        original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(later / "flipped.png")
        texture(12, (600, 400)).save(later / "unrelated.jpg")
        scan_paths(ws, [later], workers=1, faces=False, forensics="none")
        with ws.session() as session:
            hits = list_hits(session, bank="partner")
            assert sorted(h.by for h in hits) == ["md5", "pdq", "pdq"]
            assert len(session.scalars(select(BankHit)).all()) == 3
            assert [b.to_dict() for b in list_banks(session)] == [
                {"bank": "partner", "pdq": 1, "md5": 1, "hits": 3}
            ]
            unrelated = session.scalars(select(Item)).all()
            assert sum(1 for i in unrelated if bank_hits(session, i)) == 3
            assert len(session.scalars(select(Event).where(Event.kind == "bank.hit")).all()) == 3
            again = import_hashes(session, path=listing, bank="partner")
            assert (again.added, again.already_there, again.existing_items_hit) == (0, 2, 0)
        assert ws.verify_custody() == []
    finally:
        ws.close()


def test_export_then_import_matches_own_items(case: Case, tmp_path: Path) -> None:
    import hashlib

    out = tmp_path / "mine.json"
    with case.ws.session() as session:
        export_hashes(session, fmt="stopncii", out=out, vault=case.ws.vault)
    other = Workspace.create(tmp_path / "other", PASSPHRASE)
    try:
        scan_paths(other, [case.root / "material"], workers=1, faces=False, forensics="none")
        with other.session() as session:
            result = import_hashes(session, path=out, bank="centre-a")
        # Every exported item is found again except two: for the palette and the alpha image the
        # threatexchange-identical PDQ hashes palette indices / 4 channels, which is 118 and 94 bits from
        # the hash of what the picture looks like (the scan's). Known, documented in sharing/export.py.
        assert result.added == 7 and result.existing_items_hit == 5
        with other.session() as session:
            missed = {i.sha256 for i in session.scalars(select(Item)) if not bank_hits(session, i)}
        names = {
            hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in (case.root / "material").iterdir()
        }
        assert {names[s] for s in missed} == {"alpha.png", "palette.png", "flat.png", "minor.jpg"}
    finally:
        other.close()


# --- CLI ------------------------------------------------------------------------------------------------


def test_cli_hashes(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLAIM_PASSPHRASE", PASSPHRASE)
    ws_args = ["--workspace", str(case.ws.root)]
    out = tmp_path / "list.te"
    r = runner.invoke(app, [*ws_args, "hashes", "export", "--format", "te", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.stderr
    expected = te_expected(case.adult_files, vpdq=HAVE_VPDQ)
    assert json.loads(r.stdout)["hashes"] == len(expected) and te_parse(out) == expected
    r = runner.invoke(app, [*ws_args, "hashes", "export", "--format", "te", "--person", case.minor,
                            "--out", str(tmp_path / "no.te")])  # fmt: skip
    assert r.exit_code == 2 and "minor" in r.stderr and not (tmp_path / "no.te").exists()
    r = runner.invoke(app, [*ws_args, "hashes", "export", "--format", "csv", "--out", str(out)])
    assert r.exit_code == 2
    r = runner.invoke(app, [*ws_args, "hashes", "import", str(out), "--bank", "self", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["added"] == len(expected)
    r = runner.invoke(app, [*ws_args, "hashes", "banks", "--json"])
    assert r.exit_code == 0 and any(
        b["bank"] == "self" and b["pdq"] == 6 and b.get("vpdq", 0) == int(HAVE_VPDQ)
        for b in json.loads(r.stdout)
    )
    r = runner.invoke(app, [*ws_args, "hashes", "check", "--bank", "self", "--json"])
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)["hits"]) == 5  # not alpha.png, palette.png: see the test above
    r = runner.invoke(app, [*ws_args, "hashes", "check", "--bank", "nope"])
    assert r.exit_code == 2
