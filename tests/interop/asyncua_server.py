"""An OPC UA server nobody here wrote (python asyncua), for tests/opcua_interop.rs.

Usage: asyncua_server.py PORT
Serves ns=<idx>;s=Line1.Temp (Double, changes every 100 ms) and ns=<idx>;s=Line1.Count
(UInt32, +1 every 100 ms) anonymously over None/None, then prints "READY <idx>".
"""

import asyncio
import sys

from asyncua import Server, ua


async def main(port: int) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace("urn:edgeproof:interop")
    line = await server.nodes.objects.add_object(ua.NodeId("Line1", idx), "Line1")
    temp = await line.add_variable(ua.NodeId("Line1.Temp", idx), "Temp", 20.0, ua.VariantType.Double)
    count = await line.add_variable(ua.NodeId("Line1.Count", idx), "Count", 0, ua.VariantType.UInt32)
    async with server:
        print(f"READY {idx}", flush=True)
        n = 0
        while True:
            await asyncio.sleep(0.1)
            n += 1
            await temp.write_value(20.0 + n / 10.0)
            await count.write_value(ua.Variant(n, ua.VariantType.UInt32))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
