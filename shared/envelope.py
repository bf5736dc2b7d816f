"""CloudEvents 1.0 in the Kafka protocol binding's binary mode.

Attributes travel as `ce_*` headers, the data as the JSON body, the aggregate id as the
message key (one entity's events stay in one partition, so in order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.errors import Invalid

SPEC_VERSION: Literal["1.0"] = "1.0"
JSON = "application/json"
_PREFIX = "ce_"


class Envelope(BaseModel):
    """The CloudEvents context attributes of one event."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    specversion: Literal["1.0"] = SPEC_VERSION
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = JSON
    dataschema: str | None = None
    # Extension attribute: the HTTP request or upstream event that caused this one.
    correlationid: str | None = None

    def to_headers(self) -> dict[str, str]:
        """Binary-mode headers; values are str (Kafka headers must be str or bytes)."""
        headers = {
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_specversion": self.specversion,
            "ce_time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "content-type": self.datacontenttype,
        }
        for optional in ("subject", "dataschema", "correlationid"):
            value = getattr(self, optional)
            if value is not None:
                headers[f"{_PREFIX}{optional}"] = value
        return headers

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str | bytes] | Iterable[tuple[str, bytes]]
    ) -> Envelope:
        """Read the attributes back; raises Invalid naming what is missing or malformed."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        text: dict[str, str] = {}
        for key, value in pairs:
            # Kafka allows null and arbitrary bytes as header values: a null is no value, and
            # only the attributes must be text; other headers are not ours to read.
            if value is None:
                continue
            if isinstance(value, bytes):
                try:
                    value = value.decode()
                except UnicodeDecodeError as exc:
                    if key.startswith(_PREFIX) or key == "content-type":
                        raise Invalid(
                            f"not a CloudEvents binary-mode message ({key} is not UTF-8: {exc})"
                        ) from exc
                    continue
            text[key] = value
        attributes: dict[str, str] = {
            key[len(_PREFIX) :]: value for key, value in text.items() if key.startswith(_PREFIX)
        }
        if "content-type" in text:
            attributes["datacontenttype"] = text["content-type"]
        try:
            return cls.model_validate(attributes)
        except ValidationError as exc:
            fields = ", ".join(
                f"ce_{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise Invalid(f"not a CloudEvents binary-mode message ({fields})") from exc
