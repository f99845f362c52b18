# Picks the HAL and the link from ugs_config.json and runs the node.
import ugs_hal
import ugs_node


def start(base: str = "") -> None:
    config = ugs_node.load_config(base + "ugs_config.json")
    hal: ugs_hal.Hal
    link: ugs_hal.Link
    if config.get("hal", "machine") == "unix":
        unix = ugs_hal.UnixHal()
        hal, link = unix, unix
    else:
        import ugs_hal_machine

        board = ugs_hal_machine.MachineHal(config)
        hal, link = board, board
    if config.get("transport", "serial") != "serial":
        # Only the serial link is built: the edge reads sensor nodes from a serial device.
        raise ValueError("ugs_config.json: transport must be \"serial\"")
    node = ugs_node.Node(config, hal, link, base)
    try:
        node.run()
    except KeyboardInterrupt:
        hal.log("stopped")
