"""The base of every report model: unknown fields are refused, so the schema stays exact."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A report model that refuses fields it does not declare."""

    model_config = ConfigDict(extra="forbid")
