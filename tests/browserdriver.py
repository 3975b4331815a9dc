"""Driving Label Studio 1.23.2's labeling screen in headless Chromium, with Playwright.

Shared by the browser test (``tests/test_browser.py``) and ``scripts/screenshots``. What the helpers
rely on in the editor:

* the text is rendered in ``.lsf-richtext__container``: one ``span.lsf-richtext__line`` per line, a
  ``<br>`` per ``\\n``; a region is one or more ``span.htx-highlight`` whose first piece carries
  ``data-start`` and last piece ``data-end`` and ``data-label="<index>:<Label>"`` (code points);
* labels are ``.lsf-labels .lsf-label`` (``.lsf-label__text``, ``.lsf-label__hotkey``, colour in the
  ``--color`` style property); the active one has ``.lsf-label_selected``; ``Escape`` unselects the
  region and the label (a label hotkey pressed while a region is selected would relabel that region);
* a selected region shows the per-region controls and, in the side panel, ``Create Relation``; after it,
  a click on another region draws the relation (Claim -> other, ``direction: right``); its label is set
  in the Relations tab: ``Show Relation Labels`` on the relation, then the select's
  ``select-option-<value>``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, ViewportSize

CHROMIUM = Path(os.environ.get("CLAIMSET_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
TIMEOUT_MS = 20_000  # any single wait in the editor


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def new_page(browser: Browser, base_url: str) -> Page:
    """A page in a fresh context that may only talk to the Label Studio server (no CDN, no telemetry)."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    allowed = urlsplit(base_url).netloc

    def only_server(route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.netloc == allowed:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_server)
    return context.new_page()


def log_in(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/user/login/")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/user/login" not in url)


def open_labeling(page: Page, base_url: str, project_id: int) -> str:
    """Open the project's labeling stream; return the text of the instructions shown first, then close them."""
    page.goto(f"{base_url}/projects/{project_id}/data?labeling=1")
    modal = page.locator(".lsf-modal-ls__content")
    modal.wait_for()
    instructions = modal.inner_text()
    page.click("button[aria-label='Close modal']")
    modal.wait_for(state="hidden")
    page.locator(".lsf-richtext__container").wait_for()
    return instructions


# Screen boxes of the characters at code-point offsets [start, end) of the document (null for a "\n"):
# walks the rendered text nodes counting code points, and each <br> as one "\n", as the editor lays out
# the text. Independent of Label Studio's own offset code, which the test checks.
_CHAR_BOXES = """([start, end]) => {
  const root = document.querySelector('.lsf-richtext__container');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
  const boxes = [];
  let pos = 0, node;
  while ((node = walker.nextNode()) && pos < end) {
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (node.tagName === 'BR') { if (pos >= start) boxes.push(null); pos += 1; }
      continue;
    }
    for (let i = 0; i < node.data.length && pos < end;) {
      const width = node.data.codePointAt(i) > 0xffff ? 2 : 1;
      if (pos >= start) {
        const range = document.createRange();
        range.setStart(node, i); range.setEnd(node, i + width);
        const b = range.getBoundingClientRect();
        boxes.push({left: b.left, right: b.right, top: b.top, bottom: b.bottom});
      }
      pos += 1; i += width;
    }
  }
  return boxes;
}"""


def char_boxes(page: Page, start: int, end: int) -> list[dict[str, float] | None]:
    boxes: list[dict[str, float] | None] = page.evaluate(_CHAR_BOXES, [start, end])
    assert len(boxes) == end - start, f"offsets {start}..{end} are not all in the rendered text"
    return boxes


def char_box(page: Page, offset: int) -> dict[str, float]:
    (box,) = char_boxes(page, offset, offset + 1)
    assert box is not None, f"offset {offset} is a line break"
    return box


