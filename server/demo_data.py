"""The demo's people, products and words: the tables `server/demo.py` builds its history from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from inbox.accounts.models import Role
from inbox.conversations.models import Channel, Direction

SEED = 20240611
OEM = "Ridgeline"
HISTORY = timedelta(days=21)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    name: str
    role: Role
    password: str


DEMO_ACCOUNTS = (
    DemoAccount("dana@demo.inbox.test", "Dana Whitfield", Role.CONTACT_MANAGER, "dana-demo-inbox"),
    DemoAccount("sam@demo.inbox.test", "Sam Ortega", Role.CONTACT_MANAGER, "sam-demo-inbox"),
    DemoAccount("admin@demo.inbox.test", "Alex Morgan", Role.ADMIN, "admin-demo-inbox"),
)

FIRST_NAMES = (  # noqa: SIM905 - names read better as prose than as 50 quoted strings
    "James Maria Robert Linda Michael Patricia David Jennifer William Elizabeth Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Grace Mark "
    "Sandra Steven Ashley Paul Kimberly Andrew Emily Joshua Donna Kevin Michelle Brian Carol "
    "George Amanda Tyler Melissa Ethan Deborah Luis Rebecca Wei Priya Connor Aaliyah"
).split()
LAST_NAMES = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell O'Brien Kowalski"
).split()

# (state, area codes, postal codes, dealer near there)
REGIONS = (
    (
        "NY",
        ("212", "646", "718", "917"),
        ("10011", "10463", "11215", "11375"),
        "Five Boroughs Outdoor Power",
    ),
    ("NY", ("845",), ("12561", "12601", "10940"), "Hudson Valley Power & Marine"),
    ("CT", ("203", "860"), ("06810", "06033", "06437"), "Nutmeg Tractor & Turf"),
    ("VT", ("802",), ("05401", "05701", "05672"), "Green Mountain Equipment"),
    ("ME", ("207",), ("04101", "04530", "04609"), "Casco Bay Marine & Lawn"),
    ("NJ", ("201", "973", "732"), ("07030", "07960", "08723"), "Garden State Outdoor"),
)

# category -> (email question, email answer, text question, text answer)
QUESTIONS = {
    "Lawn & garden": (
        "Does the {short} come with a bagger, or is that extra? My yard is about two acres "
        "with a fair bit of slope.",
        "The bagger is a dealer-installed option. On two acres with slope I'd pair it with the "
        "wider rear tires; {dealer} can show you both setups side by side.",
        "Is the {short} ok on hills? Backyard is pretty steep",
        "Yes, it's rated for slopes up to 15 degrees. {dealer} can let you try it on their test hill.",
    ),
    "Compact tractors": (
        "Can the {short} run a backhoe and a snow blower both? I'd rather buy one machine "
        "than three.",
        "It can. Both attach to the three-point hitch and the mid PTO, and swapping takes about "
        "ten minutes. {dealer} usually has both attachments in stock.",
        "What's the lift capacity on the loader for the {short}?",
        "About 1,100 lb at the pivot pins. Plenty for gravel and firewood.",
    ),
    "Utility tractors": (
        "We run about 40 head of cattle. Is the {short} enough for round bales, and what "
        "financing do you offer?",
        "It handles 5x6 round bales comfortably. Right now there's 0% for 48 months with "
        "approved credit; {dealer} can run the numbers with you.",
        "Does the {short} come with a cab option? Winters are rough here",
        "It does: heated cab with A/C, factory installed. Adds about 6 weeks to delivery.",
    ),
    "Utility vehicles": (
        "How many people does the {short} seat, and can it tow a small trailer?",
        "It seats three across and tows 1,500 lb with the factory hitch. A lot of our owners "
        "use it for firewood runs.",
        "Can I get the {short} street legal?",
        "Depends on your state's rules. {dealer} knows the local process and can help with it.",
    ),
    "Boats": (
        "What's the max horsepower on the {short}, and does the price include a trailer?",
        "It's rated to 200 hp. The package price includes a galvanized trailer; {dealer} can "
        "quote it with or without.",
        "Is the {short} ok for the ocean or more a lake boat?",
        "It's built for both: self-bailing deck and rated for near-shore saltwater.",
    ),
    "Snow": (
        "Will the {short} throw heavy wet snow? The plow leaves a wall at the end of my driveway.",
        "Yes: the two-stage auger and 14-inch impeller are built for exactly that plow wall. "
        "Heated grips are standard too.",
        "Does the {short} have electric start?",
        "Yes, push-button electric start plus the recoil as a backup.",
    ),
}

# (product of interest, short name, category)
PRODUCTS = (
    ("Ridgeline RZ-48 zero-turn mower", "RZ-48", "Lawn & garden"),
    ("Ridgeline RZ-60 commercial zero-turn", "RZ-60", "Lawn & garden"),
    ("Ridgeline 1025 compact tractor", "1025", "Compact tractors"),
    ("Ridgeline 3038 compact tractor with loader", "3038", "Compact tractors"),
    ("Ridgeline 5075 utility tractor", "5075", "Utility tractors"),
    ("Ridgeline Trail 850 crossover UTV", "Trail 850", "Utility vehicles"),
    ("Ridgeline Bay 21 center console", "Bay 21", "Boats"),
    ("Ridgeline Lakeview 22 pontoon", "Lakeview 22", "Boats"),
    ("Ridgeline 24-inch two-stage snow blower", "24-inch snow blower", "Snow"),
)
LEAD_TYPES = ("Brochure request", "Quote request", "Test drive", "Trade-in")
SOURCES = ("Website", "Dealer locator", "Boat show", "Facebook")
TIMEFRAMES = ("Immediately", "Within 30 days", "1-3 months", "3-6 months", "Just browsing")

FIRST_EMAIL = {
    "Brochure request": (
        "Your {short} brochure",
        "Thanks for requesting the {product} brochure. The latest specs and option list are "
        "below, and I'm happy to answer anything they don't cover.\n\nIf it would help to see "
        "one in person, {dealer} has one on the floor and I can set that up.",
    ),
    "Quote request": (
        "Your quote for the {short}",
        "Thanks for asking for a quote on the {product}. Pricing depends on the options, so "
        "could you tell me a little about how you'll use it? I'll put together numbers with "
        "{dealer}, who is closest to you.",
    ),
    "Test drive": (
        "Test drive of the {short}",
        "Thanks for signing up for a test drive of the {product}. {dealer} can have one ready "
        "this week. What days and times work best for you?",
    ),
    "Trade-in": (
        "Trading in toward a {short}",
        "Thanks for your trade-in request. To get you a solid number toward the {product}, "
        "could you send the year, model and hours of your current machine? Photos help too.",
    ),
}
FIRST_SMS = (
    "Hi {first}, it's {cmu_first} from Ridgeline. Thanks for your interest in the {short}! "
    "Any questions I can answer, or would you like {dealer} to set up a time to see it?"
)
WRAP_UP = (
    "Saturday morning works. Thanks for all the help, {cmu_first}!",
    "Perfect. {dealer} will call you to confirm Saturday at 10. Enjoy it, {first}!",
)
NOT_READY = (
    "Thanks for reaching out. We're probably not buying until spring, but I'd like to stay "
    "in touch.",
    "Makes sense, {first}. I'll check in with you in March, when the spring programs are out. "
    "Anything before then, just reply here.",
)
LATE_EMAIL = "Hi {cmu_first}, one more question: is there a spring discount coming on the {short}?"
BOUNCE = "550 5.1.1 <{email}>: Recipient address rejected: User unknown in virtual mailbox table"

# Each scenario is how many prospects get it, then its steps: (direction, channel, text key).
# "ask"/"answer" pick the category's question; "ask_sms"/"answer_sms" its texting version.
SCENARIOS: tuple[tuple[str, int, tuple[tuple[Direction, Channel, str], ...]], ...] = (
    ("untouched", 10, ()),
    ("needs_reply_email", 6, ((Direction.OUTBOUND, Channel.EMAIL, "first"), (Direction.INBOUND, Channel.EMAIL, "ask"))),
    ("needs_reply_sms", 5, ((Direction.OUTBOUND, Channel.SMS, "first"), (Direction.INBOUND, Channel.SMS, "ask_sms"))),
    ("needs_reply_mixed", 3, ((Direction.OUTBOUND, Channel.EMAIL, "first"), (Direction.INBOUND, Channel.EMAIL, "ask"), (Direction.OUTBOUND, Channel.EMAIL, "answer"), (Direction.INBOUND, Channel.SMS, "ask_sms"))),
    ("replied_email", 7, ((Direction.OUTBOUND, Channel.EMAIL, "first"), (Direction.INBOUND, Channel.EMAIL, "ask"), (Direction.OUTBOUND, Channel.EMAIL, "answer"))),
    ("replied_sms", 5, ((Direction.OUTBOUND, Channel.SMS, "first"), (Direction.INBOUND, Channel.SMS, "ask_sms"), (Direction.OUTBOUND, Channel.SMS, "answer_sms"))),
    ("waiting", 6, ((Direction.OUTBOUND, Channel.EMAIL, "first"),)),
    ("wrapped_up", 4, ((Direction.OUTBOUND, Channel.EMAIL, "first"), (Direction.INBOUND, Channel.EMAIL, "ask"), (Direction.OUTBOUND, Channel.EMAIL, "answer"), (Direction.INBOUND, Channel.SMS, "wrap_in"), (Direction.OUTBOUND, Channel.SMS, "wrap_out"))),
    ("not_ready", 3, ((Direction.OUTBOUND, Channel.EMAIL, "first"), (Direction.INBOUND, Channel.EMAIL, "not_ready_in"), (Direction.OUTBOUND, Channel.EMAIL, "not_ready_out"))),
    ("bounced", 1, ((Direction.OUTBOUND, Channel.EMAIL, "first"),)),
)  # fmt: skip
