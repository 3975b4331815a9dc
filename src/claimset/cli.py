"""The ``claimset`` command line: parse arguments, call one library function, print its result.

Library errors (:class:`claimset.errors.ClaimsetError`) become one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from claimset.errors import ClaimsetError, ClaimsetWarning, os_problem
from claimset.report import printable

if TYPE_CHECKING:
    from rich.console import OverflowMethod

app = typer.Typer(
    name="claimset",
    help="Build, check and score the claimset gold dataset of attributed claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# No markup anywhere: what the CLI prints holds user text (file names, entity names, quotes) that may
# look like rich markup ("[/x]"); control characters in it are escaped by claimset.report.printable.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def _version(value: bool) -> None:
    if value:
        from claimset import __version__

        out.print(f"claimset {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Build, check and score the claimset gold dataset of attributed claims."""


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit 1 (control characters escaped: it stays one line)."""
    err.print(f"Error: {printable(message)}", markup=False)
    raise typer.Exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors (and the system's: a full disk) into a one-line message and exit code 1, and library
    warnings into one line each."""
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClaimsetWarning)
        try:
            yield
        except ClaimsetError as exc:
            error = str(exc)
        except KeyboardInterrupt:
            error = "interrupted"
        except OSError as exc:  # the machine's, not the library's: a full disk, an I/O error
            error = f"{exc.filename}: {os_problem(exc)}" if exc.filename else os_problem(exc)
    for warning in caught:
        if issubclass(warning.category, ClaimsetWarning):
            err.print(f"Warning: {warning.message}", markup=False)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if error is not None:
        fail(error)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


# --- commands -------------------------------------------------------------------------------------

SEEDS_DIR = Path("seeds")
RAW_DIR = Path("annotations/raw")
GOLD_DIR = Path("annotations/gold")
ANNOTATORS_DIR = Path("annotations/annotators")  # every annotator's annotations, before adjudication
DEFAULT_HOOK_REPO = "https://github.com/claimset/claimset"

# Commands that write (scheme, export, push, import, build, pull) use the project's schema/scheme.yaml
# if there is one, else the packaged default; commands that read a dataset use the dataset's own.
ProjectSchemeOption = Annotated[Path | None, typer.Option(
    "--scheme", help="Scheme file; default: schema/scheme.yaml if present, else claimset's own scheme.")]
DatasetSchemeOption = Annotated[Path | None, typer.Option(
    "--scheme", help="Scheme file; must match the scheme the dataset records (default: the dataset's own).")]
AllowInvalidOption = Annotated[bool, typer.Option(
    "--allow-invalid", help="Replace the output folder even when the new dataset fails validation.")]


@app.command("agree")
def agree_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder with several annotators' annotations.")],
    scheme: DatasetSchemeOption = None,
    output_format: FormatOption = Format.text,
    replicates: Annotated[int, typer.Option("--bootstrap", help="Also give 95% percentile bootstrap intervals "
                                            "from this many resamples of sentence units (0: none).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the bootstrap.")] = 0,
) -> None:
    """Inter-annotator agreement: span F1, token alpha, claim speakers, attribute kappa, relation F1."""
    from claimset.agreement import (
        LABEL_COLUMNS,
        corpus_agreement,
        corpus_bootstrap,
        load_corpus,
        report_markdown,
        report_summary,
        report_tables,
    )

    with cli_errors():
        corpus = load_corpus(directory, scheme)  # read and validated once for both
        report = corpus_agreement(corpus).to_dict()
        if replicates:
            report["bootstrap"] = corpus_bootstrap(corpus, replicates, seed=seed).to_dict()
    if output_format is Format.json:
        print_json(report)
    elif output_format is Format.markdown:
        sys.stdout.write(report_markdown(report))
    else:
        out.print(report_summary(report), markup=False)
        print_tables(report_tables(report), LABEL_COLUMNS)


