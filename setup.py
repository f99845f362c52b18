"""Map the top-level folders of DESIGN.md's layout onto the ``borderlink.*`` namespace.

The folders stay where the layout table puts them (``proto/``, ``edge/`` …) while imports
read ``borderlink.proto``, ``borderlink.edge`` …, so no generic top-level name such as
``proto`` can collide with another distribution's.
"""

from setuptools import Extension, find_packages, setup

LAYOUT = ["proto", "edge", "hub", "provisioning", "firmware_tools", "hardware_profiles"]

package_dir = {"borderlink": "borderlink"}
packages = ["borderlink"]
for sub in find_packages("borderlink"):
    packages.append(f"borderlink.{sub}")
    package_dir[f"borderlink.{sub}"] = f"borderlink/{sub.replace('.', '/')}"
for folder in LAYOUT:
    package_dir[f"borderlink.{folder}"] = folder
    packages.append(f"borderlink.{folder}")
    for sub in find_packages(folder):
        packages.append(f"borderlink.{folder}.{sub}")
        package_dir[f"borderlink.{folder}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

# The record hot path in C (proto/_native.c), with OpenSSL's libcrypto for SHA-256 (the
# library Python's hashlib uses). Optional: without a C compiler or OpenSSL's headers,
# borderlink installs and runs on the pure-Python reference, only slower;
# tests/proto/test_native.py fails loudly where the accelerator should have been built.
native = Extension(
    "borderlink.proto._native", ["proto/_native.c"], optional=True, libraries=["crypto"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

setup(package_dir=package_dir, packages=packages, ext_modules=[native])
