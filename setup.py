"""The one thing pyproject.toml cannot say: the compiled forward pass of the MLP.

It is optional: where no C compiler is found the package installs without
it and a one-house prediction goes through NumPy instead, slower but the same.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("estimator.models._forward", ["src/estimator/models/_forward.c"],
                             optional=True)])
