"""Label Studio result items, in the shape the Label Studio 1.23 editor saves and exports them.

One builder per kind of item, used by every place that writes results: the baseline's predictions
(:mod:`claimset.extract`), review tasks (:mod:`claimset.adjudicate`), ``scripts/submit-gold``,
``scripts/record-fixtures`` and the tests' synthetic exports.

* :func:`region`: a labelled span (``type: labels``);
* :func:`choice` and :func:`textarea`: a per-region attribute, carrying its region's id and offsets;
  :func:`attribute` picks one by the scheme's control type;
* :func:`relation`: a directed relation between two regions;
* :func:`span`: a region and its per-region attributes as the scheme defines them.

Offsets are code points into the task text. ``origin`` is left out of an item when it is ``None``
(items saved through the API carry none; the editor writes ``manual``, predictions ``prediction``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claimset.scheme import Scheme

MANUAL = "manual"


def _item(region_id: str, from_name: str, to_name: str, kind: str, origin: str | None,
          value: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": region_id, "from_name": from_name, "to_name": to_name, "type": kind}
    if origin is not None:
        item["origin"] = origin
    item["value"] = value
    return item


def region(region_id: str, start: int, end: int, label: str, quote: str, *, from_name: str, to_name: str,
           origin: str | None = MANUAL) -> dict[str, Any]:
    """A labelled region; ``quote`` is its ``value.text`` (see :func:`editor_text`)."""
    return _item(region_id, from_name, to_name, "labels", origin,
                 {"start": start, "end": end, "text": quote, "labels": [label]})


def choice(region_id: str, start: int, end: int, value: str, *, from_name: str, to_name: str,
           quote: str | None = None, origin: str | None = MANUAL) -> dict[str, Any]:
    """A per-region Choices value; ``quote`` (the region's text) is included when given."""
    where: dict[str, Any] = {"start": start, "end": end}
    if quote is not None:
        where["text"] = quote
    return _item(region_id, from_name, to_name, "choices", origin, {**where, "choices": [value]})


def textarea(region_id: str, start: int, end: int, value: str, *, from_name: str, to_name: str,
             origin: str | None = MANUAL) -> dict[str, Any]:
    """A per-region TextArea value (Label Studio stores it as a one-item list)."""
    return _item(region_id, from_name, to_name, "textarea", origin, {"start": start, "end": end, "text": [value]})


def attribute(control: str, region_id: str, start: int, end: int, value: str, *, from_name: str, to_name: str,
              quote: str | None = None, origin: str | None = MANUAL) -> dict[str, Any]:
    """A per-region attribute of the scheme's ``control`` type (``choices`` or ``textarea``)."""
    if control == "choices":
        return choice(region_id, start, end, value, from_name=from_name, to_name=to_name, quote=quote, origin=origin)
    if control == "textarea":
        return textarea(region_id, start, end, value, from_name=from_name, to_name=to_name, origin=origin)
    raise ValueError(f"unknown per-region control {control!r}")


def relation(head: str, tail: str, label: str, direction: str = "right") -> dict[str, Any]:
    """A relation from region ``head`` to region ``tail`` (claimset's are from the Claim, ``right``)."""
    return {"from_id": head, "to_id": tail, "type": "relation", "direction": direction, "labels": [label]}


def editor_text(segment: str) -> str:
    """``value.text`` as the Label Studio 1.23 editor stores it: newlines as a literal backslash-n."""
    return segment.replace("\n", "\\n")


def span(text: str, start: int, end: int, label: str, region_id: str, *, quote_type: str | None = None,
         entity: str | None = None, scheme: Scheme | None = None) -> list[dict[str, Any]]:
    """The result items of one labelled region and its per-region attributes, as the editor saves them.

    Offsets are code points into ``text``. ``quote_type`` and ``entity`` fill the per-region controls of
    ``scheme`` (by default claimset's) for the region's label (Choices for Claims, TextArea for Speakers
    and Targets). The items carry no ``origin``, as items saved through the API.
    """
    from claimset.scheme import default_scheme

    scheme = scheme or default_scheme()
    items = [region(region_id, start, end, label, editor_text(text[start:end]), from_name=scheme.labels_name,
                    to_name=scheme.text_name, origin=None)]
    for attr in scheme.attributes_of(label):
        value = quote_type if attr.control == "choices" else entity
        if value is not None:
            items.append(attribute(attr.control, region_id, start, end, value, from_name=attr.from_name,
                                   to_name=scheme.text_name, origin=None))
    return items
