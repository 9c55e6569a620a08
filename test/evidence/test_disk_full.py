"""Write failures: a full disk gives EVIDENCE_DISK_FULL, other I/O errors RECORDER_WRITE_FAILED; fail closed."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from worldforge_ros.core.errors import ErrorCode, EvidenceError
from worldforge_ros.evidence import samples
from worldforge_ros.evidence.recover import recover_bag
from worldforge_ros.evidence.topics import APPROVALS_TOPIC, EVENTS_TOPIC
from worldforge_ros.evidence.verify import verify_bag
from worldforge_ros.evidence.writer import EvidenceWriter


class FillingFile:
    """A real file that accepts ``budget`` bytes, then writes what fits and raises ``OSError(err)``."""

    def __init__(self, path: Path, budget: int, err: int = errno.ENOSPC) -> None:
        self._file = path.open("xb")
        self.budget = budget
        self.err = err

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.budget:
            self._file.write(data[: self.budget])
            self._file.flush()
            self.budget = 0
            raise OSError(self.err, os_strerror(self.err))
        self.budget -= len(data)
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


def os_strerror(code: int) -> str:
    import os
    return os.strerror(code)


def _fill(tmp_path: Path, err: int, ts) -> tuple[EvidenceWriter, int, EvidenceError]:
    writer = EvidenceWriter(tmp_path / "bag", "run-full", opener=lambda p: FillingFile(p, 24_000, err))  # header + schemas ~14 KB
    written = 0
    with pytest.raises(EvidenceError) as caught:
        for i in range(1000):
            writer.record_message(EVENTS_TOPIC, samples.provider_event(ts, i))
            written += 1
    return writer, written, caught.value


def test_disk_full_is_typed_and_refuses_later_records(tmp_path, ts):
    writer, written, error = _fill(tmp_path, errno.ENOSPC, ts)
    assert error.code == ErrorCode.EVIDENCE_DISK_FULL and 0 < written < 1000
    assert writer.failed is error and writer.chain_length == written
    for topic, message in ((EVENTS_TOPIC, samples.provider_event(ts, 0)),
                           (APPROVALS_TOPIC, samples.approval_record(ts, samples.plan_record(ts)))):
        with pytest.raises(EvidenceError) as later:
            writer.record_message(topic, message)
        assert later.value.code == ErrorCode.EVIDENCE_DISK_FULL
    with pytest.raises(EvidenceError):
        writer.sync()
    writer.close()  # leaves the file unfinished; does not raise
    assert not (tmp_path / "bag" / "metadata.yaml").exists()
    # every record acknowledged before the failure is recoverable and the chain verifies
    result = recover_bag(tmp_path / "bag")
    assert result.records == written
    assert verify_bag(tmp_path / "bag").ok


def test_other_io_error_is_write_failed(tmp_path, ts):
    _, _, error = _fill(tmp_path, errno.EIO, ts)
    assert error.code == ErrorCode.RECORDER_WRITE_FAILED
