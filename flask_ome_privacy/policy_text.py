"""The privacy policy's own text, parsed into articles, paragraphs and items (no Flask).

Pages cite the policy ("Article 1.2", 「第1条第2項」) and each citation links to the paragraph
it names, so the policy must be readable as published, with a stable anchor per provision.
The host supplies the text per language (``OME_PRIVACY_POLICY_TEXT``); this module turns a
plain-text policy into a tree and names every provision:

- ``Article 1 (Title)`` / ``第1条（見出し）``: an article, anchor ``art-1``;
- ``1.`` / ``１．`` / ``１　`` at the start of a line: a paragraph, ``art-1-1``;
- ``(1)`` / ``（１）``: an item, ``art-4-5-1``;
- ``A.`` / ``ア　``: a sub-item, ``art-4-5-1-a``; ``(A)`` / ``（ア）``: a sub-sub-item,
  ``art-4-5-2-a-a`` (letters and katakana both count from one, so anchors match across
  languages);
- any other line continues the provision above it (so a table or an indented explanation
  stays with its paragraph); lines before the first article are the preamble, and lines
  that start at the margin after the last article's last provision are the closing part
  (the contact block).

A reference is written as the pages cite it: ``"1.2"``, ``"2.2(1)"``, ``"4.5(2)B(A)"``, ``"5"``.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = [
    "Provision",
    "Article",
    "Policy",
    "PolicyTextError",
    "parse",
    "load_policies",
    "anchor_for",
    "citation_label",
]

#: Sub-item letters in Japanese, in the order Japanese documents count them.
KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"

_ARTICLE = re.compile(r"^(?:Article\s+(\d+)\s*[(（](.*)[)）]|第(\d+)条\s*[(（](.*)[)）])\s*$")
_PARAGRAPH = re.compile(r"^(\d+)(?:\.\s+|．\s*|　+)(.*)$")
_ITEM = re.compile(r"^[(（](\d+)[)）]\s*(.*)$")
_SUB_ITEM = re.compile(rf"^(?:([A-Z])\.\s+|([{KATAKANA}])[　 ]+)(.*)$")
_SUB_SUB_ITEM = re.compile(rf"^[(（]([A-Z]|[{KATAKANA}])[)）]\s*(.*)$")
_REFERENCE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\((\d+)\))?(?:([A-Z]))?(?:\(([A-Z])\))?$")


class PolicyTextError(ValueError):
    """The configured policy text cannot be read or has no articles."""


@dataclass
class Provision:
    """A numbered paragraph, item or sub-item: its number path, marker as written, and text."""

    path: tuple[int, ...]  # (article, paragraph, item, sub-item, sub-sub-item), as deep as it goes
    marker: str
    lines: list[str] = field(default_factory=list)
    children: list[Provision] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return anchor_of(self.path)

    @property
    def level(self) -> int:
        """1 paragraph, 2 item, 3 sub-item, 4 sub-sub-item."""
        return len(self.path) - 1

    def walk(self) -> Iterator[Provision]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Article:
    number: int
    heading: str  # the whole heading line, e.g. "Article 1 (Handling of Personal Information)"
    title: str
    lines: list[str] = field(default_factory=list)  # unnumbered text before the first paragraph
    paragraphs: list[Provision] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return anchor_of((self.number,))

    def walk(self) -> Iterator[Provision]:
        for paragraph in self.paragraphs:
            yield from paragraph.walk()


@dataclass
class Policy:
    title: str
    preamble: list[str]
    articles: list[Article]
    closing: list[str]

    def provisions(self) -> Iterator[Provision]:
        """Every numbered provision, in document order."""
        for article in self.articles:
            yield from article.walk()

    @cached_property
    def anchors(self) -> frozenset[str]:
        """Every anchor on the policy page (articles and provisions)."""
        return frozenset([a.anchor for a in self.articles] + [p.anchor for p in self.provisions()])


def anchor_of(path: Sequence[int]) -> str:
    parts = [str(n) if level < 3 else chr(ord("a") + n - 1) for level, n in enumerate(path)]
    return "art-" + "-".join(parts)


def _letter_number(letter: str) -> int:
    if letter in KATAKANA:
        return KATAKANA.index(letter) + 1
    return ord(letter) - ord("A") + 1


def _reference_path(ref: str) -> tuple[int, ...]:
    match = _REFERENCE.match(ref.replace(" ", ""))
    if match is None:
        raise ValueError(f"Not a policy reference: {ref!r} (write it like '1.2', '2.2(1)' or '4.5(2)B(A)')")
    article, paragraph, item, sub, sub_sub = match.groups()
    path = [int(article)]
    for part in (paragraph, item):
        if part is None:
            break
        path.append(int(part))
    else:
        for letter in (sub, sub_sub):
            if letter is None:
                break
            path.append(_letter_number(letter))
    return tuple(path)


def anchor_for(ref: str) -> str:
    """``"2.2(1)"`` -> ``"art-2-2-1"``; ``"4.5(2)B(A)"`` -> ``"art-4-5-2-b-a"``."""
    return anchor_of(_reference_path(ref))


def citation_label(ref: str, language: str) -> str:
    """How a citation reads: "Article 2.2(1)" in English, 「第2条第2項第1号」 in Japanese."""
    path = _reference_path(ref)
    if language.split("_")[0].split("-")[0] == "ja":
        label = f"第{path[0]}条"
        for level, number in enumerate(path[1:], start=1):
            if level == 1:
                label += f"第{number}項"
            elif level == 2:
                label += f"第{number}号"
            elif level == 3:
                label += KATAKANA[number - 1]
            else:
                label += f"（{KATAKANA[number - 1]}）"
        return label
    return f"Article {ref.replace(' ', '')}"


def _classify(line: str) -> tuple[int, int, str] | None:
    """(level, number, rest of the line) for a line that starts a provision, else None."""
    stripped = line.strip()
    digits = _digits(stripped)  # same length as ``stripped``, so offsets carry over
    if (m := _ITEM.match(digits)) is not None:
        return 2, int(m.group(1)), stripped[m.start(2) :]
    if (m := _SUB_SUB_ITEM.match(stripped)) is not None:
        return 4, _letter_number(m.group(1)), m.group(2)
    if (m := _SUB_ITEM.match(stripped)) is not None:
        return 3, _letter_number(m.group(1) or m.group(2)), m.group(3)
    if (m := _PARAGRAPH.match(digits)) is not None:
        return 1, int(m.group(1)), stripped[m.start(2) :]
    return None


def _digits(text: str) -> str:
    """Full-width digits as ASCII, everything else unchanged (same length)."""
    return "".join(str(unicodedata.digit(ch)) if "０" <= ch <= "９" else ch for ch in text)


def _marker(line: str, rest: str) -> str:
    stripped = line.strip()
    return stripped[: len(stripped) - len(rest)].strip() if rest else stripped


def parse(text: str) -> Policy:
    """Parse a plain-text policy (see the module docstring for what it recognises)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    title = ""
    preamble: list[str] = []
    articles: list[Article] = []
    closing: list[str] = []
    last_numbered = max(
        (i for i, line in enumerate(lines) if line.strip() and _classify(line) is not None), default=-1
    )
    stack: list[Provision] = []  # the open provisions, outermost first
    in_closing = False
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if in_closing:
            closing.append(line)
            continue
        heading = _ARTICLE.match(_digits(line))
        if heading is not None:
            number = int(heading.group(1) or heading.group(3))
            articles.append(Article(number, line, (heading.group(2) or heading.group(4) or "").strip()))
            stack = []
            continue
        if not articles:
            if not title:
                title = line
            else:
                preamble.append(line)
            continue
        article = articles[-1]
        kind = _classify(raw)
        if kind is None:
            at_margin = raw[:1] not in (" ", "\t", "　")
            if index > last_numbered and at_margin and stack:
                in_closing = True
                closing.append(line)
            elif stack:
                stack[-1].lines.append(line)
            else:
                article.lines.append(line)
            continue
        level, number, rest = kind
        while stack and stack[-1].level >= level:
            stack.pop()
        parent_path = stack[-1].path if stack else (article.number,)
        if len(parent_path) != level:  # e.g. "(1)" straight under an article: treat as text
            (stack[-1].lines if stack else article.lines).append(line)
            continue
        provision = Provision(parent_path + (number,), _marker(raw, rest), [rest] if rest else [])
        (stack[-1].children if stack else article.paragraphs).append(provision)
        stack.append(provision)
    if not articles:
        raise PolicyTextError("The privacy policy text has no articles (lines like 'Article 1 (...)').")
    return Policy(title=title, preamble=preamble, articles=articles, closing=closing)


