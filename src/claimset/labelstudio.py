"""Label Studio, live: push seed documents to a project, pull its annotations into the gold tables.

Talks to a running Label Studio (see ``scripts/label-studio``) through ``label-studio-sdk`` 2.x, the
``labelstudio`` extra, imported lazily. The connection comes from ``LABEL_STUDIO_URL`` and
``LABEL_STUDIO_API_KEY`` (a legacy API token). Every failure is a one-line
:class:`~claimset.errors.ClaimsetError` that never contains the key.

* :func:`push` finds or creates the project by title, sets its labeling config from the scheme and its
  instructions from ``docs/guidelines.md``, and imports one task per seed document, idempotently by
  ``doc_id``. Optional predictions (code-point offsets) are attached to the matching tasks.
* :func:`pull` takes an export snapshot of the project, writes the full JSON export atomically to
  ``<raw_dir>/<project-slug>-<YYYYmmddTHHMMSSZ>.json``, imports it into the Parquet tables and
  validates them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from claimset.errors import LONE_SURROGATE, ClaimsetError, MissingExtraError, json_problem, read_text
from claimset.lsresult import editor_text

if TYPE_CHECKING:
    from claimset.scheme import Scheme
    from claimset.seeds import Document
    from claimset.summary import ImportSummary
    from claimset.validate import ValidationReport

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"
GUIDELINES = Path("docs") / "guidelines.md"  # a project's guidelines, relative to the project folder
EXPORT_TIMEOUT = 600.0  # seconds to wait for an export snapshot


# --- connection ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not (self.api_key.isascii() and self.api_key.isprintable()):
            raise ClaimsetError(f"{KEY_ENV} holds non-ASCII or control characters; a Label Studio API token is "
                                "ASCII: copy it again from Account & Settings")

    @property
    def shown_url(self) -> str:
        """The URL for messages: without a user name or password in it."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    @property
    def loopback(self) -> bool:
        """Is the server on this machine (localhost, 127.0.0.0/8, ::1)? Then requests never go through a proxy."""
        try:
            host = urlsplit(self.url).hostname or ""
        except ValueError:
            return False
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def http_options(self) -> dict[str, Any]:
        """Options for an ``httpx`` client or request to this server.

        httpx honours proxies from the environment (``http_proxy``, ``HTTPS_PROXY``, ``ALL_PROXY``...; its
        ``trust_env``), so a proxy set for the outside world would see the API key of a local server. Only
        loopback servers bypass them: a remote server may well be reachable through a proxy only.
        """
        return {"trust_env": False} if self.loopback else {}


def connection_from_env() -> Connection:
    """The server URL and API key from ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY``."""
    url = os.environ.get(URL_ENV, "").strip().rstrip("/")
    key = os.environ.get(KEY_ENV, "").strip()
    missing = [name for name, value in ((URL_ENV, url), (KEY_ENV, key)) if not value]
    if missing:
        raise ClaimsetError(
            f"{' and '.join(missing)} not set: export the Label Studio URL and API token "
            "(scripts/label-studio start runs a local server)"
        )
    return Connection(url=url, api_key=key)


def _sdk() -> Any:
    try:
        import label_studio_sdk
    except ImportError as exc:
        raise MissingExtraError("label-studio-sdk", "labelstudio") from exc
    return label_studio_sdk


def _reason(exc: BaseException) -> str:
    """A short, key-free reason for a transport error."""
    text = str(exc).lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


_SECRET_FIELD = re.compile(
    r"(?i)\b(authorization|api[_-]?key|access[_-]?token|refresh[_-]?token|token|password|secret|cookie|"
    r"sessionid|csrftoken)(\W{0,3}[:=]\W{0,3})(?:(?:token|bearer|basic)\s+)?[^\s\"',;}]+")
_SECRET_SCHEME = re.compile(r"(?i)\b(token|bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}")


