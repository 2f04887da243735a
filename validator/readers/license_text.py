"""Which well-known license a LICENSE file (or a license name in prose) looks like.

No maintained library matches license texts short of ScanCode's full engine, so this reads the
titles and signature sentences of the licenses ML packages use. It answers "looks like", never
"is": the text of a file can be edited after its title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEAD_CHARS = 4000  # titles and signature sentences sit at the top of every text below


@dataclass(frozen=True)
class LicenseGuess:
    name: str  # e.g. "the Apache License 2.0"
    ids: frozenset[str]  # SPDX ids the text fits (a GPL text fits both -only and -or-later)


def _ids(*ids: str) -> frozenset[str]:
    return frozenset(ids)


# (all of these phrases, none of these phrases) -> guess. Order matters: LGPL and AGPL texts quote the GPL.
_SIGNATURES: tuple[tuple[tuple[str, ...], tuple[str, ...], LicenseGuess], ...] = (
    (("apache license", "version 2.0"), (), LicenseGuess("the Apache License 2.0", _ids("Apache-2.0"))),
    (("gnu affero general public license", "version 3"), (),
     LicenseGuess("the GNU AGPL v3", _ids("AGPL-3.0-only", "AGPL-3.0-or-later", "AGPL-3.0"))),
    (("gnu lesser general public license", "version 3"), (),
     LicenseGuess("the GNU LGPL v3", _ids("LGPL-3.0-only", "LGPL-3.0-or-later", "LGPL-3.0"))),
    (("gnu lesser general public license", "version 2.1"), (),
     LicenseGuess("the GNU LGPL v2.1", _ids("LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-2.1"))),
    (("gnu general public license", "version 3"), (),
     LicenseGuess("the GNU GPL v3", _ids("GPL-3.0-only", "GPL-3.0-or-later", "GPL-3.0"))),
    (("gnu general public license", "version 2"), (),
     LicenseGuess("the GNU GPL v2", _ids("GPL-2.0-only", "GPL-2.0-or-later", "GPL-2.0"))),
    (("mozilla public license", "2.0"), (), LicenseGuess("the Mozilla Public License 2.0", _ids("MPL-2.0"))),
    (("european union public licen", "1.2"), (), LicenseGuess("the EUPL 1.2", _ids("EUPL-1.2"))),
    (("attribution-noncommercial-sharealike 4.0 international",), (),
     LicenseGuess("CC BY-NC-SA 4.0", _ids("CC-BY-NC-SA-4.0"))),
    (("attribution-noncommercial-noderivatives 4.0 international",), (),
     LicenseGuess("CC BY-NC-ND 4.0", _ids("CC-BY-NC-ND-4.0"))),
    (("attribution-noncommercial 4.0 international",), (), LicenseGuess("CC BY-NC 4.0", _ids("CC-BY-NC-4.0"))),
    (("attribution-sharealike 4.0 international",), (), LicenseGuess("CC BY-SA 4.0", _ids("CC-BY-SA-4.0"))),
    (("attribution-noderivatives 4.0 international",), (), LicenseGuess("CC BY-ND 4.0", _ids("CC-BY-ND-4.0"))),
    (("attribution 4.0 international",), (), LicenseGuess("CC BY 4.0", _ids("CC-BY-4.0"))),
    (("cc0 1.0 universal",), (), LicenseGuess("CC0 1.0", _ids("CC0-1.0"))),
    (("free and unencumbered software released into the public domain",), (),
     LicenseGuess("the Unlicense", _ids("Unlicense"))),
    (("boost software license", "version 1.0"), (), LicenseGuess("the Boost Software License 1.0", _ids("BSL-1.0"))),
    (("permission to use, copy, modify, and/or distribute this software for any purpose",), (),
     LicenseGuess("the ISC License", _ids("ISC"))),
    (("permission is hereby granted, free of charge", "shall be included in all copies"), (),
     LicenseGuess("the MIT License", _ids("MIT"))),
    (("redistribution and use in source and binary forms", "neither the name"), (),
     LicenseGuess("the BSD 3-Clause License", _ids("BSD-3-Clause"))),
    (("redistribution and use in source and binary forms",), ("neither the name",),
     LicenseGuess("the BSD 2-Clause License", _ids("BSD-2-Clause"))),
    # Names alone, as a model card writes them ("Apache License 2.0", "MIT License").
    (("apache license", "2.0"), (), LicenseGuess("the Apache License 2.0", _ids("Apache-2.0"))),
    (("apache 2.0",), (), LicenseGuess("the Apache License 2.0", _ids("Apache-2.0"))),  # a badge's "Apache 2.0"
    (("mit license",), (), LicenseGuess("the MIT License", _ids("MIT"))),
)


# Creative Commons by its deed URL (`creativecommons.org/licenses/by-nc/4.0/`, the HTML snippet's link)
# or its short name (`CC BY-NC 4.0`, a badge's text); bounded, so linear on any text.
_CC_URL = re.compile(r"creativecommons\.org/(?:licenses/(by(?:-nc)?(?:-sa|-nd)?)/(\d\.\d)|publicdomain/zero/1\.0)")
_CC_NAME = re.compile(r"\bcc[ -]?(by(?:[ -]nc)?(?:[ -]sa|[ -]nd)?)[ -]?v?(\d\.\d)\b|\bcc0(?:[ -]1\.0)?\b")


def _creative_commons(head: str) -> LicenseGuess | None:
    m = _CC_URL.search(head) or _CC_NAME.search(head)
    if m is None:
        return None
    if m.group(1) is None:
        return LicenseGuess("CC0 1.0", _ids("CC0-1.0"))
    kind = re.sub(r"[ -]", "-", m.group(1)).upper()
    return LicenseGuess(f"CC {kind} {m.group(2)}", _ids(f"CC-{kind}-{m.group(2)}"))


def identify(text: str) -> LicenseGuess | None:
    """The well-known license the text's head looks like, or None."""
    head = re.sub(r"\s+", " ", text[:HEAD_CHARS]).lower()
    for wanted, unwanted, guess in _SIGNATURES:
        if all(p in head for p in wanted) and not any(p in head for p in unwanted):
            return guess
    return _creative_commons(head)
