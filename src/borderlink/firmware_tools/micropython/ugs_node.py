# The sensor node: samples its sensors through a HAL, debounces, and sends one authenticated
# frame per event (detect, heartbeat, boot, fault) with a per-sensor counter that survives
# reboots. Configuration: ugs_config.json beside this file (written by `borderlink firmware
# build --target sensor-node`).
import gc
import json

import ugs_frame
import ugs_hal
import ugs_seq

POLL_MS = 20


class Sensor:
    def __init__(self, spec: dict) -> None:
        self.id = str(spec["id"])
        self.kind = str(spec["kind"])
        self.key = bytes.fromhex(spec["key"])
        self.threshold = int(spec.get("threshold", 1))
        self.position_m = int(spec.get("p", 0))
        self.offset_m = int(spec.get("o", 0))
        self.active = False
        self.last_detect_ms = -1


class Node:
    def __init__(self, config: dict, hal: ugs_hal.Hal, link: ugs_hal.Link, base: str = "") -> None:
        self.hal = hal
        self.link = link
        self.node_id = str(config["node"])
        self.key_version = int(config.get("key_version", 1))
        self.heartbeat_ms = int(config.get("heartbeat_s", 60)) * 1000
        self.debounce_ms = int(config.get("debounce_ms", 2000))
        self.low_battery_mv = int(config.get("low_battery_mv", 3300))
        self.report_mem = bool(config.get("report_mem", False))
        self.sensors = [Sensor(s) for s in config["sensors"]]
        self.seq = ugs_seq.SeqStore(base + str(config.get("seq_file", "ugs_seq.json")),
                                    [s.id for s in self.sensors],
                                    int(config.get("seq_reserve", 64)))
        self.tampered = False
        self.low_battery = False
        self.next_heartbeat = 0
        self.frames = 0

    def emit(self, sensor: Sensor, event: str, value: int, t_ms: int,
             battery: int = -1, detail: str = "") -> None:
        pairs: list[tuple[str, object]] = [
            ("n", self.node_id), ("s", sensor.id), ("q", self.seq.take(sensor.id)),
            ("t", t_ms), ("e", event), ("k", sensor.kind), ("v", value),
            ("p", sensor.position_m), ("o", sensor.offset_m)]
        if battery >= 0:
            pairs.append(("b", battery))
        if detail:
            pairs.append(("d", detail))
        self.link.write(ugs_frame.build(pairs, sensor.key, self.key_version))
        self.frames += 1

    def boot(self) -> None:
        hal = self.hal
        now = hal.now_ms()
        battery = hal.battery_mv()
        for s in self.sensors:
            self.emit(s, "boot", 0, now, battery)
        self.next_heartbeat = now + self.heartbeat_ms

    def step(self) -> None:
        """Sample every input once and send what changed."""
        hal = self.hal
        now = hal.now_ms()
        for s in self.sensors:
            level = hal.level(s.id)
            active = level >= s.threshold
            rising = active and not s.active
            s.active = active
            # Debounce: a footstep train or a bouncing contact is one event per debounce_ms.
            if rising and (s.last_detect_ms < 0 or now - s.last_detect_ms >= self.debounce_ms):
                s.last_detect_ms = now
                self.emit(s, "detect", level, now)
        tampered = hal.tampered()
        if tampered != self.tampered:
            self.tampered = tampered
            self.emit(self.sensors[0], "fault", 1 if tampered else 0, now,
                      detail="tamper" if tampered else "tamper cleared")
        if now < self.next_heartbeat - self.heartbeat_ms:
            self.next_heartbeat = now + self.heartbeat_ms  # the clock was set back
        if now >= self.next_heartbeat:
            self.heartbeat(now)

    def heartbeat(self, now: int) -> None:
        battery = self.hal.battery_mv()
        low = battery < self.low_battery_mv
        if low and not self.low_battery:
            self.emit(self.sensors[0], "fault", battery, now, battery, "low battery")
        self.low_battery = low
        for s in self.sensors:
            self.emit(s, "heartbeat", 0, now, battery)
        self.next_heartbeat = now + self.heartbeat_ms
        if self.report_mem:
            gc.collect()
            self.hal.log("mem free=%d alloc=%d frames=%d seq_writes=%d" % (
                gc.mem_free(), gc.mem_alloc(), self.frames, self.seq.writes))

    def run(self) -> None:
        self.boot()
        while self.hal.running:
            self.step()
            self.hal.wait(POLL_MS)


def load_config(path: str) -> dict:
    with open(path) as f:
        return json.load(f)
