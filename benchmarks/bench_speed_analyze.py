"""Scoring speed of the bundled model vs SnowNLP, side by side on the same texts (not part of the test run).

    python benchmarks/bench_speed_analyze.py [--data ../shared/data/external]

Texts: the first 2,000 test rows of waimai_10k and all of fewclue_eprstmt.
Times `load_model().score(normalize(t))` (what analyze() does before rule
matching) and `SnowNLP(t).sentiments`, each after a warm-up call and with
the segmenter's clause cache cleared, in CPU time of this one process, and prints texts/s and the ratio
(target >= 25x; >= 40x leaves room for the rule matching added later).
Skips cleanly when the datasets are absent.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sentiment.model.training import load_model, read_labeled_csv
from sentiment.lang.segment import analysis_segmenter
from sentiment.lang.text import normalize

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "external"
SETS = (("waimai_10k", 2000), ("fewclue_eprstmt", None))


def load_texts(data: Path) -> dict[str, list[str]] | None:
    out = {}
    for name, limit in SETS:
        path = data / name / "test.csv"
        if not path.is_file():
            return None
        out[name] = read_labeled_csv(path)[0][:limit]
    return out


def rate(fn, texts: list[str]) -> float:
    """Texts per CPU-second (process time: less disturbed by other processes on the machine)."""
    analysis_segmenter().clear_cache()  # the model's segmenter caches clauses; time it cold
    fn(texts[0])
    start = time.process_time()
    for text in texts:
        fn(text)
    return len(texts) / (time.process_time() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    sets = load_texts(args.data)
    if sets is None:
        print(f"skipped: datasets not found under {args.data}")
        return 0
    from snownlp import SnowNLP

    model = load_model()
    ours = lambda t: model.score(normalize(t))  # noqa: E731
    snow = lambda t: SnowNLP(t).sentiments  # noqa: E731
    print(f"model {model.version}")
    print(f"{'texts':<26}{'n':>6}{'model t/s':>12}{'snownlp t/s':>13}{'ratio':>8}")
    all_texts: list[str] = []
    for name, texts in sets.items():
        all_texts += texts
        a, b = rate(ours, texts), rate(snow, texts)
        print(f"{name:<26}{len(texts):>6}{a:>12,.0f}{b:>13,.0f}{a / b:>7.1f}x")
    a, b = rate(ours, all_texts), rate(snow, all_texts)
    print(f"{'all':<26}{len(all_texts):>6}{a:>12,.0f}{b:>13,.0f}{a / b:>7.1f}x")
    print(f"speed ratio (model / SnowNLP): {a / b:.1f}x  (target >= 25x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
