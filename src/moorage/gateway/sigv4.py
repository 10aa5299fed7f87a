"""Verify AWS Signature Version 4: Authorization headers and presigned URLs.

The verifier recomputes the signature from the request exactly as the client built it (canonical
request, string to sign, derived key) and compares in constant time. Failures are AwsErrors with
the code, status and wording the real service family uses, so clients react as they would to AWS.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from ..core.errors import AwsError
from .protocols.request import AwsRequest

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # seven days, the longest a derived signing key is valid
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d+")
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
# Headers that change what a request means: present, they must be signed (botocore signs every
# header but user-agent, expect, x-amzn-trace-id and a few hop-by-hop ones). X-Amz-Target names a
# json-protocol operation; Content-Type decides whether a query-protocol body is read as a form.
MUST_SIGN = ("content-type", "x-amz-target")
_HEADER_SPELLING = {"content-type": "Content-Type", "x-amz-target": "X-Amz-Target"}

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."

# Failure kind -> protocol -> (code, HTTP status). The query services (IAM, STS, Auto Scaling),
# EC2 and the JSON services each have their own vocabulary for the same failure.
_CODES: dict[str, dict[str, tuple[str, int]]] = {
    "missing": {
        "query": ("MissingAuthenticationToken", 403),
        "ec2": ("MissingParameter", 400),
        "json": ("MissingAuthenticationTokenException", 403),
        "rest-json": ("MissingAuthenticationTokenException", 403),
    },
    "incomplete": {
        "query": ("IncompleteSignature", 400),
        "ec2": ("IncompleteSignature", 400),
        "json": ("IncompleteSignatureException", 400),
        "rest-json": ("IncompleteSignatureException", 403),
    },
    "unknown_key": {
        "query": ("InvalidClientTokenId", 403),
        "ec2": ("AuthFailure", 401),
        "json": ("UnrecognizedClientException", 400),
        "rest-json": ("UnrecognizedClientException", 403),
    },
    "mismatch": {
        "query": ("SignatureDoesNotMatch", 403),
        "ec2": ("SignatureDoesNotMatch", 403),
        "json": ("InvalidSignatureException", 400),
        "rest-json": ("InvalidSignatureException", 403),
    },
    "expired": {
        "query": ("SignatureDoesNotMatch", 403),
        "ec2": ("RequestExpired", 400),
        "json": ("InvalidSignatureException", 400),
        "rest-json": ("InvalidSignatureException", 403),
    },
}
# EC2 words two of them its own way.
_EC2_MESSAGES = {
    "unknown_key": "AWS was not able to validate the provided access credentials",
    "expired": "Request has expired.",
}
_MISSING_MESSAGES = {
    "query": "Request is missing Authentication Token",
    "ec2": "The request must contain the parameter AWSAccessKeyId",
    "json": "Missing Authentication Token",
    "rest-json": "Missing Authentication Token",
}


@dataclass(frozen=True)
class Identity:
    """Who signed a verified request, and for which region and service."""

    access_key_id: str
    region: str
    service: str
    signed_at: datetime
    session_token: str | None = None


class _Failure(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def unknown_key_error(protocol: str) -> AwsError:
    """The error for an access key Moorage does not (or no longer) know, in the protocol's words."""
    code, status = _CODES["unknown_key"][protocol]
    return AwsError(code, _EC2_MESSAGES["unknown_key"] if protocol == "ec2" else INVALID_TOKEN, status)


# Expired temporary credentials, in each protocol's words (EC2 reuses its request-expiry error).
EXPIRED_TOKEN = "The security token included in the request is expired"
_EXPIRED_TOKEN_CODES = {
    "query": ("ExpiredToken", 403),
    "ec2": ("RequestExpired", 400),
    "json": ("ExpiredTokenException", 400),
    "rest-json": ("ExpiredTokenException", 403),
}


