"""A consumer of the AMI gateway's stream that survives its own restarts.

It stores the stream sequence of each message it has handled in a file and,
on start, replays the stream from the message after it: nothing is missed
and nothing is handled twice while the stream still holds the message.

Each message is printed as `<stream sequence> <subject> <server> <event or
marker> <seq>`; markers (`ami.<server>.gateway`) say a gateway took a node
(the events of the gap are missing) or let it go.

    python3 -m venv venv && venv/bin/pip install nats-py==2.16.0
    venv/bin/python consumer.py --nats nats://127.0.0.1:4222 --state position
"""

import argparse
import asyncio
import json
import os

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


def read_position(path):
    """The stored position, 0 before the first run."""
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def write_position(path, position):
    """Stores `position` so that a crash never leaves half a file behind."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(position))
    os.replace(tmp, path)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--stream", default="AMI_EVENTS")
    p.add_argument("--state", required=True)
    p.add_argument("--max", type=int, help="stop after this many messages")
    p.add_argument("--idle-ms", type=int, help="stop after this long without a message")
    args = p.parse_args()

    last = read_position(args.state)
    nc = await nats.connect(args.nats)
    js = nc.jetstream()
    # An ephemeral push consumer of our own from the stored position; no
    # acks: the position file is the consumer's memory.
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await js.add_consumer(
        args.stream,
        ConsumerConfig(
            deliver_subject=inbox,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=last + 1,
            ack_policy=AckPolicy.NONE,
        ),
    )
    idle = args.idle_ms / 1000 if args.idle_ms else None
    handled = 0
    while args.max is None or handled < args.max:
        try:
            msg = await sub.next_msg(timeout=idle)
        except asyncio.TimeoutError:
            break
        except nats.errors.TimeoutError:
            break
        position = msg.metadata.sequence.stream
        body = json.loads(msg.data)
        what = body.get("event") or body.get("marker") or "?"
        seq = body.get("seq")
        print(position, msg.subject, body.get("server"), what, "null" if seq is None else seq, flush=True)
        # Handled: remember it, so a restart begins after it.
        write_position(args.state, position)
        handled += 1
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
