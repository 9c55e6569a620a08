"""GR00T transport: our client's round trip vs raw pyzmq REQ/REP with identical bytes. Target <= 1.2x.

All sides talk to the same local Gr00tTestPeer running in its own process (a policy server always is), calls
interleaved in a shuffled order each round. The raw baseline sends the exact request bytes our codec produced
(encoded once, outside the timing) and waits for the reply bytes without decoding. Two things of ours are timed:

- ``transport`` (the target): ``Gr00tZmqClient.call("get_action", observation)`` with the observation the raw
  request was encoded from -- it encodes, sends, waits (deadline and disconnect watch), decodes and interprets
  the reply, so it puts the same bytes on the wire as the baseline;
- ``provider`` (context): ``Gr00tPolicy.select_actions`` from ROS-side data -- the observation bridge (RGB
  conversion, joint selection), the client-side observation checks, the transport, the reply checks and the
  action assembly.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, quick, summary, timed, write_result
from ros_harness import node_env


class PeerProcess:
    """test/helpers/gr00t_peer_server.py in its own process (as a policy server is): a GIL of its own, so neither
    side of the comparison pays for the peer's decoding inside the client's interpreter."""

    def __init__(self, generation: str) -> None:
        self.token_file = tempfile.NamedTemporaryFile("w", suffix=".token", delete=False)
        self.token_file.write(secrets.token_hex(16))
        self.token_file.close()
        self.token = Path(self.token_file.name).read_text().strip()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "test" / "helpers" / "gr00t_peer_server.py"), "--host", "127.0.0.1",
             "--token-file", self.token_file.name, "--generation", generation],
            stdout=subprocess.PIPE, text=True, env=node_env())
        line = self.proc.stdout.readline()
        if not line.startswith("PEER "):
            self.close()
            raise SystemExit(f"GR00T peer did not start: {line!r}")
        info = json.loads(line[5:])
        self.host, self.port = info["host"], int(info["port"])

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.token_file.name)


def case(generation: str, height: int, width: int, cameras: int, n: int) -> dict:
    import zmq

    from worldforge_ros.bridges.gr00t_observation import Gr00tObservationBridge
    from worldforge_ros.core.observation import ImageData, ObservationData
    from worldforge_ros.providers.gr00t import Gr00tPolicy
    from worldforge_ros.providers.gr00t.codec import Gr00tCodec
    from worldforge_ros.testing.gr00t_peer import sample_observation

    base = sample_observation(height, width)
    images = tuple(ImageData(f"cam{i}", "rgb8", base.images[0].pixels) for i in range(cameras))
    obs = ObservationData(stamp_ns=1, task=base.task, joint_names=base.joint_names,
                          joint_positions=base.joint_positions, images=images)
    peer = PeerProcess(generation)
    try:
        bridge = Gr00tObservationBridge(generation, state_joints={"arm": obs.joint_names})
        policy = Gr00tPolicy(host=peer.host, port=peer.port, generation=generation, env={}, bridge=bridge,
                             action_keys=("joint_position",), timeout_ms=5000, api_token=peer.token)
        codec = Gr00tCodec(generation)
        payload = bridge.build(obs)
        data = payload if generation == "n1.5" else {"observation": payload}
        request = codec.encode_request("get_action", data, api_token=peer.token)
        context = zmq.Context.instance()
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://{peer.host}:{peer.port}")

        assert policy.transport.codec.encode_request("get_action", data, api_token=peer.token) == request
        client = policy.transport

        def raw():
            sock.send(request)
            reply = sock.recv()
            assert b"Unauthorized" not in reply[:64]

        def transport():
            client.call("get_action", data)

        def provider():
            policy.select_actions(obs, 1, "predict_chunk")

        runs: dict[str, tuple] = {"raw": (raw, []), "transport": (transport, []), "provider": (provider, [])}
        for fn, _ in runs.values():
            timed(fn, 0, warmup=10)
        order = list(runs.values())
        rng = random.Random(0)
        for _ in range(n):  # interleaved, shuffled: all three see the same machine state
            rng.shuffle(order)
            for fn, samples in order:
                samples += timed(fn, 1, warmup=0)
        sock.close(linger=0)
        policy.close()
    finally:
        peer.close()
    base = statistics.median(runs["raw"][1])
    return {"generation": generation, "image": [height, width], "cameras": cameras, "request_bytes": len(request),
            "transport": summary(runs["transport"][1]), "provider": summary(runs["provider"][1]),
            "raw_pyzmq": summary(runs["raw"][1]),
            "ratio": round(statistics.median(runs["transport"][1]) / base, 3),
            "provider_ratio": round(statistics.median(runs["provider"][1]) / base, 3)}


def main() -> int:
    n = 20 if quick() else 600
    rows = [case(gen, 224, 224, 1, n) for gen in ("n1.6", "n1.7")] + \
        [case(gen, 480, 640, 2, max(10, n // 4)) for gen in ("n1.6", "n1.7")]
    write_result("gr00t_transport", {"target": "<= 1.2", "ratio": max(r["ratio"] for r in rows),
                                     "provider_ratio": max(r["provider_ratio"] for r in rows), "cases": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
