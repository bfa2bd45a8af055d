"""Test helpers for crm-forecast: real crm.events.v1 events, delivered to the service's
EventSink/Deliver exactly as crm-opportunities and crm-leads deliver them (service token, batches
of at most 500, per-event acks), plus a start-up helper.

Import only after the ``suite`` / ``proto_stubs`` fixture has put the generated stubs on sys.path.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from crm.events.v1 import events_pb2, events_pb2_grpc
from crm.forecast.v1 import forecast_pb2, forecast_pb2_grpc
from crm.leads.v1 import leads_pb2
from crm.opportunities.v1 import opportunities_pb2 as opp

from suite import DAY_MS, START_MS, identity, system_identity

ADMIN = identity("admin-1", "admin", "hq")
OPEN_STAGES = [opp.STAGE_RELATIONSHIP, opp.STAGE_NEEDS_CONFIRMED, opp.STAGE_SOLUTION_FIT,
               opp.STAGE_QUOTE, opp.STAGE_NEGOTIATION, opp.STAGE_CONTRACT]

_ids = itertools.count(1)


def day_string(ms: int) -> str:
    """UTC date of an instant as YYYY-MM-DD."""
    import datetime
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")


def start_forecast(suite, *extra):
    """Starts crm-forecast and returns (process, ForecastService stub, EventSink stub)."""
    process = suite.start("forecast", *extra)
    channel = suite.channel("forecast")
    return process, forecast_pb2_grpc.ForecastServiceStub(channel), events_pb2_grpc.EventSinkStub(channel)


@dataclass
class Producer:
    """Builds events the way crm-opportunities / crm-leads would and delivers them in order."""

    sink: object
    producer: str = "crm-opportunities"
    pending: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    sequence: int = 0

    def _envelope(self, kind, at_ms, *, opportunity_id="", lead_id="", aggregate_type, aggregate_id,
                  team="team-a", actor="system", customer_id=""):
        self.sequence += 1
        version = 0
        if aggregate_type in (events_pb2.AGGREGATE_TYPE_OPPORTUNITY, events_pb2.AGGREGATE_TYPE_LEAD):
            version = self.versions.get(aggregate_id, 0) + 1
            self.versions[aggregate_id] = version
        return events_pb2.Event(
            event_id=f"evt-{next(_ids)}-{random.getrandbits(32):08x}", schema_version=1, kind=kind,
            occurred_at_ms=at_ms, sequence=self.sequence, producer=self.producer, actor_id=actor,
            actor_team_id=team, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
            aggregate_version=version, opportunity_id=opportunity_id, lead_id=lead_id, team_id=team,
            customer_id=customer_id)

    def _opp(self, kind, opp_id, at_ms, team="team-a", actor="system"):
        return self._envelope(kind, at_ms, opportunity_id=opp_id, team=team, actor=actor,
                              aggregate_type=events_pb2.AGGREGATE_TYPE_OPPORTUNITY, aggregate_id=opp_id,
                              customer_id=f"cus-{opp_id}")

    def created(self, opp_id, *, owner, team="team-a", amount, stage=opp.STAGE_RELATIONSHIP, close_ms=None,
                close_date=None, currency="EUR", at_ms=START_MS, source=leads_pb2.LEAD_SOURCE_WEBSITE, title=None):
        event = self._opp(events_pb2.EVENT_KIND_OPPORTUNITY_CREATED, opp_id, at_ms, team, owner)
        event.opportunity_created.CopyFrom(events_pb2.OpportunityCreatedPayload(
            title=title or f"Deal {opp_id}", owner_id=owner, amount_cents=amount, currency=currency, stage=stage,
            expected_close_date=close_date or day_string(close_ms), source=source))
        self.pending.append(event)
        return event

    def stage(self, opp_id, from_stage, to_stage, *, owner, at_ms, team="team-a", amount=0, currency="EUR"):
        event = self._opp(events_pb2.EVENT_KIND_STAGE_CHANGED, opp_id, at_ms, team, owner)
        event.stage_changed.CopyFrom(events_pb2.StageChangedPayload(
            from_stage=from_stage, to_stage=to_stage, owner_id=owner, amount_cents=amount, currency=currency,
            backwards=to_stage < from_stage, time_in_from_stage_ms=DAY_MS))
        self.pending.append(event)
        return event

    def follow_up(self, opp_id, *, owner, at_ms, team="team-a", type=opp.ACTIVITY_TYPE_CALL, face_to_face=False,
                  key_person_met=False, next_due_ms=0):
        fu_id = f"fu-{next(_ids)}"
        event = self._envelope(events_pb2.EVENT_KIND_FOLLOW_UP_RECORDED, at_ms, opportunity_id=opp_id, team=team,
                               actor=owner, aggregate_type=events_pb2.AGGREGATE_TYPE_FOLLOW_UP, aggregate_id=fu_id,
                               customer_id=f"cus-{opp_id}")
        event.follow_up_recorded.CopyFrom(events_pb2.FollowUpRecordedPayload(
            follow_up_id=fu_id, type=type, conclusion="Discussed the rollout plan with procurement",
            next_step="Send the revised proposal", next_step_due_ms=next_due_ms or at_ms + 3 * DAY_MS,
            owner_id=owner, face_to_face=face_to_face, key_person_met=key_person_met, occurred_at_ms=at_ms))
        self.pending.append(event)
        return event

    def risk(self, opp_id, *, owner, at_ms, reasons=(), raised=(), cleared=(), team="team-a",
             from_level=opp.RISK_LEVEL_GREEN):
        """reasons: the flags open after the change, as (kind, level) pairs."""
        levels = [level for _, level in reasons]
        to_level = max(levels) if levels else opp.RISK_LEVEL_GREEN
        event = self._opp(events_pb2.EVENT_KIND_RISK_CHANGED, opp_id, at_ms, team, "system")
        event.risk_changed.CopyFrom(events_pb2.RiskChangedPayload(
            from_level=from_level, to_level=to_level,
            reasons=[opp.RiskReason(kind=k, level=l, since_ms=at_ms, message=f"R8: flag {k}") for k, l in reasons],
            raised=list(raised), cleared=list(cleared), owner_id=owner))
        self.pending.append(event)
        return event

    def confirm_key_person(self, opp_id, *, owner, at_ms, team="team-a"):
        return self.risk(opp_id, owner=owner, at_ms=at_ms, team=team,
                         cleared=[opp.RISK_KIND_KEY_PERSON_UNCONFIRMED])

    def won(self, opp_id, *, owner, at_ms, signed_amount, from_stage=opp.STAGE_CONTRACT, team="team-a",
            currency="EUR", signed_date=None):
        event = self._opp(events_pb2.EVENT_KIND_DEAL_WON, opp_id, at_ms, team, owner)
        event.deal_won.CopyFrom(events_pb2.DealWonPayload(
            title=f"Deal {opp_id}", owner_id=owner, team_id=team, signed_amount_cents=signed_amount,
            currency=currency, signed_date=signed_date or day_string(at_ms), contract_document_ref="DMS-1",
            won_from_stage=from_stage, source=leads_pb2.LEAD_SOURCE_WEBSITE, customer_name=f"Customer {opp_id}"))
        self.pending.append(event)
        return event

    def lost(self, opp_id, *, owner, at_ms, amount, from_stage=opp.STAGE_NEGOTIATION, team="team-a",
             competitor="Acme", reason=opp.LOSS_REASON_PRICE, no_decision=False, currency="EUR"):
        event = self._opp(events_pb2.EVENT_KIND_DEAL_LOST, opp_id, at_ms, team, owner)
        review = opp.LossReview(
            lost_to=opp.LOST_TO_NO_DECISION if no_decision else opp.LOST_TO_COMPETITOR,
            competitor="" if no_decision else competitor, reason=reason, reason_detail="Their offer was 20% lower",
            went_wrong_stage=from_stage, follow_up_strategy="Revisit at contract renewal")
        event.deal_lost.CopyFrom(events_pb2.DealLostPayload(
            title=f"Deal {opp_id}", owner_id=owner, team_id=team, amount_cents=amount, currency=currency,
            lost_at_stage=from_stage, review=review, source=leads_pb2.LEAD_SOURCE_WEBSITE))
        self.pending.append(event)
        return event

    def flush(self, *, batch=500, timeout=60):
        """Delivers everything pending in producer order; every event must be acknowledged."""
        acks = []
        for i in range(0, len(self.pending), batch):
            chunk = self.pending[i:i + batch]
            response = self.sink.Deliver(
                events_pb2.DeliverEventsRequest(producer=self.producer, events=chunk),
                metadata=system_identity(), timeout=timeout)
            assert [a.event_id for a in response.acks] == [e.event_id for e in chunk]
            bad = [a for a in response.acks
                   if a.status not in (events_pb2.ACK_STATUS_ACCEPTED, events_pb2.ACK_STATUS_DUPLICATE)]
            assert not bad, f"events not accepted: {bad[:3]}"
            acks.extend(response.acks)
        self.pending = []
        return acks


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def configure(stub, **fields):
    """UpdateSettings as admin at the current version; returns the new settings."""
    current = stub.GetSettings(forecast_pb2.GetSettingsRequest(), metadata=ADMIN).settings
    request = forecast_pb2.UpdateSettingsRequest(version=current.version, **fields)
    return stub.UpdateSettings(request, metadata=ADMIN).settings


def flat_weights(bases: dict) -> forecast_pb2.ModelWeights:
    """Configured weights where only the stage counts: probability = the stage base exactly."""
    return forecast_pb2.ModelWeights(
        stage_bases=[forecast_pb2.StageBase(stage=s, base_probability=p) for s, p in bases.items()],
        key_person_confirmed=0, quote_given=0, face_to_face_held=0, days_to_expected_close=0,
        follow_up_frequency=0, open_risks=0)


# --------------------------------------------------------------------------
# A generated history of closed deals whose outcomes follow a known "true" model
# --------------------------------------------------------------------------

# The organisation's real behaviour, deliberately unlike the configured defaults: the key person and
# face-to-face meetings matter far more, early stages are colder, frequent follow-up pays.
TRUE_STAGE_LOGITS = [-2.6, -2.0, -1.3, -0.7, 0.1, 0.9]
TRUE_WEIGHTS = dict(key_person=1.6, quote=0.3, face_to_face=1.3, close_distance=-0.7, follow_ups=0.35, risk=-0.25)


def close_distance(days: int) -> float:
    """The service's feature: months from the expected close, overdue months doubled, capped at 6."""
    months = days / 30 if days >= 0 else 2 * (-days) / 30
    return min(months, 6.0)