def redact(text: str, *secrets: str) -> str:
    """``text`` with the given secrets, and whatever follows a credential's name or scheme, replaced by [redacted].

    For error messages that quote a server's reply, which may echo the request's Authorization header.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _SECRET_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    return _SECRET_SCHEME.sub(lambda m: f"{m.group(1)} [redacted]", text)


def _api_detail(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("detail", "validation_errors", "message", "error"):
            if body.get(key):
                return " ".join(json.dumps(body[key], ensure_ascii=False).split())[:300]
    if isinstance(body, str | bytes):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return " ".join(text.split())[:200]
    return " ".join(json.dumps(body, default=str).split())[:300] if body is not None else ""


@contextmanager
def api_errors(conn: Connection, doing: str) -> Iterator[None]:
    """Turn SDK and transport errors raised in the block into one-line :class:`ClaimsetError`."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as exc:
        status = exc.status_code
        if status in (401, 403):
            raise ClaimsetError(f"Label Studio at {conn.shown_url} rejected the API key ({status})") from None
        detail = redact(_api_detail(exc.body), conn.api_key)
        message = f"Label Studio at {conn.shown_url}: {doing} failed ({status})"
        raise ClaimsetError(f"{message}: {detail}" if detail else message) from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise ClaimsetError(f"Label Studio at {conn.shown_url} rejected the API key ({status})") from None
        try:
            detail = _api_detail(exc.response.json())
        except ValueError:
            detail = _api_detail(exc.response.text)
        detail = redact(detail, conn.api_key)
        message = f"Label Studio at {conn.shown_url}: {doing} failed ({status})"
        raise ClaimsetError(f"{message}: {detail}" if detail else message) from None
    except httpx.TransportError as exc:
        raise ClaimsetError(f"cannot reach Label Studio at {conn.shown_url}: {_reason(exc)}") from None


class Client:
    """An SDK client with its connection, checked against the server."""

    def __init__(self, conn: Connection | None = None, *, timeout: float = 120.0) -> None:
        self.conn = conn or connection_from_env()
        import httpx

        sdk = _sdk()
        http = httpx.Client(timeout=timeout, follow_redirects=True, **self.conn.http_options())
        self.sdk = sdk.LabelStudio(base_url=self.conn.url, api_key=self.conn.api_key, timeout=timeout,
                                   httpx_client=http)
        with api_errors(self.conn, "checking the API key"):
            self.user = self.sdk.users.whoami()

    @contextmanager
    def call(self, doing: str) -> Iterator[Any]:
        with api_errors(self.conn, doing):
            yield self.sdk

    def request(self, method: str, path: str, doing: str, **kwargs: Any) -> Any:
        """A raw API call (for endpoints the SDK does not wrap); returns the decoded JSON."""
        import httpx

        with api_errors(self.conn, doing):
            response = httpx.request(
                method,
                f"{self.conn.url}/{path.lstrip('/')}",
                headers={"Authorization": f"Token {self.conn.api_key}"},
                timeout=120,
                **self.conn.http_options(),
                **kwargs,
            )
            response.raise_for_status()
            return response.json() if response.content else None


def connect(conn: Connection | None = None) -> Client:
    """A client for the server in ``conn`` (default: from the environment); checks the key."""
    return Client(conn)


# --- projects and tasks ----------------------------------------------------------------------------


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug or "project"


RELATIVE_IMAGE = re.compile(r'<img src="(?!https?:|data:)[^"]*" alt="(?P<alt>[^"]*)"[^>]*>')


def instructions_html(path: Path = GUIDELINES) -> str | None:
    """The annotation guidelines rendered to HTML, or ``None`` when the file does not exist."""
    if not path.is_file():
        return None
    from markdown_it import MarkdownIt

    html = str(MarkdownIt("commonmark").enable("table").render(path.read_text(encoding="utf-8")))
    # Relative images (docs/img/...) do not resolve inside Label Studio's instructions window: show their
    # caption instead of a broken picture.
    return RELATIVE_IMAGE.sub(lambda m: f"<em>[{m.group('alt')}: see {path.name} in the repository]</em>", html)


def find_project(client: Client, title: str) -> Any | None:
    """The project titled exactly ``title``, or ``None``; several such projects are an error."""
    with client.call(f"listing projects to find {title!r}") as ls:
        matches = [p for p in ls.projects.list() if p.title == title]
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise ClaimsetError(
            f"Label Studio at {client.conn.shown_url} has {len(matches)} projects titled {title!r} (ids {ids})"
        )
    return matches[0] if matches else None


