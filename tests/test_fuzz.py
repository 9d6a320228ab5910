"""Property-based fuzzing of every operation in /openapi.json (schemathesis), against the running service.

Valid and invalid inputs alike must get a documented status, never a 5xx, with
an answer that meets the documented schema; afterwards every document in the
database must still be a valid log. The case count goes to test-artifacts/fuzz.json.
"""

import json
import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loader.devtools.generate import generate
from loader.logs.bulk import load_files
from loader.logs.schema import ValidationError, validate_log
from loader.settings import Settings
from service import create_app
from service.openapi import openapi_document
from tests.conftest import fresh_database
from tests.servers import INGEST_KEY, REPO_DIR, LiveService

EXAMPLES_PER_OPERATION = int(os.environ.get("COUCHREC_FUZZ_EXAMPLES", "40"))  # per operation and mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
CASES: Counter = Counter()


@pytest.fixture(scope="module")
def fuzzed(couchdb_url, tmp_path_factory):
    """The service over a small generated shop of its own (fuzzing writes into it)."""
    path = tmp_path_factory.mktemp("fuzz") / "shop.ndjson"
    path.write_text("".join(json.dumps(doc) + "\n" for doc in generate(seed=3, orders=40, days=5)))
    with fresh_database(couchdb_url, designdocs=True) as db:
        assert load_files(db, [str(path)], rejects_path=path.with_suffix(".rejects"), progress=False).clean
        live = LiveService(couchdb_url, db.db, workers=2, threads=4)
        yield live, db
        live.stop()


def described_operations():
    """The operations as the fuzzed service describes them (ingestion keyed, reads public)."""
    app = create_app(Settings(ingest_keys=(INGEST_KEY,)))
    with app.app_context():
        document = openapi_document(app)
    return [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]


def takes_input(operation) -> bool:
    return any(inputs.items for inputs in (operation.path_parameters, operation.query, operation.body))


# Valid inputs for every operation; invalid ones for every operation that takes any input.
RUNS = [(operation, mode) for operation in described_operations() for mode in GenerationMode
        if mode == GenerationMode.POSITIVE or takes_input(operation)]


@pytest.mark.parametrize("operation, mode", RUNS,
                         ids=[f"{op.method.upper()} {op.path} {mode.value}" for op, mode in RUNS])
def test_every_operation_survives_fuzzing(fuzzed, operation, mode):
    live, _ = fuzzed

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def survives(case):
        CASES[f"{case.method} {case.path}"] += 1
        case.call_and_validate(base_url=live.url, headers={"X-API-Key": INGEST_KEY}, checks=CHECKS, timeout=60)

    survives()


def test_fuzzing_stored_only_valid_logs_and_is_reported(fuzzed):
    _, db = fuzzed
    invalid = []
    stored = 0
    for doc in db.all_docs():
        stored += 1
        try:
            validate_log(doc)
        except ValidationError as exc:
            invalid.append((doc["_id"], str(exc)))
    assert invalid == []
    assert sum(CASES.values()) >= 10 * len(CASES) > 0, "fuzzing must have run first, in this session"
    report = {"cases": sum(CASES.values()), "operations": len(CASES), "per_operation": dict(sorted(CASES.items())),
              "documents_checked": stored, "invalid_documents": len(invalid)}
    (REPO_DIR / "test-artifacts").mkdir(exist_ok=True)
    (REPO_DIR / "test-artifacts" / "fuzz.json").write_text(json.dumps(report, indent=2))
