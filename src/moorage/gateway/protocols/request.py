"""A framework-neutral view of one HTTP request, as the AWS protocol layer needs it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote


class Headers:
    """Case-insensitive, order-keeping multi-map of HTTP headers.

    Kept as a list of pairs because SigV4 signs every value of a repeated header.
    """

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None):
        self._items: list[tuple[str, str]] = []
        if items is None:
            return
        # aiohttp's CIMultiDict and plain dicts both offer items(); items() of a multidict repeats keys.
        pairs = items.items() if hasattr(items, "items") else items
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value) -> None:
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        self._items.append((str(name), str(value)))

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self._items:
            if key.lower() == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self._items if key.lower() == lname]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __iter__(self):
        return iter(key for key, _ in self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class AwsRequest:
    """One request as it arrived on the wire.

    `path` and `query_string` are the raw, still percent-encoded forms: SigV4 signs the encoded
    path, and a URI label such as an ARN may contain an encoded '/'.
    """

    method: str
    path: str = "/"
    query_string: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        if isinstance(self.body, str):
            self.body = self.body.encode("utf-8")
        if self.query_string.startswith("?"):
            self.query_string = self.query_string[1:]

    def query_params(self, errors: str = "replace") -> list[tuple[str, str]]:
        """Decoded (name, value) pairs of the query string, in order, blanks kept.

        A URL query is not a form: '+' is a plus, as SigV4 signs it (sigv4.canonical_query), and a
        space comes as %20. Reading '+' as a space would let one signature mean two requests."""
        pairs = []
        for piece in self.query_string.split("&"):
            if piece:
                name, _, value = piece.partition("=")
                pairs.append((unquote(name, errors=errors), unquote(value, errors=errors)))
        return pairs

    def form_params(self, errors: str = "strict") -> list[tuple[str, str]]:
        """Decoded pairs of a form-urlencoded body; empty when the body is not a form.

        Query-protocol bodies are UTF-8: with errors="strict" a bad byte sequence raises
        UnicodeDecodeError (the client's fault); routing reads with "replace" to find the Action.
        """
        content_type = (self.headers.get("content-type") or "").lower()
        if not self.body or (content_type and "x-www-form-urlencoded" not in content_type):
            return []
        return parse_qsl(self.body.decode("utf-8", errors), keep_blank_values=True, errors=errors)
