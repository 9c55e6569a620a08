"""The GR00T ZeroMQ test peer as a process, for the "GPU host" namespace of test/integration/test_cross_host.py.

    python gr00t_peer_server.py --host 10.200.7.1 --token-file FILE [--generation n1.6] [--seed 4]

Binds ``host`` on a random port (``Gr00tTestPeer``, a protocol peer, not a model), prints one line
``PEER {"host": ..., "port": ...}`` when it listens, serves until SIGINT/SIGTERM, then prints
``PEER {"served": N, "get_action": N, "token_ok": bool}`` and exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from worldforge_ros.testing.gr00t_peer import Gr00tTestPeer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--generation", default="n1.6")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    token = Path(args.token_file).read_text().strip()
    with Gr00tTestPeer(generation=args.generation, api_token=token, max_requests=100_000, seed=args.seed,
                       host=args.host) as peer:
        print("PEER " + json.dumps({"host": peer.host, "port": peer.port}), flush=True)
        stop.wait()
        requests = list(peer.requests)
    print("PEER " + json.dumps({"served": len(requests),
                                "get_action": sum(r.endpoint == "get_action" for r in requests),
                                "token_ok": bool(requests) and all(r.had_token and r.token_ok for r in requests)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
