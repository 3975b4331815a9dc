#!/usr/bin/env python3
"""Check a hand-written claim annotation spec (``<doc_id>.passN.yaml``) against its seed article.

Usage:
    scripts/check_spec.py SPEC.yaml [SPEC.yaml ...] [--show]
    scripts/check_spec.py --diff OLD.yaml NEW.yaml

For every span (claim, speaker, cue, target) it resolves ``quote`` + ``occurrence`` (1-based index
among all, possibly overlapping, substring matches in the canonical text) to half-open code point
offsets and verifies ``text[start:end] == quote``. It also lints the boundary and consistency rules
of docs/guidelines.md (rule ids in brackets). Exit code 1 on any error; warnings do not fail.

The canonical text is the seed as :func:`claimset.seeds.read_seed` reads it; allowed stances and
quote types come from ``schema/scheme.yaml`` (read by :func:`claimset.scheme.load_scheme`). ``scripts/submit-gold``
imports :func:`resolve` from here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from claimset.errors import ClaimsetError  # noqa: E402
from claimset.scheme import load_scheme  # noqa: E402
from claimset.seeds import read_seed  # noqa: E402

SEEDS = ROOT / "seeds"
SCHEME_FILE = ROOT / "schema" / "scheme.yaml"

QUOTE_MARKS = "\"'“”‘’«»"
FINAL_PUNCT = ".,;:"
KNOWN_ENTITIES = {  # docs/guidelines.md section 9
    "Sergey Lavrov", "MEA spokesperson", "PM", "India", "United States", "Russia", "China",
    "the West", "Quad",
}


def resolve(text: str, quote: str, occurrence: int) -> tuple[int, int] | None:
    """Offsets of the occurrence-th (1-based, overlapping) match of quote, or None."""
    if not quote or occurrence < 1:
        return None
    i = -1
    for _ in range(occurrence):
        i = text.find(quote, i + 1)
        if i < 0:
            return None
    return i, i + len(quote)


class Report:
    def __init__(self, name: str) -> None:
        self.name, self.errors, self.warnings = name, 0, 0

    def error(self, where: str, msg: str) -> None:
        self.errors += 1
        print(f"ERROR {self.name}: {where}: {msg}")

    def warn(self, where: str, msg: str) -> None:
        self.warnings += 1
        print(f"warn  {self.name}: {where}: {msg}")


def span_of(text: str, rep: Report, where: str, node: Any) -> tuple[int, int] | None:
    if not isinstance(node, dict) or "quote" not in node or "occurrence" not in node:
        rep.error(where, f"expected {{quote, occurrence}}, got {node!r}")
        return None
    quote, occ = node["quote"], node["occurrence"]
    n = text.count(quote) if quote else 0
    res = resolve(text, quote, occ)
    if res is None:
        rep.error(where, f"{quote!r} occurrence {occ} not found (text has {n} non-overlapping matches)")
        return None
    s, e = res
    if text[s:e] != quote:  # cannot happen with str.find, but this is the contract we promise
        rep.error(where, f"text[{s}:{e}] = {text[s:e]!r} != {quote!r}")
        return None
    if quote != quote.strip():
        rep.error(where, f"{quote!r} has leading/trailing whitespace")
    return s, e


def check(spec_path: Path, show: bool = False) -> tuple[Report, list[dict[str, Any]]]:
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    rep = Report(spec_path.name)
    scheme = load_scheme(SCHEME_FILE)
    stances, quote_types = set(scheme.stances), set(scheme.allowed_values("quote_type"))
    doc_id = spec.get("doc_id")
    seed = SEEDS / f"{doc_id}.txt"
    if not seed.is_file():
        rep.error("doc_id", f"no seed {seed}")
        return rep, []
    try:
        text = read_seed(seed).text
    except ClaimsetError as exc:
        raise SystemExit(str(exc)) from None
    if not spec.get("annotator"):
        rep.error("annotator", "missing")
    rows: list[dict[str, Any]] = []
    regions: dict[tuple[int, int], dict[str, set[str]]] = {}  # span -> label -> entity names

    def region(label: str, sp: tuple[int, int], entity: str | None = None) -> None:
        regions.setdefault(sp, {}).setdefault(label, set()).add(entity or "")

    ids: set[str] = set()
    for k, c in enumerate(spec.get("claims") or []):
        cid = str(c.get("id", f"#{k + 1}"))
        if cid in ids:
            rep.error(cid, "duplicate claim id")
        ids.add(cid)
        csp = span_of(text, rep, f"{cid}.claim", c.get("claim"))
        if csp:
            region("Claim", csp)
            q = text[csp[0]:csp[1]]
            if q[0] in QUOTE_MARKS or q[-1] in QUOTE_MARKS:
                rep.error(f"{cid}.claim", "span starts/ends with a quotation mark [B1]")
            if q[-1] in FINAL_PUNCT:
                rep.error(f"{cid}.claim", f"span ends with final punctuation {q[-1]!r} [B2]")
            if re.match(r"that\b", q, re.I):
                rep.warn(f"{cid}.claim", "span starts with the complementiser 'that' [B3]")
        if c.get("quote_type") not in quote_types:
            rep.error(f"{cid}.quote_type", f"{c.get('quote_type')!r} not in {sorted(quote_types)}")
        elif csp:
            before, after = text[max(0, csp[0] - 2):csp[0]], text[csp[1]:csp[1] + 2]
            quoted = any(m in before for m in "“\"") and any(m in after for m in "”\"")
            if c["quote_type"] == "direct" and not quoted and c.get("speaker") and c["speaker"]:
                # inner claims of nested attributions are indirect [Q3]; direct needs marks [Q1]
                rep.warn(f"{cid}.quote_type", "direct, but the span is not immediately inside quotation marks")
            if c["quote_type"] == "indirect" and quoted:
                rep.warn(f"{cid}.quote_type", "indirect, but the span is inside quotation marks [Q1]")
        row = {"id": cid, "claim": csp, "quote_type": c.get("quote_type")}

        sp = c.get("speaker")
        if sp is None:
            rep.warn(f"{cid}.speaker", "no speaker (allowed only by rule C3)")
        else:
            ssp = span_of(text, rep, f"{cid}.speaker", sp)
            ent = (sp.get("entity") or "").strip()
            if not ent:
                rep.error(f"{cid}.speaker", "entity is required")
            elif ent not in KNOWN_ENTITIES:
                rep.warn(f"{cid}.speaker", f"entity {ent!r} not in the guidelines' list [E1-E4]")
            if ssp:
                region("Speaker", ssp, ent)
                if re.search(r"['’]s$", sp["quote"]):
                    rep.error(f"{cid}.speaker", "mention includes a possessive 's [S2]")
                if csp and csp[0] <= ssp[0] and ssp[1] <= csp[1]:
                    rep.error(f"{cid}.speaker", "speaker mention lies inside its own claim")
            row["speaker"] = (ssp, ent)

        cue = c.get("cue")
        if cue is None:
            rep.error(f"{cid}.cue", "every claim needs a cue [K2]")
        else:
            ksp = span_of(text, rep, f"{cid}.cue", cue)
            if ksp:
                region("Cue", ksp)
                if csp and csp[0] <= ksp[0] and ksp[1] <= csp[1]:
                    rep.error(f"{cid}.cue", "cue lies inside its own claim")
            row["cue"] = ksp

        row["targets"] = []
        seen_entities: set[str] = set()
        for j, t in enumerate(c.get("targets") or []):
            where = f"{cid}.targets[{j}]"
            tsp = span_of(text, rep, where, t)
            ent = (t.get("entity") or "").strip()
            if not ent:
                rep.error(where, "entity is required")
            elif ent not in KNOWN_ENTITIES:
                rep.warn(where, f"entity {ent!r} not in the guidelines' list [E1-E4]")
            if ent in seen_entities:
                rep.error(where, f"entity {ent!r} targeted twice by one claim [T3/T5]")
            seen_entities.add(ent)
            if t.get("stance") not in stances:
                rep.error(where, f"stance {t.get('stance')!r} not in {sorted(stances)}")
            if sp and ent and ent == (sp.get("entity") or "").strip():
                rep.error(where, "target is the claim's own speaker [T2]")
            if tsp:
                region("Target", tsp, ent)
                if csp and not (csp[0] <= tsp[0] and tsp[1] <= csp[1]):
                    rep.error(where, "target mention is outside the claim span [T3]")
            row["targets"].append((tsp, ent, t.get("stance")))
        rows.append(row)

    def inside(a: tuple[int, int] | None, b: tuple[int, int] | None) -> bool:
        return bool(a and b and b[0] <= a[0] and a[1] <= b[1])

    for r in rows:  # [S1] a speaker mention inside another claim counts only for nested attributions
        ssp = r.get("speaker", (None, ""))[0]
        for o in rows:
            if o is r or not inside(ssp, o["claim"]):
                continue
            if not (inside(r["claim"], o["claim"]) and inside(r.get("cue"), o["claim"])):
                rep.error(f"{r['id']}.speaker", f"mention lies inside claim {o['id']} (not nested) [S1]")

    for (s, e), labels in sorted(regions.items()):
        for label, ents in labels.items():
            if len(ents) > 1:
                rep.error(f"region {s}:{e} {text[s:e]!r}", f"{label} used with different entities {ents}")
        if len(labels) > 1:
            rep.warn(f"region {s}:{e} {text[s:e]!r}", f"one span carries several labels {sorted(labels)}")

    if show:
        def fmt(sp: tuple[int, int] | None) -> str:
            if not sp:
                return "-"
            s, e = sp
            return f"[{s}:{e}] …{text[max(0, s - 12):s]}⟦{text[s:e]}⟧{text[e:e + 12]}…".replace("\n", "⏎")

        for r in rows:
            print(f"\n{r['id']} ({r['quote_type']}) claim {fmt(r['claim'])}")
            if "speaker" in r:
                print(f"    speaker {fmt(r['speaker'][0])}  entity={r['speaker'][1]!r}")
            print(f"    cue     {fmt(r.get('cue'))}")
            for tsp, ent, stance in r["targets"]:
                print(f"    target  {fmt(tsp)}  entity={ent!r} {stance}")
    n_t = sum(len(r["targets"]) for r in rows)
    n_sp = len({r["speaker"][0] for r in rows if r.get("speaker") and r["speaker"][0]})
    n_cue = len({r["cue"] for r in rows if r.get("cue")})
    n_treg = len({t[0] for r in rows for t in r["targets"] if t[0]})
    n_sent = len({r["speaker"][1] for r in rows if r.get("speaker")})
    print(
        f"{rep.name}: {len(rows)} claims; {n_sp} speaker regions ({n_sent} entities); {n_cue} cue regions; "
        f"{n_treg} target regions ({n_t} stance relations); {rep.errors} errors, {rep.warnings} warnings"
    )
    return rep, rows


def diff(old: Path, new: Path) -> None:
    """Print claim-by-claim field differences between two specs (for ADJUDICATION.md)."""
    a = {c["id"]: c for c in yaml.safe_load(old.read_text(encoding="utf-8"))["claims"]}
    b = {c["id"]: c for c in yaml.safe_load(new.read_text(encoding="utf-8"))["claims"]}
    for cid in list(a) + [k for k in b if k not in a]:
        if cid not in b:
            print(f"{cid}: removed")
        elif cid not in a:
            print(f"{cid}: added: {b[cid]}")
        else:
            for key in sorted(set(a[cid]) | set(b[cid])):
                if a[cid].get(key) != b[cid].get(key):
                    print(f"{cid}.{key}:\n    - {a[cid].get(key)}\n    + {b[cid].get(key)}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--diff"] and len(argv) == 3:
        diff(Path(argv[1]), Path(argv[2]))
        return 0
    show = "--show" in argv
    paths = [Path(p) for p in argv if p != "--show"]
    if not paths:
        print(__doc__)
        return 2
    failed = False
    for p in paths:
        rep, _ = check(p, show)
        failed |= rep.errors > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
