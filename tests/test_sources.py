"""The data-source interface and registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from privacy_host import MakeHost, NotesSource

from flask_ome_privacy import Action, DataSource, OmePrivacy, Origin, Record, SourceField
from flask_ome_privacy.sources import SourceRegistry


class FacebookLike(DataSource):
    key = "fb"
    label = "Facebook"
    origin = Origin.SNS
    provider = "Facebook"
    category = "sns"
    fields = (SourceField("name", "Name"),)
    actions = frozenset({Action.COLLECT, Action.UNLINK})

    def collect(self, user: Any) -> Iterable[Record]:
        return []

    def unlink(self, user: Any) -> str:
        return "unlinked"


def test_register_and_look_up_in_order() -> None:
    registry = SourceRegistry()
    notes, fb = NotesSource(), FacebookLike()
    registry.register(notes)
    registry.register(fb)
    assert list(registry) == [notes, fb]
    assert registry["fb"] is fb
    assert registry.sns() == [fb]
    assert "notes" in registry


def test_duplicate_key_is_refused() -> None:
    registry = SourceRegistry()
    registry.register(NotesSource())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(NotesSource())


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"key": ""}, "key must be"),
        ({"key": "has space"}, "key must be"),
        ({"category": ""}, "category is required"),
        ({"provider": None}, "must name its provider"),
        ({"actions": frozenset({Action.COLLECT, Action.UNLINK, Action.ERASE})}, "does not implement erase"),
    ],
)
def test_bad_sources_are_refused_with_the_reason(attributes: dict[str, Any], message: str) -> None:
    source = type("Broken", (FacebookLike,), attributes)()
    with pytest.raises(ValueError, match=message):
        SourceRegistry().register(source)


def test_a_source_without_collect_is_refused() -> None:
    class NoCollect(DataSource):
        key, label, category = "x", "X", "user_info"

    with pytest.raises(ValueError, match="collect"):
        SourceRegistry().register(NoCollect())


def test_only_sns_sources_may_unlink() -> None:
    source = type("Odd", (FacebookLike,), {"origin": Origin.DIRECT})()
    with pytest.raises(ValueError, match="only SNS sources can unlink"):
        SourceRegistry().register(source)


def test_what_a_source_cannot_do_becomes_a_manual_checklist() -> None:
    fb = FacebookLike()
    assert fb.supports(Action.UNLINK)
    assert fb.manual_checklist(Action.UNLINK) == []
    assert not fb.supports(Action.CORRECT)
    assert fb.manual_checklist(Action.CORRECT)


def test_unsupported_action_raises_rather_than_pretending() -> None:
    from flask_ome_privacy import ActionNotSupported

    with pytest.raises(ActionNotSupported):
        FacebookLike().correct(None, {"name": "x"})


def test_decorator_registers_an_instance() -> None:
    privacy = OmePrivacy()

    @privacy.source
    class Registered(NotesSource):
        key = "registered"

    assert isinstance(privacy.sources["registered"], Registered)


def test_cli_lists_registered_sources(make_host: MakeHost) -> None:
    app = make_host(sources=[NotesSource(), FacebookLike()]).app
    result = app.test_cli_runner().invoke(args=["ome-privacy", "sources"])
    assert result.exit_code == 0, result.output
    assert "notes\tNotes\torigin=direct" in result.output
    assert "fb\tFacebook\torigin=sns (Facebook)" in result.output
    assert "actions=collect, unlink" in result.output
