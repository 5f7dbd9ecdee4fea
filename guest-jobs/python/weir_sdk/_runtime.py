"""The glue between the exported ``plan`` and ``operator`` interfaces and a :class:`Job`: one
component instance runs one operator subtask, so the operator lives in module state.

Every exception a job raises becomes the call's error result, carrying the exception's type,
message and traceback, so the host fails the task with a message naming the operator and the
Python exception (rather than a bare trap)."""

from __future__ import annotations

import traceback
from typing import Callable, List, Optional, Tuple, TypeVar

from componentize_py_types import Err
from wit_world import exports as wit_exports
from wit_world.exports.operator import OperatorContext

from . import Job, Operator, Output, Records
from .args import ArgumentError
from .time import Timer

T = TypeVar("T")

#: How much of a traceback goes into an error: enough to find the line, bounded for the log.
_MAX_ERROR_CHARS = 4000


def _describe(error: BaseException) -> str:
    """``Type: message`` and the innermost frames of the traceback."""
    text = "".join(traceback.format_exception(error)).rstrip()
    if len(text) > _MAX_ERROR_CHARS:
        text = "…" + text[-_MAX_ERROR_CHARS:]
    return f"{type(error).__name__}: {error}\n{text}"


def _guarded(call: Callable[[], T]) -> T:
    try:
        return call()
    except Err:
        raise
    except MemoryError as error:
        # Formatting a traceback needs memory, which just ran out.
        raise Err(f"MemoryError: {error or 'out of memory'}") from None
    except BaseException as error:  # noqa: BLE001 - every failure must reach the host as an error
        raise Err(_describe(error)) from None


def exports(job: Job) -> Tuple[type, type]:
    state: dict[str, Optional[object]] = {"operator": None}
    output = Output()

    class Plan(wit_exports.Plan):
        def plan(self, args: List[str]):  # type: ignore[override]
            try:
                return job.plan(list(args))
            except ArgumentError as error:
                raise Err(str(error)) from None
            except Err:
                raise
            except BaseException as error:  # noqa: BLE001
                raise Err(_describe(error)) from None

    def current() -> Operator:
        operator = state["operator"]
        if operator is None:
            raise RuntimeError("the operator was called before open")
        return operator  # type: ignore[return-value]

    def run(call: Callable[[Operator], None]) -> None:
        def body() -> None:
            try:
                call(current())
            finally:
                output.flush()

        _guarded(body)

    class OperatorExport(wit_exports.Operator):
        def open(self, context: OperatorContext) -> None:
            state["operator"] = _guarded(lambda: job.open(context))

        def process(self, input: int, records: bytes) -> None:
            run(lambda op: op.process(input, Records(records), output))

        def on_timers(self, timers: List[Timer]) -> None:
            run(lambda op: op.on_timers(timers, output))

        def finish(self) -> None:
            run(lambda op: op.finish(output))

    return Plan, OperatorExport
