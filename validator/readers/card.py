"""What the guideline's "Write a Model Card" list asks for, and how to recognise each item.

An item is present when a `Field: value` names it, a heading names it and has content, or (for
items that are usually written in prose) a pattern finds it in the text. Each definition below
says which of these apply. Values the later checks compare (name, version, shape, channels,
classes, license, repository, tag, commit, inference command) are extracted here too.

Every pattern here runs over untrusted text and is linear in it: no two quantifiers that can match
the same characters back to back (two `\\s*` around an optional character), whitespace runs
entered only where they start (a `(?<!\\s)` lookbehind), and what is short in real cards
(shapes, placeholders) matched with bounded quantifiers, so no start position the engine retries
can scan the rest of the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from validator.core.findings import Severity
from validator.readers.markdown import Field, Image, ParsedMarkdown, Section, plain

# Tags a card writes in HTML are markup, not a `<placeholder>`.
_HTML_TAG = (r"a|img|br|p|div|span|h[1-6]|details|summary|sup|sub|b|i|u|em|strong|code|pre|center|table|thead|tbody|tr|td|th"
             r"|ul|ol|li|hr|picture|source|video|figure|figcaption|kbd|blockquote|section|!--")
_PLACEHOLDER = re.compile(
    r"^\s*(todo|tbd|tba|fixme|xxx+|\?+|\.\.\.|…|lorem ipsum.*|coming soon|to be (added|completed|determined|defined|done|written)"
    r"|\[?more information needed\]?|\[?needs? more information\]?|fill (this )?in.*|insert .*here|<(?!/?(?:" + _HTML_TAG + r")\b)[^<>]{1,80}>"
    r"|\{\{.*\}\}|\[[a-z _-]+\])\s*(?:[.!]\s*)?$",
    re.IGNORECASE,
)
# `{{ name }}` is a template slot left in; `${{ matrix.python }}` is a GitHub Actions expression, not one.
_PLACEHOLDER_ANYWHERE = re.compile(r"\[More Information Needed\]|\bTODO\b|\bTBD\b|\bFIXME\b|(?<!\$)\{\{[^}]{0,200}\}\}")
# Slots the author left unfilled, in code and citations as much as in prose: `{insert_doi_here}`.
_AUTHOR_SLOT = re.compile(r"\{\s{0,3}[Ii]nsert[^{}\n]{0,60}\}|\{[\w-]{0,40}_here\}")
# Slots for the *user* of a command (`--input <PATH_TO_DATA>`, `YOUR-AWS-REGION`): usage documentation,
# not an unfinished card, unless they are all a card field says ("Contact: YOUR_EMAIL").
# Case-sensitive: `<path>` in prose may be markup.
_USER_SLOT = re.compile(r"<[A-Z][A-Z0-9]{0,20}(?:_[A-Z0-9]{1,20}){1,8}>|\bYOUR[_-][A-Z0-9][A-Z0-9_-]{1,40}\b")


def is_placeholder(text: str) -> bool:
    stripped = text.strip()
    return (not stripped or bool(_PLACEHOLDER.match(stripped)) or bool(_PLACEHOLDER_ANYWHERE.search(stripped))
            or bool(_AUTHOR_SLOT.search(stripped)) or bool(_USER_SLOT.fullmatch(stripped)))


@dataclass(frozen=True)
class CardItem:
    key: str
    rule_id: str
    label: str  # as the guideline words it
    severity: Severity
    headings: str  # regex on a lower-cased heading
    fields: str  # regex on a lower-cased field key
    content: str | None = None  # regex on the text, for prose-style evidence


# "released under the MIT license", "This work is licensed under a Creative Commons …"
_LICENSE_PROSE = (r"\b(licen[cs]ed|released|published|distributed|available|provided|shared)\s{1,3}under\b"
                  r"|\blicen[cs]e[ds]?:?\s{1,3}(is\s{1,3})?(the\s{1,3})?(MIT|Apache|BSD|GPL|LGPL|AGPL|MPL|EUPL|CC|Creative Commons)\b")

CARD_ITEMS: tuple[CardItem, ...] = (
    CardItem("name", "MC201", "model name", Severity.ERROR, r"^model name$", r"^(model[ _-]?)?name$|^model$|^title$|^model[ _-]id$"),
    CardItem("version", "MC202", "model version", Severity.ERROR, r"^version", r"^(model )?version$|^release$|^model version$",
             r"\bversion\s*(?:[:=]\s*)?v?\d+\.\d+"),
    CardItem("authors", "MC203", "authors", Severity.ERROR, r"^(authors?|credits|contributors|team|creators?)\b",
             r"^(authors?|creators?|developers?|developed by|created by|maintained by|maintainers?|contributors)$"),
    CardItem("project", "MC204", "project", Severity.ERROR, r"^project\b|^funding", r"^(project|project name|earthcode project|funding|programme|program)$",
             # the project in prose: "funded by ESA under contract …", "see the project page"
             r"\b(funded|supported|financed) by\b|\bproject (page|website|homepage)\b|\b(grant|contract) (no\.?|number|agreement)\s{0,3}\S"),
    CardItem("contact", "MC205", "contact information", Severity.ERROR, r"^contact|^support|^maintainers?|point of contact",
             r"^(contact|contacts|contact information|e-?mail|maintainers?|point of contact|support)$",
             r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+"),
    CardItem("predicts", "MC206", "what the model predicts", Severity.ERROR,
             r"what .{0,80}predict|^(model )?(overview|description|summary|details)|^about|^purpose|^task|^model$",
             r"^(predicts|prediction|task|what it predicts|model type|purpose|description|summary|pipeline tag)$",
             r"\b(predicts?|classif(ies|y|ication)|segments?|segmentation|regress(es|ion)|estimates?|detects?|forecasts?)\b"
             # a role noun in a sentence: "a cloud detector for Sentinel-2", "is a land-cover classifier"
             r"|\b(detectors?|classifiers?|segmenters?|estimators?|regressors?|forecasters?)\s+(for|of|that|which)\b"
             r"|\b(is|are)\s{1,3}an?\s{1,3}(?:[\w-]{1,30}\s{1,3}){0,5}(detector|classifier|segmenter|estimator|regressor|forecaster)\b"),
    CardItem("use_case", "MC207", "the scientific use case", Severity.ERROR,
             r"use[ -]?cases?|scientific|^applications?|^motivation|^background",
             r"^(use[ -]?case|scientific (use|use case|purpose|context)|application|applications|motivation)$",
             r"\b(use case|scientific|research)\b"),
    CardItem("intended_use", "MC208", "intended use", Severity.ERROR,
             r"intended (use|uses|purpose|users)|^(direct |primary )?uses?$|^typical uses?|^(typical |example )?use[ -]?cases?$|^when to use",
             r"^(intended (use|uses|purpose|users)|primary use|uses)$",
             # in prose: "intended for …", "designed for …", "works with any imagery that …"
             r"\b(intended|designed|built|meant|suitable|suited) (for|to be used)\b|\bworks? (with|on) (any |all )?(\w+[ -]){0,3}"
             r"(imagery|images|scenes|products|data)\b"),
    CardItem("out_of_scope", "MC209", "out-of-scope use", Severity.ERROR, r"out[ -]of[ -]scope|misuse|not intended|inappropriate",
             r"^(out[ -]of[ -]scope( use| uses)?|misuse|not intended for)$", r"\bout[ -]of[ -]scope\b|\bnot (intended|suitable) for\b"),
    CardItem("limitations", "MC210", "known limitations", Severity.ERROR, r"limitations?|known (issues|problems)|shortcomings|failure modes",
             r"^((known )?limitations?|known issues)$", r"\blimitations?\b"),
    CardItem("input_shape", "MC211", "expected input shape", Severity.ERROR, r"input shape|input (size|dimensions|tensor|format|specification)",
             r"^(input[ _-]?(shape|size|dimensions|tensor|tensor shape)?|tensor shape|shape)$"),
    CardItem("channels", "MC212", "expected channel order", Severity.ERROR,
             r"channels?|bands?|input (variables|features)|predictors",
             r"^((input )?(channels?|bands?)( order| names)?|channel[ _]names|band names|input variables|channel order|band order)$"),
    CardItem("units", "MC213", "units of the inputs", Severity.ERROR, r"^units?\b", r"^(units?|channel[ _]units|input units)$",
             r"\bunits?\b|\bkelvin\b|\bunitless\b|\bdimensionless\b|\b(metres?|meters?|millimet(re|er)s?|centimet(re|er)s?|kilomet(re|er)s?"
             r"|degrees? (celsius|kelvin)|reflectances?|radiances?|decibels?|dB|kg|Mg/ha|t/ha)\b"),
    CardItem("normalization", "MC214", "normalization", Severity.ERROR, r"normali[sz]|pre-?processing|standardi[sz]|scaling",
             r"^(normali[sz]ation|preprocessing|pre-processing|scaling|standardi[sz]ation|value scaling)$",
             r"normali[sz]|standardi[sz]|z-score|\bmean\b.{0,40}\b(std|standard deviation)\b|\brescal"
             # a scaling written as a formula or an instruction: `B_i/10000`, "divide by 255 and clip"
             # (a named value over a number, never a path, URL, DOI or date: `doi.org/10.1038`, `4/20`)
             r"|(?<![/\w.:-])[A-Za-z][\w]{0,30}[)\]]?\s{0,3}/\s{0,3}\d{2,6}(\.\d+)?(?![/\w.-])"
             r"|\b(divid(e|es|ed|ing)|multipl(y|ied|ies))\s{1,3}(?:[\w-]{1,30}\s{1,3}){0,5}by\s{1,3}\d"
             r"|\bclip(s|ped|ping)?\s{1,3}(?:[\w-]{1,30}\s{1,3}){0,2}to\b|\bmin[- ]max\b"
             r"|(?<![-\w])scal(e|ed|es|ing)\s{1,3}(?:[\w-]{1,30}\s{1,3}){0,3}(to|by|into)\s{1,3}[\[(\d-]"),
    CardItem("nodata", "MC215", "nodata handling", Severity.ERROR, r"no[ -]?data|missing (data|values)|fill values?",
             r"^(no[ -]?data|nodata handling|missing values|fill value)$", r"\bno[ -]?data\b|\bno_?data_?value\b|\bmissing (values|data|pixels)\b|\binvalid (pixels|values|data)\b|\bfill value\b|\bNaNs?\b"),
    CardItem("spatial_temporal", "MC216", "spatial or temporal assumptions", Severity.ERROR,
             r"spatial|temporal|geospatial|resolution|projection|coverage|domain",
             r"^(spatial|temporal|spatial resolution|temporal resolution|projection|crs|coverage|region|spatial/temporal assumptions)$",
             r"\b(spatial|temporal|resolution|projection|CRS|pixel size|footprint|geographic(al)? (domain|coverage|region)|grid|daytime|night-?time|"
             r"season(al)?|time (range|period|window)|latitudes?|longitudes?)\b|\b\d+(\.\d+)?\s?(km|m|°)\b"),
    CardItem("output", "MC217", "output meaning", Severity.ERROR, r"^outputs?\b|output (meaning|description|format|tensor)|^predictions?$",
             r"^(outputs?|output meaning|output (tensor|description|format)|returns)$",
             r"\b(logits|probabilit(y|ies)|output (is|are|tensor))\b"
             # what comes out, in prose: "outputs a cloud mask", "estimates canopy height for every pixel"
             r"|\b(outputs?|returns?|produces?|generates?|computes?)\s{1,3}(?:[\w-]{1,30}\s{1,3}){0,4}(masks?|maps?"
             r"|bounding boxes|boxes|embeddings?|feature maps?|heights?|rasters?)\b"
             r"|\b(estimates?|predicts?)\s{1,3}(?:[\w-]{1,30}\s{1,3}){1,5}(for|per|at|of) (each|every)\b"),
    CardItem("classes", "MC218", "class names or output variables in order", Severity.ERROR,
             r"class(es| names| labels| order)?\b|^labels?\b|categor(y|ies)|output (classes|variables|names)|target variables",
             r"^(class(es| names| labels| order)?|labels|categories|output (variables|names)|class_names|target variables)$"),
    CardItem("training_data", "MC219", "training data sources", Severity.ERROR, r"training (data|dataset|set)|^data$|^datasets?$",
             r"^(training (data|dataset|data sources|set)|trained on|train data|datasets?)$", r"\btrain(ed|ing) (on|data|dataset|set)\b"),
    CardItem("validation_data", "MC220", "validation data sources", Severity.ERROR,
             r"validation (data|dataset|set)|evaluation (data|dataset)|test (data|dataset|set)",
             r"^(validation (data|dataset|data sources|set)|evaluation data|test data|validated on|evaluated on)$",
             r"\b(validation|evaluation|test) (data|dataset|set)\b|\b(validated|evaluated) on\b"),
    CardItem("earthcode", "MC221", "relevant EarthCODE Products or Experiments", Severity.WARNING,
             r"earthcode|open science catalog|related (products|experiments|work)",
             r"^(earthcode (products?|experiments?|product|workflow)|related products|osc product|products?|experiments?)$",
             r"earthcode[^\n]{0,80}\b(products?|experiments?|workflows?)\b|\b(products?|experiments?)\b[^\n]{0,80}earthcode|open science catalog|opensciencedata"),
    CardItem("repository", "MC222", "source repository", Severity.ERROR, r"^(source )?(repository|code)\b|^source$",
             r"^(source( code)?|source repository|repository|repo|code|git(hub|lab)?|source code repository|repository-code|homepage)$",
             r"https?://(github\.com|gitlab\.[\w.]+|bitbucket\.org|codeberg\.org)/\S+"),
    CardItem("release_tag", "MC223", "release tag", Severity.WARNING, r"^release( tag)?$",
             r"^((release )?tag|git tag|release tag)$", r"\btag\b[^\n]{0,40}\bv?\d+\.\d+|/releases/tag/|/tree/v?\d+\.\d+"),
    CardItem("commit", "MC224", "commit hash", Severity.WARNING, r"^commit", r"^(commit( hash| sha| id)?|revision|git commit|sha)$",
             r"\bcommit\b[^\n]{0,60}\b[0-9a-f]{7,40}\b|/commit/[0-9a-f]{7,40}"),
    CardItem("license", "MC225", "license", Severity.ERROR, r"^licen[cs](e|es|ing)\b|terms of use|reuse conditions",
             r"^(licen[cs]e|license id|spdx|terms of use|reuse conditions)$", _LICENSE_PROSE),
    CardItem("inference_command", "MC226", "exact inference command or notebook entry point", Severity.ERROR,
             r"inference|usage|how to (use|run)|quick ?start|getting started|^example|^run",
             r"^(inference command|entry ?point|run|command|usage|notebook)$"),
    CardItem("caveats", "MC227", "data caveats, domain limits, uncertainty notes or bias risks", Severity.ERROR,
             r"caveats?|domain limits?|uncertaint|bias|risks?|ethic|disclaimer|limitations?",
             r"^(caveats?|data caveats|bias|risks|uncertainty|disclaimer)$",
             r"\b(caveats?|uncertaint(y|ies)|bias(es|ed)?|domain (limits?|shift)|out[ -]of[ -]distribution)\b"
             # a limit in prose: "known to make errors where …", "may not generalise to …", "performs poorly on …"
             r"|\bknown to (make|produce|give|have) (some )?(errors|mistakes|false)|\b(may|might|can|will) (fail|not (work|generali[sz]e|perform|transfer))\b"
             r"|\bperforms? (poorly|worse)\b|\bnot (been )?(validated|tested|evaluated) (on|for|outside|in)\b"),
)
ITEMS_BY_KEY = {item.key: item for item in CARD_ITEMS}

# One example per item of the form the card is read in, shown with the item's missing-item finding
# (reports) and in docs/rules.md. A `Field: value` line works anywhere in the card, pasted as is;
# tests/test_model_card.py checks that each is read back as its item, value included.
CARD_EXAMPLES: dict[str, str] = {
    "name": "Model name: GOES cloud-regime classifier",
    "version": "Version: v1.2.0",
    "authors": "Authors: Jane Doe (ESA), John Roe (DLR)",
    "project": "Project: EarthCODE cloud regimes (ESA contract 4000123456)",
    "contact": "Contact: jane.doe@example.org",
    "predicts": "Task: classifies the cloud regime of a 128 × 128 GOES ABI tile",
    "use_case": "Use case: relating marine low-cloud regimes to EarthCARE observations",
    "intended_use": "Intended use: research on ocean low-cloud regimes from GOES-East/West imagery",
    "out_of_scope": "Out-of-scope use: land scenes, high clouds, operational decisions",
    "limitations": "Limitations: daytime only; no class for scenes that fit none of the regimes",
    "input_shape": "Input shape: N,4,128,128",
    "channels": "Channel order: BT15_minus_BT14, BT14_minus_BT11, BT14, COD",
    "units": "Units: K, K, K, 1 (in channel order)",
    "normalization": "Normalization: (x - mean) / std per channel, with the means and stds listed",
    "nodata": "Nodata: NaN in the input; set to 0 after normalization",
    "spatial_temporal": "Spatial resolution: 2 km ABI grid, 128 × 128 pixel tiles, one time step",
    "output": "Output: logits, one per class in class order (softmax gives probabilities)",
    "classes": "Class names: Solid stratus, Closed MCC, Open MCC",
    "training_data": "Training data: GOES-16 ABI L1b and L2 COD, 2019-2021, 40,000 labelled tiles",
    "validation_data": "Validation data: 5,000 held-out tiles from 2022",
    "earthcode": "EarthCODE products: earthcare-marine-stratocumulus-transitions",
    "repository": "Source repository: https://github.com/example-org/cloud-regimes",
    "release_tag": "Release tag: v1.2.0",
    "commit": "Commit: 5d1c2a9e8b7f4306a1c2e3d4f5b6a7980c1d2e3f",
    "license": "License: Apache-2.0",
    "inference_command": "Inference command: python inference.py --input tiles.npy",
    "caveats": "Caveats: trained on ocean scenes only; biased towards closed MCC",
}
CARD_ITEM_FIX = ("State each item in README.md, in place of any placeholder: a `Field: value` line as in the example, "
                 "a two-column table row, or a section named after it.")


def card_example(rule_id: str) -> str | None:
    """The example of the card item this rule reports missing (MC211: `Input shape: N,4,128,128`), or None."""
    item = next((i for i in CARD_ITEMS if i.rule_id == rule_id), None)
    return CARD_EXAMPLES.get(item.key) if item else None

# Items whose evidence must carry a structured value (a heading alone is not enough).
_NEEDS_VALUE = {"input_shape", "classes", "channels", "inference_command"}

# Bounded quantifiers: a shape is short, and each start position of the search costs a constant.
_SHAPE = re.compile(
    r"[\[(]?\s{0,8}([NBnb]|batch|-1|\?|\d{1,9})\s{0,8}[,x×]\s{0,8}(\d{1,9})\s{0,8}[,x×]\s{0,8}(\d{1,9})"
    r"\s{0,8}(?:[,x×]\s{0,8}(\d{1,9})\s{0,8})?[\])]?"
)
_SEMVER = re.compile(r"\bv?\d+(?:\.\d+){1,3}(?:[-+.]?[A-Za-z0-9.]+)?\b")
_URL = re.compile(r"https?://[^\s)>\]\"'`]+")
_COMMIT = re.compile(r"\b[0-9a-f]{7,40}\b")


@dataclass(frozen=True)
class Evidence:
    line: int
    value: str
    how: str  # "field", "heading", "text", "code" or "citation" (a BibTeX entry of the card)


@dataclass(frozen=True)
class Placeholder:
    item: str
    line: int
    text: str


@dataclass(frozen=True)
class LicenseBadge:
    """A badge image about the license: its alt text and the label/message the badge URL shows."""

    line: int
    alt: str  # "License: CC BY-NC 4.0" -> "CC BY-NC 4.0"
    shown: str  # the shields.io badge's message ("MIT"), or ""
    link: str


@dataclass
class CardFacts:
    """What the card states, with the line of each statement; `implicit` holds facts the card shows only
    inside code (a shape in `torch.rand(...)`, band indices), which the card should state in words."""

    found: dict[str, Evidence]
    placeholders: list[Placeholder]
    implicit: dict[str, Evidence] = field(default_factory=dict)
    license_badges: list[LicenseBadge] = field(default_factory=list)
    input_size: tuple[list[str], int] | None = None  # a spatial size only ("224 × 224"), not compared as a shape
    license_parts: list[tuple[str, Evidence]] = field(default_factory=list)  # ("code" | "weights" | …, statement)
    name: Evidence | None = None
    version: Evidence | None = None
    input_shape: tuple[list[str], int] | None = None
    channels: tuple[list[str], int] | None = None
    classes: tuple[list[str], int] | None = None
    license: Evidence | None = None
    repository: Evidence | None = None
    release_tag: Evidence | None = None
    commit: Evidence | None = None
    inference_command: Evidence | None = None
    citation: Evidence | None = None


def _norm_heading(title: str) -> str:
    return re.sub(r"^[\W\d_]+", "", title.lower()).strip()


def _matching_fields(card: ParsedMarkdown, pattern: str) -> list[Field]:
    rx = re.compile(pattern, re.IGNORECASE)
    return [f for f in card.fields if rx.search(f.key.lower().strip())]


def _matching_sections(card: ParsedMarkdown, pattern: str) -> list[Section]:
    rx = re.compile(pattern, re.IGNORECASE)
    return [s for s in card.sections if s.level and rx.search(_norm_heading(s.title))]


_BIBTEX_AUTHOR = re.compile(r"^\s{0,12}author\s{0,4}=\s{0,4}[{\"]\s{0,4}([^{}\"\n]{3,400})", re.IGNORECASE)


def _bibtex_authors(card: ParsedMarkdown) -> Evidence | None:
    """The authors as the card's own BibTeX entry names them (`author = {Doe, Jane and Roe, Ann}`), a common
    way real cards credit the people behind the model."""
    for section in card.sections:
        for block in section.code:
            if not block.content.lstrip().startswith("@"):
                continue
            for offset, line in enumerate(block.content.splitlines()[:200], start=1):
                if (m := _BIBTEX_AUTHOR.match(line)) and not is_placeholder(m.group(1)) and not _AUTHOR_SLOT.search(line):
                    return Evidence(block.line + offset, m.group(1).strip(), "citation")
    return None


def _text_line(card: ParsedMarkdown, pattern: str) -> Evidence | None:
    rx = re.compile(pattern, re.IGNORECASE)
    for number, line in card.prose_lines:
        if m := rx.search(line):
            return Evidence(number, m.group(0), "text")
    return None


_DIM = r"(?:[A-Za-z_][A-Za-z0-9_]{0,31}|-1|\?|\d{1,9})"
_FIELD_SHAPE = re.compile(rf"[\[(]?\s{{0,8}}({_DIM}(?:\s{{0,8}}[,×]\s{{0,8}}{_DIM}){{1,7}})\s{{0,8}}[\])]?")
_X_SEPARATOR = re.compile(r"(?<=\d)\s{0,8}x\s{0,8}|\s{0,8}x\s{0,8}(?=\d)|\s{1,8}x\s{1,8}")  # 4x128, N x T


def parse_field_shape(value: str) -> list[str] | None:
    """The shape a field's whole value states (`Input shape: N,4`, `(B, T)`, `N x 4 x 128 x 128`): any rank
    from 1 to 8, numbers or symbolic names (`N` for each symbolic one); else a shape of rank 3 or 4 found in
    the value, as in prose (`N,4,128,128 (float32)`)."""
    m = _FIELD_SHAPE.fullmatch(_X_SEPARATOR.sub(",", value.strip().rstrip(".").strip("`'\"")))
    if m is None:
        return parse_shape(value)
    dims = [d.strip() for d in re.split("[,×]", m.group(1))]
    return ["N" if not d.isdigit() else d for d in dims]


def parse_shape(text: str) -> list[str] | None:
    """A shape of rank 3 or 4 anywhere in the text (prose mentions numbers too often for fewer dimensions)."""
    m = _SHAPE.search(text)
    if not m:
        return None
    dims = [d for d in m.groups() if d is not None]
    return ["N" if not d.lstrip("-").isdigit() or d == "-1" else d for d in dims]


def _list_values(section: Section) -> tuple[list[str], int] | None:
    """Ordered names from a section: an ordered list, a table column, a bullet list."""
    lists = section.all_lists()
    ordered = [b for b in lists if b.ordered] or lists
    if ordered:
        block = ordered[0]
        names = [_strip_item(text) for text, _ in block.items]
        return [n for n in names if n], block.line
    for table in section.all_tables():
        column = _name_column(table.header)
        if column is not None:
            names = [_strip_item(cell) for cell, _ in table.column(column)]
            return [n for n in names if n], table.line
    return None


def _name_column(header: tuple[str, ...]) -> int | None:
    lowered = [h.lower() for h in header]
    for wanted in ("class name", "class", "name", "label", "channel", "band", "variable", "output"):
        for index, cell in enumerate(lowered):
            if wanted in cell and "index" not in cell and "id" != cell:
                return index
    return None


def _strip_item(text: str) -> str:
    """`0: Solid stratus`, `Solid stratus (0)`, `**BT14** — brightness…` to the name only; a name
    that is itself an expression (`BT15 - BT14`) stays whole."""
    text = text.strip()
    text = re.sub(r"^(\d+|[a-z])\s*[:.)=]\s+", "", text)
    text = re.sub(r"^(\d+)\s+-\s+", "", text)
    if m := re.match(r"^`([^`]+)`", text):
        return m.group(1).strip()
    text = _without_trailing_remark(text)  # a trailing "(K)" or "[0]"
    text = re.split(r":\s+|(?<!\s)\s+[—–]\s+|(?<!\s)\s+\(", text, maxsplit=1)[0]
    if " - " in text:
        left, right = text.rsplit(" - ", 1)
        if len(right.split()) >= 2 and re.search(r"[a-z]{3,}", right):
            text = left  # "Name - a description"
    return text.strip(" `*_")


def _without_trailing_remark(text: str) -> str:
    """Drop a bracketed remark that ends the text, with the whitespace before it: the last opening
    bracket after the last closing one before the final `)` or `]` (no regex: one pass)."""
    body = text.rstrip()
    if not body.endswith((")", "]")):
        return text
    inner = body[:-1]
    after = max(inner.rfind(")"), inner.rfind("]")) + 1
    opens = [i for i in (inner.find("(", after), inner.find("[", after)) if i >= 0]
    return inner[:min(opens)].rstrip() if opens else text


def split_names(value: str) -> list[str]:
    parts = (p.strip() for p in re.split(r"[,;]", value.strip().strip("[]")))
    return [p.strip(" `'\"") for p in parts if p.strip(" `'\"")]


def read_card(card: ParsedMarkdown) -> CardFacts:
    found: dict[str, Evidence] = {}
    placeholders: list[Placeholder] = []
    for item in CARD_ITEMS:
        evidence = _find_item(card, item, placeholders)
        if evidence is None and item.key == "authors":
            evidence = _bibtex_authors(card)
        if evidence is not None:
            found[item.key] = evidence
    facts = CardFacts(found, placeholders)
    _extract_values(card, facts)
    facts.placeholders.extend(_placeholders_anywhere(card))
    # Items that need a value are present only when one was extracted.
    for key, attr in (("input_shape", "input_shape"), ("classes", "classes"), ("channels", "channels")):
        value = getattr(facts, attr)
        if value is None and key == "input_shape":
            value = facts.input_size  # "Input resolution: 224 × 224": the size is stated
        if value is None:
            found.pop(key, None)
        elif key not in found:
            found[key] = Evidence(value[1], ", ".join(value[0]), "list")
    if facts.license is not None:
        found.setdefault("license", facts.license)
    if facts.inference_command is None:
        found.pop("inference_command", None)
    else:
        found["inference_command"] = facts.inference_command
    return facts


def _find_item(card: ParsedMarkdown, item: CardItem, placeholders: list[Placeholder]) -> Evidence | None:
    for entry in _matching_fields(card, item.fields):
        if is_placeholder(entry.value):
            placeholders.append(Placeholder(item.key, entry.line, entry.value))
            continue
        return Evidence(entry.line, entry.value, "field")
    for section in _matching_sections(card, item.headings):
        body = section.text()
        # Code is content: a TODO comment in it is code, as in the card-wide scan; a template slot in
        # it (`<PATH_TO_DATA>`) is reported by that scan.
        code = [line for block in section.all_code() for line in block.content.splitlines() if line.strip()]
        real = [line for line in section.prose_text().splitlines() if line.strip() and not is_placeholder(line)] + code
        if not real:  # nothing but placeholders (or nothing at all) under the heading
            line, text = _first_content_line(card, section)
            placeholders.append(Placeholder(item.key, line, text))
            continue
        return Evidence(section.line, body[:200], "heading")
    if item.content and item.key not in _NEEDS_VALUE:
        return _text_line(card, item.content)
    return None


def _own_lines(card: ParsedMarkdown, section: Section) -> range:
    """Line numbers of a section's own body: after its heading, before its first subsection."""
    end = section.children[0].line - 1 if section.children else section.end_line
    return range(section.line + 1, end + 1)


