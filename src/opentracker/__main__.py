"""`python -m opentracker`: the same as the `opentracker` command."""

from opentracker.cli import main

if __name__ == "__main__":
    main()
