import os
import sys

# model.py lives beside the tests
sys.path.insert(0, os.path.dirname(__file__))
