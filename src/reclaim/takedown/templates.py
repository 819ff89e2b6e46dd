"""Notice wording in English and Korean.

Tone (reviewed against the issue's rule): factual, about the material and the request, never about the
person's conduct. No "leaked", no "private photos you shared", no "explicit photos of you": the image is
described as made or altered without consent, and the request is for removal. Every field label and
sentence exists in both languages; a Korean notice contains no English template text.
"""

from __future__ import annotations

from reclaim.lang import Lang
from reclaim.takedown.platforms import Platform

LABELS: dict[str, dict[Lang, str]] = {
    "reporter_name": {
        "en": "Person depicted (as named in this notice)",
        "ko": "피해 당사자 (이 신고서의 표기)",
    },
    "depicted_relation": {"en": "Who is reporting", "ko": "신고자"},
    "content_locations": {"en": "Where the material is", "ko": "게시 위치"},
    "search_urls": {"en": "Search result pages", "ko": "검색 결과 페이지"},
    "chat_name": {"en": "Channels and groups", "ko": "채널 및 그룹"},
    "content_kind": {"en": "What the material is", "ko": "게시물의 성격"},
    "good_faith_statement": {"en": "Statement", "ko": "진술"},
    "criteria_statement": {"en": "Why it qualifies for removal", "ko": "삭제 대상 사유"},
    "description": {"en": "Request", "ko": "요청 내용"},
    "first_seen": {"en": "First seen", "ko": "최초 확인일"},
    "evidence_hash": {"en": "Evidence package", "ko": "증거 패키지"},
    "forensic_explanation": {"en": "Forensic findings", "ko": "포렌식 분석 결과"},
    "signature": {"en": "Signature", "ko": "서명"},
    "contact": {"en": "Contact", "ko": "연락처"},
    "recipient": {"en": "To", "ko": "수신"},
    "subject": {"en": "Subject", "ko": "제목"},
    "age_statement": {"en": "Age", "ko": "연령"},
    "item_hashes": {"en": "Images (SHA-256)", "ko": "이미지 (SHA-256)"},
}

