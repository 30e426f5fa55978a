"""The one thing pyproject.toml cannot say: the compiled steps of a one-house request.

They are optional: where no C compiler is found the package installs without
them, and NumPy and Python do the same work, slower (see `_speedups.c`).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("estimator._speedups", ["src/estimator/_speedups.c"],
                             optional=True)])
