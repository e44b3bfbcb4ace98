"""Build configuration beyond setup.cfg: the optional C twin of the segmenter's DAG scan.

`optional=True`: without a C compiler the install still succeeds and segment.py uses
its pure-Python scan (same words, about 40% slower analysis).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("sentiment.lang._dag", ["sentiment/lang/_dag.c"], optional=True)])