@app.command("adjudicate")
def adjudicate_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder with several annotators' annotations.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the adjudicated gold tables.")],
    review_tasks: Annotated[Path | None, typer.Option("--review-tasks", help="Also write the review list as "
                                                      "Label Studio tasks (JSON) to this file.")] = None,
    seeds: Annotated[Path | None, typer.Option(help="Seed folder: also validate the texts against it.")] = None,
    croissant: Annotated[bool, typer.Option(help="Also write croissant.json into the folder.")] = False,
    scheme: DatasetSchemeOption = None,
    allow_invalid: AllowInvalidOption = False,
    output_format: FormatOption = Format.text,
) -> None:
    """Ground truth or strict majority per document into gold tables; the rest into a review list."""
    from claimset.adjudicate import adjudicate, check_review_tasks_path, write_review_tasks
    from claimset.seeds import read_seeds

    with cli_errors():
        if review_tasks is not None:
            check_review_tasks_path(review_tasks, directory, out_dir)
        result = adjudicate(directory, out_dir, scheme, seeds=read_seeds(seeds) if seeds else (),
                            allow_invalid=allow_invalid, croissant=croissant)
        if review_tasks is not None:
            write_review_tasks(result.review_tasks(), review_tasks)
    summary = result.to_dict()
    report = result.report.to_dict() if result.report is not None else None
    if output_format is Format.json:
        print_json({**summary, "validation": report, "replaced": result.replaced})
        if report is not None and not report["valid"]:
            finish_invalid(out_dir, result.replaced)
        return
    out.print(f"adjudicated {summary['documents']} document(s) into {out_dir}: {len(summary['ground_truth'])} by "
              f"ground truth, {len(summary['majority'])} by majority; {summary['spans']} spans, "
              f"{summary['relations']} relations", markup=False)
    reasons = ", ".join(f"{k} {v}" for k, v in summary["review_by_reason"].items())
    out.print(f"review: {summary['review_items']} item(s)" + (f" ({reasons})" if reasons else "")
              + f" in {out_dir / 'review.jsonl'}", markup=False)
    print_adjudication_notes(summary)
    if report is not None:
        print_report(report, output_format)
        if not report["valid"]:
            finish_invalid(out_dir, result.replaced)
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
    guidelines: Annotated[Path, typer.Option(help="Guidelines (Markdown) shown to annotators; none if missing.")
                          ] = Path("docs/guidelines.md"),
    only_predicted: Annotated[bool, typer.Option(
        "--only-predicted", help="Push only the documents that have a prediction (an adjudication project from "
                                 "`adjudicate --review-tasks`); with none, push nothing.")] = False,
    scheme: ProjectSchemeOption = None,
) -> None:
    """Push seed documents (and predictions) to a live Label Studio (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY)."""
    from claimset.labelstudio import NothingToPushError, push
    from claimset.scheme import project_scheme

    with cli_errors():
        try:
            r = push(project, seeds, predictions=predictions, force_new_version=force_new_version,
                     scheme=project_scheme(scheme), guidelines=guidelines, only_predicted=only_predicted)
        except NothingToPushError as exc:
            out.print(f"{exc}: project {project!r} not created or changed", markup=False)
            return
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
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder for the Parquet tables (every annotator's "
                                                        "annotations; `build` adjudicates them into the gold).")
                       ] = ANNOTATORS_DIR,
    seeds: Annotated[Path | None, typer.Option(help="Seed folder: canonical texts to anchor spans in.")] = None,
    scheme: ProjectSchemeOption = None,
    allow_invalid: AllowInvalidOption = False,
) -> None:
    """Export a live Label Studio project, keep the raw JSON, import and validate it."""
    from claimset.labelstudio import pull
    from claimset.scheme import project_scheme
    from claimset.seeds import read_seeds

    with cli_errors():
        r = pull(project, raw_dir, out_dir, seeds=read_seeds(seeds) if seeds else (), scheme=project_scheme(scheme),
                 allow_invalid=allow_invalid)
    s = r.imported
    out.print(f"exported {r.tasks} tasks of {r.project_title!r} (snapshot {r.export_id}) to {r.raw_path}")
    out.print(
        f"imported {s.annotations} annotations ({s.submitted} submitted, {s.cancelled} cancelled, "
        f"{s.drafts} drafts skipped), {s.regions.written} spans, {s.relations.written} relations into {out_dir}"
    )
    if r.validation.valid:
        out.print("validation: ok")
    else:
        print_report(r.validation.to_dict(), Format.text)
        finish_invalid(out_dir, r.replaced)


