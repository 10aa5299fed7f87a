"""Differential tests of the policy engine: every case of policy_corpus.yaml (policies, a request,
and the decision AWS documents for it) decided by services/iam/policy.py's decide(), the function
the gateway's authorizer uses."""

import json
from pathlib import Path

import pytest
import yaml

from moorage.services.iam.policy import decide
from moorage.services.iam.policy_language import Decision
from moorage.services.iam.policy_matching import AuthRequest
from moorage.services.iam.policy_validation import parse_policy

CORPUS = yaml.safe_load((Path(__file__).parent / "policy_corpus.yaml").read_text())
DECISIONS = {"allow": Decision.ALLOW, "implicit_deny": Decision.IMPLICIT_DENY, "explicit_deny": Decision.EXPLICIT_DENY}


def compiled(document: dict, kind: str = "identity"):
    document = {"Version": "2012-10-17", **document}
    return parse_policy(json.dumps(document), **({"kind": kind} if kind != "identity" else {}))


def test_the_corpus_covers_what_issue_12_names():
    text = json.dumps(CORPUS)
    for feature in ("NotAction", "NotResource", "IfExists", "ForAnyValue", "ForAllValues", "Null", "boundary", "session", "Deny"):
        assert feature in text, feature
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_policy_corpus(case):
    request = case["request"]
    auth = AuthRequest(
        request.get("principal", "arn:aws:iam::111122223333:user/alice"), request["action"], request["resource"],
        request.get("context") or {},
    )
    boundary = compiled(case["boundary"]) if case.get("boundary") else None
    session = [compiled(d) for d in case.get("session") or []]
    resource = compiled(case["resource"], "resource") if case.get("resource") else None
    decision, by = decide(auth, [compiled(d) for d in case["identity"]], resource, boundary, session)
    assert decision is DECISIONS[case["decision"]], case["name"]
    if "by" in case:
        assert by == case["by"]
