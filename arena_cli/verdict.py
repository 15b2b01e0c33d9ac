"""The verdict: what one run of an exercise's hidden test found.

This is the contract between the test child process (which writes its checks, see `protocol.py`), the
runner (which reads them and builds the verdict), the renderer and `--json`. Plain dataclasses of plain values, so it crosses processes
as JSON and never needs torch to be read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Status = Literal["passed", "failed", "error", "timeout"]
CheckStatus = Literal["passed", "failed", "error", "skipped"]
MismatchKind = Literal["shape", "dtype", "value", "type", "other"]

OUTPUT_LIMIT = 4000  # characters of captured output kept per check and per run
SHORT_LIMIT = 400  # characters of a name, a location, a value's description
SAMPLE_LIMIT = 20  # mismatched elements listed


@dataclass(frozen=True)
class Mismatch:
    """A structured difference between the student's value and the expected one."""

    kind: MismatchKind
    name: str = "output"
    expected: str = ""  # short description: "shape (2, 3), float32" or a repr
    actual: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    where: list[int] | None = None  # index of the worst element
    worst: list[float] | None = None  # [expected, actual] at `where`
    n_mismatched: int | None = None
    n_total: int | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)  # [{"index", "expected", "actual"}]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mismatch:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__}).bounded()

    def bounded(self) -> Mismatch:
        """The same mismatch with every text cut to size (a value's repr can be megabytes)."""
        return replace(
            self,
            name=truncate(str(self.name), SHORT_LIMIT),
            expected=truncate(str(self.expected), OUTPUT_LIMIT // 4),
            actual=truncate(str(self.actual), OUTPUT_LIMIT // 4),
            sample=[
                {k: truncate(v, SHORT_LIMIT) if isinstance(v, str) else v for k, v in s.items()}
                for s in list(self.sample)[:SAMPLE_LIMIT]
                if isinstance(s, dict)
            ],
        )


@dataclass(frozen=True)
class Check:
    """One hidden test function's outcome."""

    name: str
    status: CheckStatus
    message: str = ""  # the assertion message or exception line
    diagnosis: str = ""  # the test's own explanation of the likely mistake
    mismatch: Mismatch | None = None
    traceback: str | None = None  # trimmed to the student's file
    # Where to look in the student's file, `path:line:col` (relative to the course root), for a check
    # that failed without a traceback of the student's code: the line that raised, else the function
    # under test (its `raise NotImplementedError` while it is there, else its `def`).
    location: str = ""
    output: str = ""  # what the student's code printed during this check

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        data = dict(data)
        if data.get("mismatch"):
            data["mismatch"] = Mismatch.from_dict(data["mismatch"])
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__}).bounded()

    def bounded(self) -> Check:
        """The same check with every text cut to size: a 20 MB exception message must not become
        20 MB of terminal or of `--json`."""
        return replace(
            self,
            name=truncate(str(self.name), SHORT_LIMIT),
            message=truncate(str(self.message)),
            diagnosis=truncate(str(self.diagnosis)),
            traceback=None if self.traceback is None else truncate(str(self.traceback)),
            location=truncate(str(self.location), SHORT_LIMIT),
            output=truncate(str(self.output)),
            mismatch=self.mismatch.bounded() if isinstance(self.mismatch, Mismatch) else None,
        )


@dataclass(frozen=True)
class Verdict:
    exercise_id: str
    status: Status
    duration_s: float
    checks: list[Check] = field(default_factory=list)
    message: str = ""  # run-level explanation for error/timeout verdicts
    output: str = ""  # captured process output (truncated)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if c.status in ("failed", "error")), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {"id": data.pop("exercise_id"), **data}


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """Keep the head and tail of long output, saying how much was dropped."""
    if len(text) <= limit:
        return text
    half = limit // 2
    dropped = len(text) - 2 * half
    return f"{text[:half]}\n... [{dropped:,} characters of output omitted] ...\n{text[-half:]}"
