"""The evidence report: a PDF for police, lawyers and courts, built from an evidence package's manifest.

``render_report(manifest, originals=..., lang="en"|"ko", blur=True)`` returns PDF bytes. It has a cover
page (who, when, counts, date range, chats, key fingerprint, custody range, how to verify), a timeline
of the sightings per chat, one section per item (a thumbnail that is BLURRED by default, hashes,
matches with a plain-language reading of each distance, and a sightings table) and a closing section
explaining what each signal means. Everything happens in memory: no files, no network.

Fonts: a Unicode TrueType font is required so that chat names in any script render. NanumGothic
(Debian ``fonts-nanum``: Latin and Hangul) is preferred, DejaVu Sans is used as a fallback for other
scripts (or as the main font for English when Nanum is absent).
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from PIL import Image, ImageFilter, ImageOps

from reclaim.errors import DependencyError
from reclaim.evidence.spread import network_png, sender_rows
from reclaim.forensics.service import STATEMENT_KO
from reclaim.lang import Lang, parse_lang
from reclaim.signals.face import DlibResNetFace
from reclaim.text import clip, shown

FONT_DIRS: tuple[Path, ...] = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
"""Where fonts are searched (recursively)."""

FACE_THRESHOLD = DlibResNetFace.default_threshold
"""The shipped face-match threshold (``signals.face`` default); used when a match does not record one."""
HASH_THRESHOLD = 31
"""PDQ: at most this many of 256 bits may differ for a match (``signals.pdq.MATCH_THRESHOLD``)."""
FACE_FALSE_MATCH_RATE = "0.5 %"
"""Measured at the shipped threshold in docs/face-roc.md (plain and repost-condition benchmarks)."""

THUMB_MM = 60.0
_THUMB_PX = 480
_MAIN = "ReportMain"
_FALLBACK = "ReportFallback"

_T: dict[str, dict[str, str]] = {
    "network_h": {"en": "Spread network: who posted, where", "ko": "유포 네트워크: 누가, 어디에 게시했는가"},
    "network_note": {
        "en": "Senders (circles, by their Telegram sender id), image clusters (squares: one image and its "
        "copies) and chats (diamonds). Arrows: a sender posted a cluster (red), a cluster was in a chat "
        "(blue), a chat or sender was the source of a forward into a chat (orange), a sender replied to "
        "another (purple). Names are those the senders and chats used; a sender renamed is one node. No "
        "image is shown. The same graph is in network/network.graphml (Gephi), the tables in "
        "network/senders.csv and network/timeline.csv.",
        "ko": (
            "발신자(원, 텔레그램 발신자 ID 기준), 이미지 묶음(사각형: 한 이미지와 "
            "그 복제본), 대화방(마름모). 화살표: 발신자가 묶음을 게시(빨강), "
            "묶음이 대화방에 있음(파랑), 대화방·발신자가 다른 대화방으로 전달된 "
            "출처(주황), 발신자가 다른 발신자에게 답장(보라). 이름은 발신자와 "
            "대화방이 사용한 그대로이며, 이름을 바꾼 발신자는 하나의 노드입니다. "
            "이미지는 표시하지 않습니다. 같은 그래프가 "
            "network/network.graphml(Gephi)에, 표가 "
            "network/senders.csv와 network/timeline.csv에 "
            "있습니다."
        ),
    },
    "network_counts": {
        "en": "{senders} sender(s), {chats} chat(s), {clusters} image cluster(s); {edges} link(s).",
        "ko": "발신자 {senders}명, 대화방 {chats}개, 이미지 묶음 {clusters}개; 연결 {edges}개.",
    },
    "who_h": {"en": "Who posted, where, when", "ko": "누가, 어디에, 언제 게시했는가"},
    "who_cols": {
        "en": "Sender id|Names used|First / last post (UTC)|Posts|Chats|Message links",
        "ko": "발신자 ID|사용한 이름|최초 / 최종 게시 (UTC)|게시 수|대화방|메시지 링크",
    },
    "who_none": {
        "en": "No sender is known for these sightings.",
        "ko": "이 발견 건들의 발신자는 알 수 없습니다.",
    },
    "title": {
        "en": "Evidence report — non-consensual synthetic imagery",
        "ko": "증거 보고서 — 비동의 합성 이미지",
    },
    "person": {"en": "Person (pseudonym)", "ko": "대상자 (가명)"},
    "person_id": {"en": "Person id", "ko": "대상자 ID"},
    "generated": {"en": "Report generated (UTC)", "ko": "보고서 생성 시각 (UTC)"},
    "package_created": {"en": "Package created (UTC)", "ko": "증거 패키지 생성 시각 (UTC)"},
    "items": {"en": "Items (distinct files)", "ko": "항목 (서로 다른 파일)"},
    "sightings": {"en": "Sightings (posts/messages)", "ko": "발견 건수 (게시물/메시지)"},
    "matches": {"en": "Matches", "ko": "일치 항목"},
    "first_seen": {"en": "First sighting (UTC)", "ko": "최초 발견 (UTC)"},
    "last_seen": {"en": "Last sighting (UTC)", "ko": "최종 발견 (UTC)"},
    "unknown": {"en": "unknown", "ko": "알 수 없음"},
    "key": {"en": "Workspace public key (fingerprint)", "ko": "작업공간 공개키 (지문)"},
    "custody": {"en": "Custody log range", "ko": "관리 연속성(custody) 기록 범위"},
    "events": {"en": "events", "ko": "이벤트"},
    "chats": {"en": "Platforms and chats", "ko": "플랫폼 및 대화방"},
    "chat": {"en": "Chat", "ko": "대화방"},
    "platform": {"en": "Platform", "ko": "플랫폼"},
    "messages": {"en": "Messages", "ko": "메시지 수"},
    "verify_h": {"en": "How to verify this package", "ko": "이 패키지를 검증하는 방법"},
    "verify": {
        "en": "This report accompanies a signed evidence package (a ZIP file). Anyone can check, offline, "
        "that no file in the package was changed after export and that the custody log is complete: "
        "run  reclaim evidence verify FILE.zip  . The command checks the SHA-256 of every file against "
        "the signed manifest, the Ed25519 signature with the public key above, and the hash chain of "
        "the custody log. The report itself is a reading aid; the package is the evidence.",
        "ko": "이 보고서는 서명된 증거 패키지(ZIP 파일)와 함께 제공됩니다. 누구나 인터넷 연결 없이, "
        "내보낸 이후 패키지의 어떤 파일도 변경되지 않았고 관리 연속성 기록이 완전한지 확인할 수 "
        "있습니다:  reclaim evidence verify FILE.zip  명령을 실행하십시오. 이 명령은 모든 파일의 "
        "SHA-256을 서명된 매니페스트와 대조하고, 위 공개키로 Ed25519 서명을, 그리고 관리 연속성 "
        "기록의 해시 체인을 검사합니다. 이 보고서는 읽기 위한 보조 자료이며, 증거는 패키지 자체입니다.",
    },
    "timeline": {
        "en": "Spread timeline: sightings over time per chat",
        "ko": "유포 타임라인: 대화방별 발견 시점",
    },
    "timeline_none": {
        "en": "No sighting has a known posting time: no timeline can be drawn.",
        "ko": "게시 시각이 알려진 발견 기록이 없어 타임라인을 그릴 수 없습니다.",
    },
    "timeline_undated": {
        "en": "{n} sighting(s) without a posting time are not shown.",
        "ko": "게시 시각이 없는 발견 기록 {n}건은 표시되지 않았습니다.",
    },
    "item": {"en": "Item", "ko": "항목"},
    "blurred": {
        "en": "Image blurred on purpose (the original is in the package).",
        "ko": "의도적으로 흐리게 처리한 이미지입니다 (원본은 패키지에 있음).",
    },
    "not_blurred": {"en": "Image shown UNBLURRED.", "ko": "흐림 처리 없이 표시된 이미지입니다."},
    "not_stored": {
        "en": "media not stored (hash-only / minor)",
        "ko": "미디어 미보관 (해시만 보관 / 미성년자)",
    },
    "no_preview": {"en": "no preview (not a still image)", "ko": "미리보기 없음 (정지 이미지 아님)"},
    "kind": {"en": "Kind", "ko": "유형"},
    "mime": {"en": "Media type", "ko": "미디어 형식"},
    "size": {"en": "Size", "ko": "크기"},
    "bytes": {"en": "bytes", "ko": "바이트"},
    "dims": {"en": "Dimensions", "ko": "해상도"},
    "original": {"en": "Original in package", "ko": "패키지 내 원본"},
    "reason": {"en": "Why not stored", "ko": "미보관 사유"},
    "none": {"en": "none", "ko": "없음"},
    "match_kind": {"en": "Signal", "ko": "신호"},
    "status": {"en": "Status", "ko": "상태"},
    "distance": {"en": "Distance", "ko": "거리"},
    "meaning": {"en": "What it means", "ko": "의미"},
    "face": {"en": "face", "ko": "얼굴"},
    "hash": {"en": "hash", "ko": "해시"},
    "repost": {"en": "repost", "ko": "재게시"},
    "candidate": {"en": "candidate", "ko": "후보"},
    "confirmed": {"en": "confirmed", "ko": "확인됨"},
    "rejected": {"en": "rejected", "ko": "기각됨"},
    "face_under": {
        "en": "Facial features similar: {d:.3f} is below the match threshold {t:.2f} (lower = more similar).",
        "ko": "얼굴 특징이 유사함: {d:.3f}은(는) 일치 기준 {t:.2f}보다 낮음 (낮을수록 유사).",
    },
    "face_over": {
        "en": "Above the match threshold {t:.2f}: {d:.3f} (weak similarity).",
        "ko": "일치 기준 {t:.2f} 초과: {d:.3f} (유사도 약함).",
    },
    "hash_exact": {
        "en": "Exact copy of a known image (byte-identical).",
        "ko": "알려진 이미지의 정확한 사본 (바이트 단위 동일).",
    },
    "repost_via": {
        "en": "Repost of matched item {sha} (match {mid}): {signal}, {d} of 256 bits differ.",
        "ko": "일치 항목 {sha}(일치 {mid})의 재게시물: {signal}, 256비트 중 {d}비트 차이.",
    },
    "robust_known": {
        "en": "Edited copy of a known image (cropped, bordered, captioned, screenshotted or rotated): "
        "found by {by}, {inliers} keypoint pairs agree on one transform.",
        "ko": "알려진 이미지의 편집된 사본 (자르기, 테두리, 캡션, 스크린샷 또는 회전): {by}로 찾음, "
        "키포인트 쌍 {inliers}개가 하나의 변환에 일치.",
    },
    "repost_robust": {
        "en": "Edited repost of matched item {sha} (match {mid}): found by {signal}, "
        "{inliers} keypoint pairs agree on one transform.",
        "ko": "일치 항목 {sha}(일치 {mid})의 편집된 재게시물: {signal}로 찾음, "
        "키포인트 쌍 {inliers}개가 하나의 변환에 일치.",
    },
    "repost_cluster": {
        "en": "In the near-duplicate cluster of matched item {sha} (match {mid}), through other copies.",
        "ko": "일치 항목 {sha}(일치 {mid})의 유사 중복 묶음에 속함 (다른 사본을 통해 연결됨).",
    },
    "hash_bits": {
        "en": "{d} of 256 bits differ (≤ {t} means visually the same picture; 0 = no visible change).",
        "ko": "256비트 중 {d}비트 차이 ({t} 이하이면 시각적으로 같은 사진; 0 = 눈에 띄는 변화 없음).",
    },
    "hash_vpdq": {
        "en": "vPDQ video match: {q}% of this video's frames and {c}% of the known video's are the same "
        "footage (≥ 80% of either is a match).",
        "ko": "vPDQ 영상 일치: 이 영상 프레임의 {q}%와 알려진 영상 프레임의 {c}%가 같은 장면 "
        "(어느 한쪽이 80% 이상이면 일치).",
    },
    "no_matches": {"en": "No matches listed for this item.", "ko": "이 항목에 대한 일치 기록이 없습니다."},
    "msg_id": {"en": "Message id", "ko": "메시지 ID"},
    "sender": {"en": "Sender", "ko": "보낸 사람"},
    "time": {"en": "Time (UTC)", "ko": "시각 (UTC)"},
    "forwarded": {"en": "Forwarded from", "ko": "전달 출처"},
    "no_sightings": {"en": "No sightings recorded.", "ko": "발견 기록이 없습니다."},
    "glossary": {"en": "What the signals mean", "ko": "신호의 의미"},
    "forensics_h": {
        "en": "How it was made: what the file and its pixels show",
        "ko": "제작 방식: 파일과 픽셀이 보여주는 것",
    },
    "supports": {"en": "What the evidence supports:", "ko": "증거가 뒷받침하는 내용:"},
    "fx_signal": {"en": "Signal", "ko": "신호"},
    "fx_finding": {"en": "Finding", "ko": "결과"},
    "fx_strength": {"en": "Strength", "ko": "강도"},
    "fx_seen": {"en": "What was seen", "ko": "관찰 내용"},
    "strong": {"en": "strong", "ko": "강함"},
    "moderate": {"en": "moderate", "ko": "보통"},
    "weak": {"en": "weak", "ko": "약함"},
    "none_strength": {"en": "none", "ko": "없음"},
    "fx_none": {
        "en": "No forensic signal was computed for this item (scanned without them, or media not stored).",
        "ko": "이 항목에 대해 계산된 포렌식 신호가 없습니다 (신호 없이 스캔했거나 미디어를 보관하지 않음).",
    },
    "fx_rest": {
        "en": "No evidence either way from: {rest}.",
        "ko": "어느 쪽으로도 증거가 되지 않는 신호: {rest}.",
    },
    "fx_note": {
        "en": "Each finding stands on its own, with its own strength; this report gives no blended 'fake "
        "probability', and no finding shows that an image is authentic. Known causes of false indicators "
        "are listed in the package's manifest.json for every finding.",
        "ko": "각 결과는 독립적이며 각자의 강도를 가집니다. 이 보고서는 하나로 합친 '가짜 확률'을 제시하지 "
        "않으며, 어떤 결과도 이미지가 진본임을 보여주지 않습니다. 각 결과의 알려진 오탐 원인은 패키지의 "
        "manifest.json에 기재되어 있습니다. 세부 설명은 영어로 제공됩니다.",
    },
    "fx_source_photo": {
        "en": "Left: the face in this item. Right: the kept reference photo it matches.",
        "ko": "왼쪽: 이 항목의 얼굴. 오른쪽: 일치하는 보관된 참조 사진.",
    },
    "fx_maps": {
        "en": "Indicator maps (brighter = more of the indicator; red boxes = faces). The picture itself is "
        "not shown.",
        "ko": "지표 지도 (밝을수록 지표가 강함, 빨간 상자 = 얼굴). 이미지 자체는 표시하지 않습니다.",
    },
    "fx_ela": {
        "en": "Error-level analysis picture (shown as a picture only, never scored) in the package: {rel}",
        "ko": "오류 수준 분석(ELA) 그림 (그림으로만 제공, 점수 없음), 패키지 내 위치: {rel}",
    },
    "page": {"en": "Page", "ko": "페이지"},
}


_GLOSSARY: dict[str, list[tuple[str, str]]] = {
    "en": [
        (
            "SHA-256 and MD5 (exact copy)",
            "A fingerprint of the file's bytes. Two files with the same SHA-256 are exact, byte-for-byte "
            "copies. Changing a single pixel, re-saving or resizing gives a completely different value, so "
            "a different SHA-256 does not mean a different picture. MD5 is listed because some platforms "
            "and hotlines use it.",
        ),
        (
            "PDQ and pdq64 (visually the same picture)",
            "A perceptual fingerprint of what the image looks like, 256 bits. It survives recompression, "
            f"resizing and flipping. Two images whose PDQ values differ in at most {HASH_THRESHOLD} of 256 "
            "bits show visually the same picture. pdq64 is the same method applied to a 64x64 reduction. A "
            "match is strong evidence that two files show the same picture; it says nothing about who made "
            "or posted it.",
        ),
        (
            "Face match (a candidate until a person confirms it)",
            "Compares the similarity of facial features between a face in the image and the photos the "
            f"person provided. A distance below {FACE_THRESHOLD:.2f} is reported as a candidate; it stays a "
            "candidate until a person looks at it and confirms or rejects it. At the shipped threshold the "
            f"false-match rate was measured at about {FACE_FALSE_MATCH_RATE}: roughly 5 in 1,000 comparisons "
            "of different people are wrongly flagged, which is why a human confirmation is required.",
        ),
        (
            "How it was made: declarations, C2PA, watermarks",
            "What the file itself declares. A C2PA manifest is signed: an AI-generation claim with a valid "
            "signature is strong evidence, 'trusted' when the signer's certificate is on the trust list the "
            "advocate configured, 'valid but untrusted' otherwise. Metadata declarations (XMP/IPTC "
            "DigitalSourceType, EXIF, PNG text written by generators) are not signed and can be removed or "
            "forged. The Stable Diffusion invisible watermark is reported as matched bits with the chance "
            "of an unwatermarked image matching as well. All of these are usually stripped by platforms: "
            "their absence proves nothing.",
        ),
        (
            "Face copied from a reference photo",
            "When the person agreed to keep their photos, the face in an item is compared with each of "
            "them. An almost identical face (same pose, expression and light; facial-feature distance far "
            "below what two different photos of one person give, and near-identical pixels of the aligned "
            "crops) on a different body or background shows that the face was pasted from that photo. The "
            "two crops are shown side by side with the numbers.",
        ),
        (
            "Indicators of editing (pixels)",
            "Double-JPEG inconsistency and noise inconsistency of the face against the rest of the same "
            "image, as a percentile. They are indicators, not proof: their measured strength is given with "
            "each finding, and smooth skin, filters, resizing or text overlays can cause them without any "
            "editing. 'No indicators found' does not show that an image is authentic.",
        ),
        (
            "A missing signal proves nothing",
            "When a signal is absent (no face found, no hash match, media not stored) this is never "
            "evidence that an image is authentic or that the person is not shown. It only means this tool "
            "did not find that particular link.",
        ),
    ],
    "ko": [
        (
            "SHA-256 및 MD5 (정확한 사본)",
            "파일 바이트의 지문입니다. SHA-256 값이 같은 두 파일은 바이트 단위까지 정확히 같은 "
            "사본입니다. 픽셀 하나만 바꾸거나 다시 저장하거나 크기를 바꾸어도 값이 완전히 달라지므로, "
            "SHA-256이 다르다고 해서 다른 사진이라는 뜻은 아닙니다. 일부 플랫폼과 신고 기관이 MD5를 "
            "사용하므로 함께 기재합니다.",
        ),
        (
            "PDQ 및 pdq64 (시각적으로 같은 사진)",
            "이미지의 보이는 모습을 나타내는 256비트 지각 지문입니다. 재압축, 크기 변경, 좌우 반전 "
            f"후에도 유지됩니다. PDQ 값이 256비트 중 {HASH_THRESHOLD}비트 이하로 다른 두 이미지는 "
            "시각적으로 같은 사진입니다. pdq64는 64x64로 축소한 이미지에 같은 방법을 적용한 것입니다. "
            "일치는 두 파일이 같은 사진이라는 강력한 증거이지만, 누가 만들었거나 게시했는지는 알려주지 "
            "않습니다.",
        ),
        (
            "얼굴 일치 (사람이 확인하기 전까지는 후보)",
            "이미지 속 얼굴과 대상자가 제공한 사진의 얼굴 특징 유사도를 비교합니다. 거리가 "
            f"{FACE_THRESHOLD:.2f} 미만이면 후보로 보고되며, 사람이 직접 보고 확인하거나 기각할 때까지 "
            f"후보로 남습니다. 기본 기준에서 측정된 오일치율은 약 {FACE_FALSE_MATCH_RATE}입니다. 즉 서로 "
            "다른 사람을 비교한 1,000건 중 약 5건이 잘못 표시될 수 있으므로 사람의 확인이 필요합니다.",
        ),
        (
            "제작 방식: 선언, C2PA, 워터마크",
            "파일 자체가 선언하는 내용입니다. C2PA 매니페스트는 서명되어 있어, 유효한 서명이 있는 AI 생성 "
            "선언은 강력한 증거입니다. 서명자의 인증서가 상담원이 설정한 신뢰 목록에 있으면 '신뢰됨', "
            "아니면 '유효하지만 신뢰 목록에 없음'으로 표시합니다. 메타데이터 선언(XMP/IPTC "
            "DigitalSourceType, EXIF, 생성기가 쓴 PNG 텍스트)은 서명되지 않아 삭제되거나 위조될 수 "
            "있습니다. Stable Diffusion 비가시 워터마크는 일치한 비트 수와, 워터마크 없는 이미지가 우연히 "
            "그만큼 일치할 확률로 보고합니다. 이러한 정보는 대개 플랫폼에서 제거되므로 없다는 것은 아무것도 "
            "증명하지 않습니다.",
        ),
        (
            "참조 사진에서 복사된 얼굴",
            "대상자가 사진 보관에 동의한 경우, 항목 속 얼굴을 각 사진과 비교합니다. 거의 동일한 얼굴(같은 "
            "자세, 표정, 조명; 같은 사람의 서로 다른 사진보다 훨씬 작은 특징 거리와 정렬된 얼굴 영역의 "
            "거의 같은 픽셀)이 다른 몸이나 배경 위에 있으면 그 사진에서 얼굴을 붙여넣었다는 것을 "
            "보여줍니다. 두 얼굴 영역을 수치와 함께 나란히 보여줍니다.",
        ),
        (
            "편집 흔적 지표 (픽셀)",
            "같은 이미지의 나머지 부분과 비교한 얼굴 영역의 이중 JPEG 불일치와 노이즈 불일치를 백분위로 "
            "나타냅니다. 이는 증거가 아닌 지표이며, 측정된 강도가 각 결과와 함께 제시됩니다. 매끈한 피부, "
            "필터, 크기 변경, 텍스트 오버레이는 편집 없이도 지표를 만들 수 있습니다. '지표 없음'은 "
            "이미지가 진본임을 보여주지 않습니다.",
        ),
        (
            "신호가 없다는 것은 아무것도 증명하지 않습니다",
            "신호가 없는 경우(얼굴 미검출, 해시 불일치, 미디어 미보관)에도 이는 결코 이미지가 진본이라는 "
            "증거나 대상자가 나오지 않는다는 증거가 아닙니다. 이 도구가 해당 연결을 찾지 못했다는 뜻일 "
            "뿐입니다.",
        ),
    ],
}


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path
    fallback: Path | None
    """A second font for scripts the main one lacks (DejaVu Sans when the main font is Nanum)."""


def _search(name: str, dirs: Iterable[Path]) -> Path | None:
    for d in dirs:
        if d.is_dir():
            for found in sorted(d.rglob(name)):
                if found.is_file():
                    return found
    return None


def find_fonts(lang: Lang = "en", dirs: Sequence[Path] = FONT_DIRS) -> Fonts:
    """NanumGothic (regular/bold), else DejaVu Sans for English. Raises DependencyError if none fits."""
    nanum, nanum_bold = _search("NanumGothic.ttf", dirs), _search("NanumGothicBold.ttf", dirs)
    dejavu, dejavu_bold = _search("DejaVuSans.ttf", dirs), _search("DejaVuSans-Bold.ttf", dirs)
    if nanum is not None:
        return Fonts(nanum, nanum_bold or nanum, dejavu)
    if lang == "en" and dejavu is not None:
        return Fonts(dejavu, dejavu_bold or dejavu, None)
    raise DependencyError(
        "the evidence report needs a Unicode TrueType font (NanumGothic"
        + (" for Korean" if lang == "ko" else " or DejaVu Sans")
        + f") and none was found under {', '.join(str(d) for d in dirs)}: "
        "install the Debian package fonts-nanum (apt-get install fonts-nanum)"
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _fmt_time(dt: datetime | None, unknown: str) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else unknown


MAX_CELL_CHARS = 400
MAX_CELL_LINES = 8
"""A table cell holds at most this much (a row taller than a page cannot be laid out: an attacker's
1,000-character or 80-line chat name once stopped the export). The manifest keeps the full text."""


def _cell(value: str) -> str:
    """A table cell's text: attacker-written text made visible (:func:`reclaim.text.shown`) and cut to
    :data:`MAX_CELL_LINES` lines and :data:`MAX_CELL_CHARS` characters, saying how much was cut."""
    text = shown(value, multiline=True)
    lines = text.split("\n")
    if len(lines) > MAX_CELL_LINES:
        text = "\n".join(lines[:MAX_CELL_LINES]) + f"\n… ({len(lines)} lines)"
    return clip(text, MAX_CELL_CHARS)


def _chat_label(sg: Mapping[str, Any]) -> str:
    name = sg.get("chat_name")
    if name:
        return str(name)
    if sg.get("chat_id") is not None:
        return f"#{sg['chat_id']}"
    return str(sg.get("path") or sg.get("source") or "?")


def _all_sightings(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [sg for item in manifest.get("items", []) for sg in item.get("sightings", [])]


def timeline_png(manifest: Mapping[str, Any], fonts: Sequence[Path]) -> bytes | None:
    """Sightings over time, one row per chat, as a PNG (matplotlib Agg, in memory); None if undated."""
    from matplotlib import dates as mdates
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points: dict[str, list[datetime]] = {}
    for sg in _all_sightings(manifest):
        when = _parse_time(sg.get("posted_at"))
        if when is not None:
            label = _chat_label(sg)
            points.setdefault(label if len(label) <= 40 else label[:39] + "…", []).append(when)
    if not points:
        return None
    chats = sorted(points, key=lambda c: (min(points[c]), c))
    families = []
    for path in fonts:
        if str(path) not in {f.fname for f in font_manager.fontManager.ttflist}:
            font_manager.fontManager.addfont(str(path))
        families.append(font_manager.FontProperties(fname=str(path)).get_name())
    prop = font_manager.FontProperties(family=[*families, "DejaVu Sans"], size=8)
    fig = Figure(figsize=(7.0, 0.9 + 0.35 * len(chats)), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for row, chat in enumerate(chats):
        times = sorted(points[chat])
        ax.scatter(times, [row] * len(times), s=22, zorder=3)  # type: ignore[arg-type]
        if len(times) > 1:
            ax.plot(times, [row] * len(times), linewidth=0.8, alpha=0.6, zorder=2)  # type: ignore[arg-type]
    ax.set_yticks(range(len(chats)))
    ax.set_yticklabels(chats, fontproperties=prop)
    ax.set_ylim(-0.6, len(chats) - 0.4)
    ax.invert_yaxis()
    ax.grid(axis="x", linewidth=0.3, alpha=0.5)
    locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))  # type: ignore[no-untyped-call]
    for tick in ax.get_xticklabels():
        tick.set_fontproperties(prop)
    ax.set_xlabel("UTC", fontproperties=prop)
    with warnings.catch_warnings():
        # A chat name in a script no installed font covers (emoji, ...) draws boxes; that is acceptable.
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from font", category=UserWarning)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def thumbnail(data: bytes, *, blur: bool) -> Image.Image | None:
    """The first frame, at most ``_THUMB_PX`` on its longer side, RGB; blurred strongly unless told not to.
    None when the bytes are not a decodable still image (video, corrupt)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # bounded just below
            im = Image.open(io.BytesIO(data))
        with im:
            im.seek(0)
            if im.width * im.height > 100_000_000:
                return None
            im.draft("RGB", (_THUMB_PX * 2, _THUMB_PX * 2))
            img = ImageOps.exif_transpose(im.convert("RGB"))
    except Exception:  # any decoder failure means "no preview", never a failed report
        return None
    if blur:
        # A blurred picture needs few pixels: blur a half-size copy (4x fewer pixels, half the radius:
        # the same look for ~1/8 of the work), then scale it back to the thumbnail's size.
        img.thumbnail((_THUMB_PX, _THUMB_PX))
        full = img.size
        small = img.resize((max(1, full[0] // 2), max(1, full[1] // 2)), Image.Resampling.BOX)
        radius = max(4.0, 0.02 * max(full))
        small = small.filter(ImageFilter.GaussianBlur(radius)).filter(ImageFilter.GaussianBlur(radius))
        return small.resize(full, Image.Resampling.BILINEAR)
    img.thumbnail((_THUMB_PX, _THUMB_PX))
    return img


def _jpeg(img: Image.Image) -> io.BytesIO:
    """Thumbnails go into the PDF as JPEG (embedded as is), not as PNG that fpdf2 would deflate."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    buf.seek(0)
    return buf


class _PDF(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_MAIN, "", 7)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"{self.footer_text}  ·  {self.page_no()}", align="C")
        self.set_text_color(0, 0, 0)


class _Report:
    def __init__(self, manifest: Mapping[str, Any], originals: Callable[[str], bytes | None], lang: Lang,
                 blur: bool) -> None:  # fmt: skip
        self.m = manifest
        self.originals = originals
        self.lang = parse_lang(lang, option="the report language")
        self.blur = blur
        self.fonts = find_fonts(lang)
        pdf = _PDF(orientation="P", unit="mm", format="A4")
        pdf.add_font(_MAIN, "", str(self.fonts.regular))
        pdf.add_font(_MAIN, "B", str(self.fonts.bold))
        if self.fonts.fallback is not None:
            pdf.add_font(_FALLBACK, "", str(self.fonts.fallback))
            pdf.set_fallback_fonts([_FALLBACK], exact_match=False)
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(True, margin=18)
        created = _parse_time(manifest.get("created_at"))
        self.generated = created or datetime.now(UTC)
        pdf.set_creation_date(self.generated)
        pdf.set_title(self.t("title"))
        pdf.set_creator("reclaim")
        pdf.set_lang(lang)
        person = manifest.get("person") or {}
        name = clip(shown(str(person.get("name", ""))), 60)
        pdf.footer_text = f"{self.t('title')} — {name} ({person.get('person_id', '')})"
        self.pdf = pdf

    def t(self, key: str, **kw: Any) -> str:
        text = _T[key][self.lang]
        return text.format(**kw) if kw else text

    # -- primitives ------------------------------------------------------------------------------------
    def heading(self, text: str, size: float = 14) -> None:
        self.pdf.set_font(_MAIN, "B", size)
        text = clip(shown(text), MAX_CELL_CHARS)
        self.pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(2)
        self.pdf.set_font(_MAIN, "", 9)

    def para(self, text: str, size: float = 9) -> None:
        self.pdf.set_font(_MAIN, "", size)
        self.pdf.multi_cell(0, size * 0.5, shown(text, multiline=True), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1.5)

    def table(self, rows: Sequence[Sequence[str]], widths: Sequence[float], *, header: bool = True,
              size: float = 8) -> None:  # fmt: skip
        self.pdf.set_font(_MAIN, "", size)
        with self.pdf.table(
            col_widths=tuple(widths),
            width=sum(widths),
            align="LEFT",
            first_row_as_headings=header,
            line_height=size * 0.55,
            text_align="LEFT",
            padding=1,
        ) as tbl:
            for r in rows:
                row = tbl.row()
                for value in r:
                    row.cell(_cell(value))
        self.pdf.ln(3)

    def kv(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.table([[k, v] for k, v in pairs], (45, 135), header=False, size=8.5)

    # -- sections --------------------------------------------------------------------------------------
    def cover(self) -> None:
        pdf, m = self.pdf, self.m
        pdf.add_page()
        self.heading(self.t("title"), 17)
        items = m.get("items", [])
        sightings = _all_sightings(m)
        statuses = Counter(str(mt.get("status")) for it in items for mt in it.get("matches", []))
        by_kind = Counter(str(mt.get("kind")) for it in items for mt in it.get("matches", []))
        times = sorted(t for t in (_parse_time(sg.get("posted_at")) for sg in sightings) if t is not None)
        unknown = self.t("unknown")
        person = m.get("person") or {}
        custody = m.get("custody") or {}
        key = str(m.get("workspace_public_key") or "")
        status_text = ", ".join(
            f"{self.t(s) if s in _T else s}: {statuses.get(s, 0)}"
            for s in ("candidate", "confirmed", "rejected")
        )
        kind_text = ", ".join(f"{self.t(k) if k in _T else k}: {n}" for k, n in sorted(by_kind.items()))
        total = sum(statuses.values())
        self.kv(
            [
                (self.t("person"), str(person.get("name", ""))),
                (self.t("person_id"), str(person.get("person_id", ""))),
                (self.t("generated"), _fmt_time(datetime.now(UTC), unknown)),
                (self.t("package_created"), _fmt_time(_parse_time(m.get("created_at")), unknown)),
                (self.t("items"), str(len(items))),
                (self.t("sightings"), str(len(sightings))),
                (self.t("matches"), f"{total} ({status_text}; {kind_text})" if total else "0"),
                (self.t("first_seen"), _fmt_time(times[0] if times else None, unknown)),
                (self.t("last_seen"), _fmt_time(times[-1] if times else None, unknown)),
                (self.t("key"), " ".join(key[i : i + 4] for i in range(0, min(16, len(key)), 4)) or unknown),
                (
                    self.t("custody"),
                    f"#{custody.get('first_event_id', '?')} – #{custody.get('last_event_id', '?')} "
                    f"({self.t('events')})",
                ),
            ]
        )
        chats: Counter[tuple[str, str]] = Counter(
            (str(sg.get("source") or "?"), _chat_label(sg)) for sg in sightings
        )
        if chats:
            self.heading(self.t("chats"), 11)
            rows = [[self.t("platform"), self.t("chat"), self.t("messages")]]
            rows += [
                [src, chat, str(n)]
                for (src, chat), n in sorted(chats.items(), key=lambda kv: (-kv[1], kv[0]))
            ]
            self.table(rows, (30, 125, 25))
        self.heading(self.t("verify_h"), 11)
        self.para(self.t("verify"))
        self.timeline(sightings)

    def timeline(self, sightings: Sequence[Mapping[str, Any]]) -> None:
        pdf = self.pdf
        png = timeline_png(self.m, [f for f in (self.fonts.regular, self.fonts.fallback) if f is not None])
        undated = sum(1 for sg in sightings if _parse_time(sg.get("posted_at")) is None)
        if png is None:
            self.heading(self.t("timeline"), 11)
            self.para(self.t("timeline_none"))
            return
        with Image.open(io.BytesIO(png)) as im:
            w_px, h_px = im.size
        width = pdf.epw
        height = width * h_px / w_px
        if pdf.get_y() + height + 14 > pdf.page_break_trigger:
            pdf.add_page()
        self.heading(self.t("timeline"), 11)
        pdf.image(io.BytesIO(png), x=pdf.l_margin, y=pdf.get_y(), w=width, h=height)
        pdf.set_y(pdf.get_y() + height + 2)
        if undated:
            self.para(self.t("timeline_undated", n=undated), 8)

    def placeholder(self, x: float, y: float, text: str) -> None:
        pdf = self.pdf
        pdf.set_draw_color(120, 120, 120)
        pdf.set_fill_color(235, 235, 235)
        pdf.rect(x, y, THUMB_MM, THUMB_MM * 0.6, style="DF")
        pdf.set_xy(x + 3, y + THUMB_MM * 0.3 - 6)
        pdf.set_font(_MAIN, "B", 9)
        pdf.multi_cell(THUMB_MM - 6, 5, text, align="C")
        pdf.set_draw_color(0, 0, 0)

    def item(self, index: int, item: Mapping[str, Any]) -> None:
        pdf = self.pdf
        pdf.add_page()
        sha = str(item.get("sha256") or "")
        self.heading(f"{self.t('item')} {index} — {sha[:16]}", 13)
        top = pdf.get_y()
        x = pdf.l_margin
        rel = item.get("original")
        data = self.originals(rel) if isinstance(rel, str) and rel else None
        if data is None:
            self.placeholder(x, top, self.t("not_stored"))
            box_h = THUMB_MM * 0.6
        else:
            img = thumbnail(data, blur=self.blur)
            if img is None:
                self.placeholder(x, top, self.t("no_preview"))
                box_h = THUMB_MM * 0.6
            else:
                scale = THUMB_MM / max(img.size)
                w, h = img.width * scale, img.height * scale
                pdf.image(_jpeg(img), x=x, y=top, w=w, h=h)
                pdf.set_xy(x, top + h + 1)
                pdf.set_font(_MAIN, "", 7)
                pdf.multi_cell(THUMB_MM, 3.5, self.t("blurred" if self.blur else "not_blurred"), align="L")
                box_h = pdf.get_y() - top
        # Facts to the right of the thumbnail.
        left = x + THUMB_MM + 5
        pdf.set_left_margin(left)
        pdf.set_xy(left, top)
        size = item.get("size")
        dims = f"{item['width']} × {item['height']}" if item.get("width") and item.get("height") else "—"
        facts = [
            ("SHA-256", sha),
            ("MD5", str(item.get("md5") or "—")),
            (self.t("kind"), str(item.get("kind") or "—")),
            (self.t("mime"), str(item.get("mime") or "—")),
            (self.t("size"), f"{size:,} {self.t('bytes')}" if isinstance(size, int) else "—"),
            (self.t("dims"), dims),
            (self.t("original"), str(rel) if rel else self.t("none")),
        ]
        if not rel and item.get("original_reason"):
            facts.append((self.t("reason"), str(item["original_reason"])))
        pdf.set_font(_MAIN, "", 8)
        width = pdf.w - pdf.r_margin - left
        with pdf.table(col_widths=(28, width - 28), width=width, align="LEFT", first_row_as_headings=False,
                       line_height=4.2, text_align="LEFT", padding=0.8) as tbl:  # fmt: skip
            for k, v in facts:
                row = tbl.row()
                row.cell(k)
                row.cell(v)
        right_bottom = pdf.get_y()
        pdf.set_left_margin(15)
        pdf.set_xy(15, max(top + box_h, right_bottom) + 4)

        self.heading(self.t("matches"), 11)
        matches = item.get("matches") or []
        if matches:
            rows = [[self.t("match_kind"), self.t("status"), self.t("distance"), self.t("meaning")]]
            for mt in matches:
                kind, status = str(mt.get("kind")), str(mt.get("status"))
                rows.append(
                    [
                        self.t(kind) if kind in ("face", "hash", "repost") else kind,
                        self.t(status) if status in ("candidate", "confirmed", "rejected") else status,
                        self._distance(mt),
                        self._gloss(mt),
                    ]
                )
            self.table(rows, (20, 22, 20, 118))
        else:
            self.para(self.t("no_matches"))

        self.forensics(item)

        self.heading(self.t("sightings"), 11)
        sightings = item.get("sightings") or []
        if sightings:
            rows = [[self.t("chat"), self.t("msg_id"), self.t("sender"), self.t("time"), self.t("forwarded")]]
            for sg in sightings:
                rows.append(
                    [
                        _chat_label(sg),
                        "—" if sg.get("message_id") is None else str(sg["message_id"]),
                        str(sg.get("sender") or "—"),
                        _fmt_time(_parse_time(sg.get("posted_at")), "—").replace(" UTC", ""),
                        str(sg.get("forwarded_from") or "—"),
                    ]
                )
            self.table(rows, (50, 20, 35, 40, 35))
        else:
            self.para(self.t("no_sightings"))

    def forensics(self, item: Mapping[str, Any]) -> None:
        """The forensic section: the statements the findings support, each finding, and the pictures."""
        fx = item.get("forensics") or {}
        findings = fx.get("findings") or []
        self.heading(self.t("forensics_h"), 11)
        if not findings:
            self.para(self.t("fx_none"))
            return
        lines = []
        for st in fx.get("statements") or []:
            text = str(st.get("text", ""))
            if self.lang == "ko" and st.get("code") in STATEMENT_KO:
                text = f"{STATEMENT_KO[st['code']]} ({text})"
            lines.append(f"•  {text}")
        self.para("\n".join([self.t("supports"), *lines]), 9)
        # Strong and moderate findings get a row with what was seen; the others one line (weak ones are
        # already in the statements; every summary and caveat is in manifest.json and 'reclaim explain').
        shown = [f for f in findings if str(f.get("strength") or "none") in ("strong", "moderate")]
        if shown:
            rows = [[self.t("fx_signal"), self.t("fx_finding"), self.t("fx_strength"), self.t("fx_seen")]]
            for f in shown:
                strength = str(f.get("strength"))
                rows.append(
                    [
                        str(f.get("signal")),
                        str(f.get("verdict")),
                        self.t(strength) if strength in _T else strength,
                        str(f.get("summary") or ""),
                    ]
                )
            self.table(rows, (24, 34, 16, 106), size=7.5)
        rest = [f"{f.get('signal')} ({f.get('verdict')})" for f in findings if f not in shown]
        if rest:
            self.para(self.t("fx_rest", rest=", ".join(rest)), 7.5)
        pictures = fx.get("pictures") or {}
        for name, caption in (("source-photo", "fx_source_photo"), ("maps", "fx_maps")):
            rel = pictures.get(name)
            data = self.originals(rel) if isinstance(rel, str) else None
            if data is None:
                continue
            try:
                img = Image.open(io.BytesIO(data))
                img.load()
            except (OSError, ValueError):
                continue
            width = min(180.0, img.width * 0.3)
            height = width * img.height / img.width
            if self.pdf.get_y() + height + 10 > self.pdf.h - self.pdf.b_margin:
                self.pdf.add_page()
            self.pdf.image(img.convert("RGB"), x=self.pdf.l_margin, y=self.pdf.get_y(), w=width, h=height)
            self.pdf.set_y(self.pdf.get_y() + height + 1)
            self.para(self.t(caption), 7.5)
        if pictures.get("ela"):
            self.para(self.t("fx_ela", rel=pictures["ela"]), 7.5)

    @staticmethod
    def _distance(mt: Mapping[str, Any]) -> str:
        d = mt.get("distance")
        if not isinstance(d, int | float) or isinstance(d, bool) or math.isnan(d):
            return "—"
        return f"{d:.3f}" if mt.get("kind") == "face" else f"{round(d)}"

    def _gloss(self, mt: Mapping[str, Any]) -> str:
        d = mt.get("distance")
        if not isinstance(d, int | float) or isinstance(d, bool):
            return "—"
        detail = mt.get("detail") or {}
        if mt.get("kind") == "face":
            threshold = detail.get("threshold") if isinstance(detail.get("threshold"), int | float) else None
            t = float(threshold) if threshold is not None else FACE_THRESHOLD
            return self.t("face_under" if d <= t else "face_over", d=float(d), t=t)
        if mt.get("kind") == "hash":
            by = str(detail.get("by") or "")
            if by in ("sha256", "md5"):
                return self.t("hash_exact")
            if by == "vpdq":  # a percentage of frames, not bits
                pct = [detail.get("query_match_percent"), detail.get("compared_match_percent")]
                q, c = (f"{p:.0f}" if isinstance(p, int | float) else "—" for p in pct)
                return self.t("hash_vpdq", q=q, c=c)
            if by.startswith("robust:"):  # the robust engine: verified keypoints, not a bit distance
                return self.t("robust_known", by=by, inliers=detail.get("inliers", "—"))
            return self.t("hash_bits", d=round(d), t=HASH_THRESHOLD)
        via = detail.get("via")
        if mt.get("kind") == "repost" and isinstance(via, dict):
            sha, mid = str(via.get("item_sha256") or "")[:16], str(via.get("match_id") or "")
            if str(via.get("signal") or "").startswith("robust:"):
                signal, inliers = str(via.get("signal")), via.get("inliers", "—")
                return self.t("repost_robust", sha=sha, mid=mid, signal=signal, inliers=inliers)
            dist = via.get("distance")
            if isinstance(dist, int) and not isinstance(dist, bool):
                return self.t("repost_via", sha=sha, mid=mid, signal=str(via.get("signal")), d=dist)
            return self.t("repost_cluster", sha=sha, mid=mid)
        return "—"

    def glossary(self) -> None:
        self.pdf.add_page()
        self.heading(self.t("glossary"), 15)
        self.para(self.t("fx_note"), 9.5)
        for title, text in _GLOSSARY[self.lang]:
            self.heading(title, 11)
            self.para(text, 9.5)

    def network(self, section: Mapping[str, Any]) -> None:
        """The spread network's figure and the "who posted, where, when" table (evidence/spread.py)."""
        pdf = self.pdf
        pdf.add_page()
        self.heading(self.t("network_h"), 13)
        nodes, edges = section.get("nodes") or {}, section.get("edges") or {}
        counts = {k: int(nodes.get(k, 0)) for k in ("sender", "chat", "cluster")}
        self.para(
            self.t(
                "network_counts",
                senders=counts["sender"],
                chats=counts["chat"],
                clusters=counts["cluster"],
                edges=sum(int(v) for v in edges.values()),
            )
        )
        self.para(self.t("network_note"), 8)
        png = network_png(section, [f for f in (self.fonts.regular, self.fonts.fallback) if f is not None])
        if png is not None:
            with Image.open(io.BytesIO(png)) as im:
                w_px, h_px = im.size
            width = pdf.epw
            height = min(width * h_px / w_px, pdf.page_break_trigger - pdf.get_y() - 4)
            width = height * w_px / h_px
            pdf.image(io.BytesIO(png), x=pdf.l_margin, y=pdf.get_y(), w=width, h=height)
            pdf.set_y(pdf.get_y() + height + 3)
        self.heading(self.t("who_h"), 11)
        rows = sender_rows(section)
        if rows:
            self.table([self.t("who_cols").split("|"), *rows], (24, 32, 30, 12, 34, 48), size=7)
        else:
            self.para(self.t("who_none"))

    def render(self) -> bytes:
        self.cover()
        section = self.m.get("network")
        if isinstance(section, Mapping):
            self.network(section)
        for n, item in enumerate(self.m.get("items", []), start=1):
            self.item(n, item)
        self.glossary()
        # fontTools logs a WARNING per font table it cannot subset (harmless, e.g. TSI* hinting sources).
        subset_log = logging.getLogger("fontTools.subset")
        level = subset_log.level
        subset_log.setLevel(logging.ERROR)
        try:
            return bytes(self.pdf.output())
        finally:
            subset_log.setLevel(level)


def render_report(
    manifest: Mapping[str, Any],
    *,
    originals: Callable[[str], bytes | None],
    lang: Lang = "en",
    blur: bool = True,
) -> bytes:
    """The evidence report for ``manifest`` as PDF bytes. ``originals(rel)`` returns the bytes of
    ``item["original"]`` (``originals/<sha><ext>``) or None. Images are blurred unless ``blur=False``.
    Raises DependencyError when no suitable font is installed."""
    return _Report(manifest, originals, lang, blur).render()


def pdf_report(
    lang: Lang = "en", *, blur: bool = True
) -> Callable[[Mapping[str, Any], Callable[[str], bytes | None]], dict[str, bytes]]:
    """The ``report`` hook of :func:`reclaim.evidence.package.export_package`: report/report.pdf."""

    def build(manifest: Mapping[str, Any], read: Callable[[str], bytes | None]) -> dict[str, bytes]:
        return {"report/report.pdf": render_report(manifest, originals=read, lang=lang, blur=blur)}

    return build
