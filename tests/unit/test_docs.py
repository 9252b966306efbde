"""The documentation a newcomer reads first stays short, its links work, and it speaks of features.

Three promises, checked in well under a second:
- README.md stays under 12,000 bytes: what genofed is, the two commands, a map of docs/, the
  layout; everything else lives in docs/, one page per topic.
- Every relative Markdown link in README.md, deploy/README.md and docs/**/*.md names a file that
  exists (anchors and http(s) links are not followed): pages move, and a dead link is how a
  reader finds out.
- No "issue N" reference in the docs or in the source: a reader does not have the project's
  tracker, so the text says what the feature is (e.g. "genotype augmentation").
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The README's budget in bytes.
README_LIMIT = 12_000

#: `[text](target)`; the target stops at whitespace or the closing parenthesis (an optional
#: title, `[text](target "title")`, is not part of it).
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
ISSUE_REFERENCE = re.compile(r"\bissues? #?\d+", re.IGNORECASE)

#: Source rooms whose .py files must not point at the tracker.
SOURCE_ROOMS = ("common", "client", "server", "simulations", "cli", "bench")


def markdown_pages() -> list[Path]:
    """README.md, the deployment guide and every page under docs/."""
    pages = [ROOT / "README.md", ROOT / "deploy" / "README.md"]
    return pages + sorted((ROOT / "docs").rglob("*.md"))


def relative_links(page: Path) -> list[str]:
    """The link targets of `page` that point at a file of the repository (not a web address, not
    an anchor on the same page), without their `#anchor`. Links inside code are not links."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    targets = []
    for target in LINK.findall(INLINE_CODE.sub("``", text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def issue_references(path: Path) -> list[str]:
    """`path:line: text` for every line of `path` that names an issue by number."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if ISSUE_REFERENCE.search(line):
            found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_readme_is_under_its_budget() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail to a page under docs/"


def test_docs_pages_exist() -> None:
    assert (ROOT / "docs" / "layout.md").is_file()
    assert len(markdown_pages()) > 3


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in markdown_pages():
        for target in relative_links(page):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_link_parsing_skips_web_addresses_anchors_and_code(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "[a](other.md#part) [b](https://flower.ai) [c](#here) `[d](in-code.md)`\n"
        '[e](sub/page.md "title")\n```\n[f](fenced.md)\n```\n',
        encoding="utf-8",
    )
    assert relative_links(page) == ["other.md", "sub/page.md"]


def test_no_issue_numbers_in_docs_or_source() -> None:
    files = markdown_pages()
    for room in SOURCE_ROOMS:
        files += sorted((ROOT / room).rglob("*.py"))
    found = [hit for path in files for hit in issue_references(path)]
    assert not found, "say what the feature is instead of naming an issue by number:\n" + "\n".join(found)
