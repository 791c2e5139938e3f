"""Demo customers: a seeded generator of plausible customers and their history.

Each draw is a `CustomerPlan`: the customer row and the rows written with it (contacts,
collaborators, follow-ups, ownership events), consistent with the ownership rules of the
settings: owned customers have a recent enough follow-up not to be recycled at once, pool
customers were imported or recycled, handed-off customers keep their developer as a
collaborator, and every duplicate key is unique.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from db.enums import CollaboratorRole, EventKind, FollowUpChannel, Stage
from db.keys import company_key, phone_key
from db.models import Collaborator, Contact, Customer, FollowUp, Partner, User
from kernel.settings import Settings

HISTORY_DAYS = 200
REGIONS = ("East", "West", "North", "South")
INDUSTRIES = (
    "Software", "Manufacturing", "Retail", "Logistics", "Healthcare", "Energy", "Finance",
    "Education",
)  # fmt: skip
SOURCES = ("web form", "trade fair", "cold call", "referral", "import")
SIZES = ("1-49", "50-249", "250-999", "1000+")
TAGS = ("strategic", "renewal", "expansion", "price-sensitive", "government", "overseas")

REPS = ("alice@demo.test", "bob@demo.test", "carol@demo.test")
OWNER_WEIGHTS = {"alice@demo.test": 35, "bob@demo.test": 30, "carol@demo.test": 25}
DAN = "dan@demo.test"

# Company names: Latin "<prefix> <noun> <suffix>" and Chinese "<字号><行业><有限公司>".
PREFIXES = (
    "Northwind", "Bluepeak", "Silverline", "Redwood", "Brightpath", "Ironbridge", "Clearwater",
    "Summit", "Lakeside", "Granite", "Evergreen", "Harbor", "Sunrise", "Keystone", "Falcon",
    "Maple", "Orion", "Pioneer", "Quantum", "Riverbend", "Sterling", "Tidewater", "Vertex",
    "Westgate", "Zenith", "Amber", "Cobalt", "Driftwood", "Emerald", "Foxglove",
)  # fmt: skip
NOUNS = (
    "Logistics", "Systems", "Foods", "Textiles", "Robotics", "Pharma", "Energy", "Software",
    "Motors", "Instruments", "Materials", "Networks", "Analytics", "Packaging", "Clinics",
    "Solar", "Chemicals", "Optics", "Freight", "Learning", "Devices", "Metals",
)  # fmt: skip
LEGAL = ("Co., Ltd.", "Inc.", "Ltd", "GmbH", "Corp.", "LLC")
CN_PREFIXES = (
    ("华信", "huaxin"), ("远航", "yuanhang"), ("金桥", "jinqiao"), ("东方", "dongfang"),
    ("恒通", "hengtong"), ("瑞丰", "ruifeng"), ("新源", "xinyuan"), ("博达", "boda"),
)  # fmt: skip
CN_NOUNS = (
    ("科技", "keji"), ("物流", "wuliu"), ("医药", "yiyao"), ("制造", "zhizao"),
    ("贸易", "maoyi"), ("能源", "nengyuan"),
)  # fmt: skip
CN_LEGAL = ("有限公司", "股份有限公司")
FIRST_NAMES = ("Wei", "Min", "Jun", "Emma", "Liam", "Sofia", "Noah", "Yuki", "Arjun", "Lena",
               "Omar", "Hana", "Mateo", "Chloe", "Ravi", "Xin")  # fmt: skip
LAST_NAMES = ("Zhang", "Wang", "Chen", "Liu", "Smith", "Garcia", "Novak", "Tanaka", "Patel",
              "Okafor", "Rossi", "Kim")  # fmt: skip
TITLES = ("CEO", "CTO", "CFO", "Procurement Manager", "Head of IT", "Operations Director",
          "Purchasing Lead")  # fmt: skip
SUMMARIES = (
    "Intro call with {contact}",
    "Walked {contact} through the proposal",
    "Sent pricing and references to {contact}",
    "Product demo for {contact}'s team",
    "Quarterly check-in with {contact}",
    "Discussed renewal terms with {contact}",
)
OUTCOMES = ("Interested; wants a quote", "Needs budget approval", "No decision yet",
            "Asked for a pilot", None)  # fmt: skip
TAX_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def id_of(row: Any) -> int:
    """The id of a row that has been flushed."""
    assert row.id is not None, f"{type(row).__name__} not flushed yet"
    return int(row.id)


@dataclass
class CustomerPlan:
    """One customer and the rows written with it, whose `customer_id` (0 until then) is set
    once the customer has been flushed."""

    customer: Customer
    contacts: list[Contact] = field(default_factory=list)
    collaborators: list[Collaborator] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    shared: bool = False


class DemoCustomers:
    """Draws customers from one seeded generator; keeps every duplicate key unique."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        settings: Settings,
        users: dict[str, User],
        partner: Partner,
    ) -> None:
        self.rng = rng
        self.now = now
        self.settings = settings
        self.users = users
        self.partner = partner
        self.names: set[str] = set()
        self.phones: set[str] = set()
        self.tax_ids: set[str] = set()

    # Customers.

    def customer(self) -> CustomerPlan:
        rng = self.rng
        created = self._ago(rng.uniform(1, HISTORY_DAYS))
        tier = rng.choices("ABC", weights=(15, 35, 50))[0]
        stage = rng.choices(list(Stage), weights=(25, 25, 30, 12, 8))[0]
        fate = rng.random()
        owner_email = None if fate < 0.22 else DAN if fate < 0.3 else self._rep()
        rep = self.users[owner_email if owner_email in REPS else self._rep()]
        region = rng.choice(rep.regions) if rng.random() < 0.8 else rng.choice(REGIONS)
        plan = self._new(created, tier, stage if owner_email != DAN else Stage.ACTIVE, region)
        c = plan.customer
        recycle_days = self.settings.recycle_days[tier]
        if owner_email is None and created < self._ago(recycle_days + 5) and rng.random() < 0.5:
            self._recycled(plan, rep, recycle_days)
        elif owner_email is None:
            c.source = "import"
            plan.events.append(
                self._event(EventKind.CREATED, created, rule="seed", reason="import")
            )
            c.pooled_at = created
        elif owner_email == DAN:
            self._handed_off(plan, rep, self.users[DAN])
        else:
            if rng.random() < 0.06:
                c.source, c.referred_by_partner_id = "partner", self.partner.id
                plan.events.append(
                    self._event(
                        EventKind.CREATED, created, to=rep, rule="seed", reason="partner referral"
                    )
                )
            else:
                c.created_by_id = rep.id
                plan.events.append(self._event(EventKind.CREATED, created, to=rep, actor=rep))
            self._own(plan, rep, created)
            if rng.random() < 0.25:
                self._collaborate(plan, rep)
            plan.shared = c.referred_by_partner_id is None and rng.random() < 0.03
        return plan

    def disputed_customer(self) -> CustomerPlan:
        """Imported into the pool, claimed by alice; bob says it was his first."""
        alice = self.users["alice@demo.test"]
        plan = self._new(self._ago(120), "C", Stage.NEW, "East")
        c = plan.customer
        c.source = "import"
        claimed = self._ago(50)
        plan.events += [
            self._event(EventKind.CREATED, c.created_at, rule="seed", reason="import"),
            self._event(EventKind.CLAIMED, claimed, to=alice, actor=alice, rule="pool_claim"),
        ]
        c.owner_id, c.team_id, c.owned_since = alice.id, alice.team_id, claimed
        self._follow_ups(plan, [(alice, self._ago(48)), (alice, self._ago(35))])
        c.next_follow_up_due = self.now + timedelta(days=5)
        plan.follow_ups[-1].next_follow_up_at = c.next_follow_up_due
        return plan

    def _new(self, created: datetime, tier: str, stage: str, region: str) -> CustomerPlan:
        rng = self.rng
        name, domain = self._company()
        deal = stage == Stage.ACTIVE or (stage == Stage.NEW and rng.random() < 0.4)
        customer = Customer(
            name=name,
            name_key=company_key(name),
            industry=rng.choice(INDUSTRIES),
            region=region,
            size=rng.choice(SIZES),
            tier=tier,
            stage=stage,
            source=rng.choice(SOURCES[:-1]),
            tags=sorted(rng.sample(TAGS, rng.choice((0, 0, 1, 2)))),
            tax_id=self._tax_id() if rng.random() < 0.6 else None,
            deal_value=float(rng.randrange(20, 800) * 1000) if deal else None,
            created_at=created,
            updated_at=created,
            recycle_clock_at=created,
        )
        return CustomerPlan(customer, contacts=self._contacts(domain))

    def _own(self, plan: CustomerPlan, owner: User, since: datetime) -> None:
        """Owned since `since`, with follow-ups recent enough that no recycle is due yet,
        except a few inside the warning window."""
        rng, c = self.rng, plan.customer
        c.owner_id, c.team_id, c.owned_since = owner.id, owner.team_id, since
        recycle_days = self.settings.recycle_days[c.tier]
        warning = self.settings.recycle_warning_days
        owned_days = (self.now - since).total_seconds() / 86400
        if rng.random() < 0.05 and owned_days > recycle_days:
            last_days = recycle_days - rng.uniform(0.5, max(warning - 0.5, 0.6))
        else:
            last_days = rng.uniform(0.2, max(min(owned_days, recycle_days - warning - 1), 0.3))
        last = self._ago(min(last_days, owned_days))
        earlier = [self._between(since, last) for _ in range(rng.randint(0, 3))]
        self._follow_ups(plan, [(owner, at) for at in sorted(earlier)] + [(owner, last)])

    def _recycled(self, plan: CustomerPlan, rep: User, recycle_days: int) -> None:
        c = plan.customer
        c.created_by_id = rep.id
        last = self._between(c.created_at, self._ago(recycle_days + 1))
        pooled = last + timedelta(days=recycle_days)
        self._follow_ups(plan, [(rep, last)], explicit_next=False)
        c.next_follow_up_due = None
        c.previous_owner_id, c.pooled_at, c.recycle_clock_at = rep.id, pooled, pooled
        c.updated_at = pooled
        plan.events += [
            self._event(EventKind.CREATED, c.created_at, to=rep, actor=rep),
            self._event(EventKind.RECYCLED, pooled, from_=rep, rule="recycle_days"),
        ]

    def _handed_off(self, plan: CustomerPlan, rep: User, service: User) -> None:
        """Won by a rep, then handed to service; the rep stays as DEVELOPER with credit."""
        c = plan.customer
        c.created_by_id = rep.id
        handoff = self._between(c.created_at, self._ago(0.5))
        plan.events.append(self._event(EventKind.CREATED, c.created_at, to=rep, actor=rep))
        plan.events.append(
            self._event(
                EventKind.STAGE_HANDOFF, handoff, from_=rep, to=service, rule="lifecycle_handoff"
            )
        )
        self._own(plan, service, handoff)
        share = self.rng.choice((60, 70, 80))
        self._add_collaborator(plan, rep, CollaboratorRole.DEVELOPER, share, handoff)

    def _collaborate(self, plan: CustomerPlan, owner: User) -> None:
        rng, c = self.rng, plan.customer
        at = self._between(c.created_at, self.now)
        if c.stage == Stage.ACTIVE and rng.random() < 0.5:
            self._add_collaborator(plan, self.users[DAN], CollaboratorRole.SERVICE, 10, at)
            return
        other = self.users[rng.choice([e for e in REPS if self.users[e].id != owner.id])]
        role = rng.choice(
            (CollaboratorRole.DEVELOPER, CollaboratorRole.CLOSER, CollaboratorRole.SUPPORT)
        )
        self._add_collaborator(plan, other, role, rng.choice((10, 20, 30, 40)), at)

    def _add_collaborator(
        self, plan: CustomerPlan, user: User, role: str, share: int, at: datetime
    ) -> None:
        c = plan.customer
        c.owner_credit_share -= share
        plan.collaborators.append(
            Collaborator(customer_id=0, user_id=id_of(user), role=role, credit_share=share)
        )
        details = {
            "user_id": user.id,
            "role": str(role),
            "credit_share": share,
            "owner_credit_share": c.owner_credit_share,
        }
        plan.events.append(
            self._event(EventKind.COLLABORATOR_ADDED, at, team_id=c.team_id, details=details)
        )

    def _follow_ups(
        self, plan: CustomerPlan, visits: list[tuple[User, datetime]], *, explicit_next: bool = True
    ) -> None:
        rng, c = self.rng, plan.customer
        contact = plan.contacts[0].name
        for author, at in visits:
            plan.follow_ups.append(
                FollowUp(
                    customer_id=0,
                    author_id=id_of(author),
                    at=at,
                    channel=rng.choice(list(FollowUpChannel)),
                    summary=rng.choice(SUMMARIES).format(contact=contact),
                    outcome=rng.choice(OUTCOMES),
                )
            )
        last = plan.follow_ups[-1]
        c.last_follow_up_at = c.updated_at = last.at
        c.recycle_clock_at = max(c.recycle_clock_at, last.at, c.owned_since or last.at)
        if explicit_next and rng.random() < 0.6:
            last.next_follow_up_at = last.at + timedelta(hours=rng.randint(3 * 24, 40 * 24))
            c.next_follow_up_due = last.next_follow_up_at
        else:
            c.next_follow_up_due = last.at + timedelta(days=self.settings.cadence_days[c.tier])

    def _event(
        self,
        kind: str,
        at: datetime,
        *,
        from_: User | None = None,
        to: User | None = None,
        actor: User | None = None,
        team_id: int | None = None,
        rule: str | None = "first_entry",
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "at": at,
            "from_user_id": from_.id if from_ else None,
            "to_user_id": to.id if to else None,
            "actor_id": actor.id if actor else None,
            "team_id": to.team_id if to else team_id,
            "rule": rule if kind != EventKind.COLLABORATOR_ADDED else None,
            "reason": reason,
            "details": details,
        }

    # Names, contacts and keys, unique after normalisation.

    def _company(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            if rng.random() < 0.15:
                (head, head_py), (noun, noun_py) = rng.choice(CN_PREFIXES), rng.choice(CN_NOUNS)
                name, slug = f"{head}{noun}{rng.choice(CN_LEGAL)}", f"{head_py}{noun_py}"
            else:
                head, noun = rng.choice(PREFIXES), rng.choice(NOUNS)
                name, slug = f"{head} {noun} {rng.choice(LEGAL)}", f"{head}-{noun}".lower()
            if (key := company_key(name)) not in self.names:
                self.names.add(key)
                return name, f"{slug}.example"

    def _contacts(self, domain: str) -> list[Contact]:
        rng = self.rng
        contacts = []
        for n in range(rng.choice((1, 1, 2, 2, 3))):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            contacts.append(
                Contact(
                    customer_id=0,
                    name=f"{first} {last}",
                    title=rng.choice(TITLES),
                    phone=self._phone(),
                    email=f"{first}.{last}@{domain}".lower(),
                    is_decision_maker=n == 0,
                )
            )
        return contacts

    def _phone(self) -> str:
        rng = self.rng
        while True:
            digits = f"1{rng.choice(('38', '39', '58', '86', '36'))}{rng.randrange(10**8):08d}"
            if (key := phone_key(digits)) not in self.phones:
                self.phones.add(key)
                a, b, c = digits[:3], digits[3:7], digits[7:]
                return rng.choice((f"{a} {b} {c}", f"+86 {a}-{b}-{c}", digits))

    def _tax_id(self) -> str:
        while True:
            tax_id = "91" + "".join(self.rng.choice(TAX_CHARS) for _ in range(16))
            if tax_id not in self.tax_ids:
                self.tax_ids.add(tax_id)
                return tax_id

    # Time and people.

    def _rep(self) -> str:
        return self.rng.choices(list(OWNER_WEIGHTS), weights=list(OWNER_WEIGHTS.values()))[0]

    def _ago(self, days: float) -> datetime:
        return self.now - timedelta(seconds=round(days * 86400))

    def _between(self, start: datetime, end: datetime) -> datetime:
        span = max((end - start).total_seconds(), 0)
        return start + timedelta(seconds=round(self.rng.uniform(0, span)))
