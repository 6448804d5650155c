"""The browser module and the call page type-check: ``tsc --noEmit`` with ``--allowJs
--checkJs --strict`` over their JSDoc types (tests/browser/tsconfig.json), with TypeScript from
tests/browser/package.json (``npm ci --prefix tests/browser``, which .ci/run does)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TSC = HERE / "node_modules" / ".bin" / "tsc"


def test_static_javascript_type_checks() -> None:
    if not TSC.exists():
        reason = "TypeScript is not installed (npm ci --prefix tests/browser)"
        if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail(f"{reason} (CI=true: the type check is required)")
        pytest.skip(reason)
    result = subprocess.run(
        [str(TSC), "--noEmit", "--allowJs", "--checkJs", "-p", str(HERE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
