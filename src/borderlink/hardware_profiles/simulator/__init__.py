"""The border-crossing simulator: scenarios, the pure generator and the real-time runner."""

from .generator import generate
from .model import Emission, GroundTruth, Scenario, load_scenario, shipped_scenarios

__all__ = ["Emission", "GroundTruth", "Scenario", "generate", "load_scenario", "shipped_scenarios"]
