"""Entry point of `python -m autodiff.viz` (see `autodiff.viz.cli`)."""

if __name__ == "__main__":
    import sys

    from autodiff.viz.cli import main

    sys.exit(main())
