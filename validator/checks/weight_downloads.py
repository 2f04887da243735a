"""Area layout: a package that ships no weights and whose code downloads them when it runs (MC120).

The downloads are read statically (validator.readers.weight_downloads: ast for Python and notebooks,
regular expressions for shell lines and Dockerfiles); nothing is run or fetched. One finding per
package, naming each download (file:line, source); at info level when every download is pinned by a
commit revision or a verified checksum.
"""

from __future__ import annotations

from collections.abc import Iterable

from validator.checks.base import Skip, StaticCheck
from validator.checks.layout import artefact_kinds
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding, Severity
from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.readers.weight_downloads import WEIGHT_SUFFIXES, WeightDownload, find_weight_downloads

LISTED = 5  # downloads named in the message before "and N more"


def ships_weights(pkg: ModelPackage) -> bool:
    """Any weight file, by name or content (a pointer counts: MC111 says it was not fetched)."""
    if pkg.pointers or any(rel.lower().endswith(WEIGHT_SUFFIXES) for rel in pkg.files):
        return True
    return bool(artefact_kinds(pkg))


class WeightDownloadsCheck(StaticCheck):
    name = "weights in the package"
    area = Area.LAYOUT

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        downloads = find_weight_downloads(pkg)
        if not downloads:
            return Skip("no code of the package downloads weights")
        if ships_weights(pkg):
            return Skip("the package ships weights; the downloads its code makes are not judged")
        return [_finding(downloads)]


def _describe(download: WeightDownload) -> str:
    source = download.source or "a source the code computes"
    return f"{download.where()} ({download.how}: {source}; {download.detail})"


def _finding(downloads: list[WeightDownload]) -> Finding:
    unique = list({(d.file, d.line, d.source): d for d in downloads}.values())
    loose = [d for d in unique if not d.pinned]
    shown = (loose or unique)[:LISTED]
    more = f" and {len(unique) - len(shown)} more" if len(unique) > len(shown) else ""
    places = "; ".join(_describe(d) for d in shown)
    first = shown[0]
    if loose:
        message = (f"the package ships no model weights: its code fetches them when it runs, from {places}{more}. "
                   "The guideline wants the weights in the package, or a download fixed by revision and checksum: ship "
                   "model.safetensors (and/or model.onnx) and load it from the package, or pin each download (a full commit "
                   "`revision=` for the Hugging Face Hub, a checksum verified after the download otherwise) and say in the "
                   "card where the weights come from")
        return rule("weights-downloaded-at-runtime").finding(message, file=first.file, line=first.line)
    message = (f"the package ships no model weights: its code fetches them when it runs, pinned, from {places}{more}. "
               "Running the package still needs the network; ship model.safetensors (and/or model.onnx) to make it "
               "self-contained, or say in the card where the weights come from")
    return rule("weights-downloaded-at-runtime").finding(message, file=first.file, line=first.line, severity=Severity.INFO)
