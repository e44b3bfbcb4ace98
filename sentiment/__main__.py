"""`python -m sentiment` and the `sentiment` console script.

The CLI is imported inside `main()`, not here: a worker process of
`ingest --jobs N` re-imports the script that started its parent, and would
otherwise load the whole CLI (sqlite_utils, numpy, ...: about 35 MB) for nothing.
"""


def main() -> None:
    from sentiment.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
