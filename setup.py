"""The C extension only; everything else about the package lives in pyproject.toml.

The record hot path in C (``src/borderlink/proto/_native.c``), with OpenSSL's libcrypto for
SHA-256 (the library Python's hashlib uses). Optional: without a C compiler or OpenSSL's
headers, borderlink installs and runs on the pure-Python reference, only slower;
``tests/proto/test_native.py`` fails loudly where the accelerator should have been built.
"""

from setuptools import Extension, setup

native = Extension(
    "borderlink.proto._native",
    ["src/borderlink/proto/_native.c"],
    optional=True,
    libraries=["crypto"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

setup(ext_modules=[native])