def check_security_token(
    expected: str | None, expires_at: float | None, presented: str | None, protocol: str, now: float | None = None
) -> None:
    """Temporary credentials work only with their own X-Amz-Security-Token and until they expire;
    long-term keys must come without one. Raises the protocol's AwsError otherwise."""
    if expected is None:
        if presented:
            raise unknown_key_error(protocol)
        return
    if not presented or not hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise unknown_key_error(protocol)
    if expires_at is not None and (now if now is not None else time.time()) >= expires_at:
        code, status = _EXPIRED_TOKEN_CODES[protocol]
        raise AwsError(code, _EC2_MESSAGES["expired"] if protocol == "ec2" else EXPIRED_TOKEN, status)


def verify(
    request: AwsRequest,
    lookup: Callable[[str], str | None],
    *,
    protocol: str = "query",
    service: str | None = None,
    regions: Iterable[str] | None = None,
    now: datetime | None = None,
    max_skew: timedelta = MAX_SKEW,
    honour_expires: bool = True,
    unsigned_payload: bool = False,
) -> Identity:
    """Check the request's SigV4 signature; return the signer's Identity or raise AwsError.

    lookup(access_key_id) gives the secret key, or None for an unknown key. `protocol` picks the
    error vocabulary ('query', 'ec2', 'json', 'rest-json'). `service` is the signing name the
    scope must carry; `regions` the regions it may name (any well-formed region when None).
    Presigned URLs are valid for X-Amz-Expires seconds; with honour_expires=False they get the
    15-minute window instead, as STS gives the presigned GetCallerIdentity behind EKS tokens.
    `unsigned_payload` says whether the operation accepts an UNSIGNED-PAYLOAD (or STREAMING-*)
    payload hash in an Authorization header: AWS accepts it only where the model says so (S3 and
    operations marked v4-unsigned-body); elsewhere the body is always part of the signature.
    """
    now = now or datetime.now(timezone.utc)
    now = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
    try:
        return _verify(request, lookup, service, regions, now, max_skew, honour_expires, unsigned_payload)
    except _Failure as failure:
        if failure.kind == "missing":
            code, status = _CODES["missing"][protocol]
            raise AwsError(code, _MISSING_MESSAGES[protocol], status) from None
        code, status = _CODES[failure.kind][protocol]
        message = _EC2_MESSAGES.get(failure.kind, failure.message) if protocol == "ec2" else failure.message
        raise AwsError(code, message, status) from None