def true_probability(stage_index, key_person, quote, face_to_face, days_to_close, follow_ups, red_flags):
    z = (TRUE_STAGE_LOGITS[stage_index] + TRUE_WEIGHTS["key_person"] * key_person + TRUE_WEIGHTS["quote"] * quote
         + TRUE_WEIGHTS["face_to_face"] * face_to_face + TRUE_WEIGHTS["close_distance"] * close_distance(days_to_close)
         + TRUE_WEIGHTS["follow_ups"] * min(follow_ups, 8) + TRUE_WEIGHTS["risk"] * min(2 * red_flags, 6))
    return sigmoid(z)


OWNERS = [("u1", "team-a"), ("u2", "team-a"), ("u3", "team-a"), ("u4", "team-b"), ("u5", "team-b"), ("u6", "team-b")]
RED_KINDS = [opp.RISK_KIND_NO_FOLLOW_UP, opp.RISK_KIND_QUOTE_NO_ACTION]


def generate_closed_history(producer: Producer, count: int, rng: random.Random, end_ms: int, prefix="h"):
    """Queues the full event history of `count` closed deals (created, follow-ups, key-person
    confirmation, risk flags, won/lost) closing in the 150 days before `end_ms`. Returns the deals
    as dicts with their facts at closing and the outcome."""
    deals = []
    for i in range(count):
        oid = f"{prefix}{i:05d}"
        owner, team = OWNERS[i % len(OWNERS)]
        stage_index = rng.choices(range(6), weights=[2, 2, 2, 2, 1.5, 1])[0]
        stage = OPEN_STAGES[stage_index]
        close_at = end_ms - rng.randint(1, 150) * DAY_MS - rng.randint(0, DAY_MS - 1)
        created_at = close_at - rng.randint(45, 120) * DAY_MS
        key_person = rng.random() < 0.5
        face_to_face = rng.random() < 0.45
        follow_ups = rng.randint(0, 8)
        red_flags = rng.choice([0, 0, 0, 1, 1, 2])
        days_to_close = rng.randint(-60, 90)
        quote = stage_index >= 3
        p = true_probability(stage_index, key_person, quote, face_to_face, days_to_close, follow_ups, red_flags)
        won = rng.random() < p
        amount = rng.randint(5, 200) * 100_000

        producer.created(oid, owner=owner, team=team, amount=amount, stage=stage, at_ms=created_at,
                         close_ms=close_at + days_to_close * DAY_MS)
        if key_person:
            producer.confirm_key_person(oid, owner=owner, team=team, at_ms=created_at + DAY_MS)
        if face_to_face and follow_ups == 0:
            # An old visit, outside the 30-day window, so it does not count as recent follow-up.
            producer.follow_up(oid, owner=owner, team=team, at_ms=close_at - 40 * DAY_MS,
                               type=opp.ACTIVITY_TYPE_VISIT, face_to_face=True)
        offsets = sorted(rng.randint(3_600_000, 29 * DAY_MS) for _ in range(follow_ups))
        for n, offset in enumerate(reversed(offsets)):
            visit = face_to_face and n == 0
            producer.follow_up(oid, owner=owner, team=team, at_ms=close_at - offset,
                               type=opp.ACTIVITY_TYPE_VISIT if visit else opp.ACTIVITY_TYPE_CALL, face_to_face=visit)
        if red_flags:
            kinds = RED_KINDS[:red_flags]
            producer.risk(oid, owner=owner, team=team, at_ms=close_at - 2 * DAY_MS,
                          reasons=[(k, opp.RISK_LEVEL_RED) for k in kinds], raised=kinds)
        if won:
            producer.won(oid, owner=owner, team=team, at_ms=close_at, signed_amount=amount, from_stage=stage)
        else:
            producer.lost(oid, owner=owner, team=team, at_ms=close_at, amount=amount, from_stage=stage,
                          competitor=rng.choice(["Acme", "Globex", "Initech"]),
                          reason=rng.choice([opp.LOSS_REASON_PRICE, opp.LOSS_REASON_TIMING, opp.LOSS_REASON_BUDGET]),
                          no_decision=rng.random() < 0.2)
        deals.append(dict(id=oid, won=won, p_true=p, stage_index=stage_index, key_person=key_person,
                          face_to_face=face_to_face, follow_ups=follow_ups, red_flags=red_flags,
                          days_to_close=days_to_close, owner=owner, team=team, amount=amount))
    return deals


