import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runner  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--repeat", type=int, default=1,
                     help="run every lab N times; every run must match its transcript byte for byte")


def pytest_report_header(config):
    # Measured once per session, before any test (or xdist worker) starts; every
    # duration the harness waits for is scaled by it (runner.seconds).
    return f"machine slowness: {runner.slowness():.2f} (runner.seconds scales every wait by it)"
