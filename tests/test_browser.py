"""The annotator's view, in a real browser (issue #9).

Headless Debian Chromium, driven by Playwright, against the live Label Studio of the ``label_studio``
fixture: push a project with our generated config and guidelines, sign an annotator up, log in through the
login page, check what the labeling screen shows, label with the mouse and the hotkeys, draw the relations,
submit, pull, and check the Parquet rows.

The browser is driven by the helpers of ``browserdriver.py`` (shared with ``scripts/screenshots``).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest

from browserdriver import (
    CHROMIUM,
    char_box,
    choose_label,
    double_click_word,
    drag_select,
    launch_chromium,
    log_in,
    new_page,
    open_labeling,
    region,
    relate,
    set_choice,
    set_text,
    submit,
)
from claimset.labelstudio import add_annotator, project_tasks, pull, push
from claimset.scheme import load_scheme
from claimset.seeds import read_seeds

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio]

ROOT = Path(__file__).resolve().parents[1]
GUIDELINES = ROOT / "docs" / "guidelines.md"

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
