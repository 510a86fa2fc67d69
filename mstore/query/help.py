"""The query language reference shown by ``mstore help-query``: the catalog's keys, then
one block per term provider (mstore/query/terms.py)."""

from __future__ import annotations

_HELP = """\
Query language (terms are ANDed; keys and text are case-insensitive, and words and
paths match with or without accents: cafe finds Café):

  vacation            free word: substring of any of the asset's paths
  "two words"         quoted phrase (quotes also keep OR, -, (, ), key: literal)
  kind:image          image, video, audio, text, document (PDF) or other
  ext:heic            a path ends in .heic (ext:.HEIC works too)
  taken:2019          capture date: 2019, 2019-06, 2019-06-01, 2019-06-01T14:30
  taken:2019-06..2020-01   inclusive range (all of Jan 2020); open: 2019.. ..2020-01
  taken:>2019-06      also <, >=, <= ; assets without a capture date never match
                      (a photo without one is dated by a name like IMG-20190512-WA0003)
  taken:*-12-24       that day of any year (on this day); taken:*-06 any June;
                      taken:*-06..*-08 summers; taken:*-12-20..*-01-05 wraps
  camera:"iPhone 12"  substring of the camera make and model
  path:vacation/*     glob on the path relative to its root (* also crosses /)
  path:2019/trip/     everything under that directory
  path:2019/trip      no glob characters: substring of the relative path
  size:>5MB           also <, >=, <=, =, 1MB..5MB, 1234 (exact bytes);
                      units B, k/kB, KiB, MB, MiB, GB, GiB, TB, TiB
  has:gps             gps, taken, sidecar, live, error, animated
  missing:            assets whose files are all gone (missing:false: the others)
  error:              assets with a recorded error, plus paths that could not be
                      read at all (only listed when the query has an error: term)
  error:unreadable    the recorded error contains that text
  id:ab12             the asset id starts with that hex prefix
{providers}
  -term               exclude: -kind:video  -(a OR b)   (to search for "-x", quote it);
                      on the command line too: mstore find kind:image -path:2019/
  a b  (or a AND b)   both
  a OR b              either; OR binds looser than AND: a b OR c = (a b) OR c
  ( ... )             grouping: kind:image (camera:canon OR camera:nikon);
                      groups nest at most 100 deep

An empty query lists every asset.
"""


def query_help() -> str:
    from mstore.query.terms import specs

    lines = [f"  {line}" for spec in specs() for line in spec.summary.splitlines()]
    return _HELP.format(providers="".join(f"{line}\n" for line in lines))
