"""The capture time a file's name gives, for the photos, videos and audio that carry none
of their own.

Messengers strip EXIF (WhatsApp's ``IMG-20190512-WA0003.jpg``, Signal's
``signal-2019-05-12-134501.jpg``, Telegram's ``photo_2019-05-12_13-45-01.jpg``), a
screenshot is a PNG without EXIF (``Screenshot_20190512-134501.png``, ``Screenshot
2019-05-12 at 13.45.01.png``), and phones and cameras name files by the moment they were
taken (``IMG_20190512_134501.jpg``, ``20190512_134501.mp4``, ``PXL_20230101_123456789.jpg``,
``PTT-20190512-WA0001.opus``). Where a file's own metadata (and a Google Takeout JSON
beside it) give no capture time, the first of its names (in path order) that holds a date
gives it, as local time: ``YYYY-MM-DDTHH:MM:SS`` with a time, ``YYYY-MM-DD`` without.

A date is a year from 1900 to 2099, a month and a day, written together or with one
separator (``-``, ``_`` or ``.``), optionally followed by a time of day (24-hour: hours,
minutes, seconds, with one separator or none, after ``-``, ``_``, ``.``, ``T``, a space
or " at "), milliseconds, and "AM" or "PM" for a 12-hour clock ("Screen Shot 2019-05-12
at 1.45.01 PM.png"); the run of digits may neither start nor end inside a longer one (so
a phone number or a hash holds no date), and it must be a day of the calendar.
Facebook's ``FB_IMG_<milliseconds since 1970>`` names an instant, given in UTC
(``+00:00``); other runs of epoch digits are left alone (as often an id as a time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

_NAMED = re.compile(
    rb"(?<![0-9])(19[0-9]{2}|20[0-9]{2})([-_.]?)(0[1-9]|1[0-2])\2(0[1-9]|[12][0-9]|3[01])"
    rb"(?:(?:[-_.T]| at |\s)(2[0-3]|[01]?[0-9])([-_.:]?)([0-5][0-9])\6([0-5][0-9])"
    rb"(?:[-_.]?[0-9]{3})?(?:\s?([AaPp])[Mm](?![A-Za-z]))?)?(?![0-9])")


# Facebook's app saves pictures as FB_IMG_<milliseconds since 1970, UTC>
_FB_EPOCH = re.compile(rb"FB_IMG_(1[0-9]{12})(?![0-9])")


def name_taken(name: bytes) -> str | None:
    """The capture time the file name ``name`` (no directory) gives, or None."""
    fb = _FB_EPOCH.match(name)
    if fb is not None:  # an instant, not a local time: said in UTC
        when = datetime.fromtimestamp(int(fb[1]) / 1000, UTC)
        return when.replace(microsecond=0).isoformat()
    for m in _NAMED.finditer(name):
        year, month, day = int(m[1]), int(m[3]), int(m[4])
        try:
            date(year, month, day)
        except ValueError:
            continue  # 2019-02-30: not a day
        if m[5] is None:
            return f"{year:04d}-{month:02d}-{day:02d}"
        hour = int(m[5])
        if m[9] is not None:  # a 12-hour clock: 12 AM is midnight, 12 PM noon
            if not 1 <= hour <= 12:
                return f"{year:04d}-{month:02d}-{day:02d}"
            hour = hour % 12 + (12 if m[9] in b"Pp" else 0)
        return (f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{m[7].decode()}:"
                f"{m[8].decode()}")
    return None


def paths_taken(paths: Iterable[bytes]) -> tuple[str, bytes] | None:
    """The capture time the first of ``paths`` (in the order given) whose file name holds
    a date gives, and that path."""
    for path in paths:
        taken = name_taken(path[path.rfind(b"/") + 1:])
        if taken is not None:
            return taken, path
    return None
