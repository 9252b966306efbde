"""report.html: the same report as report.md, as one self-contained page.

The Markdown is rendered with markdown-it-py (CommonMark plus tables), and every image is inlined
as a `data:` URI, so the page can be mailed, archived or opened on a ward computer without the run
folder. An image whose file is missing is replaced by its alt text, never by a broken link.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from pathlib import Path
from typing import Any

REPORT_HTML = "report.html"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
h1, h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .3rem .5rem; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; height: auto; }
code { background: #f3f3f3; padding: 0 .2rem; }
"""


def render_html(markdown_text: str, image_dir: Path, title: str = "Federated training report") -> str:
    """The whole report as one HTML page; images named in the Markdown are read from `image_dir`."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(markdown_text)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                _inline_image(child, image_dir)
    body = parser.renderer.render(tokens, parser.options, {})
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _inline_image(token: Any, image_dir: Path) -> None:
    """Point an image token at a data: URI of its file; an absent file becomes a note, and a remote
    (http, https) image its alt text.

    Why no remote image: report.html must open without a network fetch. A site name in the report
    comes from a hospital (a simulation's folder name, or text that reached results.json), and an
    image in it would be a beacon that tells its author when and where the report is read."""
    source = str(token.attrGet("src") or "")
    path = Path(image_dir) / source
    if source.lower().startswith(("http:", "https:")):
        token.type, token.tag, token.content = "text", "", token.content
        token.children = None
        return
    if source.startswith("data:"):
        return
    if not source or "/" in source or not path.is_file():
        token.type, token.tag, token.content = "text", "", f"[figure not available: {source}]"
        token.children = None
        return
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    token.attrSet("src", f"data:{kind};base64,{encoded}")
