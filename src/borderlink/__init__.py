"""borderlink: signed, chained records from border-management field devices, federated between agencies.

The code lives in the layout of docs/design.md: ``borderlink.proto`` (the contract),
``borderlink.hardware_profiles``, ``borderlink.edge``, ``borderlink.hub``,
``borderlink.provisioning`` and ``borderlink.firmware_tools``. This package holds only the
command line and the demo that wire them together.
"""

__version__ = "0.1.0"