def _centre(box: dict[str, float]) -> tuple[float, float]:
    return (box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2


def drag_select(page: Page, start: int, end: int) -> None:
    """Select text[start:end] with the mouse: press on the first character's left edge, release on the
    last character's right edge (a real drag, several mouse moves)."""
    first, last = char_box(page, start), char_box(page, end - 1)
    page.mouse.move(first["left"] + 1, _centre(first)[1])
    page.mouse.down()
    page.mouse.move(last["right"] - 1, _centre(last)[1], steps=8)
    page.mouse.up()


def double_click_word(page: Page, start: int, end: int) -> None:
    """Double-click the middle of the word text[start:end] (the browser selects the word)."""
    page.mouse.dblclick(*_centre(char_box(page, (start + end) // 2)))


def choose_label(page: Page, label: str, hotkey: str | None = None) -> None:
    """Unselect any region, then make ``label`` the active label with its hotkey, or by clicking it."""
    page.keyboard.press("Escape")
    page.locator(".lsf-label_selected").wait_for(state="detached")
    if hotkey:
        page.keyboard.press(hotkey)
    else:
        page.locator(".lsf-labels .lsf-label", has_text=re.compile(rf"^{label}")).click()
    page.locator(".lsf-label_selected", has_text=re.compile(rf"^{label}")).wait_for()


# The highlight class ``htx-highlight-<region id>-<index>`` of the region whose first piece has
# data-start=start and last piece data-end=end, or null.
_REGION_CLASS = """([start, end]) => {
  for (const piece of document.querySelectorAll(`.htx-highlight[data-start="${start}"]`)) {
    const own = [...piece.classList].find(c => c.startsWith('htx-highlight-'));
    if (own && document.querySelector(`[class~="${own}"][data-end="${end}"]`)) return own;
  }
  return null;
}"""


@dataclass(frozen=True)
class Region:
    """A region on the screen, by its offsets (code points) and its highlight class."""

    start: int
    end: int
    css_class: str

    @property
    def index(self) -> str:
        """Its number in the regions and relations lists."""
        return self.css_class.rsplit("-", 1)[1]

    def click(self, page: Page) -> None:
        """Click a character of the region that no other region covers (targets nest in claims)."""
        for box in char_boxes(page, self.start, self.end):
            if box is None:
                continue
            x, y = _centre(box)
            top = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y)?.closest('.htx-highlight')?.className ?? ''", [x, y]
            )
            if self.css_class in top.split():
                page.mouse.click(x, y)
                return
        raise AssertionError(f"region {self.start}..{self.end} has no character of its own to click")


def region(page: Page, start: int, end: int) -> Region:
    """The region text[start:end], once the editor shows it: this checks its offsets are code points."""
    page.wait_for_function(f"({_REGION_CLASS})({json.dumps([start, end])}) !== null")
    return Region(start, end, page.evaluate(_REGION_CLASS, [start, end]))


def set_choice(page: Page, where: Region, value: str) -> None:
    where.click(page)
    page.locator(f"label:has(input.ant-radio-input[name='{value}'])").click()
    page.locator(f"input.ant-radio-input[name='{value}']:checked").wait_for()


def set_text(page: Page, where: Region, control: str, value: str) -> None:
    where.click(page)
    box = page.locator(f"input[name='{control}']")
    box.fill(value)
    box.press("Enter")
    page.locator(f"[name^='{control}:']", has_text=value).wait_for()  # the submitted value is listed


_RELATION_ITEM = """([head, tail]) => [...document.querySelectorAll('.lsf-relations__item')].findIndex(item =>
  [...item.querySelectorAll('.lsf-detailed-region__index_value')].map(e => e.textContent.trim()).join(',')
  === head + ',' + tail)"""


def relate(page: Page, head: Region, tail: Region, relation: str) -> None:
    """Draw a relation from region ``head`` to region ``tail`` and give it the label ``relation``."""
    head.click(page)
    page.click("button[aria-label='Create Relation']")
    tail.click(page)
    page.click(".lsf-panel-tabs__tab:has-text('Relations')")
    pair = [head.index, tail.index]
    page.wait_for_function(f"({_RELATION_ITEM})({json.dumps(pair)}) >= 0")
    item = page.locator(".lsf-relations__item").nth(page.evaluate(_RELATION_ITEM, pair))
    meta = item.locator(".lsf-relation-meta")
    if not meta.count():
        item.hover()
        item.locator("button[aria-label='Show Relation Labels']").click()
    meta.locator("button[data-slot='popover-trigger']").click()
    page.locator(f"[data-testid='select-option-{relation}']").click()
    page.keyboard.press("Escape")
    page.locator("[data-testid='select-popup']").wait_for(state="detached")
    assert meta.inner_text().strip() == relation


def submit(page: Page) -> dict[str, Any]:
    """Press Submit; return the annotation the server created, or fail with the editor's warning."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def created(response: Any) -> bool:
        return re.search(r"/api/tasks/\d+/annotations", response.url) is not None and response.request.method == "POST"

    try:
        with page.expect_response(created) as response:
            page.click("[data-testid='bottombar-submit-button']")
    except PlaywrightTimeout:
        warning = page.locator(".ant-modal-confirm-content")
        shown = warning.inner_text() if warning.count() else "no warning shown"
        raise AssertionError(f"Submit saved no annotation; the editor says: {shown}") from None
    assert response.value.status == 201, response.value.text()
    return response.value.json()  # type: ignore[no-any-return]
