import os
import sys

# Test helpers (redis_fixture.py) live beside the tests.
sys.path.insert(0, os.path.dirname(__file__))
