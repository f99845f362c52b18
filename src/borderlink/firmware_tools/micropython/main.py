# Entry point of a sensor node (a board runs main.py at boot; the unix port: `micropython main.py`).
# Everything else ships compiled (.mpy); this file stays source because boards look for main.py.
import ugs_boot

ugs_boot.start()
