"""The web UI's message catalogue, in English and Korean.

Every string a template shows goes through :func:`translate` (``t("key")`` in templates): labels, headings,
buttons, help texts, titles, placeholders and alt texts alike. ``tests/server/test_web.py`` checks that
every key has both languages with the same ``{placeholders}`` and that no template holds text of its own.
"""

from __future__ import annotations

import re
import string
from typing import Final

from reclaim.lang import Lang

DEFAULT_LANG: Final = "en"

MESSAGES: Final[dict[str, dict[str, str]]] = {
    # --- frame ---------------------------------------------------------------------------------------
    "app.name": {"en": "reclaim", "ko": "reclaim"},
    "app.tagline": {"en": "team server", "ko": "팀 서버"},
    "nav.cases": {"en": "Cases", "ko": "사건 목록"},
    "nav.skip": {"en": "Skip to content", "ko": "본문으로 건너뛰기"},
    "nav.signed_in_as": {"en": "Signed in as {user} ({role})", "ko": "{user} 님으로 로그인됨 ({role})"},
    "nav.logout": {"en": "Log out", "ko": "로그아웃"},
    "nav.account": {"en": "Your account", "ko": "내 계정"},
    "nav.users": {"en": "Users", "ko": "사용자"},
    "nav.language": {"en": "Language", "ko": "언어"},
    "lang.en": {"en": "English", "ko": "English"},
    "lang.ko": {"en": "한국어", "ko": "한국어"},
    "role.admin": {"en": "administrator", "ko": "관리자"},
    "role.advocate": {"en": "advocate", "ko": "상담원"},
    "role.viewer": {"en": "viewer (read-only)", "ko": "열람자 (읽기 전용)"},
    "role.platform": {"en": "platform", "ko": "플랫폼"},
    # --- sign-in -------------------------------------------------------------------------------------
    "login.title": {"en": "Sign in", "ko": "로그인"},
    "login.intro": {
        "en": "The team server of a support centre. Images found for a case are shown blurred and in "
        "grayscale until you choose to reveal one.",
        "ko": "지원 센터의 팀 서버입니다. 사건에서 발견된 이미지는 직접 공개를 선택하기 전까지 흐리게, "
        "흑백으로 표시됩니다.",
    },
    "login.username": {"en": "Username", "ko": "사용자 이름"},
    "login.password": {"en": "Password", "ko": "비밀번호"},
    "login.submit": {"en": "Sign in", "ko": "로그인"},
    "login.failed": {"en": "Wrong username or password.", "ko": "사용자 이름 또는 비밀번호가 틀렸습니다."},
    "login.limited": {
        "en": "Too many failed sign-ins. Try again in {seconds} seconds.",
        "ko": "로그인 실패가 너무 많습니다. {seconds}초 후에 다시 시도하십시오.",
    },
    "login.logged_out": {"en": "You have logged out.", "ko": "로그아웃했습니다."},
    # --- accounts ------------------------------------------------------------------------------------
    "account.title": {"en": "Your account", "ko": "내 계정"},
    "account.sessions": {"en": "Signed-in sessions", "ko": "로그인된 세션"},
    "account.sessions_intro": {
        "en": "Each place this account is signed in. End any you do not recognise, then change your "
        "password.",
        "ko": "이 계정이 로그인된 곳입니다. 모르는 세션은 종료한 다음 비밀번호를 변경하십시오.",
    },
    "account.no_sessions": {"en": "No open sessions.", "ko": "열린 세션이 없습니다."},
    "account.col.started": {"en": "Signed in", "ko": "로그인 시각"},
    "account.col.last_seen": {"en": "Last active", "ko": "마지막 활동"},
    "account.col.client": {"en": "Address", "ko": "주소"},
    "account.col.browser": {"en": "Browser", "ko": "브라우저"},
    "account.this_session": {"en": "this session", "ko": "현재 세션"},
    "account.end": {"en": "End session", "ko": "세션 종료"},
    "account.password": {"en": "Change your password", "ko": "비밀번호 변경"},
    "account.password_intro": {
        "en": "Changing your password ends your other sessions.",
        "ko": "비밀번호를 변경하면 다른 세션은 모두 종료됩니다.",
    },
    "account.current_password": {"en": "Current password", "ko": "현재 비밀번호"},
    "account.new_password": {"en": "New password (at least 10 characters)", "ko": "새 비밀번호 (10자 이상)"},
    "account.confirm_password": {"en": "New password again", "ko": "새 비밀번호 확인"},
    "account.change": {"en": "Change password", "ko": "비밀번호 변경"},
    "account.mismatch": {"en": "The new passwords differ.", "ko": "새 비밀번호가 서로 다릅니다."},
    "account.password_refused": {
        "en": "Password not changed: the current password is wrong, or the new one is too short.",
        "ko": "비밀번호가 변경되지 않았습니다. 현재 비밀번호가 틀렸거나 새 비밀번호가 너무 짧습니다.",
    },
    "account.done.password": {"en": "Password changed.", "ko": "비밀번호를 변경했습니다."},
    "account.done.ended": {"en": "Session ended.", "ko": "세션을 종료했습니다."},
    "account.done.revoked": {"en": "Token revoked.", "ko": "토큰을 폐기했습니다."},
    "account.done.deactivated": {"en": "Account deactivated.", "ko": "계정을 비활성화했습니다."},
    "account.done.activated": {"en": "Account reactivated.", "ko": "계정을 다시 활성화했습니다."},
    "account.done.reset": {"en": "Password reset.", "ko": "비밀번호를 재설정했습니다."},
    "account.done.deleted": {"en": "Account deleted.", "ko": "계정을 삭제했습니다."},
    "users.title": {"en": "Users", "ko": "사용자"},
    "users.intro": {
        "en": "Every account of this server. Every change is recorded in the custody log.",
        "ko": "이 서버의 모든 계정입니다. 모든 변경은 보관 기록에 남습니다.",
    },
    "users.col.user": {"en": "User", "ko": "사용자"},
    "users.col.role": {"en": "Role", "ko": "역할"},
    "users.col.state": {"en": "State", "ko": "상태"},
    "users.col.cases": {"en": "Cases", "ko": "사건 수"},
    "users.col.created": {"en": "Created", "ko": "생성일"},
    "users.col.label": {"en": "Label", "ko": "이름표"},
    "users.col.last_used": {"en": "Last used", "ko": "마지막 사용"},
    "users.active": {"en": "active", "ko": "활성"},
    "users.inactive": {"en": "deactivated", "ko": "비활성"},
    "users.tokens": {"en": "API tokens", "ko": "API 토큰"},
    "users.no_tokens": {"en": "No API tokens.", "ko": "API 토큰이 없습니다."},
    "users.no_label": {"en": "(no label)", "ko": "(이름표 없음)"},
    "users.never": {"en": "never", "ko": "사용 안 함"},
    "users.revoked": {"en": "revoked", "ko": "폐기됨"},
    "users.revoke": {"en": "Revoke", "ko": "폐기"},
    "users.manage": {"en": "Manage this account", "ko": "계정 관리"},
    "users.new_password": {"en": "New password (at least 10 characters)", "ko": "새 비밀번호 (10자 이상)"},
    "users.reset": {"en": "Reset password (ends their sessions)", "ko": "비밀번호 재설정 (세션 종료)"},
    "users.deactivate_help": {
        "en": "Deactivating ends every session of this account and stops its API tokens.",
        "ko": "비활성화하면 이 계정의 모든 세션이 종료되고 API 토큰이 작동하지 않습니다.",
    },
    "users.deactivate": {"en": "Deactivate", "ko": "비활성화"},
    "users.activate": {"en": "Reactivate", "ko": "다시 활성화"},
    "users.delete_help": {
        "en": "Deleting removes the account, its tokens and case assignments. The custody log keeps what "
        "it did.",
        "ko": "삭제하면 계정과 토큰, 사건 배정이 지워집니다. 계정이 한 일은 보관 기록에 남습니다.",
    },
    "users.confirm_box": {"en": "Yes, delete this account", "ko": "예, 이 계정을 삭제합니다"},
    "users.confirm": {
        "en": "Tick the box to confirm the deletion.",
        "ko": "삭제하려면 확인란을 선택하십시오.",
    },
    "users.delete": {"en": "Delete account", "ko": "계정 삭제"},
    "users.last_admin": {
        "en": "This is the last active administrator: add another one first.",
        "ko": "마지막 활성 관리자입니다. 먼저 다른 관리자를 추가하십시오.",
    },
    # --- errors --------------------------------------------------------------------------------------
    "error.404.title": {"en": "Not found", "ko": "찾을 수 없음"},
    "error.404.text": {
        "en": "This page does not exist, or your account has no access to it.",
        "ko": "이 페이지가 없거나 이 계정으로는 접근할 수 없습니다.",
    },
    "error.403.title": {"en": "Not allowed", "ko": "허용되지 않음"},
    "error.403.text": {
        "en": "Your account cannot do this. If you submitted a form, it may have expired: reload the page "
        "and try again.",
        "ko": "이 계정으로는 할 수 없는 작업입니다. 양식을 제출했다면 만료되었을 수 있으니 페이지를 "
        "새로 고친 뒤 다시 시도하십시오.",
    },
    "error.422.title": {"en": "This could not be done", "ko": "처리할 수 없음"},
    "error.422.text": {
        "en": "The request was refused. Check what you entered and try again.",
        "ko": "요청이 거부되었습니다. 입력한 내용을 확인하고 다시 시도하십시오.",
    },
    "error.back": {"en": "Back to the cases", "ko": "사건 목록으로 돌아가기"},
    # --- values ----------------------------------------------------------------------------------------
    "status.open": {"en": "open", "ko": "진행 중"},
    "status.closed": {"en": "closed", "ko": "종결"},
    "match.candidate": {"en": "candidate", "ko": "검토 대기"},
    "match.confirmed": {"en": "confirmed", "ko": "확인됨"},
    "match.rejected": {"en": "rejected", "ko": "기각됨"},
    "kind.face": {"en": "face", "ko": "얼굴"},
    "kind.hash": {"en": "hash", "ko": "해시"},
    "kind.repost": {"en": "repost", "ko": "재게시"},
    "kind.other": {"en": "other signal", "ko": "기타 신호"},
    "source.telegram": {"en": "Telegram export", "ko": "텔레그램 내보내기"},
    "source.file": {"en": "files and folders", "ko": "파일 및 폴더"},
    "source.web": {"en": "web page or web archive", "ko": "웹 페이지 또는 웹 아카이브"},
    "source.other": {"en": "other source", "ko": "기타 출처"},
    "job.queued": {"en": "waiting to start", "ko": "시작 대기 중"},
    "job.running": {"en": "scanning", "ko": "검사 중"},
    "job.finished": {"en": "finished", "ko": "완료"},
    "job.failed": {"en": "failed", "ko": "실패"},
    "common.unknown": {"en": "unknown", "ko": "알 수 없음"},
    "common.utc": {"en": "{when} (UTC)", "ko": "{when} (협정 세계시)"},
    # --- case list -----------------------------------------------------------------------------------
    "cases.title": {"en": "Cases", "ko": "사건 목록"},
    "cases.intro": {
        "en": "The cases assigned to you. Open one to see its matches and review them.",
        "ko": "배정된 사건입니다. 사건을 열어 일치 항목을 확인하고 검토하십시오.",
    },
    "cases.empty": {"en": "No case is assigned to you yet.", "ko": "아직 배정된 사건이 없습니다."},
    "cases.col.case": {"en": "Case", "ko": "사건"},
    "cases.col.person": {"en": "Person", "ko": "대상자"},
    "cases.col.status": {"en": "Status", "ko": "상태"},
    "cases.col.candidates": {"en": "To review", "ko": "검토 대기"},
    "cases.col.confirmed": {"en": "Confirmed", "ko": "확인됨"},
    "cases.col.rejected": {"en": "Rejected", "ko": "기각됨"},
    "cases.col.opened": {"en": "Opened", "ko": "개설일"},
    "cases.no_person": {"en": "not enrolled yet", "ko": "아직 등록되지 않음"},
    # --- case page -----------------------------------------------------------------------------------
    "case.person": {"en": "Person", "ko": "대상자"},
    "case.person_name": {"en": "Name (pseudonym)", "ko": "이름 (가명)"},
    "case.person_id": {"en": "Person id", "ko": "대상자 ID"},
    "case.minor": {"en": "Minor", "ko": "미성년자"},
    "case.minor_note": {
        "en": "A minor: matched media are not kept, only their hashes.",
        "ko": "미성년자: 일치한 미디어는 보관하지 않고 해시만 보관합니다.",
    },
    "case.templates": {"en": "Face templates", "ko": "얼굴 템플릿"},
    "case.known_images": {"en": "Known images", "ko": "알려진 이미지"},
    "case.no_person": {
        "en": "No person is enrolled for this case yet.",
        "ko": "이 사건에는 아직 등록된 대상자가 없습니다.",
    },
    "case.consent": {"en": "Consent", "ko": "동의"},
    "case.consent_by": {"en": "Recorded by {who}, {when}", "ko": "기록: {who}, {when}"},
    "case.no_consent": {"en": "No consent statement recorded.", "ko": "기록된 동의 진술이 없습니다."},
    "case.members": {"en": "Assigned", "ko": "담당자"},
    "case.summary": {"en": "Summary", "ko": "요약"},
    "case.count.total": {"en": "Matches", "ko": "일치 항목"},
    "case.count.items": {"en": "Distinct files", "ko": "서로 다른 파일"},
    "case.count.clusters": {"en": "Clusters", "ko": "유사 이미지 묶음"},
    "case.count.sightings": {"en": "Sightings", "ko": "발견 건수"},
    "case.sources": {"en": "Sources", "ko": "출처"},
    "case.sources_intro": {
        "en": "Where the matched files were seen.",
        "ko": "일치한 파일이 발견된 곳입니다.",
    },
    "case.no_sources": {"en": "No sightings yet.", "ko": "아직 발견 기록이 없습니다."},
    "case.col.source": {"en": "Source", "ko": "출처"},
    "case.col.chat": {"en": "Chat", "ko": "대화방"},
    "case.col.sightings": {"en": "Sightings", "ko": "발견 건수"},
    "case.col.first_seen": {"en": "First seen", "ko": "최초 발견"},
    "case.col.last_seen": {"en": "Last seen", "ko": "최종 발견"},
    "case.no_chat": {"en": "(no chat)", "ko": "(대화방 없음)"},
    "case.clusters": {"en": "Matches by cluster", "ko": "묶음별 일치 항목"},
    "case.clusters_intro": {
        "en": "Near-duplicate copies (resized, recompressed, mirrored) form one cluster.",
        "ko": "크기 변경, 재압축, 좌우 반전된 유사 사본은 하나의 묶음으로 표시됩니다.",
    },
    "case.no_matches": {"en": "No matches yet.", "ko": "아직 일치 항목이 없습니다."},
    "case.col.cluster": {"en": "Cluster", "ko": "묶음"},
    "case.col.items": {"en": "Files", "ko": "파일"},
    "case.col.matches": {"en": "Matches", "ko": "일치 항목"},
    "case.col.candidates": {"en": "To review", "ko": "검토 대기"},
    "case.col.confirmed": {"en": "Confirmed", "ko": "확인됨"},
    "case.col.rejected": {"en": "Rejected", "ko": "기각됨"},
    "case.cluster": {"en": "Cluster {id}", "ko": "묶음 {id}"},
    "case.single": {"en": "Single file", "ko": "단일 파일"},
    "case.review": {"en": "Open the review queue ({n} to review)", "ko": "검토 대기열 열기 ({n}건 대기)"},
    "case.upload": {"en": "Upload material", "ko": "자료 업로드"},
    "case.jobs": {"en": "Uploads", "ko": "업로드 내역"},
    "case.col.started": {"en": "Started", "ko": "시작"},
    "case.col.job_status": {"en": "Status", "ko": "상태"},
    "case.col.progress": {"en": "Progress", "ko": "진행률"},
    # --- review queue ---------------------------------------------------------------------------------
    "review.title": {"en": "Review queue", "ko": "검토 대기열"},
    "review.safety": {
        "en": "Previews are blurred and in grayscale. Revealing one image is a deliberate click and is "
        "recorded in the custody log with your name.",
        "ko": "미리보기는 흐리게, 흑백으로 표시됩니다. 이미지 공개는 직접 클릭해야 하며 사용자 이름과 함께 "
        "관리 연속성 기록에 남습니다.",
    },
    "review.shortcuts": {"en": "Keyboard shortcuts", "ko": "단축키"},
    "review.key.confirm": {"en": "confirm", "ko": "확인"},
    "review.key.reject": {"en": "reject", "ko": "기각"},
    "review.key.reveal": {"en": "reveal or hide the image", "ko": "이미지 공개 또는 숨기기"},
    "review.key.next": {"en": "next", "ko": "다음"},
    "review.key.prev": {"en": "previous", "ko": "이전"},
    "review.filter": {"en": "Show", "ko": "표시"},
    "review.filter.candidate": {"en": "To review", "ko": "검토 대기"},
    "review.filter.confirmed": {"en": "Confirmed", "ko": "확인됨"},
    "review.filter.rejected": {"en": "Rejected", "ko": "기각됨"},
    "review.filter.all": {"en": "All", "ko": "전체"},
    "review.empty": {"en": "Nothing here.", "ko": "항목이 없습니다."},
    "review.empty_candidates": {
        "en": "Nothing left to review in this case.",
        "ko": "이 사건에는 더 이상 검토할 항목이 없습니다.",
    },
    "review.position": {"en": "Match {n} of {total}", "ko": "일치 항목 {n} / {total}"},
    "review.preview_alt": {"en": "Blurred grayscale preview", "ko": "흐린 흑백 미리보기"},
    "review.revealed_alt": {"en": "Revealed image", "ko": "공개된 이미지"},
    "review.not_stored": {
        "en": "Media not stored (hash-only scan, or a minor's material).",
        "ko": "미디어 미보관 (해시만 보관하는 검사 또는 미성년자 자료).",
    },
    "review.no_preview": {"en": "No preview (not a still image).", "ko": "미리보기 없음 (정지 이미지 아님)."},
    "review.reveal": {"en": "Reveal image", "ko": "이미지 공개"},
    "review.hide": {"en": "Blur again", "ko": "다시 흐리게"},
    "review.reveal_failed": {"en": "The image could not be revealed.", "ko": "이미지를 공개할 수 없습니다."},
    "review.confirm": {"en": "Confirm", "ko": "확인"},
    "review.reject": {"en": "Reject", "ko": "기각"},
    "review.read_only": {
        "en": "Your account is read-only: you can look, not decide.",
        "ko": "읽기 전용 계정입니다. 열람만 할 수 있고 결정할 수는 없습니다.",
    },
    "review.note": {"en": "Note (optional)", "ko": "메모 (선택)"},
    "review.cluster": {
        "en": "Also decide the other matches of this cluster that are still to review",
        "ko": "이 묶음에서 아직 검토 대기 중인 다른 일치 항목에도 같은 결정 적용",
    },
    "review.signal": {"en": "Signal", "ko": "신호"},
    "review.distance": {"en": "Distance", "ko": "거리"},
    "review.via": {"en": "Repost of", "ko": "재게시 원본"},
    "review.via_link": {"en": "{signal}, {d} bits", "ko": "{signal}, {d}비트"},
    "review.status": {"en": "Status", "ko": "상태"},
    "review.sightings": {"en": "Sightings", "ko": "발견 건수"},
    "review.seen": {"en": "Seen", "ko": "발견 시점"},
    "review.where": {"en": "Where", "ko": "발견 위치"},
    "review.file": {"en": "File", "ko": "파일"},
    "review.how": {"en": "How it was made", "ko": "제작 방식"},
    "review.how_note": {
        "en": "Each finding stands on its own, with its own strength; there is no blended 'fake "
        "probability'. No finding shows that an image is authentic.",
        "ko": "각 결과는 독립적이며 각자의 강도를 가집니다. 하나로 합친 '가짜 확률'은 없습니다. 어떤 결과도 "
        "이미지가 진본임을 보여주지는 않습니다.",
    },
    "review.done.confirmed": {
        "en": "Confirmed: {n} match(es) changed.",
        "ko": "확인 완료: 일치 항목 {n}건이 변경되었습니다.",
    },
    "review.done.rejected": {
        "en": "Rejected: {n} match(es) changed.",
        "ko": "기각 완료: 일치 항목 {n}건이 변경되었습니다.",
    },
    "st.declared_ai_c2pa": {
        "en": "declared AI-generated in its C2PA manifest",
        "ko": "C2PA 매니페스트에 AI 생성물로 선언됨",
    },
    "st.declared_ai_metadata": {
        "en": "declared AI-generated in its metadata (unsigned)",
        "ko": "메타데이터에 AI 생성물로 선언됨 (서명 없음)",
    },
    "st.sd_watermark": {
        "en": "carries the invisible watermark of AI image generators",
        "ko": "AI 이미지 생성기의 비가시 워터마크 발견",
    },
    "st.face_copied": {
        "en": "face copied from a kept reference photo",
        "ko": "보관된 참조 사진에서 얼굴이 복사됨",
    },
    "st.editing_indicator": {
        "en": "indicators of editing here — an indicator, not proof",
        "ko": "이 부분에 편집 흔적 지표 (증거가 아닌 지표)",
    },
    "st.weak_indicator": {
        "en": "a weak indicator only: not evidence of editing on its own",
        "ko": "약한 지표만 있음 — 단독으로는 편집의 증거가 아님",
    },
    "st.no_indicators": {
        "en": "no indicators found — this does not show the image is authentic",
        "ko": "신뢰할 만한 지표 없음 — 이것이 이미지가 진본임을 보여주지는 않습니다",
    },
    "st.other": {"en": "another finding (see the evidence report)", "ko": "기타 결과 (증거 보고서 참조)"},
    # --- upload and jobs ------------------------------------------------------------------------------
    "upload.title": {"en": "Upload material", "ko": "자료 업로드"},
    "upload.intro": {
        "en": "Choose a ZIP file of a Telegram Desktop export (the folder with result.json, zipped), or "
        "single image and video files. They are scanned on the server for this case's person; what is "
        "kept is stored encrypted and the uploaded files are deleted after the scan.",
        "ko": "텔레그램 데스크톱 내보내기의 ZIP 파일(result.json이 있는 폴더를 압축한 파일) 또는 개별 이미지·"
        "동영상 파일을 선택하십시오. 서버에서 이 사건의 대상자를 찾도록 검사하며, 보관하는 자료는 암호화하여 "
        "저장하고 업로드한 파일은 검사 후 삭제합니다.",
    },
    "upload.files": {"en": "Files (ZIP, images, videos)", "ko": "파일 (ZIP, 이미지, 동영상)"},
    "upload.submit": {"en": "Upload and scan", "ko": "업로드 후 검사"},
    "upload.none": {"en": "Choose at least one file.", "ko": "파일을 하나 이상 선택하십시오."},
    "upload.refused": {
        "en": "The upload was refused: too large, too many files, or an unsafe ZIP file.",
        "ko": "업로드가 거부되었습니다: 용량이 너무 크거나, 파일이 너무 많거나, "
        "안전하지 않은 ZIP 파일입니다.",
    },
    "upload.no_person": {
        "en": "Enrol the case's person before uploading material.",
        "ko": "자료를 업로드하기 전에 사건 대상자를 등록하십시오.",
    },
    "job.title": {"en": "Scan of uploaded material", "ko": "업로드 자료 검사"},
    "job.progress": {"en": "{done} of {total} files", "ko": "파일 {total}개 중 {done}개"},
    "job.progress_unknown": {"en": "{done} files so far", "ko": "지금까지 파일 {done}개"},
    "job.auto": {
        "en": "This page updates itself every second.",
        "ko": "이 페이지는 1초마다 자동으로 갱신됩니다.",
    },
    "job.done_text": {"en": "The scan has finished.", "ko": "검사가 끝났습니다."},
    "job.failed_text": {
        "en": "The scan failed. The uploaded files are kept so that it can be run again; files already "
        "scanned stay in the case.",
        "ko": "검사에 실패했습니다. 다시 실행할 수 있도록 업로드한 파일은 보관되며, 이미 검사한 파일은 "
        "사건에 남아 있습니다.",
    },
    "job.back": {"en": "Back to the case", "ko": "사건으로 돌아가기"},
    "job.to_review": {"en": "Open the review queue", "ko": "검토 대기열 열기"},
    # --- takedown notices --------------------------------------------------------------------------------
    "takedown.title": {"en": "Takedown notices", "ko": "삭제 요청서"},
    "takedown.intro": {
        "en": "Draft a removal request for each platform where confirmed images were seen, copy its text "
        "and form fields into the platform's form, then record what happened. Nothing is sent from here.",
        "ko": "확인된 이미지가 발견된 플랫폼마다 삭제 요청서를 작성하고, 본문과 양식 항목을 플랫폼의 신고 "
        "양식에 복사한 뒤 처리 결과를 기록하십시오. 이 화면에서는 아무것도 전송되지 않습니다.",
    },
    "takedown.link": {"en": "Takedown notices", "ko": "삭제 요청서"},
    "takedown.no_person": {
        "en": "This case has no person yet: notices are drafted for the case's person.",
        "ko": "이 사건에는 아직 당사자가 없습니다. 삭제 요청서는 사건 당사자를 위해 작성됩니다.",
    },
    "takedown.error.draft": {
        "en": "No notice could be drafted: confirm matches with a sighting first, or choose another "
        "platform (a minor's case goes only to routes for minors).",
        "ko": "삭제 요청서를 작성할 수 없습니다. 먼저 발견 기록이 있는 일치 항목을 확인하거나 다른 플랫폼을 "
        "선택하십시오 (미성년자 사건은 미성년자용 경로로만 보냅니다).",
    },
    "takedown.drafted": {
        "en": "Drafted {n} notice(s); {skipped} platform(s) skipped (already covered).",
        "ko": "삭제 요청서 {n}건을 작성했습니다. 플랫폼 {skipped}곳은 이미 요청서가 있어 건너뛰었습니다.",
    },
    "takedown.overdue": {"en": "Overdue", "ko": "기한 초과"},
    "takedown.overdue_by": {"en": "{hours} h past the stated time", "ko": "명시된 기한보다 {hours}시간 지남"},
    "takedown.list": {"en": "Notices", "ko": "요청서 목록"},
    "takedown.none": {"en": "No notices yet.", "ko": "아직 요청서가 없습니다."},
    "takedown.col.platform": {"en": "Platform", "ko": "플랫폼"},
    "takedown.col.status": {"en": "Status", "ko": "상태"},
    "takedown.col.created": {"en": "Drafted", "ko": "작성일"},
    "takedown.col.sent": {"en": "Sent", "ko": "전송일"},
    "takedown.col.due": {"en": "Due", "ko": "처리 기한"},
    "takedown.col.sightings": {"en": "Sightings", "ko": "발견 기록"},
    "takedown.not_sent": {"en": "not sent", "ko": "보내지 않음"},
    "takedown.no_due": {"en": "no stated time", "ko": "명시된 기한 없음"},
    "takedown.status.draft": {"en": "draft", "ko": "초안"},
    "takedown.status.sent": {"en": "sent", "ko": "보냄"},
    "takedown.status.acknowledged": {"en": "acknowledged", "ko": "접수 확인됨"},
    "takedown.status.removed": {"en": "removed", "ko": "삭제됨"},
    "takedown.status.refused": {"en": "refused", "ko": "거부됨"},
    "takedown.status.overdue": {"en": "overdue", "ko": "기한 초과"},
    "takedown.mark.sent": {"en": "Mark as sent", "ko": "보냄으로 표시"},
    "takedown.mark.acknowledged": {"en": "Mark as acknowledged", "ko": "접수 확인됨으로 표시"},
    "takedown.mark.removed": {"en": "Mark as removed", "ko": "삭제됨으로 표시"},
    "takedown.mark.refused": {"en": "Mark as refused", "ko": "거부됨으로 표시"},
    "takedown.draft": {"en": "Draft notices", "ko": "요청서 작성"},
    "takedown.platform": {"en": "Platform", "ko": "플랫폼"},
    "takedown.platform.found": {
        "en": "Every platform where confirmed images were seen",
        "ko": "확인된 이미지가 발견된 모든 플랫폼",
    },
    "takedown.language": {"en": "Language of the notice", "ko": "요청서 언어"},
    "takedown.lang.both": {"en": "English and Korean", "ko": "영어와 한국어"},
    "takedown.lang.en": {"en": "English", "ko": "영어"},
    "takedown.lang.ko": {"en": "Korean", "ko": "한국어"},
    "takedown.name_visible": {
        "en": "Show the person's name (by default a pseudonym)",
        "ko": "당사자 이름 표시 (기본값은 가명)",
    },
    "takedown.draft_note": {
        "en": "Sightings already in a notice to the same platform are not drafted again.",
        "ko": "같은 플랫폼에 보낸 요청서에 이미 포함된 발견 기록은 다시 작성하지 않습니다.",
    },
    "takedown.draft_submit": {"en": "Draft", "ko": "작성"},
    "takedown.notice_id": {"en": "Notice", "ko": "요청서 번호"},
    "takedown.sending": {"en": "Sending", "ko": "전송"},
    "takedown.send_cli": {
        "en": "This platform takes e-mail: send it with the command line (reclaim takedown send).",
        "ko": "이 플랫폼은 전자우편으로 받습니다. 명령줄에서 보내십시오 (reclaim takedown send).",
    },
    "takedown.missing": {"en": "Still to fill in: {fields}", "ko": "아직 채워야 할 항목: {fields}"},
    "takedown.text": {"en": "Text of the notice", "ko": "요청서 본문"},
    "takedown.copy_text": {"en": "Copy the text", "ko": "본문 복사"},
    "takedown.fields": {"en": "Form fields ({language})", "ko": "양식 항목 ({language})"},
    "takedown.copy": {"en": "Copy", "ko": "복사"},
    "takedown.copied": {"en": "Copied", "ko": "복사됨"},
    "takedown.copy_failed": {"en": "Select and copy by hand", "ko": "직접 선택해서 복사하십시오"},
    "takedown.check": {"en": "Check removal now", "ko": "지금 삭제 여부 확인"},
    "takedown.check_note": {
        "en": "The server fetches each address of this notice (a network request naming reclaim) and keeps "
        "a WARC of what it got.",
        "ko": "서버가 이 신고의 각 주소를 가져오고 (reclaim임을 밝히는 네트워크 요청), 받은 내용을 WARC로 "
        "보관합니다.",
    },
    "takedown.checks": {"en": "Removal checks (latest per address)", "ko": "삭제 확인 (주소별 최근 결과)"},
    "takedown.check.url": {"en": "Address", "ko": "주소"},
    "takedown.check.http": {"en": "HTTP status", "ko": "HTTP 상태"},
    "takedown.error.check": {
        "en": "This notice covers no web address to check (e.g. a Telegram chat): check it by hand.",
        "ko": "이 신고에는 확인할 웹 주소가 없습니다 (예: 텔레그램 대화방). 직접 확인하십시오.",
    },
    "takedown.check.outcome": {"en": "Result", "ko": "결과"},
    "takedown.check.at": {"en": "Checked", "ko": "확인 시각"},
    "takedown.outcome.removed": {"en": "removed", "ko": "삭제됨"},
    "takedown.outcome.still_up": {"en": "still up", "ko": "아직 게시됨"},
    "takedown.outcome.changed": {"en": "changed (another picture)", "ko": "변경됨 (다른 이미지)"},
    "takedown.outcome.error": {"en": "could not tell", "ko": "확인 불가"},
    # --- the spread network (case page) and the cross-case view (admins) -----------------------------
    "net.link": {"en": "Spread network and timeline", "ko": "유포 네트워크와 타임라인"},
    "net.title": {"en": "Spread network", "ko": "유포 네트워크"},
    "net.intro": {
        "en": "Who posted this case's material, in which chats, and how it was forwarded. Only this case's "
        "sightings of matched files. Click a node for its details.",
        "ko": "이 사건의 자료를 누가 어느 대화방에 올렸고 어떻게 전달되었는지 보여 줍니다. "
        "이 사건에서 일치한 파일의 발견 기록만 포함합니다. 노드를 누르면 자세한 내용이 표시됩니다.",
    },
    "net.back": {"en": "Back to the case", "ko": "사건으로 돌아가기"},
    "net.show_all": {"en": "All matches (not rejected)", "ko": "모든 일치 항목 (거부 제외)"},
    "net.show_confirmed": {"en": "Confirmed matches only", "ko": "확인된 일치 항목만"},
    "net.scope_all": {
        "en": "Showing the files with a match that is not rejected.",
        "ko": "거부되지 않은 일치 항목이 있는 파일을 표시합니다.",
    },
    "net.scope_confirmed": {
        "en": "Showing only the files with a confirmed match.",
        "ko": "확인된 일치 항목이 있는 파일만 표시합니다.",
    },
    "net.graph": {"en": "Network graph", "ko": "네트워크 그래프"},
    "net.loading": {"en": "Loading…", "ko": "불러오는 중…"},
    "net.failed": {"en": "The network could not be loaded.", "ko": "네트워크를 불러오지 못했습니다."},
    "net.empty": {
        "en": "No sightings of matched files yet.",
        "ko": "일치한 파일의 발견 기록이 아직 없습니다.",
    },
    "net.details": {"en": "Details", "ko": "자세히"},
    "net.pick": {"en": "Click a node in the graph.", "ko": "그래프에서 노드를 누르십시오."},
    "net.kind.sender": {"en": "sender", "ko": "게시자"},
    "net.kind.chat": {"en": "chat", "ko": "대화방"},
    "net.kind.cluster": {"en": "picture cluster", "ko": "이미지 묶음"},
    "net.id": {"en": "Id", "ko": "식별자"},
    "net.kind": {"en": "Kind", "ko": "종류"},
    "net.aliases": {"en": "Names seen", "ko": "확인된 이름"},
    "net.first_seen": {"en": "First seen", "ko": "처음 발견"},
    "net.last_seen": {"en": "Last seen", "ko": "마지막 발견"},
    "net.count": {"en": "Sightings", "ko": "발견 횟수"},
    "net.platforms": {"en": "Platforms", "ko": "플랫폼"},
    "net.links": {"en": "Connections", "ko": "연결"},
    "net.messages": {"en": "Message links", "ko": "메시지 링크"},
    "net.preview": {"en": "Blurred preview", "ko": "흐리게 처리된 미리보기"},
    "net.show_preview": {"en": "Show the blurred preview", "ko": "흐린 미리보기 보기"},
    "net.edge.posted": {"en": "posted", "ko": "게시"},
    "net.edge.in": {"en": "in", "ko": "게시 위치"},
    "net.edge.forwarded_from": {"en": "forwarded from", "ko": "전달 출처"},
    "net.edge.reply_to": {"en": "replied to", "ko": "답장 대상"},
    "net.timeline": {"en": "Sightings over time", "ko": "시간별 발견 횟수"},
    "net.timeline_intro": {
        "en": "Sightings per day, one bar segment per platform and chat.",
        "ko": "하루 단위 발견 횟수입니다. 막대의 각 부분은 플랫폼과 대화방입니다.",
    },
    "net.timeline_empty": {"en": "No dated sightings.", "ko": "날짜가 있는 발견 기록이 없습니다."},
    "net.no_chat": {"en": "no chat", "ko": "대화방 없음"},
    "net.downloads": {"en": "Download", "ko": "내려받기"},
    "net.download.graphml": {"en": "GraphML (Gephi)", "ko": "GraphML 파일 (Gephi)"},
    "net.download.nodes": {"en": "nodes (CSV)", "ko": "노드 (CSV)"},
    "net.download.edges": {"en": "edges (CSV)", "ko": "연결 (CSV)"},
    "nav.shared": {"en": "Shared actors", "ko": "공통 행위자"},
    "shared.title": {
        "en": "Senders and chats seen in more than one case",
        "ko": "여러 사건에서 발견된 게시자와 대화방",
    },
    "shared.intro": {
        "en": "Case ids, counts and times only: no pictures, no names of the persons, no case titles. "
        "Every view of this page is recorded in the custody log.",
        "ko": "사건 식별자, 횟수, 시각만 표시합니다. 이미지, 피해자 이름, 사건 제목은 표시하지 않습니다. "
        "이 페이지를 볼 때마다 보관 기록에 남습니다.",
    },
    "shared.none": {
        "en": "No sender or chat is seen in more than one case.",
        "ko": "여러 사건에서 발견된 게시자나 대화방이 없습니다.",
    },
    "shared.col.id": {"en": "Id", "ko": "식별자"},
    "shared.col.kind": {"en": "Kind", "ko": "종류"},
    "shared.col.aliases": {"en": "Names seen", "ko": "확인된 이름"},
    "shared.col.cases": {"en": "Cases (sightings)", "ko": "사건 (발견 횟수)"},
    "shared.col.first_seen": {"en": "First seen", "ko": "처음 발견"},
    "shared.col.last_seen": {"en": "Last seen", "ko": "마지막 발견"},
}

_FIELDS = string.Formatter()


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a message takes."""
    return {name for _, name, _, _ in _FIELDS.parse(text) if name}


def normalise_lang(value: object) -> Lang:
    """A supported language code, or the default."""
    if isinstance(value, str):
        code = value.strip().lower()[:2]
        if code == "ko":
            return "ko"
    return "en"


def translate(lang: str, key: str, **values: object) -> str:
    """The message ``key`` in ``lang`` with ``values`` filled in. An unknown key is a bug: KeyError."""
    entry = MESSAGES[key]
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**values) if values else text


class Translator:
    """``t("key", name=value)`` for one language (what templates call)."""

    def __init__(self, lang: str) -> None:
        self.lang = normalise_lang(lang)

    def __call__(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)


KEY_PATTERN: Final = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']""")
"""How templates call the catalogue (used by the test that every key used exists)."""
