"""The export, ``/account/privacy/data/export`` (issue 3, point 3; APPI Art. 33(1) electronic disclosure).

JSON of everything, CSV per source; streamed; safe against CSV formula injection; audited.
"""

from __future__ import annotations

import csv
import io
import json
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from privacy_host import AccountSource, Host, MakeHost, db

from flask_ome_privacy import DataSource, Origin, Record, SourceField
from flask_ome_privacy.export import SCHEMA, VERSION, csv_safe
from flask_ome_privacy.models import AuditEvent, ConsentRecord

EXPORT = "/account/privacy/data/export"
EN = {"Accept-Language": "en"}


@pytest.fixture
def alice(host: Host) -> str:
    member = host.add_member("Alice Liddell", "alice-secret@wonder.example")
    host.link_chat(member, handle="@alice-handle", bio='=HYPERLINK("http://evil.example")')
    host.add_answers(member, 5, prefix="alice", surveys=2)
    host.record_provision(member, "Client A KK", ["user_info", "org_service"])
    return member


def download(host: Host, member: str, path: str) -> Any:
    response = host.client_for(member).get(EXPORT + path, headers=EN)
    assert response.status_code == 200, response.status_code
    return response


def rows(response: Any) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


# --- the page ----------------------------------------------------------------------------------


def test_the_export_page_offers_json_and_a_csv_per_source(host, alice):
    response = host.client_for(alice).get(EXPORT, headers=EN)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'href="/account/privacy/data/export.json"' in text
    for key in ("account", "chatter", "surveys"):
        assert f'href="/account/privacy/data/export/{key}.csv"' in text
    assert response.headers["Cache-Control"] == "no-store"


# --- JSON ----------------------------------------------------------------------------------------


def test_the_json_export_is_versioned_and_holds_every_source_provisions_and_consents(host, alice):
    with host.app.app_context():
        db.session.add(
            ConsentRecord(
                user_id=str(alice), purpose_key="user_info.research", purpose_version=1, granted=True
            )
        )
        db.session.commit()
    data = json.loads(download(host, alice, ".json").get_data())

    assert data["schema"] == SCHEMA == "flask-ome-privacy/export"
    assert data["version"] == VERSION == 1
    assert data["user_id"] == str(alice)
    assert data["generated_at"].endswith("Z")
    assert [c["key"] for c in data["categories"]] == ["user_info", "sns", "org_service"]
    sns = data["categories"][1]
    assert sns["provided_to_clients"] is False and sns["purposes"][0]["applies"] is True

    sources = {s["key"]: s for s in data["sources"]}
    assert list(sources) == ["account", "chatter", "surveys"]
    account = sources["account"]
    assert account["origin"] == "direct" and account["category"] == "user_info"
    assert {"name": "name", "label": "Name", "required": True, "description": ""} in account["fields"]
    assert account["records"][0] == {
        "field": "name",
        "label": "Name",
        "value": "Alice Liddell",
        "obtained_at": "2024-04-01T09:00:00Z",
        "group": None,
        "required": True,
    }
    assert sources["surveys"]["record_count"] == len(sources["surveys"]["records"]) == 5
    assert {r["group"] for r in sources["surveys"]["records"]} == {"alice survey 1", "alice survey 2"}
    assert sources["chatter"]["provider"] == "Chatter"

    assert data["provisions"] == [
        {
            "recipient": "Client A KK",
            "categories": ["user_info", "org_service"],
            "purpose": None,
            "basis": "consent",
            "provided_at": "2024-04-01T09:00:00Z",
            "stopped_at": None,
        }
    ]
    assert [(c["purpose_key"], c["granted"]) for c in data["consents"]] == [("user_info.research", True)]


def test_a_user_with_nothing_gets_a_valid_document_with_empty_lists(host):
    member = host.add_member("Nora", "nora@example.com")
    data = json.loads(download(host, member, ".json").get_data())
    sources = {s["key"]: s for s in data["sources"]}
    assert sources["chatter"]["records"] == [] and sources["chatter"]["record_count"] == 0
    assert data["provisions"] == [] and data["consents"] == []


# --- CSV -----------------------------------------------------------------------------------------


