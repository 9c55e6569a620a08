"""The gate's supervised policy runs: ``worldforge/approve_envelope`` and the ``worldforge/run_policy`` action.

Constructed by the approval gate (``PolicyRunner(gate_node)``), it shares the gate's recorder, live joint state,
controller link, stop futures (shutdown cancels a running chunk) and dry-run switch. A run loops: observe (the
gate's live joint state; stale -> stop) -> ``worldforge/plan`` with the envelope's providers -> check the selected
chunk against the envelope (:func:`core.envelope.check_chunk`) -> record it (fsynced) -> send it to the controller
and await its end -> next. The dead-man is ``std_msgs/msg/Empty`` on the envelope's heartbeat topic (receipt time
counts): a watchdog timer cancels the running controller goal once no heartbeat came for ``heartbeat_timeout_s``.
Every wait is awaited (``nodes.awaiting``); the rules live in :mod:`worldforge_ros.core.envelope`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from std_msgs.msg import Empty

from worldforge_ros.action import RunPolicy
from worldforge_ros.core import names
from worldforge_ros.core.approval import CHECKLIST
from worldforge_ros.core.digests import digest_json
from worldforge_ros.core.envelope import EnvelopeGate, check_chunk, provider_digest, violation_code
from worldforge_ros.core.errors import (ApprovalError, ErrorCode, ProviderError, as_typed,
                                        code_from_int, error_for)
from worldforge_ros.core.redaction import redact_text
from worldforge_ros.core.trajectory import TrajectoryData
from worldforge_ros.evidence import topics as bag_topics
from worldforge_ros.msg import ChunkRecord, EnvelopeRecord, Observation
from worldforge_ros.nodes.awaiting import wait_for, wait_until
from worldforge_ros.nodes.conversions import ns_to_time, seconds_to_duration, trajectory_arrays
from worldforge_ros.nodes.envelope_msgs import envelope_from_msg
from worldforge_ros.nodes.evidence_qos import CHUNKS_QOS, ENVELOPES_QOS
from worldforge_ros.nodes.transient import transient_subscription
from worldforge_ros.scene.kinematics import scene_fk_for
from worldforge_ros.srv import ApproveEnvelope, Plan

HEARTBEAT_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # matches reliable publishers too


def _manifest_digest(runtime: str, cache: dict[str, str]) -> str:
    if runtime not in cache:
        try:
            from worldforge_ros.core.manifests import load_runtime_manifest, manifest_digest
            cache[runtime] = manifest_digest(load_runtime_manifest(runtime))
        except Exception:  # no manifest for this runtime: the metadata identity alone
            cache[runtime] = ""
    return cache[runtime]


class _Run:
    """One run's stop future, why it stopped, and its heartbeat watchdog."""

    def __init__(self, stop: Future) -> None:
        self.stop = stop
        self.reason = ""
        self.last_beat: float | None = None
        self.lost_at: float | None = None
        self.suspect = False

    def halt(self, reason: str) -> None:
        if not self.stop.done():
            self.reason = self.reason or reason
            self.stop.set_result(True)