def _first_content_line(card: ParsedMarkdown, section: Section) -> tuple[int, str]:
    """The first non-blank line of a section's own body, or its heading line when it is empty."""
    for number in _own_lines(card, section):
        if number <= len(card.lines) and card.lines[number - 1].strip():
            return number, card.lines[number - 1].strip()
    return section.line, "(empty section)"


def _placeholders_anywhere(card: ParsedMarkdown) -> list[Placeholder]:
    """Placeholder markers on any line outside code blocks, slots the author left unfilled on any line
    (code and citations too), and sections with nothing in them."""
    found = []
    in_fence = False
    for number, line in enumerate(card.lines, start=1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        elif _AUTHOR_SLOT.search(line) or (not in_fence and _PLACEHOLDER_ANYWHERE.search(line)):
            found.append(Placeholder("", number, line.strip()))
    for section in card.sections:
        if section.level and not section.children and not any(
                card.lines[n - 1].strip() for n in _own_lines(card, section) if n <= len(card.lines)):
            found.append(Placeholder("", section.line, f"{section.title} (empty section)"))
    return found


def _first_field(card: ParsedMarkdown, item_key: str) -> Field | None:
    item = ITEMS_BY_KEY[item_key]
    return next((f for f in _matching_fields(card, item.fields) if not is_placeholder(f.value)), None)


def _extract_values(card: ParsedMarkdown, facts: CardFacts) -> None:
    # name: a name field, else the title (first H1 with words, or a setext title)
    entry = _first_field(card, "name")
    if entry is not None:
        facts.name = Evidence(entry.line, entry.value, "field")
    elif card.title and not is_placeholder(card.title[0]):
        facts.name = Evidence(card.title[1], card.title[0], "heading")
        facts.found.setdefault("name", facts.name)
    elif card.title:
        facts.placeholders.append(Placeholder("name", card.title[1], card.title[0]))

    version_ev = facts.found.get("version")
    if version_ev is not None and (m := _SEMVER.search(version_ev.value)):
        facts.version = Evidence(version_ev.line, m.group(0), version_ev.how)

    _input_shape(card, facts)

    facts.channels = _names_for(card, "channels")
    if facts.channels is None and (indices := _band_indices(card)) is not None:
        facts.implicit["channels"] = indices
    facts.classes = _names_for(card, "classes")

    facts.license_badges = license_badges(card.images)
    facts.license = _license(card, facts.license_badges)
    facts.license_parts = license_parts(card)

    repo_ev = _first_field(card, "repository")
    if repo_ev is not None and (m := _URL.search(repo_ev.value)):
        facts.repository = Evidence(repo_ev.line, m.group(0).rstrip(".,"), "field")
    elif (ev := _text_line(card, ITEMS_BY_KEY["repository"].content or "")) is not None:
        facts.repository = Evidence(ev.line, ev.value.rstrip(".,"), "text")

    tag_ev = facts.found.get("release_tag")
    if tag_ev is not None and (m := _SEMVER.search(tag_ev.value)):
        facts.release_tag = Evidence(tag_ev.line, m.group(0), tag_ev.how)
    commit_ev = facts.found.get("commit")
    if commit_ev is not None and (m := _COMMIT.search(commit_ev.value)):
        facts.commit = Evidence(commit_ev.line, m.group(0), commit_ev.how)

    facts.inference_command = _inference_command(card)
    for section in _matching_sections(card, r"citation|cite|citing|how to cite|bibtex|^references?$"):
        if section.text() and not is_placeholder(section.text()):
            facts.citation = Evidence(section.line, section.text()[:200], "heading")
            break


_LEAD_IN = {"channels": r"\b(channels?|bands?)\b", "classes": r"\b(class(es)?|labels?|categor(y|ies))\b"}
_COLUMN = {"channels": ("channel", "band"), "classes": ("class", "label", "category")}


def _names_for(card: ParsedMarkdown, key: str) -> tuple[list[str], int] | None:
    """An ordered list of names: a field, a section named for it, a list introduced by a
    sentence naming it ("Channels, in order:"), or a table column named for it."""
    item = ITEMS_BY_KEY[key]
    for entry in _matching_fields(card, item.fields):
        names = split_names(entry.value)
        if len(names) > 1 and not is_placeholder(entry.value):
            return names, entry.line
    for section in _matching_sections(card, item.headings):
        values = _list_values(section)
        if values and values[0]:
            return values
    lead = re.compile(_LEAD_IN[key], re.IGNORECASE)
    for section in card.sections:
        for block in section.lists:
            if block.lead_in and lead.search(block.lead_in) and len(block.items) > 1:
                names = [n for n in (_strip_item(t) for t, _ in block.items) if n]
                if names:
                    return names, block.line
    for section in card.sections:
        for table in section.tables:
            lowered = [h.lower() for h in table.header]
            column = next((i for i, h in enumerate(lowered) if any(w in h for w in _COLUMN[key]) and "index" not in h), None)
            if column is not None and table.rows:
                names = [n for n in (_strip_item(c) for c, _ in table.column(column)) if n]
                if names:
                    return names, table.line
    if key == "channels":
        listed = _code_list(card, _CHANNEL_KEY)
        if listed is not None and not all(n.lstrip("-").isdigit() for n in listed[0]):
            return listed
        return _band_names_in_prose(card)
    return _class_mapping(card)


_COMMAND_START = re.compile(r"^\s*(\$\s*)?(python3?|uv run|jupyter|papermill|docker run|bash|sh|\./|[\w.-]+\.py\b)")
# Set-up lines of a usage block (make the venv, install): not the inference command itself.
_SETUP_COMMAND = re.compile(r"^\s*(\$\s*)?(pip3?\s|python3?\s+-m\s+(venv|virtualenv|pip|ensurepip)\b)")


def _inference_command(card: ParsedMarkdown) -> Evidence | None:
    item = ITEMS_BY_KEY["inference_command"]
    candidates = _matching_sections(card, item.headings) + [s for s in card.sections if s not in _matching_sections(card, item.headings)]
    for section in candidates:
        for block in section.code:
            if block.info.lower() in ("", "bash", "sh", "shell", "console", "text", "zsh", "powershell", "cmd"):
                for offset, raw in enumerate(block.content.splitlines(), start=1):
                    if _COMMAND_START.match(raw) and not _SETUP_COMMAND.match(raw):
                        command = re.sub(r"^\s*\$\s*", "", raw).strip()
                        return Evidence(block.line + offset, command, "code")
    entry = _first_field(card, "inference_command")
    if entry is not None and (".py" in entry.value or ".ipynb" in entry.value or "python" in entry.value):
        return Evidence(entry.line, entry.value.strip("` "), "field")
    for number, line in card.prose_lines:
        if found := _command_in_line(line):
            return Evidence(number, found, "text")
    return _python_example(candidates)


_CODE_SPAN = re.compile(r"`([^`]*)`")
_RUN_COMMAND = re.compile(r"\bpython3?\s+\S+\.py|\bjupyter \S+ \S+\.ipynb")
_NOTEBOOK_PATH = re.compile(r"(?<![\w./-])[\w./-]+\.ipynb\b")  # starts where a path-like run starts


def _command_in_line(line: str) -> str | None:
    """The first inline code span that runs a script or notebook, or a notebook path, in a line."""
    spans = [(m.start(), m.group(1)) for m in _CODE_SPAN.finditer(line) if _RUN_COMMAND.search(m.group(1))]
    path = _NOTEBOOK_PATH.search(line)
    if path is not None and not (spans and spans[0][0] < path.start()):
        return path.group(0)
    return spans[0][1] if spans else None


# -- input shape ----------------------------------------------------------------------------------
_SHAPE_LINE = re.compile(r"\b(input|inputs|shape)\b", re.IGNORECASE)
_SHAPE_KEY = re.compile(r"shape|size|input|tensor|dimension", re.IGNORECASE)
_BATCH_DIM = re.compile(r"(n|b|bs|batch\w{0,20}|-1|\?)", re.IGNORECASE)
_SYMBOLIC_SHAPE = re.compile(rf"[\[(]\s{{0,8}}({_DIM}(?:\s{{0,8}},\s{{0,8}}{_DIM}){{1,7}})\s{{0,8}}[\])]")
_SIZE = re.compile(r"(?<![\d.])(\d{1,5})\s{0,3}[x×]\s{0,3}(\d{1,5})(?![\d.])")
_SIZE_KEY = re.compile(r"^(input |image |tile |patch |spatial )?(resolution|size)$", re.IGNORECASE)
# A tensor made or reshaped with literal dimensions in code: torch.rand(2, 4, 224, 224), .view([1, 9, 224, 224]).
_CODE_SHAPE = re.compile(r"\b(?:rand|randn|zeros|ones|empty|full|view|reshape|Size)\s{0,3}\(\s{0,3}[\[(]?\s{0,3}"
                         r"(\d{1,9}(?:\s{0,3},\s{0,3}\d{1,9}){1,7})")


def _shape_in_line(line: str) -> list[str] | None:
    """A numeric shape of rank 3-4, or a bracketed symbolic one that starts with a batch axis
    (`(B, C, T, H, W)`, `[batch_size, num_timesteps, bands]`), or single letters after the word shape."""
    if dims := parse_shape(line):
        return dims
    for m in _SYMBOLIC_SHAPE.finditer(line):
        names = [d.strip() for d in m.group(1).split(",")]
        letters = all(len(d) == 1 and d.isalpha() for d in names) and "shape" in line.lower()
        if _BATCH_DIM.fullmatch(names[0]) or letters:
            return ["N" if not d.isdigit() else d for d in names]
    return None


def _input_shape(card: ParsedMarkdown, facts: CardFacts) -> None:
    """A shape field; else a shape in the prose of an input section, or on a prose line about the input
    (never a line that is another item's field, as `Units: 1,1,1,1`); else a size field (`224 × 224`);
    else, implicitly, a tensor shape in the card's code."""
    entry = _first_field(card, "input_shape")
    if entry is not None and (dims := parse_field_shape(entry.value)):
        facts.input_shape = (dims, entry.line)
        return
    other_fields = {f.line for f in card.fields if not _SHAPE_KEY.search(f.key)}
    prose = [(n, line) for n, line in card.prose_lines if n not in other_fields and "output" not in line.lower()]
    for section in _matching_sections(card, ITEMS_BY_KEY["input_shape"].headings + r"|^inputs?$"):
        for number, line in prose:
            if section.line < number <= section.end_line and (dims := _shape_in_line(line)):
                facts.input_shape = (dims, number)
                return
    for number, line in prose:
        if _SHAPE_LINE.search(line) and (dims := _shape_in_line(line)):
            facts.input_shape = (dims, number)
            return
    for entry in card.fields:
        if _SIZE_KEY.match(entry.key.strip()) and (m := _SIZE.search(entry.value)):
            facts.input_size = ([m.group(1), m.group(2)], entry.line)
            return
    for number, line in _code_lines(card):
        if m := _CODE_SHAPE.search(line):
            facts.implicit["input_shape"] = Evidence(number, " ".join(m.group(1).split()), "code")
            return


def _code_lines(card: ParsedMarkdown) -> list[tuple[int, str]]:
    """Numbered lines of the card's fenced code blocks."""
    return [(block.line + offset, raw) for section in card.sections for block in section.code
            for offset, raw in enumerate(block.content.splitlines(), start=1)]


# -- channels and classes -------------------------------------------------------------------------
_CHANNEL_KEY = re.compile(r"band|channel", re.IGNORECASE)
_CODE_LIST = re.compile(r"^\s{0,40}([\w.]{1,60})\s{0,8}[=:]\s{0,8}[\[(]([^\[\]()\n]{1,2000})[\])]")
_YAML_KEY = re.compile(r"^\s{0,40}([\w.]{1,60}):\s*$")
_YAML_ITEM = re.compile(r"^\s{0,40}-\s{1,8}([^\s#][^#\n]{0,80})")
_BAND_WORD = re.compile(r"\b(bands?|channels?)\b", re.IGNORECASE)
_BAND_NAME = re.compile(r"(?:[A-Za-z]{1,4}\d{1,3}[A-Za-z]?|blue|green|red|nir\d{0,2}|swir\d{0,2}|red-?edge\d{0,2}|coastal|aerosol"
                        r"|cirrus|pan|tir\d{0,2}|thermal|vv|vh|hh|hv)(?:_t\d{1,3})?", re.IGNORECASE)
# Words separated by commas or "and": starts only where a word starts, each step consumes a separator.
_NAME_RUN = re.compile(r"(?<![\w-])[A-Za-z][\w-]{0,24}(?:(?:\s{0,3},\s{0,3}(?:and\s{1,3})?|\s{1,3}and\s{1,3})[A-Za-z][\w-]{0,24}){2,60}")
_CLASS_PAIR = re.compile(r"(?<![\w.])(\d{1,3})\s{0,3}[=:]\s{0,3}([A-Za-z][\w-]{0,30}(?: [A-Za-z][\w-]{0,30}){0,3})")


def _code_list(card: ParsedMarkdown, key: re.Pattern[str]) -> tuple[list[str], int] | None:
    """A list assigned to a name matching `key` in the card's code: a Python/YAML flow list
    (`band_order = ["blue", …]`, `bands: [B02, B03]`) or a YAML block list (`bands:` then `- blue`)."""
    for section in card.sections:
        for block in section.code:
            lines = block.content.splitlines()
            for offset, raw in enumerate(lines):
                number = block.line + 1 + offset
                if (m := _CODE_LIST.match(raw)) and key.search(m.group(1)) and len(names := split_names(m.group(2))) > 1:
                    return names, number
                if (m := _YAML_KEY.match(raw)) and key.search(m.group(1)):
                    items = []
                    for follow in lines[offset + 1:offset + 200]:
                        if (item := _YAML_ITEM.match(follow)) is None:
                            break
                        items.append(item.group(1).strip().strip("'\""))
                    if len(items) > 1:
                        return items, number
    return None


def _band_names_in_prose(card: ParsedMarkdown) -> tuple[list[str], int] | None:
    """Band names listed in a sentence about bands: "requires bands B01, B02 and B04", "(red, green, blue)"."""
    for number, line in card.prose_lines:
        if not _BAND_WORD.search(line):
            continue
        for m in _NAME_RUN.finditer(line):
            names = [n.strip() for n in re.split(r",|\band\b", m.group(0)) if n.strip()]
            if len(names) >= 3 and all(_BAND_NAME.fullmatch(n) for n in names):
                return names, number
    return None


def _class_mapping(card: ParsedMarkdown) -> tuple[list[str], int] | None:
    """Classes as an index mapping in prose or a code comment: `# 0=clear, 1=cloud, 2=shadow`."""
    for number, line in card.prose_lines + _code_lines(card):
        pairs = [(int(m.group(1)), m.group(2).strip()) for m in _CLASS_PAIR.finditer(line)]
        if len(pairs) >= 2 and pairs[0][0] in (0, 1) and all(b[0] == a[0] + 1 for a, b in zip(pairs, pairs[1:], strict=False)):
            return [name for _, name in pairs], number
    return None


def _band_indices(card: ParsedMarkdown) -> Evidence | None:
    """Band indices in the card's code (`MODEL_BAND_IDS = [0, 1, 3]`): the order, without names."""
    listed = _code_list(card, _CHANNEL_KEY)
    if listed is not None and all(n.lstrip("-").isdigit() for n in listed[0]):
        return Evidence(listed[1], "indices " + ", ".join(listed[0]), "code")
    return None


# -- license --------------------------------------------------------------------------------------
_LICENSE_PART = re.compile(r"^(?P<part>code|source code|software|weights|model weights|model|data|dataset|docs|documentation)"
                           r"( licen[cs]e)?$", re.IGNORECASE)
_PART_NAMES = {"source code": "code", "software": "code", "model weights": "weights", "model": "weights",
               "dataset": "data", "documentation": "docs"}


def _license(card: ParsedMarkdown, badges: list[LicenseBadge]) -> Evidence | None:
    """The card's license: a field, a License section's first line naming it, a sentence ("released
    under the MIT license"), or a license badge."""
    entry = _first_field(card, "license")
    if entry is not None:
        return Evidence(entry.line, entry.value, "field")
    for section in _matching_sections(card, ITEMS_BY_KEY["license"].headings):
        lines = [line for line in section.text().splitlines() if line.strip() and not is_placeholder(line)]
        naming = [line for line in lines if re.search(_LICENSE_PROSE + r"|creativecommons\.org|\blicen[cs]e\b", line, re.IGNORECASE)]
        if lines:
            return Evidence(section.line, (naming or lines)[0], "heading")
    rx = re.compile(_LICENSE_PROSE, re.IGNORECASE)
    for number, line in card.prose_lines:
        if rx.search(line) and rx.search(text := plain(line, images=False)):  # a badge's alt text is read below
            return Evidence(number, text, "text")
    if badges:
        return Evidence(badges[0].line, badges[0].alt or badges[0].shown, "badge")
    return None


def license_parts(card: ParsedMarkdown) -> list[tuple[str, Evidence]]:
    """Separate licenses for parts of the package: `Code: Apache-2.0` / `Weights: CC-BY-4.0` under a
    License heading, or `Weights license: …` anywhere."""
    found: list[tuple[str, Evidence]] = []
    sections = _matching_sections(card, ITEMS_BY_KEY["license"].headings)
    for entry in card.fields:
        m = _LICENSE_PART.match(entry.key.strip())
        in_section = any(s.line < entry.line <= s.end_line for s in sections)
        if m and (in_section or m.group(2)) and not is_placeholder(entry.value):
            part = m.group("part").lower()
            found.append((_PART_NAMES.get(part, part), Evidence(entry.line, entry.value, "field")))
    return found


_SHIELDS = re.compile(r"img\.shields\.io/badge/([^/?#\s]{1,300})", re.IGNORECASE)


def license_badges(images: list[Image]) -> list[LicenseBadge]:
    """Badges about the license: the alt text (`License: MIT`) and the shields.io label/message."""
    found = []
    for image in images:
        alt = image.alt.strip()
        alt_says = re.sub(r"^licen[cs]e\s{0,3}[:-]?\s{0,3}", "", alt, flags=re.IGNORECASE) if re.match(r"licen[cs]e\b", alt, re.IGNORECASE) else ""
        label, message = _shields_text(image.src)
        shown = message if label.lower().startswith(("license", "licence")) else ""
        if alt_says.strip() or shown:
            found.append(LicenseBadge(image.line, alt_says.strip(), shown, image.link))
    return found


def _shields_text(src: str) -> tuple[str, str]:
    """(label, message) of a static shields.io badge URL: `/badge/License-CC%20BY--NC%204.0-lightgrey`."""
    m = _SHIELDS.search(src)
    if m is None:
        return "", ""
    path = re.sub(r"\.(svg|png)$", "", m.group(1), flags=re.IGNORECASE)
    parts = [unquote(p).replace("--", "-").replace("__", "\0").replace("_", " ").replace("\0", "_")
             for p in re.split(r"(?<!-)-(?!-)", path)]
    if len(parts) >= 3:
        return parts[0].strip(), parts[1].strip()
    return "", ""


# -- inference: a complete Python example ----------------------------------------------------------
_PYTHON_INFO = frozenset({"python", "py", "python3", "ipython", "ipython3", "pycon"})
_IMPORT = re.compile(r"^\s{0,8}(?:>>>\s{1,4})?(?:import|from)\s{1,8}[\w.]{1,80}")
_MODEL_CALL = re.compile(r"\b(?:InferenceSession|from_pretrained|load_model|load_state_dict|load_file|load|predict\w{0,20}|infer\w{0,20}"
                         r"|run|forward|segment\w{0,20}|classify\w{0,20}|detect\w{0,20})\s{0,3}\(|\bmodel\s{0,3}\(")


def _python_example(sections: list[Section]) -> Evidence | None:
    """A complete Python example (imports, a model loaded or called): the card's entry point too."""
    for section in sections:
        for block in section.code:
            info = block.info.split()[0].lower() if block.info.split() else ""
            lines = block.content.splitlines()
            imports = [i for i, raw in enumerate(lines) if _IMPORT.match(raw)]
            if info in _PYTHON_INFO and imports and any(_MODEL_CALL.search(raw) for raw in lines):
                return Evidence(block.line + 1 + imports[0], lines[imports[0]].strip(), "code")
    return None