def ensure_project(client: Client, title: str, label_config: str,
                   guidelines: Path = GUIDELINES) -> tuple[Any, bool, tuple[str, ...]]:
    """Find the project by title or create it; make its config and instructions current.

    Returns the project, whether it was created, and the names of the settings that were updated.
    """
    settings: dict[str, Any] = {"label_config": label_config}
    html = instructions_html(guidelines)
    if html is not None:
        settings.update(expert_instruction=html, show_instruction=True)
    project = find_project(client, title)
    if project is None:
        with client.call(f"creating project {title!r}") as ls:
            return ls.projects.create(title=title, **settings), True, ()
    changed = {
        key: value
        for key, value in settings.items()
        if _same_markup(getattr(project, key, None)) != _same_markup(value)
    }
    if changed:
        with client.call(f"updating the settings of project {title!r}") as ls:
            ls.projects.update(id=project.id, **changed)
    return project, False, tuple(sorted(changed))


def _same_markup(value: Any) -> Any:
    """Markup as the server stores it: it strips the config's final newline and rewrites ``<x />``."""
    return re.sub(r"\s+", "", value.replace("/>", ">")) if isinstance(value, str) else value


def project_tasks(client: Client, project_id: int) -> list[Any]:
    with client.call(f"listing the tasks of project {project_id}") as ls:
        return list(ls.tasks.list(project=project_id, fields="all", page_size=500))


