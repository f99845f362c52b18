# The hardware of a real node (tested boards: Raspberry Pi Pico / Pico W, rp2 port): analog
# sensors on ADC pins, PIR and the tamper loop on digital pins, the battery through a divider
# on an ADC pin, frames out of a UART to the radio modem. Pins come from ugs_config.json.
import time

import ugs_hal
from machine import ADC, UART, Pin


class MachineHal(ugs_hal.Hal, ugs_hal.Link):
    def __init__(self, config: dict) -> None:
        self.analog: dict[str, ADC] = {}
        self.digital: dict[str, Pin] = {}
        for sensor in config["sensors"]:
            if sensor["kind"] == "pir":
                self.digital[sensor["id"]] = Pin(sensor["pin"], Pin.IN)
            else:
                self.analog[sensor["id"]] = ADC(Pin(sensor["pin"]))
        tamper = config.get("tamper", {})
        self.tamper_pin = Pin(tamper.get("pin", 15), Pin.IN, Pin.PULL_UP)
        self.tamper_active = int(tamper.get("active", 0))
        battery = config.get("battery", {})
        self.battery_adc = ADC(Pin(battery.get("pin", 28)))
        self.battery_uv_per_count = int(battery.get("uv_per_count", 151))  # 3x divider, 3.3 V
        uart = config.get("uart", {})
        self.uart = UART(uart.get("id", 0), baudrate=uart.get("baud", 57600))

    def now_ms(self) -> int:
        return time.time_ns() // 1000000

    def level(self, channel: str) -> int:
        pin = self.digital.get(channel)
        if pin is not None:
            return pin.value()
        return self.analog[channel].read_u16()

    def tampered(self) -> bool:
        return self.tamper_pin.value() == self.tamper_active

    def battery_mv(self) -> int:
        return self.battery_adc.read_u16() * self.battery_uv_per_count // 1000

    def wait(self, ms: int) -> None:
        time.sleep_ms(ms)

    def write(self, frame: bytes) -> None:
        self.uart.write(frame)

    def log(self, text: str) -> None:
        print(text)
