"""The evidence recorder owned by the approval gate: one run workspace, one hash-chained bag.

Records what the graph publishes (plans, provider events) and what the gate decides (approvals, executions);
approvals and executions are fsynced before they take effect. Any failure is a typed 5xx error and the gate
fails closed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from worldforge_ros.core.errors import ErrorCode, EvidenceError


class EvidenceRecorder:
    def __init__(self, node: Any, evidence_dir: str, config_profile: str = "", run_id: str | None = None) -> None:
        from worldforge_ros.core.workspace import RunWorkspace
        from worldforge_ros.evidence.writer import EvidenceWriter

        self._logger = node.get_logger()
        try:
            self.workspace = RunWorkspace.create(Path(evidence_dir).expanduser(), kind="plan_and_review",
                                                 command_argv=list(sys.argv), config_profile=config_profile,
                                                 run_id=run_id)
            self.writer = EvidenceWriter(self.workspace.bag_dir, self.workspace.run_id)
        except EvidenceError:
            raise
        except Exception as exc:
            raise EvidenceError(f"cannot open the evidence recorder under {evidence_dir}: {exc}",
                                ErrorCode.RECORDER_UNAVAILABLE) from exc
        self.run_id = self.workspace.run_id
        self._logger.info(f"evidence: run {self.run_id}, bag {self.workspace.bag_dir}")

    @property
    def bag_dir(self) -> Path:
        return self.workspace.bag_dir

    def record(self, topic: str, msgtype: str, cdr: bytes, sync: bool = False) -> Any:
        link = self.writer.record(topic, msgtype, cdr)
        if sync:
            self.writer.sync()
        return link

    def close(self) -> None:
        failed = self.writer.failed
        try:
            self.writer.close()
        finally:
            self.workspace.finish("failed" if failed else "completed", event_count=self.writer.chain_length,
                                  artifact_paths={"bag": "bag"})
