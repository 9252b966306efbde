"""report.html in a real browser: headless Chromium opens it, and every image must have loaded.

Chromium is a test tool (deploy/install.sh --test installs Debian's `chromium`). Without it the
test is skipped on a developer's machine and fails in CI (GENOFED_REQUIRE_ORACLES=1), as the other
external tools are (docs/testing.md).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers import require_tool
from helpers.report_run import write_run

from genofed.server.report import AUC_PLOT, CALIBRATION_PLOT, PRIVACY_PLOT, REPORT_HTML, write_report

# Written into the page when it has loaded: how many <img> decoded (naturalWidth > 0) of how many.
_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var out = document.createElement("p");
  out.id = "image-check";
  out.textContent = loaded + "/" + images.length;
  document.body.appendChild(out);
});
</script>
"""


def _browser_count(browser: str, page: Path) -> tuple[int, int]:
    """(images loaded, images) as Chromium sees `page` once it has loaded."""
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # tests may run as root (containers, CI)
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    found = re.search(r'<p id="image-check">(\d+)/(\d+)</p>', done.stdout)
    assert found, f"Chromium did not render the page (exit {done.returncode}): {done.stderr[-2000:]}"
    return int(found.group(1)), int(found.group(2))


def test_report_html_is_self_contained_and_every_image_loads(tmp_path: Path) -> None:
    browser = require_tool("chromium")  # Debian's package name
    run_dir, results = write_run(tmp_path)
    write_report(run_dir, results)
    html = (run_dir / REPORT_HTML).read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    for name in (AUC_PLOT, PRIVACY_PLOT, CALIBRATION_PLOT):
        assert name not in "".join(sources)
    # moved away from its plots, the page must still show them: nothing is read from the run folder
    page = tmp_path / "elsewhere" / "checked.html"
    page.parent.mkdir()
    page.write_text(html.replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    assert _browser_count(browser, page) == (3, 3)
    assert "<table>" in html and "<h2>Verdict</h2>" in html


def test_a_broken_image_is_counted_as_not_loaded(tmp_path: Path) -> None:
    """The check itself can fail: a page whose image does not decode reports 0 of 1."""
    browser = require_tool("chromium")  # Debian's package name
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">' + _CHECK + "</body></html>"
    )
    assert _browser_count(browser, page) == (0, 1)