@app.command("scheme")
def scheme_command(
    write: Annotated[bool, typer.Option("--write", help="Regenerate label-config.xml beside the scheme file.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if label-config.xml is stale.")] = False,
    scheme: ProjectSchemeOption = None,
) -> None:
    """Print the Label Studio labeling config generated from the scheme (schema/scheme.yaml)."""
    from claimset.scheme import check_label_config, label_config_xml, project_scheme, write_label_config

    with cli_errors():
        if check:
            out.print(f"{check_label_config(scheme)} is up to date", markup=False)
        elif write:
            out.print(f"wrote {write_label_config(scheme)}", markup=False)
        else:
            sys.stdout.write(label_config_xml(project_scheme(scheme)))


@app.command("export")
def export_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for tasks.json and label-config.xml.")],
    seeds: Annotated[Path, typer.Option(help="Folder of seed articles.")] = SEEDS_DIR,
    scheme: ProjectSchemeOption = None,
) -> None:
    """Write Label Studio tasks (one per seed document) and the labeling config."""
    from claimset.export import export_tasks
    from claimset.scheme import project_scheme
    from claimset.seeds import read_seeds

    with cli_errors():
        result = export_tasks(read_seeds(seeds), project_scheme(scheme), out_dir)
    out.print(f"wrote {result.n_tasks} tasks to {result.tasks_path} and the config to {result.config_path}")


@app.command("import")
def import_command(
    exports: Annotated[list[Path], typer.Argument(help="Label Studio full JSON exports.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder for the Parquet tables.")],
    seeds: Annotated[Path | None, typer.Option(help="Seed folder: canonical texts to anchor spans in.")] = None,
    scheme: ProjectSchemeOption = None,
    allow_invalid: AllowInvalidOption = False,
    output_format: FormatOption = Format.text,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="Processes that convert tasks, this one included, at most one per core (default: 2 for exports "
        "of 64 MiB or more on 2 or more cores, else 1). The tables are the same for any value.")] = None,
) -> None:
    """Import Label Studio JSON exports into a dataset folder, validated before it replaces the old one."""
    from claimset.ingest import import_dataset
    from claimset.scheme import project_scheme
    from claimset.seeds import read_seeds

    with cli_errors():
        documents = read_seeds(seeds) if seeds else []
        with byte_progress(sum(path.stat().st_size for path in exports if path.is_file())) as advance:
            result = import_dataset(exports, out_dir, seeds=documents, scheme=project_scheme(scheme),
                                    allow_invalid=allow_invalid, on_read=advance, jobs=jobs)
    assert result.report is not None
    if output_format is Format.json:
        print_json({"import": result.summary.to_dict(), "validation": result.report.to_dict(),
                    "replaced": result.replaced})
    else:
        print_import_summary(result.summary.to_dict())
        print_report(result.report.to_dict(), output_format)
    if not result.report.valid:
        finish_invalid(out_dir, result.replaced)


@app.command("validate")
def validate_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder with the Parquet tables.")] = GOLD_DIR,
    seeds: Annotated[Path | None, typer.Option(help="Seed folder to check document texts against.")] = None,
    scheme: DatasetSchemeOption = None,
    output_format: FormatOption = Format.text,
) -> None:
    """Check every table against its schema and across tables; exit 1 on any failure."""
    from claimset.seeds import read_seeds
    from claimset.validate import validate_dataset

    with cli_errors():
        report = validate_dataset(directory, read_seeds(seeds) if seeds else [], scheme_file=scheme)
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
    croissant: Annotated[bool, typer.Option(help="Also write croissant.json (claimset's gold card) into the folder.")
                         ] = False,
    annotators: Annotated[Path | None, typer.Option(
        "--annotators", help="Folder for every annotator's annotations (imported from the raw exports), which "
                             "are adjudicated into the gold: ground truth, else strict majority. Default: "
                             "'annotators' beside the gold folder.")] = None,
    scheme: ProjectSchemeOption = None,
    allow_invalid: AllowInvalidOption = False,
    output_format: FormatOption = Format.text,
) -> None:
    """Rebuild the gold from the raw exports: import, adjudicate, validate (what `make gold` runs)."""
    from claimset.gold import build
    from claimset.scheme import project_scheme

    with cli_errors():
        annotators = annotators or out_dir.parent / ANNOTATORS_DIR.name
        result = build(raw, out_dir, seeds, project_scheme(scheme), croissant=croissant, allow_invalid=allow_invalid,
                       annotators_dir=annotators)
    adjudication = result.adjudication.to_dict() if result.adjudication is not None else None
    if output_format is Format.json:
        print_json({"raw_files": result.raw_files, "claims": result.claims, "import": result.summary.to_dict(),
                    "adjudication": adjudication, "validation": result.report.to_dict(), "replaced": result.replaced})
    else:
        out.print(f"built {out_dir} from {len(result.raw_files)} export(s): {', '.join(result.raw_files)}")
        print_import_summary(result.summary.to_dict())
        if adjudication is not None:
            out.print(f"adjudicated {annotators} into {out_dir}: {len(adjudication['ground_truth'])} document(s) by "
                      f"ground truth, {len(adjudication['majority'])} by majority; {adjudication['review_items']} "
                      f"item(s) left for review", markup=False)
            print_adjudication_notes(adjudication)
        out.print(f"claims: {result.claims}")
        print_report(result.report.to_dict(), output_format)
    if not result.report.valid:
        finish_invalid(out_dir, result.replaced)


