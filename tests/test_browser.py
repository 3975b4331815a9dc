"""The annotator's view, in a real browser (issue #9).

Headless Debian Chromium, driven by Playwright, against the live Label Studio of the ``label_studio``
fixture: push a project with our generated config and guidelines, sign an annotator up, log in through the
login page, check what the labeling screen shows, label with the mouse and the hotkeys, draw the relations,
submit, pull, and check the Parquet rows.

The helpers below are also used by ``scripts/screenshots`` (the screenshots in ``docs/img``). What they
rely on in the Label Studio 1.23.2 editor:

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
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest

from claimset.labelstudio import add_annotator, project_tasks, pull, push
from claimset.scheme import load_scheme
from claimset.seeds import read_seeds

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio]

ROOT = Path(__file__).resolve().parents[1]
GUIDELINES = ROOT / "docs" / "guidelines.md"
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
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 20_000  # any single wait in the editor

# Emoji (one astral code point, then a flag of two), curly quotes, and a quote running over a paragraph
# break: each shifts UTF-16 offsets away from code points or shows Label Studio's escaped newlines.
TEXT = (
    "Minister Asha Rao 😀 said “the sanctions will fail” on Friday. “We warned them.\n\n"
    "“They did not listen,” her office added, blaming 🇮🇳 Westland for the delay."
)


def _give_up(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# --- browser helpers (also used by scripts/screenshots) ---------------------------------------------


def launch_chromium(playwright: Any) -> Browser:
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


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Chromium and Playwright are there (checked before the server is started)."""
    if not CHROMIUM.is_file():
        _give_up(f"{CHROMIUM} not found: `make browser` installs Debian's chromium and fonts-noto-color-emoji")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _give_up("the playwright package is not installed (dev extra)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            launched = launch_chromium(playwright)
        except Error as exc:
            _give_up(f"cannot launch {chromium}: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


# --- the test ---------------------------------------------------------------------------------------


def _at(phrase: str) -> tuple[int, int]:
    start = TEXT.index(phrase)
    return start, start + len(phrase)


def _utf16(offset: int) -> int:
    return len(TEXT[:offset].encode("utf-16-le")) // 2


def test_annotator_labels_in_the_browser(chromium: Path, label_studio: Any, browser: Browser, tmp_path: Path) -> None:
    scheme = load_scheme()
    client = label_studio.client
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "syn_browser.txt").write_text(f"date 2024-05-01\n\n{TEXT}\n", encoding="utf-8")
    (document,) = read_seeds(seeds)
    assert document.text == TEXT
    title = f"test browser {uuid.uuid4().hex[:8]}"
    pushed = push(title, seeds, client=client)
    (task,) = project_tasks(client, pushed.project_id)

    password = secrets.token_urlsafe(16)
    annotator = add_annotator(client, f"annotator-{secrets.token_hex(3)}@claimset.test", password)

    claim, speaker, cue, target = _at("the sanctions will fail"), _at("Asha Rao"), _at("said"), _at("Westland")
    crossing = (TEXT.index("We warned"), TEXT.index(" listen") + len(" listen"))
    assert TEXT[crossing[0] : crossing[1]] == "We warned them.\n\n“They did not listen"
    # After the emoji (cue, claim) and the flag (target), code points and UTF-16 units differ.
    assert _utf16(cue[0]) == cue[0] + 1 and _utf16(target[0]) == target[0] + 3
    assert TEXT.index("\n\n") < target[0]  # the target is in the second paragraph

    page = new_page(browser, label_studio.url)
    try:
        log_in(page, label_studio.url, annotator.email, password)
        instructions = open_labeling(page, label_studio.url, pushed.project_id)
        first_heading = GUIDELINES.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        assert "Labeling Instructions" in instructions
        assert first_heading in instructions and "How to label in Label Studio" in instructions

        # The four labels, in scheme order, with their hotkeys and colours.
        labels = page.locator(".lsf-labels .lsf-label")
        assert labels.count() == len(scheme.spans)
        for i, span in enumerate(scheme.spans):
            label = labels.nth(i)
            assert label.locator(".lsf-label__text").inner_text() == span.value
            assert label.locator(".lsf-label__hotkey").inner_text() == span.hotkey
            colour = label.evaluate("e => e.style.getPropertyValue('--color')").strip()
            assert colour.lower() == span.background.lower()
        # The text verbatim: emoji, curly quotes, and the paragraph break as two line breaks.
        shown = page.locator(".lsf-richtext__container")
        assert shown.text_content() == TEXT.replace("\n", "")
        assert shown.locator("br").count() == TEXT.count("\n")
        assert char_box(page, TEXT.index("😀"))["right"] > char_box(page, TEXT.index("😀"))["left"]

        # Regions: hotkeys 1-3, a click on the Target label; drag, double-click, drag across paragraphs.
        choose_label(page, "Claim", "1")
        drag_select(page, *claim)
        claim_region = region(page, *claim)
        set_choice(page, claim_region, "direct")
        # The region's fields are beside the text (in view), not below the whole article.
        field = page.locator("text=Claim: quote type").bounding_box()
        assert field is not None and field["x"] > char_box(page, claim[1])["right"]
        assert field["y"] < char_box(page, len(TEXT) - 1)["bottom"]

        choose_label(page, "Speaker", "2")
        drag_select(page, *speaker)
        speaker_region = region(page, *speaker)
        set_text(page, speaker_region, "speaker_entity", "Asha Rao")

        choose_label(page, "Cue", "3")
        double_click_word(page, *cue)
        cue_region = region(page, *cue)

        choose_label(page, "Target")
        double_click_word(page, *target)
        target_region = region(page, *target)
        set_text(page, target_region, "target_entity", "Westland")

        choose_label(page, "Claim", "1")
        drag_select(page, *crossing)
        crossing_region = region(page, *crossing)
        set_choice(page, crossing_region, "mixed")
        page.keyboard.press("Escape")

        relate(page, claim_region, speaker_region, "said_by")
        relate(page, claim_region, cue_region, "cued_by")
        relate(page, claim_region, target_region, "against")
        page.keyboard.press("Escape")
        created = submit(page)
    except Exception as exc:
        page.screenshot(path=str(tmp_path / "failure.png"))
        (tmp_path / "failure.html").write_text(page.content(), encoding="utf-8")
        exc.add_note(f"browser state saved in {tmp_path}/failure.png and failure.html")
        raise
    finally:
        page.context.close()
    assert created["completed_by"] == annotator.id
    drawn = [item for item in created["result"] if item["type"] == "relation"]
    assert [(r["direction"], r["labels"]) for r in drawn] == [
        ("right", ["said_by"]),
        ("right", ["cued_by"]),
        ("right", ["against"]),
    ]

    # Pull: raw export, Parquet tables, validation.
    pulled = pull(title, tmp_path / "raw", tmp_path / "gold", seeds=[document], client=client)
    assert pulled.validation.valid, pulled.validation.failures
    assert pq.read_table(tmp_path / "gold" / "rejects.parquet").num_rows == 0

    (row,) = pq.read_table(tmp_path / "gold" / "annotations.parquet").to_pylist()
    assert (row["task_id"], row["doc_id"], row["status"]) == (task.id, "syn_browser", "submitted")
    assert row["annotator"] == f"ls-user-{annotator.id}"
    assert (row["n_regions"], row["n_relations"]) == (5, 3)

    spans = pq.read_table(tmp_path / "gold" / "spans.parquet").to_pylist()
    got = {
        (s["label"], s["start"], s["end"], s["text"], s["quote_type"], s["entity"], s["offset_repair"]) for s in spans
    }
    assert got == {
        ("Claim", *claim, "the sanctions will fail", "direct", None, None),
        ("Speaker", *speaker, "Asha Rao", None, "Asha Rao", None),
        ("Cue", *cue, "said", None, None, None),
        ("Target", *target, "Westland", None, "Westland", None),
        # Label Studio stores value.text of this span with a literal backslash-n; the importer repairs it.
        ("Claim", *crossing, TEXT[crossing[0] : crossing[1]], "mixed", None, "escaped_newlines"),
    }
    assert all(s["text"] == TEXT[s["start"] : s["end"]] for s in spans)
    raw = json.loads(pulled.raw_path.read_text(encoding="utf-8"))
    raw_texts = {item["value"]["text"] for item in raw[0]["annotations"][0]["result"] if item["type"] == "labels"}
    assert "We warned them.\\n\\n“They did not listen" in raw_texts

    span_id = {(s["label"], s["start"]): s["span_id"] for s in spans}
    relations = pq.read_table(tmp_path / "gold" / "relations.parquet").to_pylist()
    head = span_id["Claim", claim[0]]
    assert {(r["head_span_id"], r["tail_span_id"], r["type"]) for r in relations} == {
        (head, span_id["Speaker", speaker[0]], "said_by"),
        (head, span_id["Cue", cue[0]], "cued_by"),
        (head, span_id["Target", target[0]], "against"),
    }
    assert len(relations) == 3
