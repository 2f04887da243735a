"""Benchmark: the card reader on adversarial Markdown of 1, 3 and 9 MB, per MB, against markdown-it-py.

Issue 9, class 7: a 9 MB README hung the static check (a quadratic expression in the card reader's
link handling). This builds one adversarial Markdown document (a fixed-seed sequence of runs of `[`,
`](`, `![`, backticks, `*`, `_`, `<`, `|`, `{{`, table rows, list items, `Key: value` lines, long
lines and many short ones, and the card forms of issue 11: band lists, shapes, class pairs, HTML headings, badges) and scales it to 1, 3 and 9 MB by making every run 3 and 9 times longer,
so each size has the same composition, and measures in the same run, each size:

  markdown-it  MarkdownIt("commonmark").enable("table").parse(text): the parser the reader uses
  card reader  validator.readers.markdown.parse_markdown + validator.readers.card.read_card: everything the model
               card check (and the checks reading the card) get from README.md

and prints seconds per MB of each and their ratio. Linear code keeps the ratio roughly constant as
the size grows; a quadratic step makes the card reader's seconds per MB (and the ratio) grow with
the size (x3 from 1 to 3 MB, x9 from 1 to 9 MB). Rounds run in AB order per size after a 100 kB
warm-up; the fastest of each side is compared. Nothing is asserted: this is a measurement.

    python benchmarks/bench_card.py [--sizes 1,3,9] [--rounds 1] [--seed 9]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from markdown_it import MarkdownIt  # noqa: E402

from validator.readers.card import read_card  # noqa: E402
from validator.readers.markdown import parse_markdown  # noqa: E402

MB = 1_000_000
# What adversarial Markdown is made of: openers without closers, nesting, emphasis and code runs,
# raw HTML starts, table pipes, placeholders, fields, and the prose patterns the card items search.
TOKENS = ["[", "](", "[a](b)", "![", "![a](", "[[", "]]", "`", "``", "*", "**", "_", "__", "<", "<a ", "</", "!", "|",
          "| a | b |\n", "|---|---|\n", " ", "\t", "\n", "\n\n", "(", ")", "{{", "}}", "\\", "# ", "## Intended use\n",
          "- ", "1. ", "> ", "**Version:** 1.0 · ", "Channels: a, b\n", "a@b.c ", "http://a", "`python a.py` ",
          "a.ipynb ", "TODO ", "&amp;", "1x", "1, ", "version ", "what ", "insert here ", "a" * 40,
          # issue 11's card forms: band lists, symbolic shapes, class pairs, slots, role nouns, formulas,
          # HTML headings, badges, lists in code, front-matter-like keys
          "ab, ", "(b, ", "0=a ", "<A", "_A", "{insert_", "is a x ", "divide ", "B_i/", "<div>", "<h2>", "<details>",
          "<summary>", "![License](https://img.shields.io/badge/", "a-", "```python\nbands = [", "a,", "× 224 "]


def adversarial_runs(seed: int) -> list[tuple[str, int, str]]:
    """About 1 MB of runs: (token, repetitions, what follows), 1 to 4,000 characters each, in a
    fixed-seed order; a third of them end their paragraph, so a run is often all a paragraph holds."""
    rng = random.Random(seed)
    runs: list[tuple[str, int, str]] = []
    total = 0
    while total < MB:
        token = rng.choice(TOKENS)
        runs.append((token, rng.randint(1, 4_000 // len(token) + 1), "\n\n" if rng.random() < 0.3 else ""))
        total += len(token) * runs[-1][1]
    return runs


def adversarial_markdown(runs: list[tuple[str, int, str]], scale: float) -> str:
    """The document with every run `scale` times longer: about `scale` MB, the same composition."""
    return "# Model\n\n" + "".join(token * max(1, round(count * scale)) + end for token, count, end in runs)


def markdown_it(text: str) -> float:
    started = time.perf_counter()
    MarkdownIt("commonmark").enable("table").parse(text)
    return time.perf_counter() - started


def card_reader(text: str) -> float:
    started = time.perf_counter()
    read_card(parse_markdown(text, "README.md"))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,3,9", help="sizes in MB, comma-separated (default 1,3,9)")
    parser.add_argument("--rounds", type=int, default=1, help="AB rounds per size (default 1)")
    parser.add_argument("--seed", type=int, default=9, help="seed of the token mix (default 9)")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]

    runs = adversarial_runs(args.seed)
    warm = adversarial_markdown(runs, 0.1)
    markdown_it(warm)
    card_reader(warm)
    print(f"adversarial Markdown, seed {args.seed}: {len(runs):,} runs, {warm.count(chr(10)) * 10:,} lines per MB")
    print(f"{'size':>6}  {'markdown-it':>12}  {'s/MB':>7}  {'card reader':>12}  {'s/MB':>7}  {'ratio':>6}")
    ratios: list[float] = []
    for scale in sizes:
        sample = adversarial_markdown(runs, scale)
        size = len(sample) / MB
        base_times: list[float] = []
        card_times: list[float] = []
        for _ in range(args.rounds):
            base_times.append(markdown_it(sample))
            card_times.append(card_reader(sample))
        base, card = min(base_times), min(card_times)
        ratios.append(card / base)
        print(f"{size:>3.1f} MB  {base:>10.2f} s  {base / size:>7.2f}  {card:>10.2f} s  {card / size:>7.2f}  "
              f"{card / base:>6.2f}", flush=True)
    spread = max(ratios) / min(ratios)
    print(f"ratio spread (largest / smallest): {spread:.2f} (linear: close to 1; quadratic: about "
          f"{max(sizes) / min(sizes):g} and more)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