@app.command("stats")
def stats_command(
    directory: Annotated[Path, typer.Argument(help="Dataset folder.")] = GOLD_DIR,
    scheme: DatasetSchemeOption = None,
    output_format: FormatOption = Format.text,
) -> None:
    """Claims per document, speaker entity, quote type and stance."""
    from claimset.gold import stats

    with cli_errors():
        result = stats(directory, scheme).to_dict()
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
    scheme: DatasetSchemeOption = None,
    output_format: FormatOption = Format.text,
) -> None:
    """Score predicted claims against the gold: span modes, attribution, per document."""
    from claimset.evaluate import LABEL_COLUMNS, evaluate, report_markdown, report_tables, summary_lines

    with cli_errors():
        report = evaluate(gold, pred, scheme).to_dict()
    if output_format is Format.json:
        print_json(report)
    elif output_format is Format.markdown:
        sys.stdout.write(report_markdown(report))
    else:
        out.print(f"{report['predictions']} vs {report['gold']}: {report['documents']} document(s), "
                  f"{report['gold_claims']} gold / {report['predicted_claims']} predicted claims", markup=False)
        for line in summary_lines(report):
            out.print(line, markup=False)
        # POS and ACT are left to the json and markdown outputs.
        print_tables(report_tables(report), LABEL_COLUMNS, hide=("POS", "ACT"), overflow="fold")


class PredictionFormat(StrEnum):
    records = "records"
    quotes = "quotes"
    labelstudio = "labelstudio"


@app.command("extract")
def extract_command(
    seeds: Annotated[Path, typer.Option(help="Folder of seed articles.")] = SEEDS_DIR,
    out_file: Annotated[Path | None, typer.Option("--out", help="Output file; default: stdout.")] = None,
    output_format: Annotated[PredictionFormat, typer.Option(
        "--format", "-f", help="records: claimset predictions with code-point offsets (JSON Lines, or Parquet for a "
        ".parquet --out); quotes: the same with every span as its quote, with as much prefix and suffix as "
        "it takes to find its place again (offsets for a span of white space only); labelstudio: "
        "a JSON list of Label Studio predictions for 'claimset push --predictions'.")
    ] = PredictionFormat.records,
    scheme: ProjectSchemeOption = None,
) -> None:
    """Run the rule-based baseline extractor over the seed articles."""
    from claimset.extract import extract, to_labelstudio_predictions
    from claimset.predictions import write_predictions
    from claimset.quotes import quote_records
    from claimset.scheme import project_scheme
    from claimset.seeds import read_seeds
    from claimset.tables import atomic_path

    with cli_errors():
        chosen = project_scheme(scheme)  # read for either format: a bad --scheme is an error
        documents = read_seeds(seeds)
        records = extract(documents)
        if output_format is PredictionFormat.quotes:
            records = quote_records(records, {document.doc_id: document.text for document in documents})
        if output_format is PredictionFormat.labelstudio:
            predictions = to_labelstudio_predictions(records, documents, chosen)
            payload = json.dumps(predictions, indent=2, ensure_ascii=False) + "\n"
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



