"""The ``claimset`` command line: parse arguments, call one library function, print its result.

Library errors (:class:`claimset.errors.ClaimsetError`) become one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from claimset.errors import ClaimsetError

app = typer.Typer(
    name="claimset",
    help="Build, check and score the claimset gold dataset of attributed claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit 1."""
    err.print(f"Error: {message}", markup=False)
    raise typer.Exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors into a one-line message and exit code 1."""
    try:
        yield
    except ClaimsetError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


# --- commands -------------------------------------------------------------------------------------

SEEDS_DIR = Path("seeds")
RAW_DIR = Path("annotations/raw")
GOLD_DIR = Path("annotations/gold")
CROISSANT = Path("annotations/croissant.json")


@app.command("agree")
def agree_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder with several annotators' annotations.")],
    output_format: FormatOption = Format.text,
) -> None:
    """Inter-annotator agreement: span F1, token alpha, claim speakers, attribute kappa, relation F1."""
    from claimset.agreement import agreement, report_markdown, report_summary, report_tables

    with cli_errors():
        report = agreement(directory).to_dict()
    if output_format is Format.json:
        print_json(report)
    elif output_format is Format.markdown:
        sys.stdout.write(report_markdown(report))
    else:
        from rich.table import Table

        out.print(report_summary(report), markup=False)
        for title, header, rows in report_tables(report):
            table = Table(title=title, title_justify="left")
            for i, name in enumerate(header):
                table.add_column(name, justify="left" if i == 0 else "right")
            for row in rows:
                table.add_row(*row)
            out.print(table)


@app.command("adjudicate")
def adjudicate_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder with several annotators' annotations.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the adjudicated gold tables.")],
    review_tasks: Annotated[Path | None, typer.Option("--review-tasks", help="Also write the review list as "
                                                      "Label Studio tasks (JSON) to this file.")] = None,
    output_format: FormatOption = Format.text,
) -> None:
    """Ground truth or strict majority per document into gold tables; the rest into a review list."""
    from claimset.adjudicate import adjudicate, review_to_labelstudio, write_review_tasks
    from claimset.agreement import load_corpus

    with cli_errors():
        result = adjudicate(directory, out_dir)
        if review_tasks is not None:
            write_review_tasks(review_to_labelstudio(result.review, load_corpus(directory).texts), review_tasks)
    summary = result.to_dict()
    if output_format is Format.json:
        print_json(summary)
        return
    out.print(f"adjudicated {summary['documents']} document(s) into {out_dir}: {len(summary['ground_truth'])} by "
              f"ground truth, {len(summary['majority'])} by majority; {summary['spans']} spans, "
              f"{summary['relations']} relations", markup=False)
    reasons = ", ".join(f"{k} {v}" for k, v in summary["review_by_reason"].items())
    out.print(f"review: {summary['review_items']} item(s)" + (f" ({reasons})" if reasons else "")
              + f" in {out_dir / 'review.jsonl'}", markup=False)
    if summary["ground_truth_conflicts"]:
        out.print("several ground-truth annotations (latest used): " + ", ".join(summary["ground_truth_conflicts"]),
                  markup=False)
    if review_tasks is not None:
        out.print(f"wrote review tasks to {review_tasks}", markup=False)


@app.command("push")
def push_command(
    project: Annotated[str, typer.Option("--project", help="Label Studio project title (created if missing).")],
    seeds: Annotated[Path, typer.Option(help="Folder of seed articles.")] = SEEDS_DIR,
    predictions: Annotated[
        Path | None, typer.Option(help="JSON/JSONL of {doc_id, result, model_version} in code-point offsets.")
    ] = None,
    force_new_version: Annotated[
        bool, typer.Option("--force-new-version", help="Add a new task version for documents whose text changed.")
    ] = False,
) -> None:
    """Push seed documents (and predictions) to a live Label Studio (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY)."""
    from claimset.labelstudio import push

    with cli_errors():
        r = push(project, seeds, predictions=predictions, force_new_version=force_new_version)
    state = "created" if r.project_created else "updated" if r.settings_updated else "found"
    out.print(f"project {r.project_title!r} (id {r.project_id}) {state}")
    out.print(
        f"tasks: {r.created} created, {r.unchanged} unchanged, {r.new_versions} new versions; "
        f"predictions: {r.predictions} uploaded, {r.predictions_unchanged} already there"
    )


@app.command("pull")
def pull_command(
    project: Annotated[str, typer.Option("--project", help="Label Studio project title.")],
    raw_dir: Annotated[Path, typer.Option("--raw-dir", help="Folder for the raw JSON export.")] = RAW_DIR,
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder for the Parquet tables.")] = GOLD_DIR,
    seeds: Annotated[Path | None, typer.Option(help="Seed folder: canonical texts to anchor spans in.")] = None,
) -> None:
    """Export a live Label Studio project, keep the raw JSON, import and validate it."""
    from claimset.labelstudio import pull
    from claimset.seeds import read_seeds

    with cli_errors():
        r = pull(project, raw_dir, out_dir, seeds=read_seeds(seeds) if seeds else ())
    s = r.imported
    out.print(f"exported {r.tasks} tasks of {r.project_title!r} (snapshot {r.export_id}) to {r.raw_path}")
    out.print(
        f"imported {s.annotations} annotations ({s.submitted} submitted, {s.cancelled} cancelled, "
        f"{s.drafts} drafts skipped), {s.regions.written} spans, {s.relations.written} relations into {out_dir}"
    )
    if r.validation.valid:
        out.print("validation: ok")
    else:
        err.print(f"validation: {len(r.validation.failures)} failures (run: claimset validate {out_dir})")
        raise typer.Exit(1)


@app.command("scheme")
def scheme_command(
    write: Annotated[bool, typer.Option("--write", help="Regenerate schema/label-config.xml.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if label-config.xml is stale.")] = False,
) -> None:
    """Print the Label Studio labeling config generated from schema/scheme.yaml."""
    from claimset.scheme import DEFAULT_CONFIG_PATH, label_config_xml, load_scheme

    with cli_errors():
        xml = label_config_xml(load_scheme())
        if check:
            current = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8") if DEFAULT_CONFIG_PATH.exists() else ""
            if current != xml:
                fail(f"{DEFAULT_CONFIG_PATH} is stale: run 'claimset scheme --write'")
            out.print(f"{DEFAULT_CONFIG_PATH} is up to date")
        elif write:
            from claimset.tables import atomic_path

            with atomic_path(DEFAULT_CONFIG_PATH) as tmp:
                tmp.write_text(xml, encoding="utf-8")
            out.print(f"wrote {DEFAULT_CONFIG_PATH}")
        else:
            sys.stdout.write(xml)


@app.command("export")
def export_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for tasks.json and label-config.xml.")],
    seeds: Annotated[Path, typer.Option(help="Folder of seed articles.")] = SEEDS_DIR,
) -> None:
    """Write Label Studio tasks (one per seed document) and the labeling config."""
    from claimset.export import export_tasks
    from claimset.scheme import load_scheme
    from claimset.seeds import read_seeds

    with cli_errors():
        result = export_tasks(read_seeds(seeds), load_scheme(), out_dir)
    out.print(f"wrote {result.n_tasks} tasks to {result.tasks_path} and the config to {result.config_path}")


@app.command("import")
def import_command(
    exports: Annotated[list[Path], typer.Argument(help="Label Studio full JSON exports.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder for the Parquet tables.")],
    seeds: Annotated[Path | None, typer.Option(help="Seed folder: canonical texts to anchor spans in.")] = None,
    output_format: FormatOption = Format.text,
) -> None:
    """Import Label Studio JSON exports into Parquet tables, then validate them."""
    from claimset.ingest import import_exports
    from claimset.seeds import read_seeds
    from claimset.validate import validate_dataset

    with cli_errors():
        documents = read_seeds(seeds) if seeds else []
        with byte_progress(sum(path.stat().st_size for path in exports if path.is_file())) as advance:
            summary = import_exports(exports, out_dir, seeds=documents, on_read=advance)
        report = validate_dataset(out_dir, documents)
    if output_format is Format.json:
        print_json({"import": summary.to_dict(), "validation": report.to_dict()})
    else:
        print_import_summary(summary.to_dict())
        print_report(report.to_dict(), output_format)
    if not report.valid:
        raise typer.Exit(1)


@app.command("validate")
def validate_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder with the Parquet tables.")] = GOLD_DIR,
    seeds: Annotated[Path | None, typer.Option(help="Seed folder to check document texts against.")] = None,
    output_format: FormatOption = Format.text,
) -> None:
    """Check every table against its schema and across tables; exit 1 on any failure."""
    from claimset.seeds import read_seeds
    from claimset.validate import validate_dataset

    with cli_errors():
        report = validate_dataset(directory, read_seeds(seeds) if seeds else [])
    if output_format is Format.json:
        print_json(report.to_dict())
    else:
        print_report(report.to_dict(), output_format)
    if not report.valid:
        raise typer.Exit(1)


@app.command("build")
def build_command(
    raw: Annotated[Path, typer.Option(help="Folder of raw Label Studio exports.")] = RAW_DIR,
    out_dir: Annotated[Path, typer.Option("--out", help="Gold dataset folder.")] = GOLD_DIR,
    seeds: Annotated[Path, typer.Option(help="Folder of seed articles.")] = SEEDS_DIR,
    croissant: Annotated[Path, typer.Option(help="Where to write the Croissant metadata.")] = CROISSANT,
    output_format: FormatOption = Format.text,
) -> None:
    """Rebuild the gold tables from the raw exports and validate them (what `make gold` runs)."""
    from claimset.gold import build

    with cli_errors():
        result = build(raw, out_dir, seeds, croissant)
    if output_format is Format.json:
        print_json({"raw_files": result.raw_files, "claims": result.claims, "import": result.summary.to_dict(),
                    "validation": result.report.to_dict()})
    else:
        out.print(f"built {out_dir} from {len(result.raw_files)} export(s): {', '.join(result.raw_files)}")
        print_import_summary(result.summary.to_dict())
        out.print(f"claims: {result.claims}")
        print_report(result.report.to_dict(), output_format)
    if not result.report.valid:
        raise typer.Exit(1)


@app.command("stats")
def stats_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder.")] = GOLD_DIR,
    output_format: FormatOption = Format.text,
) -> None:
    """Claims per document, speaker entity, quote type and stance."""
    from claimset.gold import stats

    with cli_errors():
        result = stats(directory).to_dict()
    if output_format is Format.json:
        print_json(result)
        return
    out.print(f"documents {result['documents']}, annotations {result['annotations']}, claims {result['claims']}")
    for key in ("per_document", "per_speaker", "per_quote_type", "per_stance", "spans_per_label"):
        print_counts(key.replace("_", " "), result[key], output_format)


@app.command("evaluate")
def evaluate_command(
    pred: Annotated[Path, typer.Option("--pred", help="Predictions file (JSON Lines or Parquet).")],
    gold: Annotated[Path, typer.Option("--gold", help="Gold dataset folder.")] = GOLD_DIR,
    output_format: FormatOption = Format.text,
) -> None:
    """Score predicted claims against the gold: span modes, attribution, per document."""
    from claimset.evaluate import evaluate, report_markdown, report_tables

    with cli_errors():
        report = evaluate(gold, pred).to_dict()
    if output_format is Format.json:
        print_json(report)
    elif output_format is Format.markdown:
        sys.stdout.write(report_markdown(report))
    else:
        from rich.table import Table

        out.print(f"{report['predictions']} vs {report['gold']}: {report['documents']} document(s), "
                  f"{report['gold_claims']} gold / {report['predicted_claims']} predicted claims", markup=False)
        for title, header, rows in report_tables(report):
            shown = [i for i, name in enumerate(header) if name not in ("POS", "ACT")]  # in json/markdown
            table = Table(title=title, title_justify="left")
            for i in shown:
                table.add_column(header[i], justify="left" if i < 2 else "right", overflow="fold")
            for row in rows:
                table.add_row(*(row[i] for i in shown))
            out.print(table)


class PredictionFormat(StrEnum):
    records = "records"
    labelstudio = "labelstudio"


@app.command("extract")
def extract_command(
    seeds: Annotated[Path, typer.Option(help="Folder of seed articles.")] = SEEDS_DIR,
    out_file: Annotated[Path | None, typer.Option("--out", help="Output file; default: stdout.")] = None,
    output_format: Annotated[PredictionFormat, typer.Option(
        "--format", "-f", help="records: claimset predictions (JSON Lines, or Parquet for a .parquet --out); "
        "labelstudio: a JSON list of Label Studio predictions for 'claimset push --predictions'.")
    ] = PredictionFormat.records,
) -> None:
    """Run the rule-based baseline extractor over the seed articles."""
    from claimset.extract import extract, to_labelstudio_predictions
    from claimset.predictions import write_predictions
    from claimset.seeds import read_seeds
    from claimset.tables import atomic_path

    with cli_errors():
        documents = read_seeds(seeds)
        records = extract(documents)
        if output_format is PredictionFormat.labelstudio:
            payload = json.dumps(to_labelstudio_predictions(records, documents), indent=2, ensure_ascii=False) + "\n"
            if out_file is None:
                sys.stdout.write(payload)
                return
            with atomic_path(out_file) as tmp:
                tmp.write_text(payload, encoding="utf-8")
            count = len(records)
        elif out_file is None:
            for record in records:
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        else:
            count = write_predictions(records, out_file)
    err.print(f"wrote {count} predicted claims to {out_file}", markup=False)



# --- rendering --------------------------------------------------------------------------------------


@contextmanager
def byte_progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar over bytes read, on stderr, shown only on a terminal."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("importing", total=total)
        yield lambda n: progress.advance(task, n)


def print_counts(title: str, counts: dict[str, int], output_format: Format) -> None:
    if output_format is Format.markdown:
        out.print(f"\n| {title} | n |\n|---|---:|", markup=False)
        for key, value in counts.items():
            out.print(f"| {key} | {value} |", markup=False)
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column(title.split()[-1])
    table.add_column("n", justify="right")
    for key, value in counts.items():
        table.add_row(key, str(value))
    out.print(table)


def print_import_summary(summary: dict[str, Any]) -> None:
    out.print(
        f"tasks {summary['tasks']}, documents {summary['documents']}, annotations {summary['annotations']} "
        f"({summary['submitted']} submitted, {summary['cancelled']} cancelled), drafts {summary['drafts']}, "
        f"predictions {summary['predictions']} (drafts and predictions are not imported)",
        markup=False,
    )
    if summary["legacy_completions"]:
        out.print(f"legacy export: {summary['legacy_completions']} task(s) had 'completions' (read as annotations)",
                  markup=False)
    for kind in ("regions", "attributes", "relations", "other_items"):
        c = summary[kind]
        out.print(f"{kind}: read {c['read']} = written {c['written']} + rejected {c['rejected']} "
                  f"+ superseded {c['superseded']}", markup=False)
    if summary["repairs"]:
        out.print("offset repairs: " + ", ".join(f"{k} {v}" for k, v in summary["repairs"].items()), markup=False)
    if summary["reanchored"]:
        out.print(f"re-anchored after a text change: {summary['reanchored']}", markup=False)
    if summary["rejects_by_reason"]:
        out.print("rejects: " + ", ".join(f"{k} {v}" for k, v in summary["rejects_by_reason"].items()), markup=False)
    for key, label in (("duplicate_annotations", "same version seen again"), ("replaced_annotations", "replaced")):
        if summary[key]:
            out.print(f"annotations {label}: {', '.join(map(str, summary[key]))}", markup=False)
    out.print("counts reconcile" if summary["reconciles"] else "COUNTS DO NOT RECONCILE", markup=False)


def print_report(report: dict[str, Any], output_format: Format) -> None:
    failures = report["failures"]
    if output_format is Format.markdown:
        out.print("| table | key | column | check | message |\n|---|---|---|---|---|", markup=False)
        for f in failures:
            out.print(f"| {f['table']} | {f['key']} | {f['column']} | {f['check']} | {f['message']} |", markup=False)
    else:
        for f in failures:
            where = f"{f['table']}[{f['key']}].{f['column']}" if f["key"] else f"{f['table']}"
            out.print(f"{where}: {f['check']}: {f['message']}", markup=False)
    rows = ", ".join(f"{name} {n}" for name, n in report["rows"].items())
    verdict = "valid" if report["valid"] else f"INVALID: {len(failures)} failure(s)"
    out.print(f"{report['directory']}: {verdict} ({rows})", markup=False)


def main() -> None:
    app()
