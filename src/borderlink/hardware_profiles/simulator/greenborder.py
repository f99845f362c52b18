"""Green-border sensor nodes: people crossing in a direction, vehicles, animals and wind.

Each node has a chain of sensors at increasing distance from the border line (see
``data/bilasuvar_border.json``). A crossing triggers them in order of offset (inbound: from
the line inland; outbound: the reverse) at the walker's or vehicle's speed; each trigger may
bounce into several frames. Animals trigger a few sensors out of order with weak seismic and
no magnetic signature; wind trips PIR and weak seismic at random. Heartbeats every 5 minutes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..protocols import sensor
from ..readings import SensorFrame
from .base import DeviceSim
from .model import Emission, GroundTruth

__all__ = ["WHATS", "GroundSensorSim"]

WHATS = ("person", "group", "vehicle", "animal", "wind")
_HEARTBEAT_S = 300.0


class GroundSensorSim(DeviceSim):
    event_kinds = ("crossing",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        border = json.loads(Path(self.profile.setting("border_file")).read_text(encoding="utf-8"))
        nodes = {n["node_id"]: n for n in border["sensor_nodes"]}
        wanted = self.opt.get("nodes")
        if wanted is None:
            wanted = list(nodes) if self.profile.transport.scheme == "tcp" else [next(iter(nodes))]
        unknown = [n for n in wanted if n not in nodes]
        if unknown:
            from ..errors import ScenarioError

            raise ScenarioError(f"{self.scenario.source}: device {self.spec.id!r}: unknown sensor nodes "
                                f"{unknown}; expected some of {sorted(nodes)}")
        self.nodes = [nodes[n] for n in wanted]
        self.seqs: dict[str, int] = {}
        self.scales = {c.name: c.scale for c in self.profile.channels}
        self.keys = {s["sensor_id"]: sensor.demo_sensor_key(s["sensor_id"]) for n in self.nodes for s in n["sensors"]}

    def _frame(self, t: float, node: dict[str, Any], s: dict[str, Any], event: str, value: float,
               battery: int | None = None, detail: str = "") -> SensorFrame:
        sid = s["sensor_id"]
        self.seqs[sid] = self.seqs.get(sid, 0) + 1
        scale = self.scales.get(s["kind"], 1.0)
        value = round(value / scale) * scale
        return SensorFrame(t=round(t, 3), node_id=node["node_id"], sensor_id=sid, seq=self.seqs[sid], event=event,
                           kind=s["kind"], value=value, position_m=float(s["position_m"]),
                           offset_m=float(s["offset_m"]), battery_mv=battery, detail=detail)

    def _signature(self, what: str, kind: str) -> float:
        u = self.rng.uniform
        table = {"person": {"seismic": (0.8, 3.0), "pir": (1, 2), "magnetic": (0.5, 4.0)},
                 "group": {"seismic": (2.0, 6.0), "pir": (2, 3), "magnetic": (2.0, 15.0)},
                 "vehicle": {"seismic": (6.0, 25.0), "pir": (2, 3), "magnetic": (60.0, 600.0)},
                 "animal": {"seismic": (0.5, 1.6), "pir": (1, 1), "magnetic": (0.0, 0.0)},
                 "wind": {"seismic": (0.2, 0.7), "pir": (1, 1), "magnetic": (0.0, 0.0)}}[what][kind]
        value = u(*table)
        return float(round(value)) if kind == "pir" else value

    def emissions(self) -> Iterator[Emission]:
        items: list[tuple[float, SensorFrame, GroundTruth | None]] = []
        rng = self.rng
        for node in self.nodes:
            for s in node["sensors"]:
                items.append((self.t0 + rng.uniform(0.2, 2.0),
                              self._frame(self.t0 + 0.5, node, s, "boot", 0.0, 3700), None))
                t = self.t0 + rng.uniform(10, _HEARTBEAT_S)
                while t < self.t_end:
                    items.append((t, self._frame(t, node, s, "heartbeat", 0.0, rng.randint(3550, 3700)), None))
                    t += _HEARTBEAT_S
        items = [(f.t, f, tr) for _, f, tr in items]
        for ev in self.events():
            items.extend(self._crossing(ev))
        items.sort(key=lambda x: (x[0], x[1].sensor_id))
        seqs: dict[str, int] = {}
        for t, frame, truth in items:
            if t >= self.t_end:
                continue
            seqs[frame.sensor_id] = seqs.get(frame.sensor_id, 0) + 1  # the node counts in send order
            frame = replace(frame, seq=seqs[frame.sensor_id])
            data = sensor.encode(frame, self.keys[frame.sensor_id], scales=self.scales)
            yield Emission(t, self.device_id, (frame,), data, truth)

    def _crossing(self, ev: Any) -> list[tuple[float, SensorFrame, GroundTruth | None]]:
        rng = self.rng
        what = str(ev.params.get("what", "person"))
        if what not in WHATS:
            from ..errors import ScenarioError

            raise ScenarioError(f"{self.scenario.source}: crossing what={what!r}; expected one of {list(WHATS)}")
        node_id = ev.params.get("node")
        node = next((n for n in self.nodes if n["node_id"] == node_id), None) or rng.choice(self.nodes)
        sensors = sorted(node["sensors"], key=lambda s: s["offset_m"])
        out: list[tuple[float, SensorFrame, GroundTruth | None]] = []
        if what in ("animal", "wind"):
            picks = rng.sample(sensors, rng.randint(1, 3 if what == "animal" else 2))
            picks = [s for s in picks if what == "animal" or s["kind"] in ("pir", "seismic")] or [sensors[0]]
            last = ev.t
            for s in picks:
                t = ev.t + rng.uniform(0, 60 if what == "animal" else 30)
                f = self._frame(t, node, s, "detect", self._signature(what, s["kind"]))
                out.append((t, f, None))
                last = max(last, t)
            truth = GroundTruth(t=last, device_id=self.device_id, event_id=ev.event_id, kind="crossing",
                                record_type=None, alert=None, expect={"class": what, "suppress": True},
                                start=ev.t, detail={"what": what, "node": node["node_id"],
                                                    "sensors": [s["sensor_id"] for s in picks]})
            # the truth rides on a heartbeat-free marker: attach it to the last frame
            out.sort(key=lambda x: x[0])
            t_last, f_last, _ = out[-1]
            out[-1] = (t_last, f_last, truth)
            return out
        direction = str(ev.params.get("direction") or rng.choice(["inbound", "outbound"]))
        speed = rng.uniform(4.0, 12.0) if what == "vehicle" else rng.uniform(1.0, 1.8)
        far = sensors[-1]["offset_m"] + 10.0
        for s in sensors:
            distance = s["offset_m"] if direction == "inbound" else far - s["offset_m"]
            t = ev.t + distance / speed + rng.gauss(0, 0.15)
            if s["kind"] == "magnetic" and what == "person" and rng.random() < 0.5:
                continue  # no metal on this walker
            for bounce in range(rng.randint(1, 3 if what != "vehicle" else 4)):
                tb = t + bounce * rng.uniform(0.1, 0.5)
                out.append((tb, self._frame(tb, node, s, "detect", self._signature(what, s["kind"])), None))
        out.sort(key=lambda x: x[0])
        t_last, f_last, _ = out[-1]
        klass = "vehicle" if what == "vehicle" else "person"
        truth = GroundTruth(t=t_last, device_id=self.device_id, event_id=ev.event_id, kind="crossing",
                            record_type="intrusion.alert", alert="alarm",
                            expect={"class": klass, "direction": direction, "speed_mps": round(speed, 2),
                                    "sector": node.get("sector", "")},
                            start=ev.t, detail={"what": what, "node": node["node_id"],
                                                "sensors": sorted({f.sensor_id for _, f, _ in out})})
        out[-1] = (t_last, f_last, truth)
        return out
