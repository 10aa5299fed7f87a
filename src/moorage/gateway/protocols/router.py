"""Which service and operation a request is for, decided the way AWS front ends decide it.

Order of evidence: the SigV4 credential scope names the service; then X-Amz-Target (json
protocol), then Action=/Version= (query and ec2), then the rest-json request URI templates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel

from ...core.errors import AwsError
from .errors import unknown_operation
from .models import SUPPORTED_SERVICES, all_service_models, signing_name
from .request import AwsRequest

_CREDENTIAL_IN_HEADER = re.compile(r"Credential=([^,\s]+)")


def credential_scope_service(request: AwsRequest) -> str | None:
    """The service named in the (not yet verified) SigV4 credential scope, if any.

    Routing only needs a hint; sigv4.verify() checks the scope strictly later.
    """
    credential = None
    authorization = request.headers.get("authorization") or ""
    match = _CREDENTIAL_IN_HEADER.search(authorization)
    if match:
        credential = match.group(1)
    else:
        for name, value in request.query_params():
            if name == "X-Amz-Credential":
                credential = value
                break
    if not credential:
        return None
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 else None


def route(request: AwsRequest) -> tuple[ServiceModel, OperationModel]:
    """(ServiceModel, OperationModel) for the request; AwsError (4xx) when nothing matches."""
    candidates = all_service_models()
    scoped = credential_scope_service(request)
    if scoped is not None:
        candidates = [model for model in candidates if signing_name(model) == scoped]
        if not candidates:
            raise AwsError(
                "UnknownOperationException",
                f"Moorage does not serve the AWS service '{scoped}' named in the credential scope; "
                f"it serves {', '.join(sorted(SUPPORTED_SERVICES))}.",
                400,
            )

    target = request.headers.get("x-amz-target")
    if target:
        found = _route_target(target, candidates)
        if found is not None:
            return found

    query_services = [model for model in candidates if model.protocol in ("query", "ec2")]
    if query_services:
        found = _route_action(request, query_services, single_service=len(candidates) == 1)
        if found is not None:
            return found

    rest_services = [model for model in candidates if model.protocol == "rest-json"]
    for service_model in rest_services:
        operation = _route_uri(service_model, request)
        if operation is not None:
            return service_model, operation

    hint = candidates[0] if len(candidates) == 1 else None
    raise unknown_operation(hint, None, f"{request.method} {request.path}")


def _route_target(target: str, candidates: list[ServiceModel]):
    prefix, _, name = target.rpartition(".")
    for service_model in candidates:
        if service_model.protocol != "json" or service_model.metadata.get("targetPrefix") != prefix:
            continue
        if name in service_model.operation_names:
            return service_model, service_model.operation_model(name)
        raise unknown_operation(service_model, name, target)
    return None


def _route_action(request: AwsRequest, services: list[ServiceModel], single_service: bool):
    params = dict(request.query_params())
    if "Action" not in params and request.method == "POST":
        # Leniently: a bad byte in some value must not hide the Action; parse() rejects it later.
        params = dict(request.form_params(errors="replace"))
    action = params.get("Action")
    if action is None:
        return None
    version = params.get("Version")
    # Auto Scaling and EC2 share operation names (DescribeTags...): Version tells them apart.
    by_version = [model for model in services if model.api_version == version]
    ordered = by_version + [model for model in services if model not in by_version]
    for service_model in ordered:
        if action in service_model.operation_names:
            return service_model, service_model.operation_model(action)
    hint = by_version[0] if by_version else (services[0] if single_service else None)
    raise unknown_operation(hint, action, f"Action={action}")


# --- rest-json URI templates --------------------------------------------------------------------------


@dataclass(frozen=True)
class _UriRule:
    operation_name: str
    method: str
    regex: re.Pattern
    labels: tuple[str, ...]
    required_query: tuple[str, ...]


def _compile_template(request_uri: str) -> tuple[re.Pattern, tuple[str, ...], tuple[str, ...], tuple]:
    path, _, query = request_uri.partition("?")
    labels: list[str] = []
    pattern = ""
    literal_chars = 0
    greedy = False
    # Split into literal text and {label} / {label+} pieces; literals are matched on the raw path.
    for literal, label in re.findall(r"([^{]*)(?:\{([^}]+)\})?", path):
        pattern += re.escape(literal)
        literal_chars += len(literal)
        if label:
            group = f"g{len(labels)}"
            if label.endswith("+"):
                greedy = True
                labels.append(label[:-1])
                pattern += f"(?P<{group}>.+)"
            else:
                labels.append(label)
                pattern += f"(?P<{group}>[^/]+)"
    if pattern.endswith("/") and pattern != "/":
        pattern = pattern[:-1]
    pattern = "^" + pattern + ("/?$" if pattern != "/" else "$")
    required_query = tuple(piece.partition("=")[0] for piece in query.split("&") if piece)
    specificity = (greedy, -literal_chars)
    return re.compile(pattern), tuple(labels), required_query, specificity


@functools.cache
def _rest_rules(service_model: ServiceModel) -> tuple[_UriRule, ...]:
    # Keyed by the model object itself: get_service_model() hands out one instance per service.
    compiled = []
    for name in service_model.operation_names:
        http = service_model.operation_model(name).http
        regex, labels, required_query, specificity = _compile_template(http["requestUri"])
        rule = _UriRule(name, http.get("method", "POST").upper(), regex, labels, required_query)
        compiled.append((specificity, rule))
    compiled.sort(key=lambda item: item[0])
    return tuple(rule for _, rule in compiled)


def _route_uri(service_model: ServiceModel, request: AwsRequest) -> OperationModel | None:
    query_keys = {name for name, _ in request.query_params()}
    for rule in _rest_rules(service_model):
        if rule.method != request.method or not rule.regex.match(request.path):
            continue
        if all(key in query_keys for key in rule.required_query):
            return service_model.operation_model(rule.operation_name)
    return None


def uri_labels(operation_model: OperationModel, raw_path: str) -> dict[str, str]:
    """The decoded URI label values of `raw_path` for this operation's requestUri."""
    for rule in _rest_rules(operation_model.service_model):
        if rule.operation_name != operation_model.name:
            continue
        match = rule.regex.match(raw_path)
        if match is None:
            return {}
        return {label: unquote(match.group(f"g{index}")) for index, label in enumerate(rule.labels)}
    return {}
