"""Every relative link in the README, docs/, bench/README.md and CHANGELOG.md points to a file that
exists and, when it names a heading, to a heading that exists.

A page of the docs site can only link inside docs/ (mkdocs serves nothing else), and a file that a
site page includes (``--8<-- "bench/README.md"``) must read right in both places. ``make docs`` checks
the site again with mkdocs --strict; this test needs no docs tooling and runs in the fast tier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TOP_LEVEL = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "bench" / "README.md"]

_FENCE = re.compile(r"^(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"\s*$')


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """The anchor of a heading, as Python-Markdown's toc (mkdocs) and GitHub both make it for the
    headings these pages use: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


@cache
def rendered(path: Path) -> str:
    """A page's text with its snippets included, as the site shows it."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _SNIPPET.match(line)
        out.append(rendered(ROOT / match.group(1)) if match else line)
    return "\n".join(out)


@cache
def anchors(path: Path) -> frozenset[str]:
    return frozenset(slug(m.group(2)) for line in prose_lines(rendered(path)) if (m := _HEADING.match(line)))


def included_by() -> dict[Path, list[Path]]:
    """File -> the site pages that include it."""
    found: dict[Path, list[Path]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            if match := _SNIPPET.match(line):
                found.setdefault((ROOT / match.group(1)).resolve(), []).append(page)
    return found


@dataclass(frozen=True)
class Link:
    source: Path  # the file the link is written in
    read_at: Path  # where it is read: the source, or a site page that includes it
    target: str

    def __str__(self) -> str:
        where = self.source.relative_to(ROOT)
        seen = "" if self.read_at == self.source else f" (read in {self.read_at.relative_to(ROOT)})"
        return f"{where}{seen}: {self.target}"


def links() -> list[Link]:
    includes = included_by()
    sources = sorted(DOCS.rglob("*.md")) + TOP_LEVEL
    found = []
    for source in sources:
        readers = [source, *includes.get(source.resolve(), [])]
        for line in prose_lines(source.read_text(encoding="utf-8")):
            for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
                target = match.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                    continue
                found.extend(Link(source, reader, target) for reader in readers)
    return found


ALL_LINKS = links()


def test_the_pages_have_links_to_check() -> None:
    assert len(ALL_LINKS) > 50
    assert any(link.source.name == "README.md" and link.source.parent == ROOT for link in ALL_LINKS)


@pytest.mark.parametrize("link", ALL_LINKS, ids=str)
def test_relative_link_resolves(link: Link) -> None:
    path_part, _, anchor = link.target.partition("#")
    target = (link.read_at.parent / path_part).resolve() if path_part else link.read_at
    assert target.exists(), f"{link}: no such file {target}"
    if link.read_at.is_relative_to(DOCS):
        assert target.is_relative_to(DOCS), f"{link}: a site page can only link inside docs/"
    if anchor:
        assert target.suffix == ".md", f"{link}: an anchor into a file that is not a page"
        assert anchor in anchors(target), f"{link}: no heading #{anchor} in {target.relative_to(ROOT)}"


def test_slugs_match_the_site_and_github() -> None:
    assert slug("Keys: SSM Parameter Store or Secrets Manager, never the template") == (
        "keys-ssm-parameter-store-or-secrets-manager-never-the-template"
    )
    assert slug("What gets deployed (`template.yaml`)") == "what-gets-deployed-templateyaml"
    assert slug("Cold start (`make cold-start`)") == "cold-start-make-cold-start"
