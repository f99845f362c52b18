"""The shape every device simulator shares: its events (explicit and traffic) and helpers."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..schema import Profile
from .model import DeviceSpec, Emission, Scenario

__all__ = ["DeviceSim", "SimEvent", "poisson"]


@dataclass(frozen=True)
class SimEvent:
    t: float
    event_id: str
    kind: str
    params: Mapping[str, Any]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson variate: Knuth below 30, a rounded normal above (fast, good enough here)."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


class DeviceSim:
    """Base of the per-class simulators: ``emissions()`` yields in non-decreasing time."""

    event_kinds: tuple[str, ...] = ()

    def __init__(self, spec: DeviceSpec, profile: Profile, scenario: Scenario, seed: int) -> None:
        self.spec = spec
        self.profile = profile
        self.scenario = scenario
        self.rng = random.Random(f"{seed}/{spec.id}")
        self.t0 = scenario.start
        self.t_end = scenario.start + scenario.duration_s
        self.opt = dict(spec.options)

    @property
    def device_id(self) -> str:
        return self.spec.id

    def events(self) -> list[SimEvent]:
        """Explicit events of this device plus Poisson traffic, in time order, with ids."""
        raw: list[tuple[float, str, dict[str, Any]]] = []
        for e in self.scenario.events:
            if e.device == self.spec.id:
                raw.append((self.t0 + e.at_s, e.kind, dict(e.params)))
        rng = random.Random(f"{self.rng.random()}/traffic")
        for tr in self.scenario.traffic:
            if tr.device != self.spec.id or tr.per_hour <= 0:
                continue
            variants = list(tr.mix) or [""]
            weights = list(tr.mix.values()) or [1.0]
            t = self.t0 + rng.expovariate(tr.per_hour / 3600.0)
            key = {"traveller": "doc", "vehicle": "cargo", "crossing": "what", "sample": "preset"}.get(tr.kind, "variant")
            while t < self.t_end - 1.0:
                params = dict(tr.params)
                variant = rng.choices(variants, weights)[0]
                if variant:
                    params[key] = variant
                raw.append((t, tr.kind, params))
                t += rng.expovariate(tr.per_hour / 3600.0)
        for _, kind, _ in raw:
            if self.event_kinds and kind not in self.event_kinds:
                from ..errors import ScenarioError

                raise ScenarioError(f"{self.scenario.source}: device {self.spec.id!r} "
                                    f"({self.profile.device_class}) has no event kind {kind!r}; "
                                    f"expected one of {list(self.event_kinds)}")
        raw.sort(key=lambda r: r[0])
        return [SimEvent(t, f"{self.spec.id}#{i:06d}", kind, params) for i, (t, kind, params) in enumerate(raw)]

    def emissions(self) -> Iterator[Emission]:  # pragma: no cover - abstract
        raise NotImplementedError