def generate_open_deals(producer: Producer, count: int, rng: random.Random, now_ms: int, prefix="o"):
    """Queues `count` open deals whose facts at `now_ms` are drawn like the history's closing facts;
    each gets an outcome simulated from the same true model (never sent to the service): held-out
    deals for comparing the models' probabilities from outside."""
    deals = []
    for i in range(count):
        oid = f"{prefix}{i:05d}"
        owner, team = OWNERS[i % len(OWNERS)]
        stage_index = rng.choices(range(6), weights=[2, 2, 2, 2, 1.5, 1])[0]
        key_person = rng.random() < 0.5
        face_to_face = rng.random() < 0.45
        follow_ups = rng.randint(0, 8)
        red_flags = rng.choice([0, 0, 0, 1, 1, 2])
        days_to_close = rng.randint(-60, 90)
        created_at = now_ms - rng.randint(45, 120) * DAY_MS
        producer.created(oid, owner=owner, team=team, amount=rng.randint(5, 200) * 100_000,
                         stage=OPEN_STAGES[stage_index], at_ms=created_at, close_ms=now_ms + days_to_close * DAY_MS)
        if key_person:
            producer.confirm_key_person(oid, owner=owner, team=team, at_ms=created_at + DAY_MS)
        if face_to_face and follow_ups == 0:
            producer.follow_up(oid, owner=owner, team=team, at_ms=now_ms - 40 * DAY_MS,
                               type=opp.ACTIVITY_TYPE_VISIT, face_to_face=True)
        offsets = sorted(rng.randint(3_600_000, 29 * DAY_MS) for _ in range(follow_ups))
        for n, offset in enumerate(reversed(offsets)):
            visit = face_to_face and n == 0
            producer.follow_up(oid, owner=owner, team=team, at_ms=now_ms - offset,
                               type=opp.ACTIVITY_TYPE_VISIT if visit else opp.ACTIVITY_TYPE_CALL, face_to_face=visit)
        if red_flags:
            kinds = RED_KINDS[:red_flags]
            producer.risk(oid, owner=owner, team=team, at_ms=now_ms - 2 * DAY_MS,
                          reasons=[(k, opp.RISK_LEVEL_RED) for k in kinds], raised=kinds)
        p = true_probability(stage_index, key_person, stage_index >= 3, face_to_face, days_to_close, follow_ups,
                             red_flags)
        deals.append(dict(id=oid, p_true=p, won=rng.random() < p, stage_index=stage_index, key_person=key_person,
                          face_to_face=face_to_face, follow_ups=follow_ups, red_flags=red_flags,
                          days_to_close=days_to_close, owner=owner, team=team))
    return deals


def brier(probabilities, outcomes) -> float:
    return sum((p - (1.0 if y else 0.0)) ** 2 for p, y in zip(probabilities, outcomes)) / len(outcomes)
