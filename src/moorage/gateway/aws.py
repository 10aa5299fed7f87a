"""The AWS endpoint: route → authenticate (SigV4) → parse and validate → service → serialize.

Every outcome, including an unexpected bug, leaves as an AWS-shaped response with a request id.
"""

from __future__ import annotations

import inspect
import logging

from aiohttp import web

from ..core.context import Principal, RequestContext
from ..core.regions import known_regions
from ..services.accounts import DEFAULT_REGION, CredentialStore
from ..services.base import Service
from . import sigv4
from .authorize import Authorizer
from .protocols import AwsError, AwsRequest, new_request_id, parse, route, serialize_error, serialize_response, validate
from .protocols.errors import unknown_operation
from .protocols.models import all_service_models, signing_name
from .protocols.router import credential_scope_service

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024


# The operations Moorage serves without a signature, by its own decision: the web identity token is
# the proof (and the trust policy decides). A model update that marks another operation unsigned
# (authtype "none", auth ["smithy.api#noAuth"]) changes nothing until it is named here too.
UNSIGNED_OPERATIONS = frozenset({("sts", "AssumeRoleWithWebIdentity")})


def model_says_unsigned(operation) -> bool:
    auth = operation.auth or []
    return operation.auth_type == "none" or "smithy.api#noAuth" in auth


def unsigned_operation(operation) -> bool:
    """Served without a signature: only when Moorage's list names it and the model agrees."""
    named = (operation.service_model.service_name, operation.name) in UNSIGNED_OPERATIONS
    return named and model_says_unsigned(operation)


def unsigned_payload_allowed(operation) -> bool:
    """AWS accepts UNSIGNED-PAYLOAD only for operations whose model says so (v4-unsigned-body)."""
    return operation.auth_type == "v4-unsigned-body" or bool(operation.unsigned_payload)


def aws_request(request: web.Request, body: bytes) -> AwsRequest:
    """The request as the protocol layer sees it. The path is the normalized one SigV4 signs
    (sigv4.normalized_path), so the operation routed is the operation signed."""
    path, _, query = request.raw_path.partition("?")
    return AwsRequest(request.method, sigv4.normalized_path(path), query, headers=list(request.headers.items()), body=body)


class AwsEndpoint:
    def __init__(self, services: dict[str, Service], credentials: CredentialStore, authorizer: Authorizer | None = None):
        self.services = services
        self.credentials = credentials
        self.authorizer = authorizer

    def _check_signature_of_unrouted(self, wire: AwsRequest) -> None:
        """A signed request that names no operation Moorage can find (e.g. its Content-Type was
        swapped, so the form is not read) is answered as AWS answers it: signature first."""
        scoped = credential_scope_service(wire)
        model = next((m for m in all_service_models() if signing_name(m) == scoped), None)
        if model is None:
            return
        sigv4.verify(wire, self.credentials.secret_for, protocol=model.protocol, service=scoped, regions=known_regions())

    async def handle(self, request: web.Request) -> web.Response:
        request_id = new_request_id()
        service_model = None
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:  # the client's mistake, not an internal failure
                raise AwsError("RequestEntityTooLarge", f"Request bodies are limited to {MAX_BODY_BYTES} bytes.", 413) from None
            wire = aws_request(request, body)
            try:
                service_model, operation = route(wire)
            except AwsError:
                self._check_signature_of_unrouted(wire)  # a bad signature is the answer, not the route
                raise
            protocol = service_model.protocol
            principal: Principal | None = None
            identity = None
            if not unsigned_operation(operation):
                resolved: dict[str, tuple[str, Principal] | None] = {}

                def secret_for(access_key_id: str) -> str | None:
                    # One lookup serves both the signature check and the principal.
                    resolved[access_key_id] = self.credentials.resolve(access_key_id)
                    found = resolved[access_key_id]
                    return found[0] if found else None

                identity = sigv4.verify(
                    wire, secret_for, protocol=protocol, service=signing_name(service_model), regions=known_regions(),
                    unsigned_payload=unsigned_payload_allowed(operation),
                )
                found = resolved.get(identity.access_key_id)
                if found is None:
                    raise sigv4.unknown_key_error(protocol)
                principal = found[1]
                sigv4.check_security_token(principal.session_token, principal.expires_at, identity.session_token, protocol)
            params = parse(operation, wire)
            validate(operation, params)
            service = self.services.get(service_model.service_name)
            handler = service.handler(operation.name) if service else None
            if handler is None:
                error = unknown_operation(service_model, operation.name, operation.name)
                error.message = f"Moorage does not implement {service_model.service_name} {operation.name} yet."
                raise error
            context = RequestContext(
                account=principal.account_id if principal else "",
                region=identity.region if identity else DEFAULT_REGION,
                principal_arn=principal.arn if principal else "",
                access_key_id=identity.access_key_id if identity else "",
                request_id=request_id,
                principal=principal,
                source_ip=request.remote or "",
                secure_transport=request.secure,
                authorizer=self.authorizer,
            )
            if self.authorizer is not None:
                self.authorizer.authorize_call(context, signing_name(service_model), protocol, operation.name, params)
            result = handler(context, params)
            if inspect.isawaitable(result):
                result = await result
            status, headers, payload = serialize_response(operation, result, request_id)
        except AwsError as error:
            status, headers, payload = serialize_error(service_model or error.service_model, error, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            failure = AwsError("InternalFailure", "Moorage hit an internal error; see its log for the request id.", 500, False)
            status, headers, payload = serialize_error(service_model, failure, request_id)
        return web.Response(status=status, headers=dict(headers), body=payload)
