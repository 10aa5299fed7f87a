"""The AWS endpoint: route → authenticate (SigV4) → parse and validate → service → serialize.

Every outcome, including an unexpected bug, leaves as an AWS-shaped response with a request id.
"""

from __future__ import annotations

import inspect
import logging

from aiohttp import web

from ..services.accounts import CredentialStore
from ..services.base import RequestContext, Service
from ..services.regions import known_regions
from . import sigv4
from .protocols import AwsError, AwsRequest, new_request_id, parse, route, serialize_error, serialize_response, validate
from .protocols.errors import unknown_operation
from .protocols.models import signing_name

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024


def aws_request(request: web.Request, body: bytes) -> AwsRequest:
    path, _, query = request.raw_path.partition("?")
    return AwsRequest(request.method, path, query, headers=list(request.headers.items()), body=body)


class AwsEndpoint:
    def __init__(self, services: dict[str, Service], credentials: CredentialStore):
        self.services = services
        self.credentials = credentials

    async def handle(self, request: web.Request) -> web.Response:
        request_id = new_request_id()
        service_model = None
        try:
            body = await request.read()
            wire = aws_request(request, body)
            service_model, operation = route(wire)
            identity = sigv4.verify(
                wire,
                self.credentials.secret_for,
                protocol=service_model.protocol,
                service=signing_name(service_model),
                regions=known_regions(),
            )
            params = parse(operation, wire)
            validate(operation, params)
            service = self.services.get(service_model.service_name)
            handler = service.handler(operation.name) if service else None
            if handler is None:
                error = unknown_operation(service_model, operation.name, operation.name)
                error.message = f"Moorage does not implement {service_model.service_name} {operation.name} yet."
                raise error
            principal = self.credentials.principal_for(identity.access_key_id)
            if principal is None:  # the key was deleted or deactivated since its signature was checked
                raise sigv4.unknown_key_error(service_model.protocol)
            context = RequestContext(
                account=principal.account_id,
                region=identity.region,
                principal_arn=principal.arn,
                access_key_id=identity.access_key_id,
                request_id=request_id,
            )
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
