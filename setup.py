"""Map the top-level folders of DESIGN.md's layout onto the ``borderlink.*`` namespace.

The folders stay where the layout table puts them (``proto/``, ``edge/`` …) while imports
read ``borderlink.proto``, ``borderlink.edge`` …, so no generic top-level name such as
``proto`` can collide with another distribution's.
"""

from setuptools import find_packages, setup

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

setup(package_dir=package_dir, packages=packages)
