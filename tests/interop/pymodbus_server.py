"""A Modbus TCP server from pymodbus (an implementation nobody on edgeproof wrote), serving a
register image given as JSON and logging every request it receives.

Usage: pymodbus_server.py IMAGE.json PORT REQUEST_LOG

IMAGE.json: {"holding": [u16...], "input": [u16...], "coils": [bool...], "discrete": [bool...]}
index = 0-based protocol address. Each request PDU received is appended to REQUEST_LOG as one
line "<function code> <address> <count>". The line "ready" is printed on stdout once the
server listens.
"""

import asyncio
import json
import logging
import sys

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer


def main() -> None:
    image_path, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    with open(image_path, encoding="utf-8") as f:
        image = json.load(f)
    log = open(log_path, "a", encoding="utf-8", buffering=1)

    def block(values, default):
        # ModbusSequentialDataBlock(1, v) serves v[0] at protocol address 0.
        return ModbusSequentialDataBlock(1, list(values) or [default])

    device = ModbusDeviceContext(
        co=block(image.get("coils", []), False),
        di=block(image.get("discrete", []), False),
        hr=block(image.get("holding", []), 0),
        ir=block(image.get("input", []), 0),
    )
    context = ModbusServerContext(devices=device, single=True)

    def trace_pdu(sending, pdu):
        if not sending:
            count = getattr(pdu, "count", 0)
            log.write(f"{pdu.function_code} {pdu.address} {count}\n")
        return pdu

    async def serve() -> None:
        server = ModbusTcpServer(context, address=("127.0.0.1", port), trace_pdu=trace_pdu)
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0.2)
        print("ready", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
