"""Modbus RTU units from pymodbus (an implementation nobody on edgeproof wrote) on a serial
port, each serving its own register image, logging every request they receive.

Usage: pymodbus_rtu_server.py PORT BAUD IMAGES.json REQUEST_LOG

PORT: a serial device (in the tests, one end of a socat pty pair), 8N1 at BAUD.
IMAGES.json: {"<unit id>": {"holding": [u16...], "input": [u16...], "coils": [bool...],
"discrete": [bool...]}, ...}; index = 0-based protocol address. Each request PDU received is
appended to REQUEST_LOG as one line "<unit> <function code> <address> <count>". The line
"ready" is printed on stdout once the port is open.
"""

import asyncio
import json
import logging
import sys

from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusSerialServer


def main() -> None:
    port, baud, images_path, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    with open(images_path, encoding="utf-8") as f:
        images = json.load(f)
    log = open(log_path, "a", encoding="utf-8", buffering=1)

    def block(values, default):
        # ModbusSequentialDataBlock(1, v) serves v[0] at protocol address 0.
        return ModbusSequentialDataBlock(1, list(values) or [default])

    devices = {
        int(unit): ModbusDeviceContext(
            co=block(image.get("coils", []), False),
            di=block(image.get("discrete", []), False),
            hr=block(image.get("holding", []), 0),
            ir=block(image.get("input", []), 0),
        )
        for unit, image in images.items()
    }
    context = ModbusServerContext(devices=devices, single=False)

    def trace_pdu(sending, pdu):
        if not sending:
            count = getattr(pdu, "count", 0)
            log.write(f"{pdu.dev_id} {pdu.function_code} {pdu.address} {count}\n")
        return pdu

    async def serve() -> None:
        server = ModbusSerialServer(
            context,
            framer=FramerType.RTU,
            port=port,
            baudrate=baud,
            bytesize=8,
            parity="N",
            stopbits=1,
            ignore_missing_devices=True,
            trace_pdu=trace_pdu,
        )
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0.3)
        print("ready", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
