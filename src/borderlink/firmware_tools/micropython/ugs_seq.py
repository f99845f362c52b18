# Frame counters that survive a reboot without wearing the flash out.
# The file holds, per sensor, a *mark*: every counter below it may have been used. At boot each
# counter restarts at its mark and a new mark, `reserve` further on, is written before the first
# frame; later the file is rewritten only when a counter reaches its mark, so a node writes once
# per `reserve` frames (plus once per boot). A reboot skips at most `reserve` counters: the edge
# needs them increasing, not dense. The file is replaced by rename, so a power cut mid-write
# leaves the old marks (a stale mark is only ever too low if the write never happened, and then
# no counter at or above it was used either).
import json
import os


class SeqStore:
    def __init__(self, path: str, sensors: list[str], reserve: int) -> None:
        self.path = path
        self.reserve = reserve
        self.writes = 0
        marks: dict[str, int] = {}
        try:
            with open(path) as f:
                loaded = json.load(f)
            for sid in sensors:
                marks[sid] = int(loaded.get(sid, 1))
        except (OSError, ValueError):
            pass  # first boot, or an unreadable file: counters start at 1
        self.next = {}
        for sid in sensors:
            self.next[sid] = max(1, marks.get(sid, 1))
        self.marks = dict(self.next)
        self._raise_marks()

    def _raise_marks(self) -> None:
        for sid in self.next:
            self.marks[sid] = self.next[sid] + self.reserve
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            json.dump(self.marks, f)
        os.rename(tmp, self.path)
        self.writes += 1

    def take(self, sensor_id: str) -> int:
        """The next counter of *sensor_id*, durable before it is returned."""
        seq = self.next[sensor_id]
        if seq >= self.marks[sensor_id]:
            self._raise_marks()
        self.next[sensor_id] = seq + 1
        return seq
