"""What counts as a right answer under load (kept free of Locust, whose import patches the process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import jsonschema
from jsonschema.exceptions import best_match

ROOT = Path(__file__).resolve().parent.parent
PREDICTION_VALIDATOR = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "prediction.schema.json").read_text()))


def problem(status: int, body_text: str, model: str, explain: bool) -> Optional[str]:
    """Why a response is wrong, or None when it is a valid answer from ``model``."""
    if status != 200:
        return f"HTTP {status}: {body_text[:200]}"
    try:
        body = json.loads(body_text)
    except ValueError:
        return f"not JSON: {body_text[:200]}"
    error = best_match(PREDICTION_VALIDATOR.iter_errors(body))
    if error is not None:
        return f"schema: {error.message}"
    if body["model"] != model:
        return f"answered by {body['model']}, asked {model}"
    if ("explanations" in body) != explain:
        return "explanations missing" if explain else "explanations not asked for"
    return None
