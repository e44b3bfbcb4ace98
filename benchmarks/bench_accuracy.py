"""Accuracy of the bundled default model, SnowNLP and adapted models on the external datasets.

    python benchmarks/bench_accuracy.py [--data ../shared/data/external] [--base none|builtin]
                                        [--datasets waimai_10k,...] [--snownlp-limit 2000]
                                        [--encoder BERT_DIR]

For each dataset under --data (<dataset>/{dev,test}.csv with text,label):

- default: the bundled model (`load_model()`) on test and dev;
- snownlp: `SnowNLP(text).sentiments` on test in the same run, limited to the
  first --snownlp-limit rows (it runs at ~100-300 texts/s), marked "first N"
  (0: skip SnowNLP);
- adapted: `train(dev texts, dev labels, base=--base)` scored on test;
- with --encoder: also `train(..., encoder=BERT_DIR)` (see `sentiment.model.encoder`) on test.

Prints one table (accuracy, macro-F1, negative precision/recall, texts/s).
Nothing is written into the repository. Skips cleanly when the data is absent.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sentiment.model.training import _metrics, evaluate, load_model, read_labeled_csv, train

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "external"
DATASETS = ("fewclue_eprstmt", "waimai_10k", "online_shopping_10_cats", "ChnSentiCorp_htl_all")
HEADER = f"{'dataset':<26}{'split':<16}{'method':<22}{'n':>7}{'acc':>8}{'macroF1':>9}{'negP':>8}{'negR':>8}{'texts/s':>10}"


def row(dataset: str, split: str, method: str, r: dict[str, float]) -> None:
    print(f"{dataset:<26}{split:<16}{method:<22}{r['n']:>7}{r['accuracy']:>8.4f}{r['macro_f1']:>9.4f}"
          f"{r['neg_precision']:>8.4f}{r['neg_recall']:>8.4f}{r['texts_per_s']:>10,.0f}", flush=True)


def snownlp_eval(texts: list[str], labels: list[int]) -> dict[str, float]:
    from snownlp import SnowNLP

    start = time.perf_counter()
    preds = [1 if SnowNLP(t).sentiments >= 0.5 else 0 for t in texts]
    return _metrics(labels, preds, len(texts) / (time.perf_counter() - start))


def run_dataset(data: Path, name: str, base: str, snow_limit: int, encoder: Path | None = None) -> None:
    dev_x, dev_y = read_labeled_csv(data / name / "dev.csv")
    test_x, test_y = read_labeled_csv(data / name / "test.csv")
    model = load_model()
    row(name, "test", "default", evaluate(model, test_x, test_y))
    row(name, "dev", "default", evaluate(model, dev_x, dev_y))
    n = min(snow_limit, len(test_x))
    split = "test" if n == len(test_x) else f"test first {n}"
    if n:
        row(name, split, "snownlp", snownlp_eval(test_x[:n], test_y[:n]))
    if 0 < n < len(test_x):
        row(name, split, "default", evaluate(model, test_x[:n], test_y[:n]))
    start = time.perf_counter()
    adapted = train(dev_x, dev_y, base=base)
    took = time.perf_counter() - start
    row(name, "test", f"adapted(base={base})", evaluate(adapted, test_x, test_y))
    print(f"{'':<26}{'':<16}  trained on {len(dev_x)} dev rows in {took:.0f} s, {len(adapted.weights)} features")
    if encoder is not None:
        start = time.perf_counter()
        blended = train(dev_x, dev_y, base=base, encoder=encoder)
        took = time.perf_counter() - start
        row(name, "test", "adapted+encoder", evaluate(blended, test_x, test_y))
        mix = blended.head.to_dict()["mix"] if blended.head else None
        print(f"{'':<26}{'':<16}  trained with {encoder.name} in {took:.0f} s, mix (bow, encoder, offset) {mix}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--base", choices=("none", "builtin"), default="none")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--snownlp-limit", type=int, default=2000)
    parser.add_argument("--encoder", type=Path, help="a BERT model directory for the adapted+encoder rows")
    args = parser.parse_args()
    names = [n for n in args.datasets.split(",") if (args.data / n / "test.csv").is_file()]
    if not names:
        print(f"skipped: no datasets found under {args.data}")
        return 0
    print(f"default model: {load_model().version}\n{HEADER}")
    for name in names:
        run_dataset(args.data, name, args.base, args.snownlp_limit, args.encoder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