class PolicyRunner:
    def __init__(self, gate: Any) -> None:
        self.gate = gate
        self.envelopes = EnvelopeGate(translators=gate.gate.translators, default_ttl_s=gate.p["approval_ttl_s"],
                                      start_tolerance=gate.p["start_tolerance"], fk_for=scene_fk_for)
        self._group = gate._reentrant
        self._manifests: dict[str, str] = {}
        self._cancels: dict[bytes, _Run] = {}
        self._plan = gate.create_client(Plan, names.PLAN_SERVICE, callback_group=self._group)
        self._pub_env = gate.create_publisher(EnvelopeRecord, names.ENVELOPES_TOPIC, ENVELOPES_QOS)
        self._pub_chunk = gate.create_publisher(ChunkRecord, names.CHUNKS_TOPIC, CHUNKS_QOS)
        gate.create_service(ApproveEnvelope, names.APPROVE_ENVELOPE_SERVICE, self._on_approve,
                            callback_group=gate._serial)
        self._server = ActionServer(gate, RunPolicy, names.RUN_POLICY_ACTION, self._execute,
                                    goal_callback=lambda _g: GoalResponse.ACCEPT, cancel_callback=self._on_cancel,
                                    callback_group=self._group)

    # ---- approve --------------------------------------------------------------------------------------------
    def _on_approve(self, request: ApproveEnvelope.Request, response: ApproveEnvelope.Response) -> Any:
        g = self.gate
        now = g._now_ns()
        rec = g.decision_record(EnvelopeRecord, request, response, now, envelope=request.envelope)
        try:
            g.require_recorder()
            env = envelope_from_msg(request.envelope)
            rec.envelope_digest, rec.envelope_json = env.digest, env.envelope_json()
            if not request.approve:
                raise ApprovalError("operator refused the envelope", ErrorCode.APPROVAL_REFUSED)
            live_names, live, _age = g._live_state()
            start = {n: float(p) for n, p in zip(live_names, live) if n in env.joint_names}
            missing = [n for n in env.joint_names if n not in start]
            if missing:
                raise ApprovalError(f"joint state lacks {missing}: the start state cannot be bound",
                                    ErrorCode.JOINT_STATE_MISSING)
            approval = self.envelopes.approve(env, request.operator_id, {i: getattr(request, i) for i in CHECKLIST},
                                              list(start), list(start.values()), now, request.note, request.ttl_s)
            rec.envelope_id, rec.approved = approval.envelope_id, True
            rec.start_state.name, rec.start_state.position = list(start), list(start.values())
            rec.start_tolerance, rec.expires_at = approval.tolerance, ns_to_time(approval.expires_at_ns)
            g._record(bag_topics.ENVELOPES_TOPIC, bag_topics.ENVELOPE_RECORD_TYPE, rec, sync=True)
            response.accepted, response.error_code = True, 0
            response.envelope_id, response.envelope_digest, response.expires_at = \
                approval.envelope_id, approval.envelope_digest, rec.expires_at
        except Exception as exc:  # the one error boundary of approve_envelope
            g.record_refusal(exc, rec, response, bag_topics.ENVELOPES_TOPIC, bag_topics.ENVELOPE_RECORD_TYPE)
            response.envelope_digest = rec.envelope_digest
        self._pub_env.publish(rec)
        return response

    # ---- run ------------------------------------------------------------------------------------------------
    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        run = self._cancels.get(bytes(goal_handle.goal_id.uuid))
        if run is not None:
            run.halt("canceled by the operator")
        return CancelResponse.ACCEPT

    async def _execute(self, goal_handle: Any) -> RunPolicy.Result:
        g = self.gate
        with g._in_flight_lock:
            g._in_flight += 1
        key = bytes(goal_handle.goal_id.uuid)
        run = _Run(Future(executor=g.executor))
        self._cancels[key] = run
        g._stop_futures.add(run.stop)
        if g._stopping.is_set():
            run.halt("the gate is shutting down")
        watch: list[Any] = []
        try:
            return await self._run(goal_handle, run, watch)
        finally:  # the heartbeat subscription has no event handlers: destroying it here cannot crash the executor
            for handle in watch:
                (g.destroy_timer if hasattr(handle, "timer_period_ns") else g.destroy_subscription)(handle)
            self._cancels.pop(key, None)
            g._stop_futures.discard(run.stop)
            with g._in_flight_lock:
                g._in_flight -= 1
                g._in_flight_lock.notify_all()

    def _write(self, rec: ChunkRecord) -> None:
        rec.stamp = ns_to_time(self.gate._now_ns())
        self.gate._record(bag_topics.CHUNKS_TOPIC, bag_topics.CHUNK_RECORD_TYPE, rec, sync=True)
        self._pub_chunk.publish(rec)

    def _watch_heartbeat(self, run: _Run, topic: str, timeout_s: float, watch: list[Any]) -> None:
        g = self.gate

        def beat(_msg: Empty) -> None:
            run.last_beat = time.monotonic()

        def check() -> None:
            # A lapse must be seen on two consecutive ticks: after the executor was starved, this timer can run
            # before the heartbeat waiting in the same wait set (detection within timeout + 2 periods).
            lapsed = run.last_beat is not None and time.monotonic() - run.last_beat > timeout_s
            if lapsed and run.suspect and not run.stop.done():
                run.lost_at = time.monotonic()
                run.halt(f"heartbeat lost: nothing on {g.resolve_topic_name(topic)} for {timeout_s:g} s")
            run.suspect = lapsed

        watch.append(transient_subscription(g, Empty, topic, beat, HEARTBEAT_QOS, callback_group=self._group))
        watch.append(g.create_timer(max(0.005, min(0.05, timeout_s / 5.0)), check, callback_group=self._group))

    def _stopped(self, run: _Run) -> ApprovalError:
        if run.reason.startswith("heartbeat"):
            return ApprovalError(run.reason, ErrorCode.HEARTBEAT_LOST)
        return ApprovalError(run.reason or "stopped", ErrorCode.EXECUTION_CANCELED)

    def _provider_digests(self, events: Any) -> dict[str, str]:
        out = {}
        for ev in events:
            if ev.phase != "success" or ev.operation not in ("policy", "score"):
                continue
            try:
                meta = json.loads(ev.metadata_json or "{}")
            except ValueError:
                meta = {}
            manifest = _manifest_digest(str(meta.get("runtime") or ev.provider), self._manifests)
            out[ev.provider] = provider_digest(ev.provider, meta, ev.target, manifest)
        return out

    async def _plan_chunk(self, env: Any, run_id: str, index: int, run: _Run) -> Plan.Response:
        g = self.gate
        deadline = time.monotonic() + env.chunk_deadline_s + 1.0
        if not await wait_until(g, lambda: self._plan.service_is_ready() or run.stop.done(), deadline, self._group):
            raise ProviderError(f"planner {g.resolve_topic_name(names.PLAN_SERVICE)} is not available",
                                ErrorCode.PROVIDER_UNAVAILABLE)
        req = Plan.Request(task=env.task, observation=Observation(), policy_providers=list(env.policy_providers),
                           score_provider=env.score_provider, embodiment=env.embodiment,
                           candidates_per_policy=env.candidates_per_policy, max_steps=env.max_steps,
                           deadline_s=env.chunk_deadline_s, request_id=f"{run_id}-chunk{index}")
        done = await wait_for(g, {"plan": self._plan.call_async(req), "stop": run.stop}, deadline, self._group,
                              any_of=True)
        if "stop" in done:
            raise self._stopped(run)
        if "plan" not in done:
            raise ProviderError(f"chunk {index}: no plan within {env.chunk_deadline_s:g} s", ErrorCode.PROVIDER_TIMEOUT)
        resp = done["plan"]
        if not resp.success:
            raise error_for(code_from_int(resp.error_code), f"chunk {index}: plan failed: {resp.error_message}")
        return resp

    async def _run(self, goal_handle: Any, run: _Run, watch: list[Any]) -> RunPolicy.Result:
        g, req = self.gate, goal_handle.request
        enabled = bool(g.p["execution_enabled"])
        result = RunPolicy.Result(dry_run=not enabled)
        base = dict(run_id=g.run_id, envelope_id=redact_text(req.envelope_id), dry_run=not enabled,
                    envelope_digest=req.envelope_digest if len(req.envelope_digest) == 71 else "[malformed]")
        try:
            g.require_recorder()
            live_names, live, _age = g._live_state()
            approval = self.envelopes.begin_run(req.envelope_id, req.envelope_digest, live_names, live, g._now_ns())
            env = approval.envelope
            result.policy_run_id = base["policy_run_id"] = approval.run_id
            if enabled:
                if not await g.controller.wait_ready(g.p["controller_wait_s"]):
                    raise ApprovalError(f"controller {g.controller.action_name} is not reachable",
                                        ErrorCode.CONTROLLER_UNAVAILABLE)
                ambiguous = g.controller.ambiguity(env.joint_names)
                if ambiguous:
                    raise ApprovalError(f"refusing to run: {ambiguous}", ErrorCode.CONTROLLER_AMBIGUOUS)
            self._watch_heartbeat(run, env.heartbeat_topic, env.heartbeat_timeout_s, watch)
            if not await wait_until(g, lambda: run.last_beat is not None or run.stop.done(),
                                    time.monotonic() + env.heartbeat_timeout_s, self._group, period=0.01):
                run.halt(f"heartbeat lost: none on {g.resolve_topic_name(env.heartbeat_topic)} within "
                         f"{env.heartbeat_timeout_s:g} s of the start")
            if run.stop.done():
                raise self._stopped(run)
            self._write(ChunkRecord(phase=ChunkRecord.PHASE_STARTED, chunk_index=-1, **base))
            wanted = int(req.chunks) or int(env.max_chunks)
            t0, pinned, index = time.monotonic(), None, 0
            fk = self.envelopes.fk_for(env.embodiment) if env.has_workspace else None
            while index < wanted:
                if run.stop.done():
                    raise self._stopped(run)
                t_obs = time.perf_counter()
                g._live_state()  # missing or stale joint state: stop (typed 418/419)
                resp = await self._plan_chunk(env, approval.run_id, index, run)
                sel = resp.candidates[resp.selected_index]
                traj = TrajectoryData(*trajectory_arrays(sel.trajectory))
                digests = self._provider_digests(resp.events)
                pinned = pinned or env.pinned(digests)
                elapsed = time.monotonic() - t0
                violations = check_chunk(pinned, traj, sel.score, resp.lower_is_better, digests, elapsed, index,
                                         fk=fk)
                rec = ChunkRecord(chunk_index=index, plan_id=resp.plan_id, plan_digest=resp.plan_digest,
                                  trajectory=sel.trajectory, score=float(sel.score),
                                  lower_is_better=resp.lower_is_better, provider_names=list(digests),
                                  provider_digests=list(digests.values()), elapsed_s=elapsed,
                                  passed=not violations, violations=violations, **base)
                rec.trajectory_digest = digest_json({"names": list(traj.joint_names), "positions": traj.positions,
                                                     "velocities": traj.velocities, "times_s": traj.times_s})
                fb = RunPolicy.Feedback(chunk_index=index, plan_digest=resp.plan_digest, score=float(sel.score),
                                        passed=not violations, violations=violations, elapsed_s=elapsed)
                if violations:
                    rec.phase = ChunkRecord.PHASE_CHECKED_OUT
                    rec.error_code = int(violation_code(violations))
                    self._write(rec)
                    goal_handle.publish_feedback(fb)
                    raise ApprovalError(f"chunk {index} is outside the envelope: {', '.join(violations)}",
                                        violation_code(violations))
                rec.phase = ChunkRecord.PHASE_SENT if enabled else ChunkRecord.PHASE_DRY_RUN
                self._write(rec)  # recorded (fsynced) before it moves
                result.chunks_checked += 1
                if not enabled:
                    fb.latency_ms = (time.perf_counter() - t_obs) * 1000.0
                    result.chunk_latencies_ms.append(fb.latency_ms)
                    goal_handle.publish_feedback(fb)
                    index += 1
                    continue
                goal = g.controller_type.Goal(trajectory=sel.trajectory,
                                              goal_time_tolerance=seconds_to_duration(g.p["goal_time_tolerance_s"]))
                budget = float(traj.times_s[-1]) + g.p["goal_time_tolerance_s"] + g.p["result_timeout_s"]
                fb.sent, fb.latency_ms = True, (time.perf_counter() - t_obs) * 1000.0
                result.chunk_latencies_ms.append(fb.latency_ms)
                outcome = await g.controller.run(goal, g.p["controller_reply_timeout_s"], budget, run.stop,
                                                 lambda _fb: None)
                done = ChunkRecord(chunk_index=index, plan_digest=resp.plan_digest,
                                   controller_error_code=outcome.error_code, **base)
                if outcome.canceled:
                    done.phase = ChunkRecord.PHASE_CANCELED
                    self._write(done)
                    raise self._stopped(run)
                if not outcome.succeeded:
                    done.phase = ChunkRecord.PHASE_ABORTED
                    self._write(done)
                    raise ApprovalError(f"controller aborted chunk {index} ({outcome.error_code}): "
                                        f"{outcome.error_string}", ErrorCode.CONTROLLER_ABORTED)
                done.phase = ChunkRecord.PHASE_SUCCEEDED
                self._write(done)
                goal_handle.publish_feedback(fb)
                result.chunks_executed += 1
                index += 1
            result.stop_reason = f"completed {index} chunk(s) inside the envelope" + ("" if enabled else " (dry-run)")
            self._write(ChunkRecord(phase=ChunkRecord.PHASE_STOPPED, chunk_index=index, stop_reason=result.stop_reason,
                                    chunks_executed=result.chunks_executed, **base))
            goal_handle.succeed()
            return result
        except Exception as exc:  # the one error boundary of run_policy
            err = as_typed(exc)
            result.error_code, result.error_string = int(err.code), redact_text(str(err))
            result.stop_reason = result.error_string
            run.halt(result.error_string)  # nothing may keep moving after a stop
            stop = ChunkRecord(phase=ChunkRecord.PHASE_STOPPED, chunk_index=-1, error_code=int(err.code),
                               error_message=result.error_string, stop_reason=result.stop_reason,
                               chunks_executed=result.chunks_executed, **base)
            if g.recorder is not None and err.code.category != "evidence":
                try:
                    self._write(stop)
                except Exception as rec_exc:
                    g.get_logger().error(f"run outcome not recorded: {rec_exc}")
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:
                goal_handle.abort()
            return result
