"""Modbus units from pymodbus (an implementation nobody on edgeproof wrote) with planted
register maps — islands of readable registers with holes between them — over TCP (several
unit ids behind one address, as a serial-to-Ethernet gateway) or RTU on a serial port.

Usage: pymodbus_plant.py tcp PORT PLANT.json REQUEST_LOG
       pymodbus_plant.py rtu SERIAL_PORT PLANT.json REQUEST_LOG   (9600 8N1)

PLANT.json: {"<unit id>": {"holding": [[start, [u16...]], ...], "input": [...],
"coils": [[start, [bool...]], ...], "discrete": [...]}, ...}; start = 0-based protocol
address. A read touching an address outside every island is answered with exception 02;
a unit id not planted gets no answer (RTU) or exception 0B (TCP, as a gateway). Each request
received is appended to REQUEST_LOG as "<unit> <function code> <address> <count>". Prints
"ready" once listening.
"""

import asyncio
import json
import logging
import sys

from pymodbus import FramerType
from pymodbus.datastore import ModbusDeviceContext, ModbusServerContext
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData


class Islands:  # pylint: disable=too-few-public-methods
    """A data block made of separate islands (pymodbus 3.16 keeps blocks as SimData)."""

    def __init__(self, islands, bits):
        self.simdata = [
            SimData(start, values=[bool(v) if bits else int(v) for v in values], datatype=DataType.REGISTERS)
            for start, values in islands
        ]
        if not self.simdata:
            # An area with nothing readable: one register far out of any scanned range.
            self.simdata = [SimData(65535, values=[0], datatype=DataType.REGISTERS)]


def main() -> None:
    kind, where, plant_path, log_path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    with open(plant_path, encoding="utf-8") as f:
        plant = json.load(f)
    log = open(log_path, "a", encoding="utf-8", buffering=1)
    devices = {
        int(unit): ModbusDeviceContext(
            co=Islands(image.get("coils", []), True),
            di=Islands(image.get("discrete", []), True),
            hr=Islands(image.get("holding", []), False),
            ir=Islands(image.get("input", []), False),
        )
        for unit, image in plant.items()
    }
    context = ModbusServerContext(devices=devices, single=False)

    def trace_pdu(sending, pdu):
        if not sending:
            count = getattr(pdu, "count", 0)
            log.write(f"{pdu.dev_id} {pdu.function_code} {pdu.address} {count}\n")
        return pdu

    async def serve() -> None:
        if kind == "tcp":
            server = ModbusTcpServer(
                context, address=("127.0.0.1", int(where)), trace_pdu=trace_pdu
            )
        else:
            server = ModbusSerialServer(
                context,
                framer=FramerType.RTU,
                port=where,
                baudrate=9600,
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
