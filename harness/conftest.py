import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser):
    parser.addoption("--repeat", type=int, default=1,
                     help="run every lab N times; every run must match its transcript byte for byte")
