"""``python -m bigearth``: the same command line as ``bigearth``."""

from bigearth.cli import app

if __name__ == "__main__":
    app(prog_name="bigearth")
