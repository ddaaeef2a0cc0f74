"""What every page must pass in the browser: styled by the console's stylesheet, nothing wider
than its box or the window (at a desktop and a phone width), no browser error (a CSP
violation is one), no dialog; and a screenshot of it at both widths in the test's tmp dir."""

from __future__ import annotations

import re

from tests.integration.console.conftest import Tab

REFUSED_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of 40[013] ")

WIDTHS = (1280, 390)

OVERFLOWS = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push(`the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  }
  const classes = (el) => typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
  const name = (el) => [el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""), ...classes(el)]
    .filter(Boolean).join(".");
  for (const el of document.body.querySelectorAll("*")) {
    if (el instanceof SVGElement && el.tagName.toLowerCase() !== "svg") continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    // A table may scroll sideways inside its wrapper on a phone: that is not overflow.
    const wrap = el.closest(".table-wrap");
    if (wrap !== null && wrap !== el) continue;
    if (el.closest(".visually-hidden") !== null) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && (box.right > root.clientWidth + 1 || box.left < -1)) {
      const span = `${Math.round(box.left)} to ${Math.round(box.right)}`;
      problems.push(`${name(el)} sticks out of the window (${span})`);
    }
    if (style.display !== "inline" && style.overflowX === "visible" && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${name(el)} holds ${el.scrollWidth}px in ${el.clientWidth}px`);
    }
  }
  return problems;
}"""

STYLED = """() => ({
  stylesheet: getComputedStyle(document.documentElement).getPropertyValue("--console-stylesheet").trim(),
  font: getComputedStyle(document.body).fontFamily,
  rules: Array.from(document.styleSheets).reduce((n, s) => n + s.cssRules.length, 0),
})"""


def check_page(tab: Tab, name: str) -> None:
    page = tab.page
    page.wait_for_load_state("load")
    styled = page.evaluate(STYLED)
    assert styled["stylesheet"] == "loaded", f"{name}: the console's stylesheet is not applied"
    assert styled["rules"] > 50, f"{name}: the stylesheet has only {styled['rules']} rules"
    # The browser's default is a serif (Times); ours starts with the system's UI font.
    assert styled["font"].startswith("system-ui"), f"{name}: unstyled font {styled['font']}"
    size = page.viewport_size
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 860})
            problems = page.evaluate(OVERFLOWS)
            assert not problems, f"{name} at {width}px: {problems[:5]}"
            page.screenshot(path=str(tab.shots / f"{name}-{width}.png"), full_page=True)
    finally:
        page.set_viewport_size(size)
    # A refused form answers 400, 401 or 403 on purpose; anything else (a missing stylesheet, a
    # CSP violation, a script error) is a fault.
    errors = [e for e in tab.errors if not REFUSED_STATUS.search(e)]
    assert not errors, f"{name}: the browser reported {errors}"
    assert not tab.dialogs, f"{name}: a dialog opened: {tab.dialogs}"