TEXT: dict[str, dict[Lang, str]] = {
    "pseudonym": {"en": "Case {ref}", "ko": "사건 {ref}"},
    "relation": {
        "en": "The person depicted, or an advocate acting for them with their consent",
        "ko": "피해 당사자 본인 또는 당사자의 동의를 받아 대리하는 지원 담당자",
    },
    "content_kind": {
        "en": "A sexual image made or altered to show this person (synthetic or manipulated), published "
        "without their consent",
        "ko": "당사자의 동의 없이 게시된, 당사자의 모습을 합성하거나 조작하여 만든 성적 이미지",
    },
    "good_faith": {
        "en": "I have a good-faith belief that this intimate image was published without the consent of "
        "the person depicted, and I ask for its removal.",
        "ko": "이 성적 이미지는 당사자의 동의 없이 게시되었다고 믿을 만한 정당한 이유가 있으며, "
        "삭제를 요청합니다.",
    },
    "criteria": {
        "en": "The image shows an identifiable person, is fake (synthetic or manipulated), is sexually "
        "explicit, and was published without the person's consent.",
        "ko": "이 이미지는 식별 가능한 인물을 보여주며, 합성 또는 조작된 가짜이고, 성적으로 노골적이며, "
        "당사자의 동의 없이 게시되었습니다.",
    },
    "description": {
        "en": "{copies} confirmed copies of {images} image(s), first seen {first}. The person depicted did "
        "not consent to this material being made or shared. Please remove every copy listed here.",
        "ko": "확인된 게시물 {copies}건 (이미지 {images}개), 최초 확인일 {first}. "
        "당사자는 이 게시물의 제작과 유포에 동의하지 않았습니다. 여기에 적힌 모든 게시물을 삭제해 주십시오.",
    },
    "posted": {"en": "posted {when}", "ko": "게시일 {when}"},
    "date_unknown": {"en": "date unknown", "ko": "날짜 미상"},
    "message": {"en": "message", "ko": "메시지"},
    "chat": {"en": "chat", "ko": "대화방"},
    "evidence_hash": {
        "en": "SHA-256 of the signed evidence package's manifest: {sha}",
        "ko": "서명된 증거 패키지 매니페스트의 SHA-256: {sha}",
    },
    "no_evidence": {
        "en": "No evidence package has been exported yet; one can be provided on request.",
        "ko": "아직 내보낸 증거 패키지가 없습니다. 요청 시 제공할 수 있습니다.",
    },
    "image": {"en": "image", "ko": "이미지"},
    "age_adult": {
        "en": "The person depicted is 18 or older; they submit the hashes themselves, on their own device.",
        "ko": "당사자는 만 18세 이상이며, 본인의 기기에서 직접 해시를 제출합니다.",
    },
    "age_minor": {
        "en": "The person depicted is under 18 or is shown as under 18.",
        "ko": "당사자는 만 18세 미만이거나 18세 미만으로 묘사되어 있습니다.",
    },
    "subject": {
        "en": "Removal request: non-consensual intimate image ({n} locations)",
        "ko": "삭제 요청: 동의 없이 게시된 성적 이미지 ({n}곳)",
    },
    "greeting": {
        "en": "To the {platform} team,",
        "ko": "{platform} 담당자께,",
    },
    "intro": {
        "en": "This is a request to remove non-consensual intimate imagery. The details your report route "
        "asks for follow.",
        "ko": "동의 없이 게시된 성적 이미지의 삭제를 요청합니다. 신고 양식에 필요한 내용은 다음과 같습니다.",
    },
    "follow_up": {
        "en": "This follows our earlier notice {ref} sent on {when}.",
        "ko": "이 신고는 {when}에 보낸 이전 신고 {ref}에 이어지는 것입니다.",
    },
    "response": {
        "en": "Stated response time: {value}.",
        "ko": "공표된 처리 기한: {value}.",
    },
    "not_stated": {"en": "not stated", "ko": "공표되지 않음"},
    "forensic_intro": {
        "en": "Findings per image, each on its own (removal does not depend on them: the person did not "
        "consent):",
        "ko": "이미지별 분석 결과 (각 결과는 독립적이며, 삭제 여부와 무관하게 당사자는 동의하지 않았습니다):",
    },
    "hours": {"en": "{h} hours", "ko": "{h}시간"},
    "take_it_down": {
        "en": "Under the US TAKE IT DOWN Act, in force since {since}, a covered platform must remove a "
        "non-consensual intimate image, including a computer-generated one, within 48 hours of a valid "
        "removal request, and make reasonable efforts to remove its known copies.",
        "ko": "{since}부터 시행된 미국 Take It Down Act에 따라, 적용 대상 플랫폼은 컴퓨터로 생성된 이미지를 "
        "포함하여 동의 없이 게시된 성적 이미지를 유효한 삭제 요청을 받은 후 48시간 이내에 삭제하고, "
        "알려진 복제본을 삭제하기 위해 합리적으로 노력해야 합니다.",
    },
    "escalation": {
        "en": "The material was still online when checked on {when}, after the stated time of our notice "
        "{ref} to {platform} had passed. We ask for your help to have it removed.",
        "ko": "{platform}에 보낸 신고 {ref}의 처리 기한이 지난 뒤인 {when}에 확인했을 때에도 게시물이 "
        "여전히 게시되어 있었습니다. 삭제될 수 있도록 도움을 요청합니다.",
    },
    "closing": {"en": "Thank you for acting on this request.", "ko": "조치해 주셔서 감사합니다."},
    "to_complete": {"en": "(to be completed by the sender)", "ko": "(보내는 사람이 작성)"},
    "hash_note": {
        "en": "The service computes its own hashes on the device; these SHA-256 values identify the "
        "images of this case.",
        "ko": "이 서비스는 기기에서 자체 해시를 계산합니다. 아래 SHA-256 값은 이 사건의 이미지를 식별합니다.",
    },
}


RESPONSE_BASIS_KO: dict[str, str] = {
    "x": "미국 Take It Down Act에 따라 유효한 요청 후 48시간 이내 삭제",
    "meta": "미국 Take It Down Act에 따라 유효한 요청 후 48시간 이내 삭제",
    "reddit": "미국 Take It Down Act에 따라 유효한 요청 후 48시간 이내 삭제",
    "kcsc": "방송통신심의위원회 전자심의 목표",
}

PLATFORM_TITLES_KO: dict[str, str] = {
    "google": "Google 검색",
    "meta": "Meta (Facebook, Instagram)",
    "kcsc": "방송통신심의위원회",
    "adsc": "디지털성범죄피해자지원센터",
    "email": "사이트 운영자",
    "web_form": "사이트 운영자",
}


FOLLOW_UP: dict[str, dict[Lang, str]] = {
    "sent": {
        "en": "This follows our earlier notice {ref} to {platform}, sent on {when}.",
        "ko": "이 신고는 {when}에 {platform}에 보낸 이전 신고 {ref}에 이어지는 것입니다.",
    },
    "drafted": {
        "en": "This follows our earlier notice {ref} to {platform}, drafted on {when}.",
        "ko": "이 신고는 {when}에 {platform} 앞으로 작성한 이전 신고 {ref}에 이어지는 것입니다.",
    },
}
"""The sentence citing an earlier notice, by whether it was sent or only drafted."""


def t(key: str, lang: Lang, **values: object) -> str:
    return TEXT[key][lang].format(**values)


def platform_title(platform: type[Platform], lang: Lang) -> str:
    """The platform's name as a notice (or the web UI) shows it in ``lang``."""
    return PLATFORM_TITLES_KO.get(platform.name, platform.title) if lang == "ko" else platform.title
