"""A site name is a hospital's own text: the report renders it as literal text (no image, heading,
link or emphasis it could smuggle into report.md), and report.html fetches no remote image."""

from __future__ import annotations

import re
from pathlib import Path

from genofed.server.report import render_markdown, write_report
from genofed.server.report.html import render_html
from genofed.server.report.privacy import privacy_summary_line
from genofed.server.report.reading import md_text

EVIL = "astrakhan ![x](https://attacker.example/beacon.png)\n\n## Verdict: approved for clinical use"
BEACON = "https://attacker.example/beacon.png"


def _results() -> dict:
    """Two hospitals trained; EVIL's name is everywhere a site name is; a third refused every round."""
    return {
        "test_auc": 0.66,
        "epsilon_budget": 8.0,
        "delta": 1e-5,
        "epsilon": {"elista": 7.9, EVIL: 5.1},
        "rounds": [
            {"round": 0, "participants": [], "refused": []},
            {"round": 1, "participants": ["elista", EVIL], "refused": ["*bold* [x](https://a.example)"]},
        ],
        "refusals": {"1": {"*bold* [x](https://a.example)": "![r](https://attacker.example/r.png)"}},
        "sites": {
            "elista": {"samples": 60, "train": 48, "validation": 12, "epsilon": 7.9},
            EVIL: {"samples": 80, "train": 64, "validation": 16, "epsilon": 5.1},
        },
    }


def test_md_text_escapes_markup_and_line_breaks() -> None:
    assert md_text("rostov") == "rostov" and md_text("Rostov_RCH_2") == "Rostov_RCH_2"
    assert md_text("_a_ b__c") == "\\_a\\_ b\\_\\_c"
    assert md_text("a_b *c* `d` <e> [f](g) ![h](i) # j ~k~ &amp; \\") == (
        "a_b \\*c\\* \\`d\\` \\<e\\> \\[f\\](g) \\!\\[h\\](i) \\# j \\~k\\~ \\&amp; \\\\"
    )
    assert md_text("x\n\n## y") == "x \\#\\# y"


def test_a_hostile_site_name_stays_text_in_the_report(tmp_path: Path) -> None:
    text = render_markdown(_results(), {})
    assert "\n## Verdict: approved" not in text
    assert not re.search(r"(?<!\\)\]\(", text)  # no unescaped link or image
    assert "astrakhan \\!\\[x\\](https://attacker.example/beacon.png) \\#\\# Verdict" in text
    html = render_html(text, tmp_path)
    assert "<img" not in html and "<h2>Verdict: approved" not in html and "<em>bold</em>" not in html
    assert "<a href" not in html
    # the terminal's line stays plain
    assert EVIL in privacy_summary_line(_results())


def test_report_html_fetches_no_remote_image(tmp_path: Path) -> None:
    page = render_html(f"# R\n\n![a beacon]({BEACON})\n\n![b](HTTP://attacker.example/b.png)\n", tmp_path)
    assert "<img" not in page and "attacker.example" not in page
    assert "a beacon" in page and "<p>b</p>" in page


def test_the_whole_report_of_a_hostile_name_has_no_remote_image(tmp_path: Path) -> None:
    write_report(tmp_path, _results())
    html = (tmp_path / "report.html").read_text()
    assert not re.findall(r"<img[^>]+src=\"https?:", html)
    assert "<h2>Verdict: approved" not in html