def test_a_csv_per_source_has_a_bom_a_header_and_one_row_per_value(host, alice):
    response = download(host, alice, "/surveys.csv")
    assert response.mimetype == "text/csv"
    assert response.get_data().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads it as UTF-8
    table = rows(response)
    assert list(table[0]) == ["group", "field", "label", "value", "obtained_at", "required"]
    assert len(table) == 5
    assert table[0] == {
        "group": "alice survey 1",
        "field": "answer",
        "label": "Survey answer",
        "value": "alice answer 0",
        "obtained_at": "2024-04-01T09:00:00Z",
        "required": "false",
    }


def test_csv_cells_can_never_run_as_formulas(host, alice):
    bio = next(r for r in rows(download(host, alice, "/chatter.csv")) if r["field"] == "bio")
    assert bio["value"] == '\'=HYPERLINK("http://evil.example")'


@pytest.mark.parametrize(
    "value, written",
    [
        ("=1+1", "'=1+1"),
        ("+81 90", "'+81 90"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        # ASVS 5.0 V1.2.10 and what a probe found written unescaped (issue 7, item 11)
        ("\0=1+1", "'\0=1+1"),
        ("\n=1+1", "'\n=1+1"),
        (" =1+1", "' =1+1"),
        ("  @SUM(A1)", "'  @SUM(A1)"),
        ("\u3000=1+1", "'\u3000=1+1"),  # an ideographic (full-width) space first
        (";=1+1", "';=1+1"),
        ("＝1+1", "'＝1+1"),
        ("＋81 90", "'＋81 90"),
        ("－2", "'－2"),
        ("＠SUM(A1)", "'＠SUM(A1)"),
        (" plain", " plain"),
        ("a;b", "a;b"),
        ("safe = yes", "safe = yes"),
        ("山田", "山田"),
        (None, ""),
        (True, "true"),
        (-5, "'-5"),
        (date(2024, 4, 1), "2024-04-01"),
        (datetime(2024, 4, 1, 9, 0, tzinfo=timezone.utc), "2024-04-01T09:00:00Z"),
    ],
)
def test_csv_safe(value, written):
    assert csv_safe(value) == written


def test_an_unknown_source_is_not_found(host, alice):
    response = host.client_for(alice).get(EXPORT + "/nope.csv")
    assert response.status_code == 404


# --- headers and audit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, name",
    [(".json", "privacy-export-{day}.json"), ("/account.csv", "privacy-export-account-{day}.csv")],
)
def test_downloads_are_dated_attachments_that_are_not_cached(host, alice, path, name):
    response = download(host, alice, path)
    day = datetime.now(timezone.utc).date().isoformat()
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name.format(day=day)}"'
    assert response.headers["Cache-Control"] == "no-store"  # survives streaming


@pytest.mark.parametrize("path", [".json", "/surveys.csv"])
def test_a_head_request_is_no_export_and_leaves_no_audit_event(host, alice, path):
    client = host.client_for(alice)
    response = client.head(EXPORT + path)
    assert response.status_code == 200
    assert response.get_data() == b""
    with host.app.app_context():
        exported = db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "data.exported")
        )
    assert exported == 0
    client.get(EXPORT + path).get_data()  # the body sent: now it is an export
    with host.app.app_context():
        exported = db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "data.exported")
        )
    assert exported == 1


def test_each_download_is_audited_with_ids_and_codes_only(host, alice):
    download(host, alice, ".json")
    download(host, alice, "/surveys.csv")
    with host.app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "data.exported").order_by(AuditEvent.id)
        ).all()
        recorded = [(e.actor_id, e.actor_role, e.subject_user_id, e.data) for e in events]
        everything = json.dumps([[e.actor_id, e.subject_user_id, e.data] for e in events])
    assert recorded == [
        (str(alice), "user", str(alice), {"format": "json"}),
        (str(alice), "user", str(alice), {"format": "csv", "source": "surveys"}),
    ]
    assert "Alice" not in everything and "alice" not in everything


# --- only the signed-in user's data -------------------------------------------------------------------