def _verify(request, lookup, service, regions, now, max_skew, honour_expires, unsigned_payload) -> Identity:
    query = request.query_params()
    query_names = {name for name, _ in query}
    authorization = request.headers.get("authorization")
    if authorization:
        fields = _parse_authorization(authorization)
        signed_at = _request_time(request.headers.get("x-amz-date"), request.headers.get("date"), authorization)
        presigned = False
        token = request.headers.get("x-amz-security-token")
    elif query_names & {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"}:
        fields, signed_at, expires = _parse_presigned(dict(query))
        presigned = True
        token = dict(query).get("X-Amz-Security-Token")
    else:
        raise _Failure("missing", "")
    # The string to sign carries the request time in ISO basic form, whichever header gave it.
    amz_date_text = signed_at.strftime(_AMZ_DATE)

    access_key, scope_date, region, scope_service, terminator = _split_credential(fields["Credential"])
    _check_scope(scope_date, region, scope_service, terminator, amz_date_text, service, regions)
    signed_headers = fields["SignedHeaders"].split(";")
    if "host" not in signed_headers and ":authority" not in signed_headers:
        raise _Failure("incomplete", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    for name in MUST_SIGN:
        if name not in signed_headers and request.headers.get(name) is not None:
            raise _Failure("incomplete", f"'{_HEADER_SPELLING[name]}' must be a 'SignedHeader' in the AWS Authorization.")

    secret = lookup(access_key)
    if secret is None:
        raise _Failure("unknown_key", INVALID_TOKEN)

    if presigned:
        _check_presign_window(signed_at, expires if honour_expires else None, now, max_skew)
    else:
        _check_skew(signed_at, now, max_skew)

    scope = f"{scope_date}/{region}/{scope_service}/{TERMINATOR}"
    key = signing_key(secret, scope_date, region, scope_service)
    # Bytes, not str: compare_digest refuses non-ASCII text, and the signature is client input.
    provided = fields["Signature"].encode("utf-8", "replace")
    for payload_hash in _payload_hashes(request, query, presigned, unsigned_payload):
        canonical = canonical_request(request, signed_headers, payload_hash, drop_signature=presigned)
        expected = signature(key, string_to_sign(amz_date_text, scope, canonical))
        if hmac.compare_digest(expected.encode("ascii"), provided):
            return Identity(access_key, region, scope_service, signed_at, token)
    raise _Failure("mismatch", SIGNATURE_MISMATCH)


# --- reading the signature's parts ------------------------------------------------------------------


def _parse_authorization(header: str) -> dict[str, str]:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm.startswith("AWS4-") and algorithm != ALGORITHM:
        raise _Failure("incomplete", f"Unsupported AWS 'algorithm': '{algorithm}'")
    fields: dict[str, str] = {}
    if algorithm == ALGORITHM:
        for piece in rest.split(","):
            piece = piece.strip()
            if not piece:
                continue
            name, equals, value = piece.partition("=")
            if not equals:
                raise _Failure(
                    "incomplete",
                    f"'{piece}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'.",
                )
            fields[name.strip()] = value.strip()
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    if missing:
        raise _Failure("incomplete", " ".join(missing + [f"Authorization={header}"]))
    return fields


def _request_time(amz_date: str | None, date: str | None, authorization: str) -> datetime:
    if amz_date is not None:
        return _parse_amz_date(amz_date)
    if date is not None:
        try:
            parsed = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            raise _Failure("incomplete", f"Date must be in RFC 1123 format. Got '{date}'.") from None
        # '-0000' (what botocore sends) parses as naive: it still means UTC, not local time.
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    raise _Failure(
        "incomplete",
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={authorization}",
    )


_AMZ_DATE_RE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


def _parse_amz_date(text: str) -> datetime:
    # A regex instead of strptime: this runs on every request and strptime is ~20 µs.
    match = _AMZ_DATE_RE.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        return datetime(*map(int, match.groups()), tzinfo=timezone.utc)
    except ValueError:
        raise _Failure(
            "incomplete",
            f"Date must be in ISO-8601 'basic format'. Got '{text}'. See http://en.wikipedia.org/wiki/ISO_8601",
        ) from None


def _parse_presigned(params: dict[str, str]) -> tuple[dict[str, str], datetime, int]:
    if any(not params.get(name) for name in _PRESIGN_PARAMS):
        raise _Failure(
            "incomplete",
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'. "
            "Re-examine the query-string parameters.",
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _Failure("incomplete", f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'")
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        expires = -1
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise _Failure(
            "incomplete",
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGN_EXPIRES} (seven days).",
        )
    fields = {
        "Credential": params["X-Amz-Credential"],
        "SignedHeaders": params["X-Amz-SignedHeaders"],
        "Signature": params["X-Amz-Signature"],
    }
    return fields, _parse_amz_date(params["X-Amz-Date"]), expires


def _split_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise _Failure(
            "incomplete",
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'",
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


# --- checks -----------------------------------------------------------------------------------------


def _check_scope(scope_date, region, scope_service, terminator, amz_date, service, regions) -> None:
    if terminator != TERMINATOR:
        raise _Failure(
            "mismatch", f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
        )
    if scope_date != amz_date[:8]:
        raise _Failure(
            "mismatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    allowed = set(regions) if regions is not None else None
    if (allowed is not None and region not in allowed) or (allowed is None and not _REGION.fullmatch(region)):
        raise _Failure("mismatch", f"Credential should be scoped to a valid region, not '{region}'.")
    if service is not None and scope_service != service:
        raise _Failure("mismatch", f"Credential should be scoped to correct service: '{service}'.")


def _stamp(moment: datetime) -> str:
    return moment.strftime(_AMZ_DATE)


def _check_skew(signed_at: datetime, now: datetime, max_skew: timedelta) -> None:
    minutes = int(max_skew.total_seconds() // 60)
    if signed_at < now - max_skew:
        raise _Failure(
            "expired",
            f"Signature expired: {_stamp(signed_at)} is now earlier than {_stamp(now - max_skew)} "
            f"({_stamp(now)} - {minutes} min.)",
        )
    if signed_at > now + max_skew:
        raise _Failure(
            "expired",
            f"Signature not yet current: {_stamp(signed_at)} is still later than {_stamp(now + max_skew)} "
            f"({_stamp(now)} + {minutes} min.)",
        )


def _check_presign_window(signed_at: datetime, expires: int | None, now: datetime, max_skew: timedelta) -> None:
    if expires is None:
        _check_skew(signed_at, now, max_skew)
        return
    if signed_at > now + max_skew:
        _check_skew(signed_at, now, max_skew)
    if now > signed_at + timedelta(seconds=expires):
        raise _Failure("expired", "Request has expired.")


# --- the signature itself ---------------------------------------------------------------------------


def _payload_hashes(request: AwsRequest, query: list[tuple[str, str]], presigned: bool, unsigned_ok: bool) -> list[str]:
    """The payload hashes the client may have signed with, most likely first."""
    declared = request.headers.get("x-amz-content-sha256") or dict(query).get("X-Amz-Content-Sha256")
    actual = hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256
    if declared is not None:
        # A declared hash must describe the body we got; UNSIGNED-PAYLOAD opts out of that, which
        # only the operations AWS lets opt out may do (none Moorage serves: IAM, STS, EC2, EKS...).
        opted_out = declared == UNSIGNED_PAYLOAD or declared.startswith("STREAMING-")
        if (opted_out and not unsigned_ok) or (not opted_out and declared != actual):
            raise _Failure("mismatch", SIGNATURE_MISMATCH)
        return [declared]
    # botocore presigns with UNSIGNED-PAYLOAD (SigV4QueryAuth), other signers hash the body. An
    # unsigned payload leaves nothing unprotected only when there is no body.
    if presigned and (unsigned_ok or not request.body):
        return [actual, UNSIGNED_PAYLOAD]
    return [actual]


def normalized_path(raw_path: str) -> str:
    """The path as SigV4 signs it for every service but S3, and so the path Moorage routes: dot
    segments and empty segments removed (botocore.utils.remove_dot_segments), percent-encoding
    kept as sent. Routing the raw path instead would let a signature for /clusters/a serve
    /clusters/a/addons/.. (DescribeAddon of '..')."""
    if not raw_path:
        return "/"
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return path


def canonical_uri(raw_path: str) -> str:
    """The path as SigV4 signs it for non-S3 services: normalized (normalized_path), then
    URI-encoded once more (so '%3A' in the wire path is signed as '%253A')."""
    return quote(normalized_path(raw_path), safe="/~")


def canonical_query(raw_query: str, drop_signature: bool) -> str:
    """Each name and value decoded to its bytes and encoded again (RFC 3986 unreserved characters
    kept, everything else %XY), sorted. '+' is not a space here: it signs as %2B, as '%2B' does, and
    AwsRequest.query_params() reads both as '+'. A space is %20 only."""
    pairs = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        name_bytes, value_bytes = unquote_to_bytes(name), unquote_to_bytes(value)
        if drop_signature and name_bytes == b"X-Amz-Signature":
            continue
        pairs.append((quote(name_bytes, safe="-_.~"), quote(value_bytes, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_request(request: AwsRequest, signed_headers: list[str], payload_hash: str, drop_signature: bool) -> str:
    header_lines = []
    for name in signed_headers:
        values = request.headers.get_all(name)
        header_lines.append(f"{name}:{','.join(' '.join(value.split()) for value in values)}")
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.path),
            canonical_query(request.query_string, drop_signature),
            "\n".join(header_lines) + "\n",
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])


@functools.lru_cache(maxsize=1024)  # one derivation per key, day, region and service
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
