"""One check's verdict and how it is printed."""

from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, WARN, INFO, SKIP = "PASS", "FAIL", "WARN", "INFO", "SKIP"


@dataclass
class Result:
    status: str
    name: str
    message: str
    # Why it failed and what to do, one line each; printed indented under the verdict.
    details: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def lines(self) -> list[str]:
        return [f"{self.status} {self.name}: {self.message}"] + [f"     {d}" for d in
                                                                  self.details]


def skipped(name: str, because: str) -> Result:
    return Result(SKIP, name, f"skipped because {because}")
