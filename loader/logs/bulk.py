"""Stream log records from files into CouchDB in `_bulk_docs` batches.

Records are read lazily (memory stays flat whatever the file size), validated
with the schema, given a stable id (their own `_id`, else a hash of their
content, so a second load of the same file writes nothing), and written in
batches. Every record ends in exactly one count; every rejected one is written
to the rejects file with its position and reason.

A load that stops part way (Ctrl-C, a crash, the database going away) resumes:
every few seconds it stores how many of a file's records are settled (written,
or counted present, rejected...) in a `_local` document of the target database,
keyed by the file's path, size and modification time, and the next load of that
file skips them. A load that finishes a file removes its place, so loading a
file again re-reads it all (and finds every record present).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import ijson
from tqdm import tqdm

from loader.couchdb.couch import Couch, chunks
from loader.logs.ingest import CONFLICT, FAILED, REJECTED, Outcome, PendingLog, pending_log, write_logs
from loader.logs.schema import FIELD_KINDS, LOG_TYPES, ValidationError, check_doc_id

FORMATS = ("ndjson", "json", "csv")
CSV_LIST_SEPARATOR = "|"


@dataclass(frozen=True)
class Record:
    """One record read from a file: its data, or why it could not be read."""

    position: str  # "line 12" or "record 7"
    data: Any = None
    error: str | None = None


@dataclass
class LoadSummary:
    read: int = 0
    created: int = 0
    present: int = 0
    rejected: int = 0
    conflict: int = 0
    failed: int = 0
    resumed: int = 0  # records settled by an earlier, interrupted load of the same file, skipped this time
    seconds: float = 0.0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    @property
    def docs_per_second(self) -> float:
        return (self.read - self.resumed) / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        return not (self.rejected or self.conflict or self.failed)


def detect_format(path: str, head: bytes) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("ndjson", "jsonl"):
        return "ndjson"
    if suffix in ("json", "csv"):
        return suffix
    return "json" if head.lstrip().startswith(b"[") else "ndjson"


def read_records(stream: IO[bytes], fmt: str) -> Iterator[Record]:
    """Yield the records of a binary stream in the given format."""
    if fmt == "ndjson":
        yield from read_ndjson(stream)
    elif fmt == "json":
        yield from read_json_array(stream)
    elif fmt == "csv":
        yield from read_csv(stream)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def read_ndjson(stream: IO[bytes]) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield Record(f"line {number}", json.loads(line))
        except ValueError as exc:
            yield Record(f"line {number}", error=f"not valid JSON: {exc}")


def read_json_array(stream: IO[bytes]) -> Iterator[Record]:
    number = 0
    try:
        for number, item in enumerate(ijson.items(stream, "item", use_float=True), start=1):
            yield Record(f"record {number}", item)
    except ijson.JSONError as exc:
        yield Record(f"after record {number}", error=f"the JSON array is broken here, the rest of the file was not read: {exc}")


def read_csv(stream: IO[bytes]) -> Iterator[Record]:
    """Read a CSV with a header of field names; `items` holds ids separated by `|`."""
    lines = (line.decode("utf-8-sig") for line in stream)
    reader = csv.DictReader(lines)
    for row in reader:
        position = f"line {reader.line_num}"
        try:
            yield Record(position, typed_csv_row(row))
        except ValueError as exc:
            yield Record(position, error=str(exc))


NUMERIC_FIELDS = {
    name: FIELD_KINDS[kind]["type"]
    for spec in LOG_TYPES.values()
    for group in (spec["required"], spec["optional"])
    for name, kind in group.items()
    if FIELD_KINDS[kind]["type"] in ("number", "integer")
}


def typed_csv_row(row: dict[str, str]) -> dict:
    """Turn a CSV row's strings into the schema's types; empty cells are absent fields."""
    record: dict[str, Any] = {}
    for name, text in row.items():
        if name is None or text is None or text == "":
            continue
        if name == "items":
            record[name] = [item for item in text.split(CSV_LIST_SEPARATOR) if item]
        elif name in NUMERIC_FIELDS:
            try:
                record[name] = int(text) if NUMERIC_FIELDS[name] == "integer" else float(text)
            except ValueError:
                raise ValueError(f"{name}: {text!r} is not a number") from None
        else:
            record[name] = text
    return record


def content_id(data: dict) -> str:
    """A stable id for a record that brings none: a hash of its content."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "log-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def record_log(data: Any, now: datetime) -> PendingLog:
    """Validate a record read from a file, under its own id or one made from its content; raise ValidationError
    when it is not a log."""
    if not isinstance(data, dict):
        raise ValidationError("(document)", "must be a JSON object")
    doc_id = check_doc_id(data["_id"]) if "_id" in data else content_id(data)
    return pending_log(data, doc_id, now=now)


class RejectsFile:
    """Writes one JSON line per rejected record, creating the file on first use."""

    def __init__(self, path: Path):
        self.path = path
        self.handle: IO[str] | None = None

    def write(self, source: str, position: str, reason: str, data: Any = None) -> None:
        if self.handle is None:
            self.handle = self.path.open("w")
        entry = {"file": source, "position": position, "reason": reason}
        if data is not None:
            entry["record"] = data
        self.handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


PLACE_SAVE_SECONDS = 5.0
WRITES_IN_FLIGHT = 2


