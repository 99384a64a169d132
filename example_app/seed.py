"""Demo accounts and data for WORLD OME NET (``flask --app example_app demo-setup``).

``seed_demo()`` creates whichever demo accounts do not exist yet and leaves existing
ones alone, so running it twice is harmless. All demo data is made up.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from PIL import Image, ImageDraw

from flask_ome_privacy import deficiency, documents, execution, identity_checks, privacy_requests
from flask_ome_privacy.decisions import ItemDecision, Verdict
from flask_ome_privacy.identity_checks import IdentityMethod
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import DecisionItem, PrivacyRequest, RequestMessage
from flask_ome_privacy.request_decisions import approve, save_decision, scope_keys
from flask_ome_privacy.requester_actions import withdraw_request
from flask_ome_privacy.staff_queue import Originals, register_postal
from flask_ome_privacy.state import current_state

from .extensions import privacy
from .models import FacebookData, FacebookLink, Profile, SurveyResponse, User, db

DEMO_PASSWORD = "demo-password"  # nosec B105  # the demo accounts' published password
EMPLOYER = "株式会社サンプル商事"


def _at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A demo timestamp: Tokyo wall-clock time, stored as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone(timedelta(hours=9))).astimezone(
        timezone.utc
    )


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str | None
    role: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("alice@example.com", DEMO_PASSWORD, "user: full profile, Facebook linked, employer surveys"),
    DemoAccount("bob@example.com", DEMO_PASSWORD, "user: password only, partial profile"),
    DemoAccount("carol@example.com", None, "user: no password, signs in with Facebook only"),
    DemoAccount("staff@example.com", DEMO_PASSWORD, "privacy desk staff"),
    DemoAccount("staff2@example.com", DEMO_PASSWORD, "privacy desk staff (second reviewer)"),
)

SURVEYS: tuple[tuple[str, datetime, tuple[tuple[str, str, int | None], ...]], ...] = (
    (
        "2024年度 従業員エンゲージメント調査",
        _at(2024, 10, 15, 9, 30),
        (
            ("仕事にやりがいを感じている", "ややそう思う", 4),
            ("上司から適切なフィードバックを受けている", "どちらともいえない", 3),
            ("チーム内で意見を言いやすい", "そう思う", 5),
            ("業務量は適切である", "あまりそう思わない", 2),
            ("会社の方針に共感している", "ややそう思う", 4),
            ("職場で改善してほしいこと", "会議の時間を短くしてほしい", None),
        ),
    ),
    (
        "2025年 上期 職場環境アンケート",
        _at(2025, 4, 22, 14, 0),
        (
            ("在宅勤務の環境は整っている", "そう思う", 5),
            ("心身ともに健康に働けている", "ややそう思う", 4),
            ("評価制度に納得している", "どちらともいえない", 3),
            ("研修の機会は十分にある", "あまりそう思わない", 2),
            ("他部署との連携はうまくいっている", "ややそう思う", 4),
            ("自由記述", "フレックス制度の対象を広げてほしい", None),
        ),
    ),
)


def seed_demo() -> list[DemoAccount]:
    """Create the missing demo accounts with their data and commit. Needs an app context.

    Returns the demo accounts (all of them, whether created now or before).
    """
    existing = set(
        db.session.scalars(sa.select(User.email).where(User.email.in_([a.email for a in DEMO_ACCOUNTS])))
    )
    builders = {
        "alice@example.com": _alice,
        "bob@example.com": _bob,
        "carol@example.com": _carol,
        "staff@example.com": lambda: _staff("staff@example.com", "佐々木 恵 (個人情報窓口)", _at(2022, 4, 1)),
        "staff2@example.com": lambda: _staff(
            "staff2@example.com", "中村 大輔 (個人情報窓口)", _at(2023, 4, 1)
        ),
    }
    for account in DEMO_ACCOUNTS:
        if account.email not in existing:
            builders[account.email]()
    db.session.commit()
    return list(DEMO_ACCOUNTS)


def _user(email: str, name: str, created_at: datetime, password: str | None = DEMO_PASSWORD) -> User:
    user = User(
        email=email, name=name, created_at=created_at, email_updated_at=created_at, name_updated_at=created_at
    )
    if password is not None:
        user.set_password(password)
    db.session.add(user)
    return user


def _alice() -> None:
    joined = _at(2023, 5, 8, 19, 12)
    alice = _user("alice@example.com", "山田 花子", joined)
    profile = Profile()
    alice.profile = profile
    profile.set("display_name", "はなこ", joined)
    profile.set("name_kana", "ヤマダ ハナコ", joined)
    profile.set("phone", "090-1234-5678", _at(2023, 5, 8, 19, 15))
    profile.set(
        "postal_address", "〒160-0023 東京都新宿区西新宿3-7-1 グリーンハイツ502号室", _at(2024, 3, 30, 21, 5)
    )
    profile.set("birth_date", date(1990, 4, 12), joined)
    profile.set("company", EMPLOYER, _at(2023, 5, 8, 19, 16))
    profile.set("job_title", "人事部 主任", _at(2024, 4, 1, 8, 45))
    _link_facebook(
        alice,
        "100000000000101",
        _at(2023, 5, 8, 19, 10),
        {
            "name": "Hanako Yamada",
            "email": "hanako.yamada@facebook.example",
            "picture_url": "https://graph.facebook.example/100000000000101/picture?type=large",
            "birthday": "04/12/1990",
            "friends_count": "238",
            "gender": "female",
            "hometown": "札幌市, 北海道",
        },
    )
    db.session.flush()
    for survey, received_at, answers in SURVEYS:
        for question, answer, score in answers:
            db.session.add(
                SurveyResponse(
                    user_id=alice.id,
                    employer_name=EMPLOYER,
                    survey_name=survey,
                    question=question,
                    answer=answer,
                    score=score,
                    received_at=received_at,
                )
            )
    privacy.record_provision(
        alice,
        recipient="株式会社クライアントA",
        categories=["user_info"],
        purpose="採用イベントのご案内の送付",
        provided_at=_at(2024, 6, 10, 11, 0),
    )
    privacy.record_provision(
        alice,
        recipient="株式会社クライアントB",
        categories=["user_info", "org_service"],
        purpose="組織改善コンサルティングの実施",
        provided_at=_at(2025, 5, 20, 15, 30),
    )


def _bob() -> None:
    joined = _at(2024, 1, 17, 12, 40)
    bob = _user("bob@example.com", "鈴木 一郎", joined)
    profile = Profile()
    bob.profile = profile
    profile.set("name_kana", "スズキ イチロウ", joined)
    profile.set("company", "鈴木設計事務所", _at(2024, 2, 3, 9, 0))
    db.session.flush()
    privacy.record_provision(
        bob,
        recipient="株式会社クライアントA",
        categories=["user_info"],
        purpose="展示会のご案内の送付",
        provided_at=_at(2024, 9, 2, 10, 0),
    )


def _carol() -> None:
    joined = _at(2024, 8, 30, 22, 3)
    carol = _user("carol@example.com", "田中 キャロル", joined, password=None)
    _link_facebook(
        carol,
        "100000000000303",
        joined,
        {
            "name": "Carol Tanaka",
            "email": "carol@example.com",
            "picture_url": "https://graph.facebook.example/100000000000303/picture?type=large",
            "friends_count": "412",
            "hometown": "Vancouver, British Columbia",
        },
    )


def _staff(email: str, name: str, joined: datetime) -> None:
    staff = _user(email, name, joined)
    staff.is_staff = True


def _link_facebook(user: User, facebook_user_id: str, linked_at: datetime, data: dict[str, str]) -> None:
    user.facebook_link = FacebookLink(facebook_user_id=facebook_user_id, linked_at=linked_at)
    db.session.flush()
    for field, value in data.items():
        db.session.add(FacebookData(user_id=user.id, field=field, value=value, obtained_at=linked_at))


def add_bulk_survey_rows(user: User, n: int, *, batch_size: int = 5000, commit: bool = True) -> int:
    """Insert ``n`` survey answers for ``user`` with batched executemany inserts (benchmarks, tests).

    Commits at the end unless ``commit=False``. Returns ``n``.
    """
    received_at = _at(2025, 1, 15, 9, 0)
    user_id = user.id

    def rows(start: int, stop: int) -> Iterator[dict]:
        for i in range(start, stop):
            yield {
                "user_id": user_id,
                "employer_name": EMPLOYER,
                "survey_name": f"一括テスト調査 {i // 1000:03d}",
                "question": f"設問 {i % 1000 + 1}",
                "answer": "ややそう思う",
                "score": 4,
                "received_at": received_at,
            }

    table = SurveyResponse.__table__
    for start in range(0, n, batch_size):
        db.session.execute(table.insert(), list(rows(start, min(n, start + batch_size))))
    if commit:
        db.session.commit()
    return n


# --- rights requests in different states (issue 8), so the request pages and the queue show something


@dataclass(frozen=True)
class _ChecklistEntry:
    """A document-checklist item as ``deficiency.build_notice`` names it: a stable code and a message id."""

    code: str
    message: str


def _attach_sample_licence(request: PrivacyRequest) -> None:
    """A stand-in for the photo of a driving licence the requester uploaded: a plain picture with
    the word SAMPLE, checked and encrypted like any upload, so staff can open it on the desk."""
    picture = Image.new("RGB", (480, 300), (226, 236, 244))
    ImageDraw.Draw(picture).text((24, 24), "SAMPLE - demo identity document", fill=(20, 40, 80))
    out = io.BytesIO()
    picture.save(out, "PNG")
    documents.store(
        db.session, request.id, "person_identity", "drivers_licence", documents.check_upload(out.getvalue())
    )


def seed_demo_requests(now: datetime | None = None) -> int:
    """Add alice's and bob's demo requests unless they have some already; returns how many were added.

    Made the way the privacy desk makes them — ``privacy_requests.submit`` and ``move`` — so the
    clock, the due dates and the audit trail are real: alice has one just submitted (a disclosure
    with the fee outstanding), one waiting for her with a deficiency notice, one completed with
    its decision item by item; bob has one overdue under review and his account's deletion in
    identity review, due within three days; carol's account deletion is decided and waits for a
    second staff member's approval (four-eyes); bob's stop of provision to third parties is being
    carried out (approved by a second staff member; the processors' manual tasks open), and he
    withdrew an older request; a disclosure came by post from someone without an account.
    Needs an app context; commits.
    """
    users = dict(
        db.session.execute(
            sa.select(User.email, User.id).where(
                User.email.in_(
                    [f"{name}@example.com" for name in ("alice", "bob", "carol", "staff", "staff2")]
                )
            )
        ).all()
    )
    if len(users) < 5:
        return 0
    alice, bob, carol, staff, staff2 = (
        str(users[f"{name}@example.com"]) for name in ("alice", "bob", "carol", "staff", "staff2")
    )
    has_some = db.session.scalar(
        sa.select(sa.func.count(PrivacyRequest.id)).where(PrivacyRequest.user_id.in_([alice, bob]))
    )
    if has_some:
        return 0
    state = current_state()
    now = now or datetime.now(timezone.utc)

    def submit(user_id: str, kind: str, days_ago: float, scope: dict[str, list[str]]) -> PrivacyRequest:
        return privacy_requests.submit(
            state, user_id=user_id, kind=kind, scope=scope, now=now - timedelta(days=days_ago)
        )

    def walk(request: PrivacyRequest, days_ago: float, *statuses: Status) -> None:
        for status in statuses:
            privacy_requests.move(
                db.session,
                request,
                status,
                actor_id=staff,
                actor_role="staff",
                now=now - timedelta(days=days_ago),
            )

    # alice: a disclosure just submitted, electronic, the fee not yet received.
    disclose = submit(alice, "disclose", 1, {"sources": ["profile", "facebook"]})
    disclose.disclosure_method = "electronic"

    # alice: a correction waiting for her, with a notice saying exactly what is missing.
    correct = submit(alice, "correct", 5, {"sources": ["profile"], "fields": ["postal_address"]})
    walk(correct, 4, Status.IDENTITY_REVIEW)
    walk(correct, 2, Status.AWAITING_REQUESTER)
    checklist = [_ChecklistEntry(item.role.value, item.label) for item in documents.checklist("self")]
    notice = deficiency.build_notice(
        checklist,
        ["person_identity"],
        "お送りいただいた運転免許証の画像が暗く、氏名と住所が読み取れません。明るい場所で撮影し直した画像をお送りください。",
        now - timedelta(days=2),
        int(state.config("DEFICIENCY_ANSWER_DAYS")),
    )
    correct.answer_deadline = notice.expires_at
    db.session.add(
        RequestMessage(
            request_id=correct.id,
            author="staff",
            kind="deficiency",
            body=notice.text,
            items=[{"code": item.code, "message": item.message} for item in notice.items],
        )
    )

    # alice: stopping provision to third parties, completed; one item done, one refused with the reason.
    stop = submit(alice, "stop_third_party", 40, {"sources": ["profile", "org_survey"]})
    walk(stop, 38, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW)
    db.session.add_all(
        [
            DecisionItem(request_id=stop.id, item="profile", granted=True),
            DecisionItem(
                request_id=stop.id,
                item="org_survey",
                granted=False,
                reason="調査結果は雇用主との契約に基づき集計済みの統計としてのみ提供しており、"
                "個人を識別できる形での第三者提供は行っていないためです。",
            ),
        ]
    )
    walk(stop, 33, Status.APPROVED, Status.EXECUTING)
    walk(stop, 32, Status.COMPLETED)
    stop.decision = "partial"
    stop.decided_at = now - timedelta(days=34)
    stop.decided_by = staff
    stop.released_at = now - timedelta(days=32)

    # bob: an erasure under review, past its due date.
    erase = submit(bob, "erase", 20, {"sources": ["profile"]})
    erase.ground = "no_longer_needed"
    walk(erase, 18, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW)

    # bob: deleting his account, in identity review with one check ticked; due within three days.
    delete = submit(bob, "delete", 12, {})
    _attach_sample_licence(delete)
    identity_checks.start_identity_review(db.session, delete, actor_id=staff)
    first_check = identity_checks.checks_for(delete)[0].value
    identity_checks.record_checks(
        db.session, delete, [first_check], actor_id=staff, now=now - timedelta(days=10)
    )

    # carol (Facebook only) closes her account: identity verified and the deletion decided by
    # staff; it waits for a second staff member's approval before anything is erased.
    closing = submit(carol, "delete", 6, {})
    _attach_sample_licence(closing)
    identity_checks.start_identity_review(db.session, closing, actor_id=staff)
    every_check = [check.value for check in identity_checks.checks_for(closing)]
    checked_at = now - timedelta(days=4)
    identity_checks.record_checks(db.session, closing, every_check, actor_id=staff, now=checked_at)
    identity_checks.verify_identity(
        db.session, closing, IdentityMethod.UPLOADED_DOCUMENTS, actor_id=staff, now=checked_at
    )
    grant_all = [
        ItemDecision(source=key.source, field=key.field, verdict=Verdict.GRANTED)
        for key in scope_keys(state, closing)
    ]
    save_decision(state, closing, grant_all, staff_id=staff)

    # bob: stopping provision to third parties, approved by staff2 and being carried out; what
    # the sources do runs after the commit, the processors' tasks wait for staff.
    stop_provision = submit(bob, "stop_third_party", 9, {"sources": ["profile"]})
    stop_provision.ground = "provided_without_consent"
    _attach_sample_licence(stop_provision)
    identity_checks.start_identity_review(db.session, stop_provision, actor_id=staff)
    every_check = [check.value for check in identity_checks.checks_for(stop_provision)]
    identity_checks.record_checks(db.session, stop_provision, every_check, actor_id=staff, now=checked_at)
    identity_checks.verify_identity(
        db.session, stop_provision, IdentityMethod.UPLOADED_DOCUMENTS, actor_id=staff, now=checked_at
    )
    grant_all = [
        ItemDecision(source=key.source, field=key.field, verdict=Verdict.GRANTED)
        for key in scope_keys(state, stop_provision)
    ]
    save_decision(state, stop_provision, grant_all, staff_id=staff)
    approve(state, stop_provision, staff_id=staff2)
    execution.start(state, stop_provision, staff_id=staff, language="ja")

    # bob: a request he withdrew himself before we started on it.
    withdrawn = submit(bob, "notify_purpose", 25, {})
    withdraw_request(db.session, withdrawn, user_id=bob, now=now - timedelta(days=24))

    # A disclosure that came by post from someone without an account, to be answered on paper.
    mailed = register_postal(
        state,
        staff_id=staff,
        kind="disclose",
        requester_type="self",
        received_at=now - timedelta(days=3),
        user_id=None,
        postal_name="高橋 健一",
        postal_address="〒190-0022 東京都立川市錦町1-2-3",
        details="会員登録の有無を含め、保有している個人情報の開示を求めます。",
        originals=Originals.RETURNED,
    )
    mailed.disclosure_method = "paper"

    db.session.commit()
    return 9
