"""Serve the web app: `python server.py [--port 5000] [--model-dir DIR] ...` (all options: --help).

A launcher kept at the top of the repo, where people look for it; the server's code is
fer_browser/server.py (installed as the `fer-serve` command).
"""
import sys

from fer_browser.server import main

if __name__ == "__main__":
    sys.exit(main())
