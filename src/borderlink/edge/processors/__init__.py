"""Processors: the time-critical decision for each device class, pure code, no I/O.

A processor takes the readings its driver decodes (``borderlink.hardware_profiles.readings``)
and the profile's parameters, and returns :class:`~borderlink.edge.processors.base.Decision`
values: a record type, its body and whether it is an alert. The agent turns each decision
into a signed record (the recorder) and, for alerts, a message on the site bus.
"""
