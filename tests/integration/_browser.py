"""Render an HTML page in headless Chromium and read back what a reader would see.

No CDP client and no Playwright: a copy of the page gets a small script appended that, once
Chromium has laid the page out, writes its findings into the DOM as JSON — the text a reader
sees (``innerText``: hover tooltips are not part of it), boxes that stick out of the page or
of their container, SVG labels outside their picture, and uplink-cut labels drawn over one
another — and ``chromium --dump-dom`` prints the DOM with it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)  # fmt: skip

_PROBE = r"""
<script>
(function () {
  const out = {overflow: [], outside: [], overlapping: []};
  const page = document.documentElement.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width + 1)
    out.overflow.push("page is " + document.documentElement.scrollWidth + " px wide in " + width);
  const body = document.body.getBoundingClientRect();
  for (const el of document.querySelectorAll("table, figure, svg, .card, .agency, section, p, h2")) {
    const r = el.getBoundingClientRect();
    if (r.right > body.right + 1 || r.left < body.left - 1)
      out.overflow.push(el.tagName.toLowerCase() + "." + el.className.baseVal + el.className +
                        " spans " + Math.round(r.left) + "-" + Math.round(r.right) +
                        " of " + Math.round(body.left) + "-" + Math.round(body.right));
    const parent = el.parentElement.getBoundingClientRect();
    if (el.tagName !== "svg" && r.right > parent.right + 1)
      out.overflow.push(el.tagName.toLowerCase() + " sticks out of its container by " +
                        Math.round(r.right - parent.right) + " px: " +
                        (el.innerText || "").slice(0, 60));
  }
  for (const svg of document.querySelectorAll("svg")) {
    const box = svg.getBoundingClientRect();
    const cuts = [];
    for (const t of svg.querySelectorAll("text")) {
      const b = t.getBoundingClientRect();
      if (b.left < box.left - 1 || b.top < box.top - 1 || b.right > box.right + 1 ||
          b.bottom > box.bottom + 1)
        out.outside.push(svg.getAttribute("data-figure") + ": " + t.textContent);
      if (t.textContent.startsWith("uplink cut:")) cuts.push(b);
    }
    for (let i = 0; i < cuts.length; i++) for (let j = i + 1; j < cuts.length; j++) {
      const a = cuts[i], b = cuts[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
        out.overlapping.push("two uplink-cut labels overlap: " + cuts[i] + cuts[j]);
    }
  }
  out.text = document.body.innerText;
  const pre = document.createElement("pre");
  pre.id = "borderlink-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("the report test needs headless Chromium: apt-get install -y chromium "
                    "(.ci/run installs it)")
    return found


def render(page: Path, work: Path, width: int = 1280) -> dict[str, Any]:
    """Lay *page* out at *width* px in Chromium; the probe's findings (``text`` included)."""
    probed = work / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"),
                      encoding="utf-8")  # fmt: skip
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium-profile'}",
         f"--window-size={width},2000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    match = re.search(r'<pre id="borderlink-probe">(.*?)</pre>', done.stdout, re.S)
    assert match, f"Chromium did not run the page (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))  # type: ignore[no-any-return]
