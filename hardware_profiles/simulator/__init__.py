"""The border-crossing simulator: scenarios, the pure generator and the real-time runner."""

from .generate import generate
from .model import Emission, GroundTruth, Scenario, load_scenario, shipped_scenarios

__all__ = ["generate", "Emission", "GroundTruth", "Scenario", "load_scenario", "shipped_scenarios"]