PolicySetting = Mapping[str, Any] | Callable[[str], Any] | None


def load_policies(setting: PolicySetting, languages: Sequence[str], root_path: str) -> dict[str, Policy]:
    """Read ``OME_PRIVACY_POLICY_TEXT``: ``{"en": path-or-text, ...}`` or ``loader(language)``.

    A value without a line break is a file path (relative to ``root_path``, the app's folder);
    a value with line breaks is the text itself; a loader returns either, or None for a
    language it does not have. Raises ``PolicyTextError`` on a missing file or a text
    without articles, so a broken setting fails at start-up rather than on a reader's page.
    """
    if not setting:
        return {}
    policies: dict[str, Policy] = {}
    values = {lang: setting(lang) for lang in languages} if callable(setting) else dict(setting)
    for language, value in values.items():
        if value is None or value == "":
            continue
        text = _read(value, root_path, language)
        try:
            policies[language] = parse(text)
        except PolicyTextError as error:
            raise PolicyTextError(f"OME_PRIVACY_POLICY_TEXT[{language!r}]: {error}") from None
    return policies


def _read(value: Any, root_path: str, language: str) -> str:
    if isinstance(value, os.PathLike) or (isinstance(value, str) and "\n" not in value):
        path = os.path.join(root_path, os.fspath(value))
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except OSError as error:
            raise PolicyTextError(
                f"OME_PRIVACY_POLICY_TEXT[{language!r}]: cannot read {path}: {error.strerror}"
            ) from None
    return str(value)
