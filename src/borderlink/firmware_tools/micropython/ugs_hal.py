# The node's view of its hardware: sensor levels, tamper switch, battery, clock, the link out.
# Two implementations: ugs_hal_machine.MachineHal for real boards (machine.Pin/ADC/UART) and
# UnixHal below for the MicroPython unix port, where a test feeds the inputs on stdin and
# reads the frames from stdout (a pty in the tests, as a serial adapter would be).
import os
import select
import sys
import time


class Link:
    """Where frames go: a UART, stdout, an MQTT topic."""

    def write(self, frame: bytes) -> None:
        raise NotImplementedError


class Hal:
    """What ugs_node needs; every method is one cheap, non-allocating-where-possible call."""

    running = True

    def now_ms(self) -> int:
        raise NotImplementedError

    def level(self, channel: str) -> int:
        """The raw value of a sensor channel now (ADC counts, PIR zones)."""
        raise NotImplementedError

    def tampered(self) -> bool:
        raise NotImplementedError

    def battery_mv(self) -> int:
        raise NotImplementedError

    def wait(self, ms: int) -> None:
        """Sleep up to *ms*; may return early when an input changed."""
        raise NotImplementedError

    def log(self, text: str) -> None:
        raise NotImplementedError


class UnixHal(Hal, Link):
    """Inputs from stdin, one change per line, ``<t_ms|-> <channel> <value>``:

    ``t_ms`` sets the node clock (Unix ms; ``-`` lets it run on), ``channel`` is a sensor id,
    ``tamper`` (0/1) or ``battery`` (mV). End of input stops the node. The environment
    variable ``UGS_CLOCK_MS`` sets the clock at start (a board's RTC set before boot). :meth:`wait` applies
    at most one line, so the node samples every change, however fast the lines come.
    """

    def __init__(self) -> None:
        self.levels: dict[str, int] = {}
        self.tamper = 0
        self.battery = 3700
        self.offset_ms = 0
        start = os.getenv("UGS_CLOCK_MS")
        if start:
            self.offset_ms = int(start) - time.time_ns() // 1000000
        self.poller = select.poll()
        self.poller.register(sys.stdin, select.POLLIN)
        self.out = sys.stdout.buffer

    def now_ms(self) -> int:
        return time.time_ns() // 1000000 + self.offset_ms

    def level(self, channel: str) -> int:
        return self.levels.get(channel, 0)

    def tampered(self) -> bool:
        return self.tamper != 0

    def battery_mv(self) -> int:
        return self.battery

    def wait(self, ms: int) -> None:
        if not self.poller.poll(ms):
            return
        line = sys.stdin.readline()
        if not line:
            self.running = False
            return
        parts = line.split()
        if len(parts) != 3:
            self.log("input: ignored " + repr(line))
            return
        try:
            value = int(parts[2])
            if parts[0] != "-":
                self.offset_ms = int(parts[0]) - time.time_ns() // 1000000
        except ValueError:
            self.log("input: ignored " + repr(line))
            return
        if parts[1] == "tamper":
            self.tamper = value
        elif parts[1] == "battery":
            self.battery = value
        else:
            self.levels[parts[1]] = value

    def write(self, frame: bytes) -> None:
        self.out.write(frame)

    def log(self, text: str) -> None:
        sys.stderr.write(text + "\n")
