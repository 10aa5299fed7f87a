"""Reading deprecated-API usage: the apiserver gauge's text and the audit log, incrementally and across rotation."""

from __future__ import annotations

import json
import os

from moorage.infra.deprecated_api_usage import (
    AuditPosition,
    DeprecatedApi,
    read_deprecated_requests,
    requested_deprecated_apis,
)

METRICS = """\
# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="resource.k8s.io",removed_release="1.38",resource="resourceclaims",subresource="",version="v1beta2"} 1
apiserver_requested_deprecated_apis{group="",removed_release="",resource="componentstatuses",subresource="",version="v1"} 1
apiserver_request_total{code="200"} 5
"""


def event(resource: str, agent: str, deprecated: bool = True, group: str = "resource.k8s.io", version: str = "v1beta2") -> str:
    annotations = {"authorization.k8s.io/decision": "allow"}
    if deprecated:
        annotations.update({"k8s.io/deprecated": "true", "k8s.io/removed-release": "1.38"})
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
        "verb": "list", "userAgent": agent, "requestReceivedTimestamp": "2026-12-02T15:00:00.000000Z",
        "objectRef": {"resource": resource, "apiGroup": group, "apiVersion": version},
        "annotations": annotations,
    }, separators=(",", ":")) + "\n"


def test_the_gauge_names_each_requested_deprecated_api():
    assert requested_deprecated_apis(METRICS) == [
        DeprecatedApi("resource.k8s.io", "v1beta2", "resourceclaims", "", "1.38"),
        DeprecatedApi("", "v1", "componentstatuses", "", ""),
    ]


def test_audit_log_is_read_from_the_saved_position(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("resourceclaims", "kubectl/v1.37.2") + event("pods", "kubectl/v1.37.2", deprecated=False))
    found, position = read_deprecated_requests(log, AuditPosition())
    assert [(r.api.resource, r.api.removed_release, r.user_agent) for r in found] == [("resourceclaims", "1.38", "kubectl/v1.37.2")]
    assert found[0].at == 1796223600.0
    with log.open("a") as handle:
        handle.write(event("resourceclaims", "helm/v3") + event("deviceclasses", "x")[:40])  # a partial last line
    found, position = read_deprecated_requests(log, position)
    assert [r.user_agent for r in found] == ["helm/v3"]
    assert read_deprecated_requests(log, position)[0] == []


def test_a_rotated_log_is_finished_before_the_new_one(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(event("resourceclaims", "first"))
    _, position = read_deprecated_requests(log, AuditPosition())
    with log.open("a") as handle:
        handle.write(event("resourceclaims", "second"))
    os.rename(log, tmp_path / "audit-2026-12-02T15-00-00.000.log")
    log.write_text(event("resourceclaims", "third"))
    found, position = read_deprecated_requests(log, position)
    assert [r.user_agent for r in found] == ["second", "third"]
    assert position.inode == log.stat().st_ino