class LoadPlace:
    """How many of one file's records a load has settled, kept in the target database (`_local`, so
    it is never replicated and no view sees it)."""

    def __init__(self, couch: Couch, path: str):
        stat = Path(path).stat()
        key = hashlib.sha256(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:32]
        self.couch, self.doc_id = couch, f"_local/couchrec-load-{key}"
        self.doc = couch.get_doc(self.doc_id) or {"_id": self.doc_id, "file": str(Path(path).resolve())}
        self.saved_at = time.monotonic()

    @property
    def settled(self) -> int:
        return self.doc.get("records", 0)

    def advance(self, records: int) -> None:
        """Store `records` settled, at most every PLACE_SAVE_SECONDS."""
        if time.monotonic() - self.saved_at >= PLACE_SAVE_SECONDS:
            self.doc["_rev"] = self.couch.put_doc(self.doc_id, {**self.doc, "records": records})
            self.doc["records"] = records
            self.saved_at = time.monotonic()

    def finish(self) -> None:
        if "_rev" in self.doc:
            self.couch.delete_doc(self.doc_id, self.doc["_rev"])


def load_stream(
    couch: Couch,
    stream: IO[bytes],
    *,
    source: str,
    fmt: str,
    batch_size: int,
    summary: LoadSummary,
    rejects: RejectsFile,
    advance: Callable[[], None] = lambda: None,
    skip: int = 0,
    settled: Callable[[int], None] = lambda records: None,
) -> None:
    """Load one stream's records into CouchDB, adding to `summary`; the first `skip` records (settled by
    an earlier load) are read past. `settled(n)` is told each time the stream's first n records are
    settled.

    Batches are pipelined: while one is being written, the next is read and
    validated, with up to WRITES_IN_FLIGHT writes under way (so CouchDB can store one batch on each
    core while the next is validated here; memory stays at WRITES_IN_FLIGHT + 1 batches). Batches
    are settled in the order they were read, so `settled` always counts a prefix of the stream.
    """
    now = datetime.now(timezone.utc)
    in_flight: deque[tuple[int, list[tuple[Record, PendingLog]], Future]] = deque()
    records = iter(read_records(stream, fmt))
    summary.resumed += sum(1 for _ in islice(records, skip))
    summary.read += skip
    done = skip

    def settle(batch_records: int, writable: list[tuple[Record, PendingLog]], written: Future) -> None:
        nonlocal done
        for (record, _), outcome in zip(writable, written.result()):
            count_outcome(summary, rejects, source, record, outcome)
        done += batch_records
        settled(done)
        advance()

    with ThreadPoolExecutor(max_workers=WRITES_IN_FLIGHT) as writer:
        for batch in chunks(records, batch_size):
            writable: list[tuple[Record, PendingLog]] = []
            for record in batch:
                summary.read += 1
                if record.error is not None:
                    summary.add(REJECTED)
                    rejects.write(source, record.position, record.error)
                    continue
                try:
                    writable.append((record, record_log(record.data, now)))
                except ValidationError as exc:
                    summary.add(REJECTED)
                    rejects.write(source, record.position, str(exc), record.data)
            if len(in_flight) == WRITES_IN_FLIGHT:
                settle(*in_flight.popleft())
            in_flight.append((len(batch), writable, writer.submit(write_logs, couch, [p for _, p in writable])))
        while in_flight:
            settle(*in_flight.popleft())


def count_outcome(summary: LoadSummary, rejects: RejectsFile, source: str, record: Record, outcome: Outcome) -> None:
    summary.add(outcome.status)
    if outcome.status in (REJECTED, CONFLICT, FAILED):
        reason = f"{outcome.field}: {outcome.reason}" if outcome.field else str(outcome.reason)
        rejects.write(source, record.position, f"{outcome.status}: {reason}", record.data)


def load_files(
    couch: Couch,
    paths: list[str],
    *,
    batch_size: int = 500,
    rejects_path: Path,
    fmt: str | None = None,
    progress: bool = True,
) -> LoadSummary:
    """Load every file (`-` is standard input) and return the counts; progress goes to stderr."""
    summary = LoadSummary()
    rejects = RejectsFile(rejects_path)
    started = time.monotonic()
    try:
        for path in paths:
            with open_input(path) as stream:
                file_format = fmt or detect_format(path, stream.peek(64))
                total = Path(path).stat().st_size if path != "-" else None
                with tqdm(total=total, unit="B", unit_scale=True, desc=path, disable=not progress,
                          file=sys.stderr, leave=False) as bar:
                    def advance() -> None:
                        if total is not None:
                            bar.update(stream.tell() - bar.n)
                        bar.set_postfix(docs=summary.read, refresh=False)

                    place = LoadPlace(couch, path) if path != "-" else None
                    load_stream(couch, stream, source=path, fmt=file_format, batch_size=batch_size,
                                summary=summary, rejects=rejects, advance=advance,
                                skip=place.settled if place else 0,
                                settled=place.advance if place else lambda records: None)
                    if place:
                        place.finish()
    finally:
        rejects.close()
        summary.seconds = time.monotonic() - started
    return summary


def open_input(path: str) -> IO[bytes]:
    if path == "-":
        return open(sys.stdin.fileno(), "rb", closefd=False)
    return open(path, "rb")