@app.command("init")
def init_command(
    directory: Annotated[Path, typer.Argument(help="New (or empty) folder for the annotation project.")],
    hook_repo: Annotated[str, typer.Option(help="Repository of claimset's pre-commit hook (URL or path).")
                         ] = DEFAULT_HOOK_REPO,
    hook_rev: Annotated[str | None, typer.Option(help="Revision of the hook; default: this version's tag.")] = None,
) -> None:
    """Scaffold an annotation project: scheme, seeds/, annotations/, guidelines, pre-commit hook, CI."""
    from claimset.scaffold import init_project

    with cli_errors():
        written = init_project(directory, hook_repo=hook_repo, hook_rev=hook_rev)
    out.print(f"created {directory} with {len(written)} files:", markup=False)
    for path in written:
        out.print(f"  {path}", markup=False)
    out.print(f"next: cd {directory} && read README.md", markup=False)


# --- rendering --------------------------------------------------------------------------------------


def finish_invalid(out_dir: Path, replaced: bool) -> NoReturn:
    """Exit 1 after an invalid result, saying whether the output folder was replaced."""
    if replaced:
        err.print(f"{out_dir} was replaced by this invalid dataset (--allow-invalid)", markup=False)
    else:
        err.print(f"{out_dir} left as it was: the new dataset is invalid (keep it with --allow-invalid)",
                  markup=False)
    raise typer.Exit(1)


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
            out.print(f"| {printable(key)} | {value} |", markup=False)
        return
    print_tables([(title, [title.split()[-1], "n"], [[key, str(value)] for key, value in counts.items()])], 1)


def print_tables(tables: Iterable[tuple[str, list[str], list[list[str]]]], label_columns: int, *,
                 hide: Collection[str] = (), overflow: OverflowMethod = "ellipsis") -> None:
    """One rich table per (title, header, rows): the first ``label_columns`` columns left-aligned, the
    others right-aligned; columns named in ``hide`` are left out."""
    from rich.table import Table
    from rich.text import Text

    for title, header, rows in tables:  # cells hold user text: plain Text (no markup), control characters escaped
        shown = [i for i, name in enumerate(header) if name not in hide]
        table = Table(title=Text(printable(title)), title_justify="left")
        for i in shown:
            table.add_column(Text(printable(header[i])), justify="left" if i < label_columns else "right",
                             overflow=overflow)
        for row in rows:
            table.add_row(*(Text(printable(row[i])) for i in shown))
        out.print(table)


def print_adjudication_notes(summary: dict[str, Any]) -> None:
    """The documents an adjudication took without a second opinion: several ground truths, one annotator."""
    if summary["ground_truth_conflicts"]:
        out.print("several ground-truth annotations (the latest updated_at, then the highest id, used): "
                  + ", ".join(summary["ground_truth_conflicts"]), markup=False)
    if summary["single_annotator"]:
        out.print("one annotator only (taken as it is): " + ", ".join(summary["single_annotator"]), markup=False)


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
    for key, label in (("duplicate_annotations", "whose version read was the same as or older than the one kept"),
                       ("replaced_annotations", "whose version read replaced an older one")):
        if summary[key]:
            out.print(f"annotations {label}: {_some(summary[key])}", markup=False)
    out.print("counts reconcile" if summary["reconciles"] else "COUNTS DO NOT RECONCILE", markup=False)


def _some(ids: list[int], shown: int = 20) -> str:
    """The first ``shown`` ids and how many more (``--format json`` lists them all)."""
    more = f" and {len(ids) - shown:,} more (--format json lists them all)" if len(ids) > shown else ""
    return ", ".join(map(str, ids[:shown])) + more


def print_report(report: dict[str, Any], output_format: Format) -> None:
    failures = report["failures"]
    if output_format is Format.markdown:
        out.print("| table | key | column | check | message |\n|---|---|---|---|---|", markup=False)
        for f in failures:
            out.print(f"| {f['table']} | {f['key']} | {f['column']} | {f['check']} | {f['message']} |", markup=False)
    else:
        from claimset.validate import Failure

        for f in failures:
            out.print(Failure(**f).describe(), markup=False)
    rows = ", ".join(f"{name} {n}" for name, n in report["rows"].items())
    verdict = "valid" if report["valid"] else f"INVALID: {len(failures)} failure(s)"
    out.print(f"{report['directory']}: {verdict} ({rows})", markup=False)


def main() -> None:
    app()
