"""Face templates across descriptor versions: a workspace enrolled before flip-averaging (templates of
model ``dlib-resnet-v1``) keeps matching, and ``reembed_templates`` brings templates whose reference
photos were kept to the current model. Real workspace, real encryption, real face model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data
from sqlalchemy import select

from reclaim.events import EventKind
from reclaim.matching.service import Matcher
from reclaim.persons.service import _template_from_photo, add_person, reembed_templates
from reclaim.signals import get_face_model
from reclaim.signals.face import DEFAULT_FACE_MODEL, DlibResNetFace, DlibResNetFlipFace
from reclaim.store.crypto import decrypt_vector, encrypt_vector
from reclaim.store.models import Event, FaceTemplate, Person
from reclaim.workspace import Workspace


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def probe_vector() -> np.ndarray:
    """Her face as a scan finds it today (flip-averaged) in another picture: a smaller, recompressed copy."""
    small = Image.fromarray(data.astronaut()).resize((300, 300), Image.Resampling.LANCZOS)
    faces = get_face_model().faces(np.ascontiguousarray(np.asarray(small)))
    assert len(faces) == 1
    return faces[0].vector


def make_old(ws: Workspace, person_id: str, photo: Path) -> np.ndarray:
    """Turn the person's template into what enrolment stored before flip-averaging: the plain
    descriptor of the same photo under the old model name."""
    plain_model = get_face_model(DlibResNetFace.name)
    with Image.open(photo) as im:
        (face,) = plain_model.faces(np.ascontiguousarray(np.asarray(im.convert("RGB"))), budget_s=4.0)
    with ws.session() as s:
        (tpl,) = s.get_one(Person, person_id).templates
        tpl.model = DlibResNetFace.name
        tpl.vector_ct = encrypt_vector(ws.key, face.vector.tobytes(), kind="template", owner=str(tpl.id))
        s.commit()
    return face.vector


def test_new_templates_are_flip_averaged(workspace: Workspace, photo: Path) -> None:
    with workspace.session() as s:
        pid = add_person(s, workspace.key, name="P", photos=[photo], consent="c").person_id
        s.commit()
        (tpl,) = s.get_one(Person, pid).templates
        assert tpl.model == DEFAULT_FACE_MODEL == DlibResNetFlipFace.name
        stored = decrypt_vector(workspace.key, tpl.vector_ct, kind="template", owner=str(tpl.id))
    assert np.allclose(stored, _template_from_photo(photo), atol=1e-5)


def test_old_templates_still_match_and_are_reembedded_from_kept_photos(
    workspace: Workspace, photo: Path
) -> None:
    with workspace.session() as s:
        pid = add_person(
            s, workspace.key, name="P", photos=[photo], consent="c", vault=workspace.vault, keep_photos=True
        ).person_id
        s.commit()
    old = make_old(workspace, pid, photo)
    probe = probe_vector()
    with workspace.session() as s:
        hits = Matcher(s, workspace.key).face_hits([probe])
    assert pid in hits  # an older workspace's plain template matches a flip-averaged face
    old_distance = hits[pid][0]

    with workspace.session() as s:
        assert reembed_templates(s, workspace.key, workspace.vault, pid) == (1, 0)
        s.commit()
    with workspace.session() as s:
        (tpl,) = s.get_one(Person, pid).templates
        assert tpl.model == DEFAULT_FACE_MODEL
        new = decrypt_vector(workspace.key, tpl.vector_ct, kind="template", owner=str(tpl.id))
        events = s.scalars(select(Event).where(Event.kind == EventKind.PERSON_TEMPLATES_REEMBEDDED)).all()
        assert len(events) == 1 and events[0].detail["templates"] == 1
        hits = Matcher(s, workspace.key).face_hits([probe])
        # nothing else to do the second time
        assert reembed_templates(s, workspace.key, workspace.vault, pid) == (0, 0)
    assert not np.allclose(new, old)
    assert np.allclose(new, _template_from_photo(photo), atol=1e-5)
    assert pid in hits and hits[pid][0] <= old_distance + 0.02


def test_old_templates_without_kept_photos_stay_and_are_counted(workspace: Workspace, photo: Path) -> None:
    with workspace.session() as s:
        pid = add_person(s, workspace.key, name="P", photos=[photo], consent="c").person_id
        s.commit()
    old = make_old(workspace, pid, photo)
    with workspace.session() as s:
        assert reembed_templates(s, workspace.key, workspace.vault, pid) == (0, 1)
        s.commit()
        (tpl,) = s.scalars(select(FaceTemplate).where(FaceTemplate.person_id == pid)).all()
        assert tpl.model == DlibResNetFace.name
        kept = decrypt_vector(workspace.key, tpl.vector_ct, kind="template", owner=str(tpl.id))
        assert not s.scalars(select(Event).where(Event.kind == EventKind.PERSON_TEMPLATES_REEMBEDDED)).all()
    assert np.array_equal(kept, old)
