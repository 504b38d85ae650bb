"""`python -m snapcli` and the `snap` console script.

The entry point lives here, away from the CLI modules, so Ctrl-C while snap is still importing them exits 130
like every other interruption instead of printing a traceback."""

import sys


def entry() -> None:
    try:
        from snapcli.allocator import tune_allocator

        tune_allocator()  # before torch allocates anything; also in every process `accelerate launch` starts
        from snapcli.cli.app import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    entry()
