"""An HTTP load generator in its own process, open loop: requests leave at a fixed rate whether or
not earlier ones have come back (as drawings from many people do).

    python benchmarks/_openloop.py --port P --bodies FILE [--path /api/predict] --rate 200 --seconds 20
                                   [--connections 256] [--closed]

Clients that wait for each answer before sending again (closed loop) slow down with the server and
so hide its queue. Here each request has a due time, start + i / rate, and its latency is counted
from that time, not from when it could be sent: a request that waited for a free connection, or
behind a slow one, is charged for the wait (no "coordinated omission"). --connections caps the
keep-alive connections (the rest wait, and their wait counts); a kept-alive connection that the
server closed while idle is replaced and the request sent again, as browsers do. --closed sends one
request at a time on one connection instead (a person alone at the board).

FILE is JSON: {"bodies": [...], "expected": [...]}: request bodies, and for each the answer it must
get ({"digit": d, "probabilities": [...]}, from the model in-process). Every answer is compared:
the same bytes as the first answer to that body, else parsed and compared within 1e-4.
Prints one JSON object: counts, latency percentiles (ms), answers per second, wrong answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np


class Answers:
    """Checks each response against the answer its body must get."""

    def __init__(self, expected: list[dict]):
        self.expected, self.seen_bytes = expected, {}
        self.wrong: list[str] = []

    def check(self, index: int, body: bytes) -> None:
        if self.seen_bytes.get(index) == body:
            return
        try:
            answer = json.loads(body)
            want = self.expected[index]
            same = (answer["digit"] == want["digit"] and
                    np.allclose(answer["probabilities"], want["probabilities"], atol=1e-4))
        except (ValueError, KeyError, TypeError) as exc:
            same, answer = False, {"error": str(exc)}
        if same:
            self.seen_bytes[index] = body
        elif len(self.wrong) < 5:
            self.wrong.append(f"body {index}: got {str(answer)[:120]}")
        else:
            self.wrong.append("")


async def request(reader, writer, head: bytes, body: bytes) -> tuple[int, bytes]:
    writer.write(head + body)
    status_line, _, headers = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
    status = int(status_line.split()[1])
    length = next(int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return status, await reader.readexactly(length)


async def drive(port: int, path: str, bodies: list[bytes], answers: Answers, rate: float, seconds: float,
                connections: int, closed: bool) -> dict:
    heads = [f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             f"Content-Length: {len(body)}\r\n\r\n".encode() for body in bodies]
    idle: list = []
    slots = asyncio.Semaphore(1 if closed else connections)
    latencies, statuses, errors, resent = [], {}, {}, [0]
    loop = asyncio.get_running_loop()

    async def one(i: int, due: float) -> None:
        index, stream = i % len(bodies), None
        async with slots:
            try:
                if idle:  # a kept-alive connection the server may have closed meanwhile (uvicorn: after 5 s idle)
                    stream = idle.pop()
                    try:
                        status, body = await request(*stream, heads[index], bodies[index])
                    except (ConnectionError, asyncio.IncompleteReadError) as exc:
                        if getattr(exc, "partial", b""):  # the answer had begun: a real failure
                            raise
                        stream[1].close()  # closed before answering: send again on a new one, as browsers do
                        stream = None
                        resent[0] += 1
                if stream is None:
                    stream = await asyncio.open_connection("127.0.0.1", port)
                    status, body = await request(*stream, heads[index], bodies[index])
            except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if stream:
                    stream[1].close()
                return
            idle.append(stream)
        latencies.append(loop.time() - due)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            answers.check(index, body)

    start = loop.time() + 0.05
    count = await _send(one, start, rate, seconds, closed)
    elapsed = loop.time() - start
    for _, writer in idle:
        writer.close()
    ms = np.array(latencies) * 1000
    return {"sent": count, "answered": len(latencies), "errors": sum(errors.values()), "error_kinds": errors,
            "statuses": statuses, "resent": resent[0],
            "answers_per_s": len(latencies) / elapsed, "seconds": elapsed,
            "p50": float(np.percentile(ms, 50)) if len(ms) else None,
            "p99": float(np.percentile(ms, 99)) if len(ms) else None,
            "max": float(ms.max()) if len(ms) else None,
            "wrong_answers": len(answers.wrong), "wrong_examples": [w for w in answers.wrong if w]}


async def _send(one, start: float, rate: float, seconds: float, closed: bool) -> int:
    """Call `one(i, due)` for each request: on schedule, `rate` a second from `start` (open loop), or one after
    another for `seconds` (closed); how many were sent."""
    loop = asyncio.get_running_loop()
    if closed:
        end, i = start + seconds, 0
        while loop.time() < end:
            await one(i, loop.time())
            i += 1
        return i
    tasks = []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return len(tasks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bodies", required=True)
    parser.add_argument("--path", default="/api/predict")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--closed", action="store_true", help="one client alone: one request at a time")
    args = parser.parse_args()
    with open(args.bodies) as handle:
        data = json.load(handle)
    bodies = [body.encode() for body in data["bodies"]]
    cpu = time.process_time()
    result = asyncio.run(drive(args.port, args.path, bodies, Answers(data["expected"]), args.rate, args.seconds,
                               args.connections, args.closed))
    result["client_cpu_s"] = time.process_time() - cpu
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
