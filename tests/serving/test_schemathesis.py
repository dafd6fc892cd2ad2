"""Schemathesis fuzzes every operation of the real service (uvicorn) from its own OpenAPI document: no server
error, no status code the document does not list, no response that breaks its documented schema. Bounded by a
fixed number of examples per operation and derandomized, so a run is repeatable and takes well under a minute."""

from __future__ import annotations

import itertools
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.service import serve, settings_for

from recsys.registry import Registry

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(base_registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "registry"
    shutil.copytree(base_registry, root)
    reports = root.parent / "reports"
    reports.mkdir()
    with serve(settings_for(Registry(root), admin_token="s3cret", reports_dir=reports, max_body_bytes=64 << 10,
                            max_batch_users=50)) as base:
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


def test_every_operation_conforms_to_its_documentation(api_schema):
    failures = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for op, mode in itertools.product(operations, GenerationMode):  # valid and deliberately invalid requests
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=20, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(checks=CHECKS)

        try:
            fuzz()
        except Unsatisfiable:  # an operation without parameters or body has no invalid request to make
            assert mode is GenerationMode.NEGATIVE, op.label
        except (Exception, BaseExceptionGroup) as err:  # a failing operation is reported with the others, not alone
            failures[f"{op.label} ({mode.value})"] = str(err)[:2000]
    assert failures == {}, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
