"""Scalar conversions shared by every protocol: timestamps, blobs, floats, booleans.

Readers raise ValueError on bad input; each protocol turns that into its own 4xx error.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import math
import re
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

UTC = timezone.utc


def read_timestamp(value) -> datetime:
    """An aware UTC datetime from epoch seconds, ISO 8601 or RFC 822 text.

    Every form is accepted whatever the model's timestampFormat says: clients differ, and a
    well-formed instant should never be refused for its spelling.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    text = str(value).strip()
    if not text:
        raise ValueError("empty timestamp")
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as error:
            raise ValueError(f"not a timestamp: {text!r}") from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    if not math.isfinite(seconds):
        raise ValueError("not a finite timestamp")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise ValueError("timestamp out of range") from error


def _aware(value) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return read_timestamp(value)


def format_timestamp(value, fmt: str):
    """Render a datetime (naive means UTC), epoch number or ISO string in a model timestampFormat.

    'iso8601-millis' is ours: ISO 8601 that always shows milliseconds, as EC2 writes it.
    """
    moment = _aware(value)
    fmt = fmt.lower()
    if fmt == "unixtimestamp":
        # Epoch seconds as a float with millisecond precision, as AWS's JSON services send them.
        return calendar.timegm(moment.utctimetuple()) + moment.microsecond // 1000 / 1000
    if fmt == "rfc822":
        return format_datetime(moment.replace(microsecond=0), usegmt=True)
    if fmt in ("iso8601", "iso8601-millis"):
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        millis = moment.microsecond // 1000
        return f"{text}.{millis:03d}Z" if millis or fmt == "iso8601-millis" else f"{text}Z"
    raise ValueError(f"unknown timestampFormat {fmt!r}")


def read_blob(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not valid base64") from error


def format_blob(value) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(bytes(value)).decode("ascii")


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def read_float(value) -> float:
    """A float from a number or from AWS's spellings of the special values."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        result = float(value)
        if not math.isfinite(result):  # 'inf', 'nan' in other spellings
            raise ValueError("use NaN, Infinity or -Infinity")
        return result
    raise ValueError("not a number")


def format_float(value):
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


_INTEGER = re.compile(r"[+-]?[0-9]+")


def read_int(text: str) -> int:
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        raise ValueError("not an integer")
    return int(text)


def read_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError("not a boolean")


def format_bool(value) -> str:
    return "true" if value else "false"
