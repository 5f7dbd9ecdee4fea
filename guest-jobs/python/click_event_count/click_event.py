"""The Operations Playground's records: click events in ``input`` and click statistics in
``output``, byte for byte as the Rust ``click-event`` crate reads and writes them. Pure Python:
runs on CPython too.

    input:  {"timestamp":"01-01-1970 12:00:00:000","page":"/help"}
    output: {"windowStart":"01-01-1970 12:00:00:000","windowEnd":"01-01-1970 12:00:15:000","page":"/help","count":1000}

The date format is ``dd-MM-yyyy hh:mm:ss:SSS`` in UTC on the 12-hour clock without AM/PM:
:func:`parse_timestamp` gives the AM reading and :func:`resolve` picks the reading nearest a
reference (the watermark), as the Rust job does.
"""

from __future__ import annotations

import functools
import json
from typing import NamedTuple, Optional

WINDOW_SIZE_MS = 15_000
"""The size of the job's tumbling windows."""

_MS_PER_DAY = 86_400_000
_HALF_DAY_MS = _MS_PER_DAY // 2


class EventError(ValueError):
    """Why a record is not a click event."""


class ClickEvent(NamedTuple):
    """A click event: the AM reading of its timestamp and its page."""

    timestamp_am: int
    page: str


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y = y - 1 if m <= 2 else y
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (yoe + era * 400 + 1 if m <= 2 else yoe + era * 400), m, d


def format_timestamp(ms: int) -> str:
    """``ms`` since the epoch (UTC) as ``dd-MM-yyyy hh:mm:ss:SSS``."""
    days, in_day = divmod(ms, _MS_PER_DAY)
    y, m, d = _civil_from_days(days)
    hour24 = in_day // 3_600_000
    hour12 = 12 if hour24 % 12 == 0 else hour24 % 12
    year = f"-{-y:04d}" if y < 0 else f"{y:04d}"
    return (
        f"{d:02d}-{m:02d}-{year} {hour12:02d}:{in_day // 60_000 % 60:02d}:"
        f"{in_day // 1000 % 60:02d}:{in_day % 1000:03d}"
    )


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_timestamp(text: str) -> int:
    """Reads ``dd-MM-yyyy hh:mm:ss:SSS`` and returns its AM reading in ms since the epoch."""
    if (
        len(text) != 23
        or text[2] != "-"
        or text[5] != "-"
        or text[10] != " "
        or text[13] != ":"
        or text[16] != ":"
        or text[19] != ":"
    ):
        raise EventError('field "timestamp": expected a date as dd-MM-yyyy hh:mm:ss:SSS')
    parts = (text[0:2], text[3:5], text[6:10], text[11:13], text[14:16], text[17:19], text[20:23])
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise EventError('field "timestamp": expected a date as dd-MM-yyyy hh:mm:ss:SSS')
    d, m, y, h, minute, s, ms = map(int, parts)
    if m < 1 or m > 12:
        raise EventError('field "timestamp": expected a date as dd-MM-yyyy hh:mm:ss:SSS')
    days_in_month = 29 if m == 2 and ((y % 4 == 0 and y % 100 != 0) or y % 400 == 0) else _MONTH_DAYS[m]
    if d < 1 or d > days_in_month or h > 12 or minute > 59 or s > 59:
        raise EventError('field "timestamp": expected a date as dd-MM-yyyy hh:mm:ss:SSS')
    return _days_from_civil(y, m, d) * _MS_PER_DAY + (((h % 12) * 60 + minute) * 60 + s) * 1000 + ms


def resolve(am: int, reference: Optional[int]) -> int:
    """Of the two instants a 12-hour reading names (``am`` and 12 hours later), the one nearest
    ``reference``; with no reference, the AM reading (Flink's behaviour)."""
    if reference is not None and abs(am + _HALF_DAY_MS - reference) < abs(am - reference):
        return am + _HALF_DAY_MS
    return am


_PREFIX = b'{"timestamp":"'
_PAGE = b'","page":"'


@functools.lru_cache(maxsize=64)
def _timestamp_am(text: bytes) -> int:
    # The generator writes each timestamp once per page, six in a row: parse it once.
    return parse_timestamp(text.decode("ascii"))


def parse_event(data: bytes) -> ClickEvent:
    """Reads a click event; fields other than ``timestamp`` and ``page`` are ignored."""
    # The fast path: exactly the generator's shape, ASCII, nothing escaped (a JSON parse per
    # record is most of the job's time in the interpreter). Anything else takes the full parse.
    if (
        len(data) >= 49
        and data.startswith(_PREFIX)
        and data[37:47] == _PAGE
        and data.endswith(b'"}')
        and data.isascii()
        and b'"' not in data[47:-2]
        and b"\\" not in data
    ):
        return ClickEvent(_timestamp_am(data[14:37]), data[47:-2].decode("ascii"))
    try:
        fields = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise EventError(f"not JSON: {error}") from None
    if not isinstance(fields, dict):
        raise EventError("not a JSON object")
    ts = fields.get("timestamp")
    page = fields.get("page")
    if ts is None:
        raise EventError('missing field "timestamp"')
    if page is None:
        raise EventError('missing field "page"')
    if not isinstance(ts, str):
        raise EventError('field "timestamp" is not a string')
    if not isinstance(page, str):
        raise EventError('field "page" is not a string')
    return ClickEvent(parse_timestamp(ts), page)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_str(s: str) -> str:
    """A JSON string as the Rust SDK writes it (only quotes, backslashes and controls escaped)."""
    out = ['"']
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < " ":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def write_statistics(window_start: int, window_end: int, page: str, count: int) -> str:
    """The statistics of one window, fields in the playground's order."""
    return (
        f'{{"windowStart":"{format_timestamp(window_start)}","windowEnd":"{format_timestamp(window_end)}",'
        f'"page":{json_str(page)},"count":{count}}}'
    )