def test_another_users_data_never_appears_in_any_download(host, alice, bob):
    markers = (
        "Bob Bravo",
        "bob-secret",
        "@bob-handle",
        "bob bio",
        "bob answer",
        "bob survey",
        "Bob's Recipient",
    )
    for path in (".json", "/account.csv", "/chatter.csv", "/surveys.csv"):
        text = download(host, alice, path).get_data().decode("utf-8")
        for marker in markers:
            assert marker not in text, (path, marker)
    assert "alice-secret@wonder.example" in download(host, alice, ".json").get_data(as_text=True)


def test_signing_in_is_required(host, alice):
    client = host.app.test_client()
    for path in ("", ".json", "/account.csv"):
        assert client.get(EXPORT + path).status_code == 401


# --- streaming: 100,000 records are never all in memory ---------------------------------------------------


BIG = 100_000


class BigSource(DataSource):
    """Generates its values as asked, like a server-side cursor would: nothing is stored."""

    key = "big"
    label = "Big"
    origin = Origin.ORG_SERVICE
    category = "org_service"
    fields = (SourceField("answer", "Answer"),)
    obtained = datetime(2024, 4, 1, tzinfo=timezone.utc)

    def collect(self, user: Any) -> Iterator[Record]:
        for n in range(BIG):
            yield Record(
                "answer", f"answer number {n} with some padding text", self.obtained, group=f"survey {n % 7}"
            )


@pytest.fixture
def big_host(make_host: MakeHost) -> Host:
    return make_host(sources=[AccountSource(), BigSource()])


def stream_peak(host: Host, member: str, path: str) -> tuple[int, int, float, bytes, bytes]:
    """(peak traced bytes while streaming, bytes sent, seconds, first chunk, last chunk)."""
    client = host.client_for(member)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        response = client.get(EXPORT + path, buffered=False)
        assert response.status_code == 200
        assert response.is_streamed
        sent, first, last = 0, b"", b""
        for chunk in response.response:
            chunk = chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")
            first = first or chunk
            last = chunk
            sent += len(chunk)
        response.close()
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sent, seconds, first, last


def list_peak() -> int:
    """What holding the 100,000 records in a list would take."""
    tracemalloc.start()
    try:
        held = list(BigSource().collect(None))
        _, peak = tracemalloc.get_traced_memory()
        del held
    finally:
        tracemalloc.stop()
    return peak


@pytest.mark.slow
@pytest.mark.parametrize("path", [".json", "/big.csv"])
def test_100000_records_stream_without_being_held_in_memory(big_host, path):
    member = big_host.add_member("Big", "big@example.com")
    peak, sent, seconds, first, last = stream_peak(big_host, member, path)
    as_list = list_peak()
    print(
        f"\n{path}: {BIG:,} records, {sent:,} bytes in {seconds:.2f}s; "
        f"peak traced {peak / 1e6:.1f} MB while streaming vs {as_list / 1e6:.1f} MB for the list alone"
    )
    assert sent > BIG * 40  # every record went out
    assert peak < as_list / 5, (peak, as_list)
    if path == ".json":
        assert first.startswith(b'{"schema":"flask-ome-privacy/export","version":1')
        assert last.endswith(b"]\n}\n")
    else:
        assert first.startswith(b"\xef\xbb\xbfgroup,field,label,value,obtained_at,required")


# --- the example site -------------------------------------------------------------------------------


def test_alices_export_on_the_example_site_has_her_facebook_and_survey_data(seeded_app, client, login):
    login(client, "alice@example.com")
    response = client.get(EXPORT + ".json", headers=EN)
    assert response.status_code == 200
    data = json.loads(response.get_data())
    sources = {s["key"]: s for s in data["sources"]}
    facebook = {r["field"]: r["value"] for r in sources["facebook"]["records"]}
    assert facebook["name"] == "Hanako Yamada"
    assert sources["org_survey"]["record_count"] > 0
    profile = {r["field"] for r in sources["profile"]["records"]}
    assert {"email", "name", "postal_address"} <= profile  # the profile relationship loads while streaming
    assert {p["recipient"] for p in data["provisions"]} == {"株式会社クライアントA", "株式会社クライアントB"}
    assert "bob@example.com" not in response.get_data(as_text=True)