def _version(data: dict[str, Any]) -> int:
    value = data.get("version", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


# --- predictions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    doc_id: str
    result: list[dict[str, Any]]
    model_version: str
    score: float | None = None
    where: str = ""


def read_labelstudio_predictions(path: Path) -> list[Prediction]:
    """Label Studio predictions from a JSON list or JSONL file of ``{doc_id, result, model_version[, score]}``.

    ``result`` is a Label Studio result list whose offsets are code points into the document text.
    Prediction records (claimset's own format) are read by
    :func:`claimset.predictions.load_prediction_records`.
    """
    from claimset.reader import has_lone_surrogate

    raw = read_text(path, "predictions")
    records: list[tuple[str, Any]] = []
    stripped = raw.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ClaimsetError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:
            raise ClaimsetError(f"{path}: cannot read: {json_problem(exc)}") from None
        records = [(f"{path}: item {i}", item) for i, item in enumerate(items)]
    else:
        for lineno, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"{path}: line {lineno}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ClaimsetError(f"{path}: line {lineno}: invalid JSON: {exc.msg}") from None
            except (ValueError, RecursionError) as exc:
                raise ClaimsetError(f"{path}: line {lineno}: cannot read: {json_problem(exc)}") from None
    predictions = []
    for where, item in _flatten_import_tasks(records):
        if not isinstance(item, dict):
            raise ClaimsetError(f"{where}: expected an object with doc_id, result, model_version")
        if has_lone_surrogate(item):
            raise ClaimsetError(f"{where}: {LONE_SURROGATE}")
        doc_id, result, model_version = item.get("doc_id"), item.get("result"), item.get("model_version")
        if not isinstance(doc_id, str) or not doc_id:
            raise ClaimsetError(f"{where}: missing doc_id")
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise ClaimsetError(f"{where}: result must be a list of Label Studio result objects")
        if not isinstance(model_version, str) or not model_version:
            raise ClaimsetError(f"{where}: missing model_version")
        score = item.get("score")
        if score is not None and not isinstance(score, int | float):
            raise ClaimsetError(f"{where}: score must be a number")
        predictions.append(Prediction(doc_id, result, model_version, score, where))
    return predictions


def _flatten_import_tasks(records: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Also accept Label Studio import tasks (``{"data": {"doc_id"}, "predictions": [...]}``), such as the
    review tasks ``claimset adjudicate --review-tasks`` writes: one record per prediction of each task."""
    flat: list[tuple[str, Any]] = []
    for where, item in records:
        if isinstance(item, dict) and isinstance(item.get("data"), dict) and isinstance(item.get("predictions"), list):
            for index, prediction in enumerate(item["predictions"]):
                record = {"doc_id": item["data"].get("doc_id"), **prediction} if isinstance(prediction, dict) else None
                flat.append((f"{where}: prediction {index}", record))
        else:
            flat.append((where, item))
    return flat


def check_prediction_offsets(prediction: Prediction, text: str) -> None:
    """Refuse regions whose code-point offsets fall outside ``text`` or do not match their quote."""
    for item in prediction.result:
        value = item.get("value")
        if not isinstance(value, dict) or "start" not in value:
            continue
        start, end = value.get("start"), value.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise ClaimsetError(
                f"{prediction.where}: region {item.get('id')!r}: offsets {start}..{end} are outside the text "
                f"of {prediction.doc_id} ({len(text)} code points)"
            )
        quote = value.get("text")
        if isinstance(quote, str) and quote not in (text[start:end], editor_text(text[start:end])):
            raise ClaimsetError(
                f"{prediction.where}: region {item.get('id')!r}: text {quote[:40]!r} is not "
                f"text[{start}:{end}] = {text[start:end][:40]!r} (offsets must be code points)"
            )


# --- push -----------------------------------------------------------------------------------------


class NothingToPushError(ClaimsetError):
    """``push(only_predicted=True)`` with a predictions file that holds no prediction: no project is touched."""


@dataclass(frozen=True)
class PushResult:
    project_id: int
    project_title: str
    project_created: bool
    created: int  # tasks for documents new to the project
    unchanged: int  # documents whose task already holds the same text
    new_versions: int  # tasks created for changed documents (--force-new-version)
    predictions: int  # predictions uploaded
    predictions_unchanged: int = 0  # predictions skipped: the task already has that model_version
    doc_ids_created: tuple[str, ...] = ()
    doc_ids_new_version: tuple[str, ...] = ()
    settings_updated: tuple[str, ...] = ()  # project settings changed to match the scheme/guidelines


def push(
    project_title: str,
    seeds_dir: Path,
    *,
    predictions: Path | None = None,
    force_new_version: bool = False,
    scheme: Scheme | None = None,
    guidelines: Path = GUIDELINES,
    client: Client | None = None,
    only_predicted: bool = False,
) -> PushResult:
    """Create or update the project ``project_title`` with one task per seed document.

    With ``only_predicted``, only the documents that have a prediction in ``predictions`` are pushed
    (an adjudication project holds just the documents under review); a predictions file without any
    prediction then raises :class:`NothingToPushError` before the server is contacted.

    A document whose ``doc_id`` already has a task with the same ``text_sha256`` is left alone. A
    changed document is refused unless ``force_new_version``: then a new task is created whose data
    carries ``version`` one above the highest existing version of that document. Nothing is imported
    before every document has been checked. The labeling config comes from ``scheme`` (by default
    claimset's), the instructions from ``guidelines`` (none when that file does not exist).
    """
    from claimset.scheme import default_scheme, label_config_xml
    from claimset.seeds import read_seeds

    documents = read_seeds(seeds_dir)
    preds = read_labelstudio_predictions(predictions) if predictions is not None else []
    if only_predicted:
        if predictions is None:
            raise ClaimsetError("--only-predicted needs --predictions")
        if not preds:
            raise NothingToPushError(f"{predictions}: no predictions, so no document to push (nothing to review)")
        predicted = {prediction.doc_id for prediction in preds}
        documents = [document for document in documents if document.doc_id in predicted]
    config = label_config_xml(scheme or default_scheme())
    client = client or connect()
    project, project_created, settings_updated = ensure_project(client, project_title, config, guidelines)
    existing = project_tasks(client, project.id)
    by_doc: dict[str, list[Any]] = {}
    for task in existing:
        data = task.data or {}
        if isinstance(data.get("doc_id"), str):
            by_doc.setdefault(data["doc_id"], []).append(task)

    new_tasks: list[dict[str, Any]] = []
    created: list[str] = []
    versioned: list[str] = []
    unchanged = 0
    refused: list[str] = []
    for document in documents:
        tasks = by_doc.get(document.doc_id, [])
        if any((t.data or {}).get("text_sha256") == document.text_sha256 for t in tasks):
            unchanged += 1
            continue
        data = _task_data(document)
        if tasks:
            if not force_new_version:
                refused.append(document.doc_id)
                continue
            data["version"] = max(_version(t.data or {}) for t in tasks) + 1
            versioned.append(document.doc_id)
        else:
            created.append(document.doc_id)
        new_tasks.append({"data": data})
    if refused:
        more = f" and {len(refused) - 1} more" if len(refused) > 1 else ""
        raise ClaimsetError(
            f"{refused[0]}{more}: the text differs from the task already in project {project_title!r}; "
            "rerun with --force-new-version to add a new version of the task"
        )
    # Check the predictions against the texts they will be attached to before changing anything.
    texts = {d.doc_id: d.text for d in documents}
    for task in existing:
        data = task.data or {}
        texts.setdefault(data.get("doc_id", ""), data.get("text", ""))
    for prediction in preds:
        if prediction.doc_id not in texts:
            raise ClaimsetError(f"{prediction.where}: doc_id {prediction.doc_id!r} is not a document of the project")
        check_prediction_offsets(prediction, texts[prediction.doc_id])

    if new_tasks:
        with client.call(f"importing {len(new_tasks)} tasks into project {project_title!r}") as ls:
            ls.projects.import_tasks(id=project.id, request=new_tasks, return_task_ids=True)

    uploaded = skipped = 0
    if preds:
        latest: dict[str, Any] = {}
        for task in project_tasks(client, project.id):
            data = task.data or {}
            doc_id = data.get("doc_id")
            if isinstance(doc_id, str) and (doc_id not in latest or _version(data) > _version(latest[doc_id].data)):
                latest[doc_id] = task
        for prediction in preds:
            task = latest[prediction.doc_id]
            versions = {getattr(p, "model_version", None) for p in (getattr(task, "predictions", None) or [])}
            versions |= {
                p.get("model_version") for p in (getattr(task, "predictions", None) or []) if isinstance(p, dict)
            }
            if prediction.model_version in versions:
                skipped += 1
                continue
            kwargs: dict[str, Any] = {"score": prediction.score} if prediction.score is not None else {}
            with client.call(f"uploading a prediction for {prediction.doc_id}") as ls:
                ls.predictions.create(
                    task=task.id, result=prediction.result, model_version=prediction.model_version, **kwargs
                )
            uploaded += 1
    return PushResult(
        project_id=project.id,
        project_title=project_title,
        project_created=project_created,
        created=len(created),
        unchanged=unchanged,
        new_versions=len(versioned),
        predictions=uploaded,
        predictions_unchanged=skipped,
        doc_ids_created=tuple(created),
        doc_ids_new_version=tuple(versioned),
        settings_updated=settings_updated,
    )


def _task_data(document: Document) -> dict[str, Any]:
    from claimset.export import task_data

    return dict(task_data(document))


# --- pull -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    project_id: int
    project_title: str
    export_id: int
    raw_path: Path
    tasks: int
    imported: ImportSummary
    validation: ValidationReport
    replaced: bool  # False: the pulled dataset was invalid and the folder was left as it was


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = None
    if not isinstance(value, dt.datetime):
        return dt.datetime.now(dt.UTC)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def export_snapshot(client: Client, project_id: int, *, timeout: float = EXPORT_TIMEOUT) -> Any:
    """Create a full JSON export snapshot (all tasks, cancelled annotations, drafts, predictions) and
    wait until the server has finished it."""
    with client.call(f"creating an export snapshot of project {project_id}") as ls:
        snapshot = ls.projects.exports.create(
            id=project_id,
            title=f"claimset pull {dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
            task_filter_options={"only_with_annotations": False},
            annotation_filter_options={"usual": True, "ground_truth": True, "skipped": True},
            serialization_options={
                "drafts": {"only_id": False},
                "predictions": {"only_id": False},
                "annotations__completed_by": {"only_id": True},
            },
        )
    deadline = time.monotonic() + timeout
    while True:
        status = str(getattr(snapshot, "status", "") or "")
        if status == "completed":
            return snapshot
        if status == "failed":
            raise ClaimsetError(f"Label Studio at {client.conn.shown_url}: export snapshot {snapshot.id} failed")
        if time.monotonic() > deadline:
            raise ClaimsetError(
                f"Label Studio at {client.conn.shown_url}: export snapshot {snapshot.id} not finished after "
                f"{timeout:.0f}s (status {status or 'unknown'})"
            )
        time.sleep(0.5)
        with client.call(f"checking export snapshot {snapshot.id}") as ls:
            snapshot = ls.projects.exports.get(id=project_id, export_pk=snapshot.id)


def download_export(client: Client, project_id: int, export_id: int, path: Path) -> int:
    """Stream the JSON of an export snapshot to ``path`` atomically; return the number of tasks."""
    from claimset.reader import read_tasks
    from claimset.tables import atomic_path

    with atomic_path(path) as tmp:
        with client.call(f"downloading export snapshot {export_id}") as ls, tmp.open("wb") as fh:
            for chunk in ls.projects.exports.download(id=project_id, export_pk=export_id, export_type="JSON"):
                fh.write(chunk)
        try:  # streamed: a large export is never held in memory
            n_tasks = sum(1 for _ in read_tasks(tmp))
        except ClaimsetError as exc:
            detail = str(exc).split(": ", 1)[-1]
            raise ClaimsetError(f"Label Studio at {client.conn.shown_url}: export {export_id}: {detail}") from None
    return n_tasks


def pull(
    project_title: str,
    raw_dir: Path,
    gold_dir: Path,
    *,
    seeds: Sequence[Document] = (),
    scheme: Scheme | None = None,
    allow_invalid: bool = False,
    client: Client | None = None,
) -> PullResult:
    """Export the project, keep the raw export, rebuild the dataset folder from it and validate it.

    The raw file is written under a temporary name and renamed when complete, and the dataset folder
    is replaced in one atomic step, only by a valid dataset unless ``allow_invalid``
    (:func:`claimset.ingest.import_dataset`): an interruption leaves neither partial.
    """
    from claimset.ingest import import_dataset

    client = client or connect()
    project = find_project(client, project_title)
    if project is None:
        raise ClaimsetError(f"Label Studio at {client.conn.shown_url} has no project titled {project_title!r}")
    snapshot = export_snapshot(client, project.id)
    stamp = _utc(getattr(snapshot, "finished_at", None) or getattr(snapshot, "created_at", None))
    raw_path = raw_dir / f"{slugify(project_title)}-{stamp:%Y%m%dT%H%M%SZ}.json"
    n_tasks = download_export(client, project.id, snapshot.id, raw_path)
    result = import_dataset([raw_path], gold_dir, seeds=seeds, scheme=scheme, allow_invalid=allow_invalid)
    assert result.report is not None
    return PullResult(
        project_id=project.id,
        project_title=project_title,
        export_id=snapshot.id,
        raw_path=raw_path,
        tasks=n_tasks,
        imported=result.summary,
        validation=result.report,
        replaced=result.replaced,
    )


# --- annotators (tests, fixtures, onboarding) ----------------------------------------------------


@dataclass(frozen=True)
class Annotator:
    id: int
    email: str
    api_key: str = field(repr=False)


def add_annotator(client: Client, email: str, password: str) -> Annotator:
    """Sign a new user up into the server's organization and return their id and legacy API token.

    Label Studio Community has no admin API that sets a password or reads another user's token
    (``users.create`` makes a user who cannot log in), so this signs up through the organization's
    invite link, as a person would, and reads the token from the new session.
    """
    import httpx

    url = client.conn.url
    token = client.request("GET", "api/invite", "reading the organization invite link")["token"]
    with api_errors(client.conn, f"signing up {email}"), \
            httpx.Client(base_url=url, timeout=60, **client.conn.http_options()) as http:
        page = http.get(f"/user/signup/?token={token}")
        page.raise_for_status()
        response = http.post(
            f"/user/signup/?token={token}",
            data={"email": email, "password": password, "csrfmiddlewaretoken": http.cookies.get("csrftoken", "")},
            headers={"Referer": f"{url}/user/signup/"},
        )
        if response.status_code >= 400 or "sessionid" not in http.cookies:
            raise ClaimsetError(f"Label Studio at {client.conn.shown_url}: signing up {email} failed "
                                f"({response.status_code})")
        me = http.get("/api/current-user/whoami").json()
        key = http.get("/api/current-user/token").json()["token"]
    return Annotator(id=int(me["id"]), email=email, api_key=key)


def as_user(client: Client, api_key: str) -> Client:
    """A client for the same server acting as another user."""
    return Client(Connection(url=client.conn.url, api_key=api_key))


def create_draft(client: Client, task_id: int, result: list[dict[str, Any]], lead_time: float = 0.0) -> Any:
    """Save an unsubmitted draft of ``result`` on a task as the client's user."""
    return client.request(
        "POST",
        f"api/tasks/{task_id}/drafts",
        f"saving a draft on task {task_id}",
        json={"result": result, "lead_time": lead_time},
    )
