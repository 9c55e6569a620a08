"""Verify an evidence bag: schema, hash chain, plan digests and ``metadata.yaml``; pinpoint the first bad record.

Rules: each topic carries its expected type and rosbags reads the bag (a stored message definition must hash to
its recorded RIHS01);
every record on a record topic is followed by its ``EvidenceLink``; the link's seq runs 1..n without gaps,
names the record's topic and log time, carries ``sha256`` of the record's exact bytes, chains onto the previous
link and recomputes to its own digest; every ``PlanRecord`` satisfies ``sha256(plan_json) == plan_digest``;
``metadata.yaml``'s ``custom_data`` names the last digest and the chain length; every chunk a supervised policy run
sent (or dry-ran) lies inside its approved envelope (:mod:`.envelopes`). A chain without a secret proves
order and integrity relative to its head: keep ``chain_head`` somewhere the bag's author cannot rewrite.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.digests import sha256_digest
from ..core.errors import WorldForgeRosError
from .envelopes import check_envelopes
from .chain import GENESIS_DIGEST, ChainLink, link_digest, record_digest
from .reader import BagContents, BagRecord, read_bag
from .topics import ALL_TOPICS, CHAIN_TOPIC, PLANS_TOPIC, RECORD_TOPICS

UNFINISHED_REASON = "unfinished: no metadata.yaml (the recorder did not close); run `worldforge-ros evidence recover`"


@dataclass(frozen=True)
class BadRecord:
    """Where verification failed: the record's topic, its (expected) chain seq and log time."""

    topic: str
    seq: int
    log_time_ns: int
    position: int
    """0-based position of the message in the bag's log-time order."""


@dataclass(frozen=True)
class VerificationReport:
    """Outcome of :func:`verify_bag`."""

    ok: bool
    records: int
    links: int
    first_bad: BadRecord | None = None
    reason: str = ""
    chain_head: str = GENESIS_DIGEST
    path: str = ""

    def summary(self) -> str:
        """One line for humans."""
        if self.ok:
            return f"OK: {self.records} records, {self.links} links, chain head {self.chain_head} ({self.path})"
        where = ""
        if self.first_bad is not None:
            b = self.first_bad
            where = f" at record seq {b.seq} on {b.topic} (log time {b.log_time_ns} ns, message #{b.position})"
        return f"FAILED{where}: {self.reason} ({self.path})"

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class _Failure(Exception):
    def __init__(self, record: BagRecord, seq: int, position: int, reason: str) -> None:
        super().__init__(reason)
        self.bad = BadRecord(record.topic, seq, record.log_time_ns, position)
        self.reason = reason


def _check_schema(contents: BagContents) -> str:
    for topic, info in contents.topics.items():
        expected = ALL_TOPICS.get(topic)
        if expected is None:
            return f"unexpected topic {topic} ({info.msgtype}) in an evidence bag"
        if info.msgtype != expected:
            return f"topic {topic} carries {info.msgtype}, expected {expected}"
    if contents.metadata is not None and contents.read_error:
        if "hash mismatch" in contents.read_error:
            return ("a stored message definition does not match its recorded type hash (schema edited): "
                    f"{contents.read_error}")
        return f"rosbags cannot read this finished bag: {contents.read_error}"
    return ""


def _check_plan(record: BagRecord, seq: int, position: int) -> None:
    msg = record.message
    actual = sha256_digest(msg.plan_json)
    if actual != msg.plan_digest:
        raise _Failure(record, seq, position, f"plan {msg.plan_id!r}: sha256(plan_json) is {actual}, "
                                               f"the record claims {msg.plan_digest}")


def _walk_chain(records: list[BagRecord]) -> tuple[int, int, str]:
    head, seq, n_records, n_links = GENESIS_DIGEST, 0, 0, 0
    pending: tuple[int, BagRecord] | None = None
    for pos, rec in enumerate(records):
        if rec.message is None:
            raise _Failure(rec, seq + 1, pos, f"message does not decode with the bag's own schema: {rec.decode_error}")
        if rec.topic != CHAIN_TOPIC:
            if pending is not None:
                raise _Failure(pending[1], seq + 1, pending[0], "record is not followed by its evidence link")
            pending = (pos, rec)
            n_records += 1
            continue
        n_links += 1
        link = ChainLink.from_message(rec.message)
        if pending is None:
            raise _Failure(BagRecord(link.topic, "", link.log_time_ns, b""), link.seq, pos,
                           "evidence link without its record (the record was dropped or moved)")
        rpos, covered = pending
        pending = None
        expected_seq = seq + 1
        if link.seq != expected_seq:
            raise _Failure(covered, expected_seq, rpos,
                           f"link seq {link.seq} where {expected_seq} was expected (records missing or reordered)")
        if link.topic != covered.topic or link.log_time_ns != covered.log_time_ns:
            raise _Failure(covered, expected_seq, rpos,
                           f"link covers {link.topic} at {link.log_time_ns} ns, not this record (reordered)")
        if record_digest(covered.data) != link.record_digest:
            raise _Failure(covered, expected_seq, rpos, "record bytes do not match the digest in its link (edited)")
        if link.prev_digest != head:
            raise _Failure(covered, expected_seq, rpos, "link does not chain onto the previous link")
        if link_digest(head, link.topic, link.record_digest) != link.digest:
            raise _Failure(covered, expected_seq, rpos, "link digest does not recompute (link edited)")
        if covered.topic == PLANS_TOPIC:
            _check_plan(covered, expected_seq, rpos)
        head, seq = link.digest, expected_seq
    if pending is not None:
        raise _Failure(pending[1], seq + 1, pending[0], "last record is not followed by its evidence link")
    return n_records, n_links, head


def verify_contents(contents: BagContents) -> VerificationReport:
    """Verify what :func:`~.reader.read_bag` returned."""
    path = str(contents.path)
    n_records = sum(1 for r in contents.records if r.topic in RECORD_TOPICS)
    n_links = sum(1 for r in contents.records if r.topic == CHAIN_TOPIC)
    problem = _check_schema(contents)
    if problem:
        return VerificationReport(False, n_records, n_links, None, problem, path=path)
    try:
        n_records, n_links, head = _walk_chain(contents.records)
    except _Failure as failure:
        return VerificationReport(False, n_records, n_links, failure.bad, failure.reason, path=path)
    outside = check_envelopes(contents.records)
    if outside is not None:
        bad = BadRecord(outside.record.topic, outside.seq, outside.record.log_time_ns, outside.position)
        return VerificationReport(False, n_records, n_links, bad, outside.reason, head, path)
    if contents.metadata is None:
        return VerificationReport(False, n_records, n_links, None, UNFINISHED_REASON, head, path)
    custom = contents.custom_data
    if custom.get("chain_head") != head:
        return VerificationReport(False, n_records, n_links, None,
                                  f"metadata.yaml chain_head {custom.get('chain_head')!r} != last link digest {head} "
                                  "(records missing at the end, or metadata rewritten)", head, path)
    if custom.get("chain_length") != str(n_links):
        return VerificationReport(False, n_records, n_links, None,
                                  f"metadata.yaml chain_length {custom.get('chain_length')!r} != {n_links} links",
                                  head, path)
    return VerificationReport(True, n_records, n_links, None, "", head, path)


def verify_bag(path: Path | str) -> VerificationReport:
    """Verify the bag at ``path`` (bag directory, run workspace or ``.mcap``); never raises for a bad bag."""
    try:
        contents = read_bag(path)
    except WorldForgeRosError as exc:
        return VerificationReport(False, 0, 0, None, exc.message, path=str(path))
    return verify_contents(contents)
