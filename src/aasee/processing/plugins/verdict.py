"""The plugins that judge: static analysis of the sample and its dropped files, behaviour
signatures with their ATT&CK techniques, and the score and verdict.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..attack import attack_summary
from ..models import DroppedFile
from ..run_meta import SAMPLE_COPY
from ..scoring import not_executed, score
from ..signatures import run_signatures
from ..static import analyse_file, load_rules
from .base import Plugin, ProcessingContext

__all__ = ["DroppedPlugin", "ScorePlugin", "SignaturesPlugin", "StaticPlugin"]

logger = logging.getLogger(__name__)

DROPPED_MANIFEST = "dropped/manifest.json"
MAX_DROPPED_ENTRIES = 1000


def _rules(context: ProcessingContext) -> Any:
    if context.yara_rules is None:
        context.yara_rules = load_rules(context.user_rules)
        context.errors.extend(f"YARA rules: {error}" for error in context.yara_rules.errors)
    return context.yara_rules


class StaticPlugin(Plugin):
    name = "static"
    requires = (SAMPLE_COPY,)
    generates = ("static",)

    def missing(self, context: ProcessingContext, absent: list[str]) -> str | None:
        return f"static analysis skipped: the sample copy {SAMPLE_COPY} is missing"

    def run(self, context: ProcessingContext) -> None:
        context.static = analyse_file(
            context.artefacts[SAMPLE_COPY], name=context.sample.name, rules=_rules(context)
        )


class DroppedPlugin(Plugin):
    """The files collected from the guest (``dropped/manifest.json``), each analysed statically."""

    name = "dropped"
    requires = (DROPPED_MANIFEST,)
    after = ("static",)
    generates = ("dropped",)
    paged = ("dropped",)

    def run(self, context: ProcessingContext) -> None:
        manifest = context.artefacts[DROPPED_MANIFEST]
        folder = manifest.parent
        entries = json.loads(manifest.read_text("utf-8"))
        if not isinstance(entries, list):
            raise ValueError(f"{DROPPED_MANIFEST} is not a list")
        if len(entries) > MAX_DROPPED_ENTRIES:
            context.errors.append(
                f"{len(entries)} dropped files listed; only the first {MAX_DROPPED_ENTRIES} kept"
            )
        rules = _rules(context)
        for index, entry in enumerate(entries[:MAX_DROPPED_ENTRIES]):
            try:
                dropped = DroppedFile.model_validate(entry)
            except ValidationError as exc:
                context.errors.append(f"dropped file entry {index} invalid: {exc.errors()[:1]}")
                continue
            stored = self._stored(folder, dropped.stored_as)
            if stored is not None:
                try:
                    dropped.static = analyse_file(stored, name=Path(dropped.path).name, rules=rules)
                except (OSError, ValueError) as exc:
                    context.errors.append(f"dropped file {dropped.path!r}: {exc}")
            elif dropped.stored_as is not None:
                context.errors.append(f"dropped file {dropped.path!r}: stored copy missing")
            context.dropped.append(dropped)

    @staticmethod
    def _stored(folder: Path, stored_as: str | None) -> Path | None:
        # Only a bare content-addressed name inside dropped/ is ever opened.
        if not stored_as or "/" in stored_as or stored_as in (".", ".."):
            return None
        path = folder / stored_as
        return path if path.is_file() else None


class SignaturesPlugin(Plugin):
    name = "signatures"
    after = ("behaviour", "capture", "fakenet", "static", "dropped", "output")
    generates = ("signatures", "attack")

    def run(self, context: ProcessingContext) -> None:
        matches, errors = run_signatures(context.report())
        context.errors.extend(errors)
        context.signatures = matches
        context.attack = attack_summary(matches)


class ScorePlugin(Plugin):
    name = "score"
    after = ("signatures",)
    generates = ("score", "verdict", "score_details")

    def run(self, context: ProcessingContext) -> None:
        analysis = context.analysis
        if not analysis.executed:
            context.score, context.verdict, context.score_details = not_executed(
                analysis.not_executed_reason, context.signatures
            )
            return
        context.score, context.verdict, context.score_details = score(context.signatures)
