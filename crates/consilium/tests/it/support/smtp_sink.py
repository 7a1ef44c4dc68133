"""A real SMTP server for the tests (aiosmtpd), on a loopback port chosen by the OS.

Usage: python smtp_sink.py OUT_DIR
Prints the port on its first line of stdout, then writes each delivered message to
OUT_DIR/<seq>.json as {"mail_from", "rcpt_tos", "data"} (written to a temporary name, then
renamed, so a reader never sees half a message). Runs until killed or stdin closes.
"""

import asyncio
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out):
        self.out = out
        self.seq = 0

    async def handle_DATA(self, server, session, envelope):
        self.seq += 1
        body = envelope.content
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": body,
        }
        tmp = os.path.join(self.out, f".{self.seq:06d}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, f"{self.seq:06d}.json"))
        return "250 Message accepted for delivery"


async def main(out):
    loop = asyncio.get_running_loop()
    sink = Sink(out)
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="localhost"), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    # Stop when the test process goes away (our stdin is its pipe).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
