"""GR00T transport: our client's round trip vs raw pyzmq REQ/REP with identical bytes. Target <= 1.2x.

Both sides talk to the same local Gr00tTestPeer. The raw baseline sends the exact request bytes our codec
produced (encoded once, outside the timing) and waits for the reply bytes without decoding; ours builds the
observation from ROS-side data, encodes, sends, decodes and checks the reply.
"""

from __future__ import annotations

import statistics

from common import quick, summary, timed, write_result


def case(generation: str, height: int, width: int, cameras: int, n: int) -> dict:
    import zmq

    from worldforge_ros.bridges.gr00t_observation import Gr00tObservationBridge
    from worldforge_ros.core.observation import ImageData, ObservationData
    from worldforge_ros.providers.gr00t import Gr00tPolicy
    from worldforge_ros.providers.gr00t.codec import Gr00tCodec
    from worldforge_ros.testing.gr00t_peer import Gr00tTestPeer, sample_observation

    base = sample_observation(height, width)
    images = tuple(ImageData(f"cam{i}", "rgb8", base.images[0].pixels) for i in range(cameras))
    obs = ObservationData(stamp_ns=1, task=base.task, joint_names=base.joint_names,
                          joint_positions=base.joint_positions, images=images)
    with Gr00tTestPeer(generation=generation, max_requests=10_000) as peer:
        bridge = Gr00tObservationBridge(generation, state_joints={"arm": obs.joint_names})
        policy = Gr00tPolicy(host=peer.host, port=peer.port, generation=generation, env={}, bridge=bridge,
                             action_keys=("joint_position",), timeout_ms=5000)
        ours = timed(lambda: policy.select_actions(obs, 1, "predict_chunk"), n)
        codec = Gr00tCodec(generation)
        payload = bridge.build(obs)
        data = payload if generation == "n1.5" else {"observation": payload}
        request = codec.encode_request("get_action", data)
        context = zmq.Context.instance()
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://{peer.host}:{peer.port}")

        def raw():
            sock.send(request)
            sock.recv()

        baseline = timed(raw, n)
        sock.close(linger=0)
        policy.close()
    return {"generation": generation, "image": [height, width], "cameras": cameras, "request_bytes": len(request),
            "ours": summary(ours), "raw_pyzmq": summary(baseline),
            "ratio": round(statistics.median(ours) / statistics.median(baseline), 3)}


def main() -> int:
    n = 20 if quick() else 200
    rows = [case(gen, 224, 224, 1, n) for gen in ("n1.6", "n1.7")] + \
        [case(gen, 480, 640, 2, max(10, n // 4)) for gen in ("n1.6", "n1.7")]
    write_result("gr00t_transport", {"target": "<= 1.2", "ratio": max(r["ratio"] for r in rows), "cases": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
