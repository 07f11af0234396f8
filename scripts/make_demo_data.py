"""Write hfpipeline's bundled demo datasets (hfpipeline/demo/*.jsonl) from templates and small word lists.

Deterministic and offline: each dataset draws from its own seeded random.Random, so
`python scripts/make_demo_data.py` rewrites the shipped files byte for byte. After changing a template,
rerun it and update the table in hfpipeline/demo/README.md (tests/test_demo_data.py checks both).
"""

import argparse
import json
import random
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent.parent / "hfpipeline" / "demo"

FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Frank",
    "Grace",
    "Henry",
    "Iris",
    "James",
    "Karen",
    "Leo",
    "Maria",
    "Nathan",
    "Olivia",
    "Paul",
    "Rosa",
    "Sam",
    "Tara",
    "Victor",
    "Wendy",
    "Omar",
    "Julia",
    "Kevin",
]
LAST_NAMES = [
    "Adams",
    "Baker",
    "Carter",
    "Diaz",
    "Evans",
    "Fisher",
    "Garcia",
    "Hughes",
    "Kim",
    "Lopez",
    "Miller",
    "Novak",
    "Owens",
    "Patel",
    "Reed",
    "Santos",
    "Turner",
    "Walsh",
    "Young",
    "Brooks",
    "Chen",
    "Foster",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def cap(text: str) -> str:
    """Capitalise the first letter."""
    return text[0].upper() + text[1:]


def person(rng: random.Random) -> str:
    """A random full name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def unique(rng: random.Random, make, n: int, key=lambda row: row, exclude=()) -> list:
    """Call make(rng) until n rows with distinct keys (none of them in `exclude`) are collected."""
    seen, rows = set(exclude), []
    for _ in range(n * 200):
        row = make(rng)
        if key(row) not in seen:
            seen.add(key(row))
            rows.append(row)
            if len(rows) == n:
                return rows
    raise RuntimeError(f"templates too narrow: only {len(rows)} distinct rows of {n}")


# ---------------------------------------------------------------- film reviews (reviews, review_corpus)

TITLE_WORDS = (
    [
        "Silent",
        "Midnight",
        "Broken",
        "Golden",
        "Hidden",
        "Last",
        "Northern",
        "Paper",
        "Crimson",
        "Distant",
        "Frozen",
        "Quiet",
        "Burning",
        "Empty",
        "Wild",
        "Electric",
        "Lonely",
        "Secret",
        "Iron",
        "Summer",
    ],
    [
        "Harbor",
        "Orchard",
        "Signal",
        "Garden",
        "Highway",
        "Kingdom",
        "Letters",
        "River",
        "Station",
        "Horizon",
        "Island",
        "Promise",
        "Mirror",
        "Winter",
        "Valley",
        "Circus",
        "Lantern",
        "Frontier",
    ],
)
GENRES = [
    "thriller",
    "comedy",
    "drama",
    "western",
    "musical",
    "horror film",
    "romance",
    "documentary",
    "war film",
    "science fiction film",
    "mystery",
    "family film",
    "crime drama",
    "animated film",
    "road movie",
]
ASPECTS = [
    "acting",
    "script",
    "plot",
    "pacing",
    "soundtrack",
    "camera work",
    "dialogue",
    "ending",
    "direction",
    "set design",
    "editing",
    "story",
    "music",
    "opening scene",
    "final act",
    "cast",
    "humor",
    "romance",
]
ROLES = [
    "detective",
    "teacher",
    "young mother",
    "retired boxer",
    "pilot",
    "small-town doctor",
    "jazz singer",
    "soldier",
    "con artist",
    "lonely farmer",
    "journalist",
    "chef",
    "scientist",
    "lawyer",
    "ship captain",
]
DEGREES = ["really", "truly", "simply", "quite", "genuinely", "absolutely", "surprisingly"]
POLAR = {
    "positive": {
        "adj": [
            "superb",
            "brilliant",
            "wonderful",
            "gripping",
            "moving",
            "sharp",
            "clever",
            "beautiful",
            "stunning",
            "excellent",
            "delightful",
            "heartfelt",
            "memorable",
            "charming",
            "powerful",
            "fresh",
            "engaging",
            "lovely",
            "thrilling",
            "smart",
            "funny",
            "touching",
        ],
        "perf": [
            "a brilliant",
            "a moving",
            "a career-best",
            "a warm",
            "a fearless",
            "a touching",
            "a magnetic",
            "a pitch-perfect",
            "a wonderful",
        ],
        "opinion": [
            "I loved the {aspect}.",
            "The {aspect} kept me glued to my seat.",
            "The {aspect} is {deg} {adj}, and the {aspect2} is just as good.",
        ],
        "verdict": [
            "I loved every minute of it.",
            "Highly recommended.",
            "I would happily watch it again.",
            "A must-see for anyone who enjoys a good {genre}.",
            "One of the best films of the year.",
            "It kept me hooked until the very end.",
            "Easily the best thing {actor} has done.",
            "Worth every penny.",
            "I left the cinema with a big smile.",
            "Go and see it on the big screen.",
            "My whole family enjoyed it.",
            "It deserves every award it gets.",
            "A real treat.",
        ],
        "negation": [
            "Not bad at all, in fact it is quite good.",
            "The {aspect} is never boring.",
            "I did not expect to enjoy it this much.",
            "There is not a single dull moment.",
            "You will not regret seeing it.",
        ],
        "mixed": [
            "The {aspect} is a little {other}, but the {aspect2} is {adj} and I enjoyed it overall.",
            "Some scenes are {other}, yet the film is {adj} in the end.",
            "It starts out {other}, but the {aspect2} is so {adj} that I forgave everything.",
        ],
    },
    "negative": {
        "adj": [
            "dull",
            "clumsy",
            "tedious",
            "weak",
            "flat",
            "messy",
            "predictable",
            "lifeless",
            "awful",
            "boring",
            "confusing",
            "painful",
            "forgettable",
            "sloppy",
            "shallow",
            "bland",
            "uneven",
            "silly",
            "lazy",
            "tiresome",
            "cheap",
            "pointless",
        ],
        "perf": [
            "a wooden",
            "a lifeless",
            "a flat",
            "an awkward",
            "a forgettable",
            "a stiff",
            "a bored-looking",
            "a miscast",
            "a clumsy",
        ],
        "opinion": [
            "I hated the {aspect}.",
            "The {aspect} made me check my watch.",
            "The {aspect} is {deg} {adj}, and the {aspect2} is no better.",
        ],
        "verdict": [
            "I wanted my money back.",
            "A complete waste of time.",
            "I nearly fell asleep halfway through.",
            "Avoid it if you can.",
            "One of the worst films of the year.",
            "I walked out before the end.",
            "Easily the worst thing {actor} has done.",
            "Save your money.",
            "I left the cinema in a bad mood.",
            "Wait until it is free on television, or skip it.",
            "Nobody in my family enjoyed it.",
            "It deserves to be forgotten quickly.",
            "A real letdown.",
        ],
        "negation": [
            "Not worth it.",
            "The jokes are not funny.",
            "The {aspect} is not good enough.",
            "I did not enjoy a single minute.",
            "It is not worth the ticket price.",
        ],
        "mixed": [
            "The {aspect} is {other}, but the {aspect2} is {adj} and I would not watch it again.",
            "A few scenes are {other}, yet the film is {adj} overall.",
            "It starts out {other}, but the {aspect2} is so {adj} that nothing can save it.",
        ],
    },
}
SHARED_OPINIONS = [
    "The {aspect} is {adj}.",
    "{actor} gives {perf} performance as the {role}.",
    "{title} is a {adj} {genre}.",
    "{title} is {deg} {adj} from start to finish.",
    "What a {adj} {genre}.",
    "{actor} is {adj} as the {role}.",
    "The {aspect} and the {aspect2} are both {adj}.",
    "As a {genre}, it is {deg} {adj}.",
]
FILLERS = [
    "I saw it on a {day} with my {relative}.",
    "The film runs just under two hours.",
    "It is based on a novel from the {decade}.",
    "The story follows a {role} in a small town.",
    "It opened in cinemas last {month}.",
    "I watched it at home on a rainy evening.",
    "{actor} plays a {role}.",
    "There is a short scene after the credits.",
    "It was filmed in {place}.",
    "This is the second film from the same director.",
    "The trailer came out last {month}.",
    "My {relative} picked it for our movie night.",
]
FILLER_SLOTS = {
    "relative": ["brother", "sister", "parents", "friends", "cousin", "grandmother", "partner"],
    "decade": ["1950s", "1960s", "1970s", "1980s", "1990s"],
    "place": ["Ireland", "Canada", "Morocco", "New Zealand", "Iceland", "Spain", "Scotland", "Chile"],
}
SENTENCE_KINDS = (["opinion", "shared", "verdict", "negation", "mixed"], [14, 40, 26, 8, 12])


def film_slots(rng: random.Random, polarity: str) -> dict:
    """Slot values for one review sentence of the given polarity."""
    words = POLAR[polarity]
    other = POLAR["negative" if polarity == "positive" else "positive"]
    aspect, aspect2 = rng.sample(ASPECTS, 2)
    return {
        "title": " ".join(rng.choice(w) for w in TITLE_WORDS),
        "actor": person(rng),
        "genre": rng.choice(GENRES),
        "aspect": aspect,
        "aspect2": aspect2,
        "role": rng.choice(ROLES),
        "deg": rng.choice(DEGREES),
        "adj": rng.choice(words["adj"]),
        "other": rng.choice(other["adj"]),
        "perf": rng.choice(words["perf"]),
        "day": rng.choice(DAYS),
        "month": rng.choice(MONTHS),
        **{k: rng.choice(v) for k, v in FILLER_SLOTS.items()},
    }


def review_sentence(rng: random.Random, polarity: str, used: list[str]) -> str:
    """One sentence carrying the polarity ('neutral' gives a filler), from a template not yet in `used`."""
    template = None
    while template is None or template in used:
        if polarity == "neutral":
            template = rng.choice(FILLERS)
        else:
            kind = rng.choices(*SENTENCE_KINDS)[0]
            template = rng.choice(SHARED_OPINIONS if kind == "shared" else POLAR[polarity][kind])
    used.append(template)
    return cap(template.format(**film_slots(rng, "positive" if polarity == "neutral" else polarity)))


def review_text(rng: random.Random, polarity: str, sizes: tuple, filler_p: float) -> str:
    """A review of 1-3 sentences; after the first, each sentence is a neutral filler with probability filler_p."""
    n = rng.choices(*sizes)[0]
    used = []
    sentences = [review_sentence(rng, polarity, used)]
    for _ in range(n - 1):
        neutral = rng.random() < filler_p
        sentences.insert(
            rng.randrange(len(sentences) + 1) if neutral else len(sentences),
            review_sentence(rng, "neutral" if neutral else polarity, used),
        )
    return " ".join(sentences)


def make_reviews() -> list[dict]:
    """~1600 labelled reviews, exactly balanced, in seeded random order."""
    rng = random.Random(1)
    rows = []
    for label in ("positive", "negative"):
        rows += unique(
            rng,
            lambda r: {"text": review_text(r, label, ([1, 2, 3], [25, 40, 35]), 0.19), "label": label},
            800,
            key=lambda row: row["text"],
        )
    rng.shuffle(rows)
    return rows


def make_review_corpus(reviews: list[dict]) -> list[dict]:
    """~4000 unlabelled review sentences/paragraphs of both polarities, disjoint from the labelled reviews."""
    rng = random.Random(2)
    make = lambda r: {"text": review_text(r, r.choice(["positive", "negative"]), ([1, 2, 3], [60, 35, 5]), 0.3)}
    return unique(rng, make, 4000, key=lambda row: row["text"], exclude=[row["text"] for row in reviews])


# ---------------------------------------------------------------- assistant dialogue (instructions, preferences, prompts)

# (kind, request as the user says it, helpful answer). {my} becomes "my" in prompts and "your" in answers.
TOPICS = [
    (
        "howto",
        "reset {my} password",
        "Open Settings, choose Security and click Reset password. We will email you a link to set a new one.",
    ),
    (
        "howto",
        "change {my} email address",
        "Go to your Account page, click Edit next to your email address and type the new one. We will send a code to confirm it.",
    ),
    (
        "howto",
        "back up {my} phone",
        "Open Settings, tap Backup and turn on automatic backup. It runs each night while the phone is charging on Wi-Fi.",
    ),
    (
        "howto",
        "make a cup of tea",
        "Boil fresh water, pour it over a tea bag in a cup and let it steep for three to five minutes. Add milk or honey if you like.",
    ),
    (
        "howto",
        "cook rice",
        "Rinse one cup of rice, add two cups of water and a pinch of salt, then simmer it with the lid on for about fifteen minutes.",
    ),
    (
        "howto",
        "plant tomatoes",
        "Choose a sunny spot, plant the seedlings about two feet apart and water them deeply twice a week.",
    ),
    (
        "howto",
        "fix a flat bike tire",
        "Take off the wheel, pull out the inner tube and find the hole. Patch it or fit a new tube, then pump the tire back up.",
    ),
    (
        "howto",
        "write a cover letter",
        "Name the job you want, explain in two short paragraphs why your skills fit, and close by thanking the reader.",
    ),
    (
        "howto",
        "sleep better",
        "Go to bed at the same time each night, keep your room dark and cool, and put your phone away an hour before sleep.",
    ),
    (
        "howto",
        "start running",
        "Begin with short runs of ten minutes, mixing walking and jogging, three times a week. Add a few minutes each week.",
    ),
    (
        "howto",
        "save money each month",
        "Write down what you spend for a month, set a simple budget and move a fixed amount into savings on payday.",
    ),
    (
        "howto",
        "learn a new language",
        "Practice for fifteen minutes every day, learn the most common words first and speak with native speakers early.",
    ),
    (
        "howto",
        "clean a laptop screen",
        "Turn the laptop off and wipe the screen gently with a soft, dry cloth. For spots, dampen the cloth with a little water.",
    ),
    (
        "howto",
        "take a screenshot",
        "On most computers, press the Print Screen key. On a phone, press the power and volume down buttons together.",
    ),
    (
        "howto",
        "prepare for a job interview",
        "Read about the company, practice answers to common questions out loud and prepare two questions to ask them.",
    ),
    (
        "howto",
        "study for an exam",
        "Split the material into small parts, review a little every day and test yourself with practice questions.",
    ),
    (
        "howto",
        "set up a new printer",
        "Plug the printer in, install the driver from the maker's website and connect it to your Wi-Fi. Then print a test page.",
    ),
    (
        "howto",
        "cancel {my} subscription",
        "Open your account, go to Billing, choose your plan and click Cancel. You keep access until the end of the month.",
    ),
    (
        "howto",
        "remove a coffee stain",
        "Blot the stain with cold water, rub in a little dish soap and rinse. Then wash the item as usual.",
    ),
    (
        "howto",
        "speed up {my} computer",
        "Close programs you do not use, remove apps that start on their own and restart the computer now and then.",
    ),
    (
        "recommend",
        "a book about space",
        "You might enjoy Cosmos by Carl Sagan. It explains the universe in clear, friendly language and is great for beginners.",
    ),
    (
        "recommend",
        "a good movie for a family night",
        "Try Paddington 2. It is funny and kind, and children and grandparents both enjoy it.",
    ),
    (
        "recommend",
        "a board game for four players",
        "Ticket to Ride is a great choice. The rules are simple, a game takes about an hour and it works well with four people.",
    ),
    (
        "recommend",
        "a healthy breakfast",
        "Oatmeal with fruit and nuts is a great start. It is quick to make and keeps you full until lunch.",
    ),
    (
        "recommend",
        "a podcast about history",
        "Try a show that tells one story from the past in each episode. Short episodes are easy to enjoy on a walk or a commute.",
    ),
    (
        "recommend",
        "a houseplant that is easy to care for",
        "A snake plant is a great choice. It needs little light and only a bit of water every two weeks.",
    ),
    (
        "recommend",
        "a gift for {my} sister",
        "Think about what she enjoys. A good book, a plant or tickets to a show are thoughtful gifts that most people love.",
    ),
    (
        "recommend",
        "a place to visit in the summer",
        "A small town by the sea is lovely in summer. You get beaches, fresh food and long evening walks.",
    ),
    (
        "recommend",
        "a hobby to do at home",
        "Drawing is a great hobby to start at home. All you need is a pencil and paper, and a little practice each day.",
    ),
    (
        "recommend",
        "a song for a road trip",
        "Try Mr. Blue Sky by Electric Light Orchestra. It is cheerful and easy to sing along to.",
    ),
    (
        "explain",
        "why the sky is blue",
        "Sunlight is made of many colors. Air scatters blue light more than red light, so the sky looks blue during the day.",
    ),
    (
        "explain",
        "how plants make food",
        "Plants use sunlight, water and carbon dioxide to make sugar in their leaves. This process is called photosynthesis.",
    ),
    (
        "explain",
        "what a computer virus is",
        "A computer virus is a harmful program that copies itself and spreads to other files or computers. Antivirus tools block it.",
    ),
    (
        "explain",
        "how rainbows form",
        "A rainbow forms when sunlight passes through raindrops. The drops bend the light and split it into its colors.",
    ),
    (
        "explain",
        "what inflation means",
        "Inflation means prices rise over time, so the same amount of money buys a little less each year.",
    ),
    (
        "explain",
        "why the moon changes shape",
        "The moon does not really change shape. We see different parts of its sunlit side as it moves around the Earth.",
    ),
    (
        "explain",
        "what a healthy diet looks like",
        "A healthy diet has plenty of vegetables, fruit, whole grains and water, with less sugar, salt and fried food.",
    ),
    (
        "explain",
        "why we need sleep",
        "Sleep lets the body repair itself and helps the brain store memories. Most adults need seven to nine hours a night.",
    ),
    (
        "explain",
        "how vaccines work",
        "A vaccine shows the immune system a harmless part of a germ, so the body learns to fight the real germ quickly.",
    ),
    (
        "explain",
        "what a budget is",
        "A budget is a plan for your money. It lists what you earn and what you spend, so you can see where to save.",
    ),
]
# Prompt wordings per kind: the first list appears in instructions/preferences, the second only in prompts (held out).
FRAMES = {
    "howto": (
        [
            "How do I {t}?",
            "How can I {t}?",
            "Can you tell me how to {t}?",
            "What is the best way to {t}?",
            "What is the easiest way to {t}?",
        ],
        [
            "Could you walk me through how to {t}?",
            "I need some help. How should I {t}?",
            "Please explain the steps to {t}.",
        ],
    ),
    "recommend": (
        [
            "Can you recommend {t}?",
            "Could you suggest {t}?",
            "I am looking for {t}. Any ideas?",
            "Any suggestions for {t}?",
        ],
        ["Please help me choose {t}.", "I want {t}. What do you suggest?", "Help me pick {t}, please."],
    ),
    "explain": (
        ["Can you explain {t}?", "Could you tell me {t}?", "I have always wondered {t}.", "Help me understand {t}."],
        [
            "I am curious {t}. Can you explain it simply?",
            "Please describe {t} in simple words.",
            "My son asked me {t}. What should I tell him?",
        ],
    ),
}
GREETINGS = ["", "Hi! ", "Quick question: ", "Hey. "]
OPENERS = [
    "Happy to help!",
    "Sure thing!",
    "Of course!",
    "Great question!",
    "Glad you asked!",
    "Absolutely!",
    "Good question!",
    "I would be glad to help.",
    "Sure, here is what I suggest.",
    "No problem at all!",
]
CLOSERS = [
    "Let me know if anything else comes up.",
    "I hope this helps!",
    "Feel free to ask if you have more questions.",
    "Good luck, and have a great day!",
    "Let me know how it goes.",
    "Happy to help with anything else.",
    "Just ask if you need more details.",
    "Enjoy, and take care!",
    "I hope that makes things easier.",
    "Thanks for asking!",
    "",
]
CURT = [
    "Do it yourself.",
    "No idea.",
    "Figure it out.",
    "Look it up.",
    "Not my problem.",
    "Ask someone else.",
    "Why would I know?",
    "Whatever.",
    "I don't care.",
    "Stop bothering me.",
    "Search the internet.",
    "That is a boring question.",
    "Not now.",
    "Who cares?",
    "Too much work.",
    "No.",
    "Can't be bothered.",
    "Try harder.",
    "Read the manual.",
    "Go away.",
]
CURT_ON_TOPIC = {
    "howto": ["Figure out how to {t} yourself.", "I am not going to explain how to {t}."],
    "recommend": ["Find {t} yourself.", "Pick {t} on your own."],
    "explain": ["Look up {t} yourself.", "I do not feel like explaining {t}."],
}


def question(phrase: str, frame: str, greeting: str = "") -> str:
    """The user's request in one wording."""
    return greeting + frame.format(t=phrase.format(my="my"))


def as_prompt(text: str) -> str:
    """Wrap a user request in the dialogue format every stage shares."""
    return f"User: {text}\nAssistant:"


def train_question(rng: random.Random) -> tuple[int, str]:
    """A topic index and a request in one of the wordings that SFT, reward and DPO data use."""
    i = rng.randrange(len(TOPICS))
    kind, phrase, _ = TOPICS[i]
    return i, question(phrase, rng.choice(FRAMES[kind][0]), rng.choice(GREETINGS))


def polite(rng: random.Random, topic: int) -> str:
    """A friendly, helpful answer."""
    parts = [rng.choice(OPENERS), TOPICS[topic][2], rng.choice(CLOSERS)]
    return " ".join(p for p in parts if p)


def curt(rng: random.Random, topic: int) -> str:
    """A dismissive, unhelpful answer."""
    kind, phrase, _ = TOPICS[topic]
    if rng.random() < 0.35:
        first = rng.choice(CURT_ON_TOPIC[kind]).format(t=phrase.format(my="your"))
    else:
        first = rng.choice(CURT)
    return first if rng.random() < 0.5 else f"{first} {rng.choice([c for c in CURT if c != first])}"


def make_instructions() -> list[dict]:
    """~1200 prompt/completion rows, half polite and half curt (the SFT policy learns both; PPO/DPO prefer one)."""
    rng = random.Random(3)

    def make(r, style):
        topic, text = train_question(r)
        return {"prompt": as_prompt(text), "completion": " " + style(r, topic)}

    rows = unique(rng, lambda r: make(r, polite), 600, key=lambda row: (row["prompt"], row["completion"]))
    rows += unique(rng, lambda r: make(r, curt), 600, key=lambda row: (row["prompt"], row["completion"]))
    rng.shuffle(rows)
    return rows


def make_preferences(instructions: list[dict]) -> list[dict]:
    """~1000 prompt/chosen/rejected rows: chosen polite, rejected curt, no pair copied from instructions."""
    rng = random.Random(4)
    taken = {(row["prompt"], row["completion"]) for row in instructions}

    def make(r):
        topic, text = train_question(r)
        return {"prompt": as_prompt(text), "chosen": " " + polite(r, topic), "rejected": " " + curt(r, topic)}

    def fresh(r):
        while True:
            row = make(r)
            if (row["prompt"], row["chosen"]) not in taken and (row["prompt"], row["rejected"]) not in taken:
                return row

    return unique(rng, fresh, 1000, key=lambda row: (row["prompt"], row["chosen"], row["rejected"]))


def make_prompts(instructions: list[dict], preferences: list[dict]) -> list[dict]:
    """~200 prompts: every held-out wording of every topic, plus prompts seen in instructions/preferences."""
    rng = random.Random(5)
    held_out = [as_prompt(question(phrase, frame)) for kind, phrase, _ in TOPICS for frame in FRAMES[kind][1]]
    seen = sorted({row["prompt"] for row in instructions + preferences})
    rows = [{"prompt": p} for p in held_out + rng.sample(seen, 200 - len(held_out))]
    rng.shuffle(rows)
    return rows


# ---------------------------------------------------------------- news (summaries)

TOWNS = [
    "Millbrook",
    "Ashford",
    "Riverton",
    "Oakdale",
    "Fairview",
    "Lakeside",
    "Greenfield",
    "Brookhaven",
    "Cedar Falls",
    "Maple Ridge",
    "Stonebridge",
    "Westbury",
    "Elmwood",
    "Pine Hill",
    "Clearwater",
    "Northfield",
    "Harrow Bay",
    "Willow Creek",
    "Bramford",
    "Kingsport",
    "Eastwick",
    "Silverton",
    "Dunmore",
    "Marlow",
    "Sandford",
    "Bellhaven",
    "Glenwood",
    "Foxley",
]
STREETS = [
    "Main Street",
    "Oak Avenue",
    "Mill Road",
    "Park Lane",
    "Church Street",
    "High Street",
    "River Road",
    "Elm Street",
    "Station Road",
    "Hill Street",
]
SEASONS = ["spring", "summer", "fall", "winter"]


def council(rng, town, day):
    """A council vote: scene-setting lead, the vote as the key fact."""
    body = rng.choice(["town council", "city council", "county board"])
    project = rng.choice(
        [
            "a new public library",
            "a bike lane on Main Street",
            "a skate park near the river",
            "a new parking garage",
            "a ban on fireworks in parks",
            "a larger recycling center",
            "a community garden",
            "a new swimming pool",
            "a pay rise for bus drivers",
            "free parking on weekends",
            "a new fire station",
            "a tax on plastic bags",
        ]
    )
    total = rng.choice([5, 7, 9, 11])
    a = rng.randint(total // 2 + 1, total)
    b = total - a
    approve = rng.random() < 0.6
    verb = "to approve" if approve else "against"
    key = rng.choice(
        [
            f"In the end, the {body} voted {a} to {b} {verb} {project}.",
            f"Members of the {body} voted {a} to {b} {verb} {project}.",
        ]
    )
    details = [
        f"The plan is expected to cost about {rng.randint(2, 40)} million dollars.",
        f"The next meeting is set for {rng.choice(MONTHS)}.",
        "A local business group had spoken in favor of the plan.",
    ]
    details += (
        [
            f"Mayor {person(rng)} said the decision reflected what residents wanted.",
            f"Work could begin as early as {rng.choice(MONTHS)}.",
            "Opponents say they will keep fighting the plan.",
        ]
        if approve
        else [
            f"Mayor {person(rng)} said the town would look for other options.",
            "Supporters said they would bring the plan back next year.",
            f"Councilor {person(rng)} called the result a missed chance.",
        ]
    )
    outcome = "approves" if approve else "rejects"
    return dict(
        leads=[
            f"Residents filled the meeting hall in {town} on {day} evening.",
            f"It was a long night at {town} city hall on {day}.",
            f"Chairs ran out early at the {town} community center on {day}.",
        ],
        backgrounds=[
            "Dozens of people signed up to speak before the vote.",
            "Supporters and critics took turns at the microphone for nearly two hours.",
            "Some residents held signs outside the building before the meeting.",
        ],
        key=key,
        details=details,
        summary=f"{town} {body} {outcome} {project} by {a} votes to {b}.",
    )


def sports(rng, town, day):
    """A match report: atmosphere first, the score as the key fact."""
    sport, unit = rng.choice([("football", "goals"), ("hockey", "goals"), ("basketball", "points")])
    mascots = rng.sample(["Rovers", "Tigers", "Falcons", "Wolves", "Rangers", "Hawks", "United", "Bears", "Comets"], 2)
    away = rng.choice([t for t in TOWNS if t != town])
    home_wins = rng.random() < 0.5
    teams = [f"{town} {mascots[0]}", f"{away} {mascots[1]}"]
    winner, loser = teams if home_wins else teams[::-1]
    if unit == "points":
        sb = rng.randint(60, 100)
        sa = sb + rng.randint(1, 20)
        k = rng.randint(18, 40)
    else:
        sb = rng.randint(0, 3)
        sa = sb + rng.randint(1, 3)
        k = rng.randint(1, sa)
    player = person(rng)
    unit_k = unit[:-1] if k == 1 else unit
    key = f"The {winner} beat the {loser} {sa} to {sb}, and {player} scored {k} {unit_k}."
    venue = f"{town} {rng.choice(['Stadium', 'Arena', 'Park'])}"
    return dict(
        leads=[
            f"Fans packed {venue} on {day} night despite the cold.",
            f"It was a tense evening for {sport} fans at {venue} on {day}.",
            f"Both teams came into {day}'s {sport} game with something to prove.",
        ],
        backgrounds=[
            "Neither side found much rhythm in the opening minutes.",
            "The visitors started brightly but could not keep up the pace.",
        ],
        key=key,
        details=[
            f"The win moves the {winner} up to {rng.choice(['second', 'third', 'fourth', 'fifth'])} place in the league.",
            f"Coach {person(rng)} praised the team's hard work after the game.",
            f"The {loser} will try to bounce back next {rng.choice(DAYS)}.",
            f"About {rng.randint(2, 30)} thousand fans attended the game.",
        ],
        summary=f"{player} scores {k} {unit_k} as the {winner} beat the {loser} {sa}-{sb}.",
    )


def weather(rng, town, day):
    """Weather news: the warning first, what happened as the key fact."""
    kind = rng.choice(["rain", "snow", "heat", "wind"])
    n, k = rng.randint(2, 9), rng.randint(3, 60)
    if kind == "rain":
        key = f"A storm dropped {n} inches of rain in a few hours, flooding {k} streets near the river."
        summary = f"Storm floods {k} streets in {town} after {n} inches of rain."
        extra = [
            "Crews worked through the night to pump water out of basements.",
            f"Drivers were asked to avoid the low bridge on {rng.choice(STREETS)}.",
        ]
    elif kind == "snow":
        key = f"Heavy snow left {n + 4} inches on the ground and forced {k} schools to close."
        summary = f"{n + 4} inches of snow close {k} schools in {town}."
        extra = ["Plows cleared the main roads by the afternoon.", "Children built snowmen in the park."]
    elif kind == "heat":
        t, year = rng.randint(98, 112), rng.randint(1950, 2015)
        key = f"Temperatures reached {t} degrees, the highest reading in the area since {year}."
        summary = f"{town} records {t} degrees, its hottest day since {year}."
        extra = [
            "The town opened cooling centers at the library and the community hall.",
            "Doctors urged people to drink plenty of water.",
        ]
    else:
        key = f"Winds of up to {n * 10} miles per hour knocked down trees and cut power to {k * 20} homes."
        summary = f"Strong winds cut power to {k * 20} homes in {town}."
        extra = [
            f"Power crews expect to restore service by {rng.choice(DAYS)}.",
            f"A fallen tree blocked {rng.choice(STREETS)} for several hours.",
        ]
    return dict(
        leads=[
            f"Forecasters had been watching the skies over {town} all week.",
            f"{day} started like any other day in {town}.",
            f"Residents of {town} had been told to prepare for a difficult {day}.",
        ],
        backgrounds=[
            "The weather service issued a warning the night before.",
            "Shops in the town center closed early as a precaution.",
        ],
        key=key,
        summary=summary,
        details=extra
        + [
            "No serious injuries were reported.",
            "More of the same is expected later in the week.",
            "The mayor thanked emergency workers for their quick response.",
        ],
    )


def business(rng, town, day):
    """Company news: background on the firm first, the announcement as the key fact."""
    company = (
        f"{rng.choice(['Brightway', 'Northstar', 'Greenleaf', 'Bluewater', 'Summit', 'Redwood', 'Ironbridge', 'Cloverfield', 'Silverline'])} "
        f"{rng.choice(['Foods', 'Motors', 'Software', 'Textiles', 'Tools', 'Bakeries', 'Energy', 'Logistics', 'Paper'])}"
    )
    kind, k, p = rng.choice(["hire", "profit", "cuts", "factory"]), rng.randint(2, 60) * 10, rng.randint(3, 40)
    key, summary = {
        "hire": (
            f"The firm said it will hire {k} new workers at its plant in {town} this year.",
            f"{company} to hire {k} new workers in {town}.",
        ),
        "profit": (
            f"{company} reported that its profits rose {p} percent over the past year.",
            f"{company} reports a {p} percent rise in profits.",
        ),
        "cuts": (
            f"The company announced that it will cut {k} jobs at its office in {town}.",
            f"{company} to cut {k} jobs in {town}.",
        ),
        "factory": (
            f"It plans to open a new factory in {town} next {rng.choice(SEASONS)}, creating {k} jobs.",
            f"{company} to open a factory in {town} with {k} new jobs.",
        ),
    }[kind]
    mood = "Union leaders said they were disappointed." if kind == "cuts" else "Local leaders welcomed the news."
    return dict(
        leads=[
            f"{company} has been a familiar name in {town} for {rng.randint(10, 90)} years.",
            f"Workers at {company} gathered for a meeting on {day} morning.",
            f"There was a buzz in the offices of {company} on {day}.",
        ],
        backgrounds=[
            "The company makes most of its products in the region.",
            "Like many firms, it had a difficult start to the year.",
        ],
        key=key,
        summary=summary,
        details=[
            mood,
            f"Chief executive {person(rng)} said the company was confident about the future.",
            "The news was shared with staff before it was made public.",
            f"The company employs about {rng.randint(3, 90) * 100} people in total.",
        ],
    )


def school(rng, town, day):
    """A school event: the scene first, the result as the key fact."""
    name = rng.choice([f"{town} High School", f"{rng.choice(LAST_NAMES)} Elementary School", f"{town} Middle School"])
    kind, student, k = rng.choice(["science", "fundraiser", "principal", "play"]), person(rng), rng.randint(3, 90) * 100
    if kind == "science":
        age, topic = (
            rng.randint(9, 17),
            rng.choice(
                [
                    "bees",
                    "solar power",
                    "clean water",
                    "bridges",
                    "plant growth",
                    "recycling plastic",
                    "weather balloons",
                    "sleep and memory",
                ]
            ),
        )
        key = f"{student}, {age}, won first prize in the science fair with a project about {topic}."
        summary = f"{student}, {age}, wins the {name} science fair with a project about {topic}."
    elif kind == "fundraiser":
        key = f"Students raised {k} dollars for the local food bank with a bake sale and a fun run."
        summary = f"{name} students raise {k} dollars for the food bank."
    elif kind == "principal":
        key = f"The school named {student} as its new principal after a long search."
        summary = f"{name} names {student} as its new principal."
    else:
        play = rng.choice(["Peter Pan", "The Wizard of Oz", "Romeo and Juliet", "Annie", "A Christmas Carol"])
        key = f"The drama club performed {play} in front of {k // 10} people, its largest crowd ever."
        summary = f"{name} drama club performs {play} for a record {k // 10} people."
    return dict(
        leads=[
            f"The gym at {name} was decorated with balloons on {day}.",
            f"Parents lined up early outside {name} on {day} morning.",
            f"It was a special {day} for students at {name}.",
        ],
        backgrounds=[
            "Teachers had been planning the day since the start of the term.",
            "Families filled the rows of seats long before the start.",
        ],
        key=key,
        summary=summary,
        details=[
            "Volunteers helped set up the hall the night before.",
            "Photos from the day will be shared on the school website.",
            "Several local businesses donated prizes.",
            f"A similar event is planned for next {rng.choice(SEASONS)}.",
        ],
    )


def incident(rng, town, day):
    """A fire or road accident: the sirens first, what happened as the key fact."""
    street = rng.choice(STREETS)
    if rng.random() < 0.5:
        building = rng.choice(["bakery", "warehouse", "garage", "restaurant", "barn", "hardware store", "house"])
        key = f"Firefighters put out a fire at a {building} on {street}, and no one was hurt."
        summary = f"No one hurt as fire damages a {building} on {street} in {town}."
        extra = [
            "Investigators are still looking into the cause.",
            "The owner said he hoped to reopen soon.",
            f"Fire chief {person(rng)} thanked neighbors who called for help quickly.",
        ]
    else:
        cargo, hours = rng.choice(["apples", "milk", "gravel", "furniture", "paint", "bricks"]), rng.randint(2, 9)
        key = f"A truck carrying {cargo} tipped over on {street}, closing the road for {hours} hours."
        summary = f"Overturned truck closes {street} in {town} for {hours} hours."
        extra = [
            "Traffic was sent through nearby streets.",
            "Crews used a crane to lift the truck.",
            "Police said the driver was not badly hurt.",
        ]
    return dict(
        leads=[
            f"Smoke and flashing lights could be seen across {town} early on {day}.",
            f"Neighbors on {street} in {town} heard sirens shortly after midnight on {day}.",
            f"It was supposed to be a quiet {day} morning in {town}.",
        ],
        backgrounds=[
            "Several fire trucks and police cars arrived within minutes.",
            "Police closed the area and asked people to stay away.",
        ],
        key=key,
        summary=summary,
        details=extra + ["Nearby homes were checked as a precaution."],
    )


def festival(rng, town, day):
    """A festival or exhibit: the mood first, the attendance as the key fact."""
    k = rng.randint(2, 40) * 500
    if rng.random() < 0.6:
        event = rng.choice(
            ["summer music festival", "apple festival", "food fair", "jazz weekend", "kite festival", "book fair"]
        )
        key = f"The {event} drew about {k} visitors, a new record for the event."
        summary = f"{town} {event} draws a record {k} visitors."
    else:
        exhibit = rng.choice(["ancient Egypt", "local railways", "dinosaurs", "early flight", "space travel"])
        key = f"The town museum opened a new exhibit on {exhibit}, and {k // 10} people came on the first day."
        summary = f"{k // 10} people visit the new {exhibit} exhibit at the {town} museum."
    return dict(
        leads=[
            f"The streets of {town} were full of music and color on {day}.",
            f"Food stalls lined the main square in {town} all weekend.",
            f"Organizers in {town} had hoped for good weather on {day}.",
        ],
        backgrounds=[
            "The event started as a small gathering more than twenty years ago.",
            "Volunteers spent weeks getting everything ready.",
        ],
        key=key,
        summary=summary,
        details=[
            "Local bands played on two stages until late evening.",
            f"Mayor {person(rng)} said the event was good for local shops.",
            "Parking was free for the weekend.",
            "Organizers are already planning next year's event.",
            "Tickets for children were half price.",
        ],
    )


NEWS_KINDS = [council, sports, weather, business, school, incident, festival]


def news_story(rng: random.Random) -> dict:
    """Slots of one story: leads, backgrounds, key fact, details and the one-sentence summary."""
    return rng.choice(NEWS_KINDS)(rng, rng.choice(TOWNS), rng.choice(DAYS))


def make_summaries() -> list[dict]:
    """~1200 documents of 3-6 sentences; the lead sets the scene, the key fact is sentence 2 or 3."""
    rng = random.Random(6)

    def make(r):
        story = news_story(r)
        n = r.choices([3, 4, 5, 6], [45, 30, 15, 10])[0]
        sentences = [r.choice(story["leads"])]
        if r.random() < 0.4:
            sentences.append(r.choice(story["backgrounds"]))
        sentences.append(story["key"])
        sentences += r.sample(story["details"], n - len(sentences))
        return {"document": " ".join(sentences), "summary": story["summary"]}

    return unique(rng, make, 1200, key=lambda row: row["document"])


# ---------------------------------------------------------------- English -> German (translations)

ADJ_DE = {
    "old": "alt",
    "new": "neu",
    "big": "groß",
    "small": "klein",
    "red": "rot",
    "green": "grün",
    "cold": "kalt",
    "hot": "heiß",
    "fresh": "frisch",
    "long": "lang",
    "heavy": "schwer",
    "good": "gut",
    "beautiful": "schön",
    "interesting": "interessant",
    "tired": "müde",
    "happy": "glücklich",
    "young": "jung",
    "tall": "groß",
    "hungry": "hungrig",
    "sick": "krank",
    "busy": "beschäftigt",
    "friendly": "freundlich",
}
# person: singular, plural, German singular, German plural, gender, is a child
PEOPLE = [
    ("man", "men", "Mann", "Männer", "m", False),
    ("woman", "women", "Frau", "Frauen", "f", False),
    ("child", "children", "Kind", "Kinder", "n", True),
    ("teacher", "teachers", "Lehrer", "Lehrer", "m", False),
    ("doctor", "doctors", "Arzt", "Ärzte", "m", False),
    ("girl", "girls", "Mädchen", "Mädchen", "n", True),
    ("boy", "boys", "Junge", "Jungen", "m", True),
    ("cook", "cooks", "Koch", "Köche", "m", False),
    ("farmer", "farmers", "Bauer", "Bauern", "m", False),
    ("student", "students", "Student", "Studenten", "m", False),
]
PERSON_ADJ = {False: ["old", "young", "tired", "happy", "tall"], True: ["small", "tired", "happy", "tall"]}
PRED_ADJ = {
    False: ["tired", "happy", "hungry", "sick", "busy", "friendly", "tall", "young", "old"],
    True: ["tired", "happy", "hungry", "sick", "busy", "friendly", "tall"],
}
# English subject, German subject, person (index into a verb's German forms: ich, du, er/sie, wir, sie)
PRONOUNS = [("I", "ich", 0), ("you", "du", 1), ("he", "er", 2), ("she", "sie", 2), ("we", "wir", 3), ("they", "sie", 4)]
POSSESSIVES = [
    ("my brother", "mein Bruder", 2),
    ("my sister", "meine Schwester", 2),
    ("my parents", "meine Eltern", 4),
    ("our neighbor", "unser Nachbar", 2),
    ("our neighbors", "unsere Nachbarn", 4),
]
THINGS = {  # English: (German, gender, adjectives that fit)
    "book": ("Buch", "n", ["old", "new", "interesting", "good", "long", "heavy"]),
    "newspaper": ("Zeitung", "f", ["old", "new", "interesting"]),
    "letter": ("Brief", "m", ["long", "new", "old"]),
    "magazine": ("Zeitschrift", "f", ["new", "old", "interesting"]),
    "story": ("Geschichte", "f", ["long", "interesting", "good", "new"]),
    "apple": ("Apfel", "m", ["red", "green", "fresh", "big", "small"]),
    "bread": ("Brot", "n", ["fresh", "old", "good"]),
    "cake": ("Kuchen", "m", ["fresh", "good", "big", "small"]),
    "soup": ("Suppe", "f", ["hot", "cold", "good"]),
    "water": ("Wasser", "n", ["cold", "fresh"]),
    "coffee": ("Kaffee", "m", ["hot", "cold", "good"]),
    "milk": ("Milch", "f", ["cold", "fresh"]),
    "tea": ("Tee", "m", ["hot", "good", "green"]),
    "juice": ("Saft", "m", ["fresh", "cold"]),
    "dog": ("Hund", "m", ["big", "small", "old", "young", "beautiful"]),
    "cat": ("Katze", "f", ["small", "old", "young", "beautiful"]),
    "car": ("Auto", "n", ["red", "new", "old", "big", "small"]),
    "house": ("Haus", "n", ["old", "new", "big", "small", "beautiful"]),
    "bird": ("Vogel", "m", ["small", "red", "beautiful"]),
    "tree": ("Baum", "m", ["old", "big", "beautiful"]),
    "shirt": ("Hemd", "n", ["red", "green", "new", "old"]),
    "lamp": ("Lampe", "f", ["new", "old", "small", "red"]),
    "bicycle": ("Fahrrad", "n", ["new", "old", "red", "green"]),
    "table": ("Tisch", "m", ["old", "new", "big", "small", "heavy"]),
    "door": ("Tür", "f", ["red", "green", "old", "heavy"]),
    "window": ("Fenster", "n", ["big", "small", "old"]),
    "box": ("Kiste", "f", ["heavy", "big", "small"]),
    "bottle": ("Flasche", "f", ["green", "big", "small"]),
    "key": ("Schlüssel", "m", ["old", "new", "small"]),
    "bag": ("Tasche", "f", ["red", "new", "heavy", "old", "big"]),
    "ball": ("Ball", "m", ["red", "new", "small", "big"]),
    "chair": ("Stuhl", "m", ["old", "new", "heavy", "small"]),
    "garden": ("Garten", "m", ["big", "small", "beautiful"]),
}
# English base, English third person singular, German forms (ich, du, er/sie, wir, sie), objects (definite, then "a/an")
TRANSITIVE = [
    ("read", "reads", "lese liest liest lesen lesen", "book newspaper letter magazine story", ""),
    ("eat", "eats", "esse isst isst essen essen", "apple bread cake soup", "apple cake"),
    ("drink", "drinks", "trinke trinkst trinkt trinken trinken", "water coffee milk tea juice", ""),
    (
        "see",
        "sees",
        "sehe siehst sieht sehen sehen",
        "dog cat car house bird tree garden",
        "dog cat car house bird tree",
    ),
    (
        "buy",
        "buys",
        "kaufe kaufst kauft kaufen kaufen",
        "book bread car apple shirt lamp bicycle table cake newspaper",
        "book car shirt lamp bicycle table cake",
    ),
    ("write", "writes", "schreibe schreibst schreibt schreiben schreiben", "letter book story", "letter story"),
    ("open", "opens", "öffne öffnest öffnet öffnen öffnen", "door window box letter bottle", ""),
    ("like", "likes", "mag magst mag mögen mögen", "dog cat cake coffee tea garden book house", ""),
    ("wash", "washes", "wasche wäschst wäscht waschen waschen", "car shirt dog window bottle", ""),
    ("find", "finds", "finde findest findet finden finden", "key book cat bag ball", "key bag ball"),
    ("carry", "carries", "trage trägst trägt tragen tragen", "bag box table chair", ""),
    (
        "need",
        "needs",
        "brauche brauchst braucht brauchen brauchen",
        "key bag car table lamp bicycle",
        "key bag car table lamp bicycle",
    ),
    ("have", "has", "habe hast hat haben haben", "", "dog cat car house garden bag bicycle key book table lamp ball"),
]
INTRANSITIVE = [
    ("sleep", "sleeps", "schlafe schläfst schläft schlafen schlafen", "house garden park"),
    ("work", "works", "arbeite arbeitest arbeitet arbeiten arbeiten", "garden kitchen school office library city"),
    ("play", "plays", "spiele spielst spielt spielen spielen", "park garden house school"),
    ("read", "reads", "lese liest liest lesen lesen", "park garden house kitchen library"),
    ("wait", "waits", "warte wartest wartet warten warten", "park school office library city"),
    ("sing", "sings", "singe singst singt singen singen", "park garden house kitchen school"),
    ("cook", "cooks", "koche kochst kocht kochen kochen", "kitchen garden"),
    ("eat", "eats", "esse isst isst essen essen", "kitchen garden park school"),
    ("live", "lives", "wohne wohnst wohnt wohnen wohnen", "city"),
]
PLACES = {
    "park": "im Park",
    "garden": "im Garten",
    "house": "im Haus",
    "kitchen": "in der Küche",
    "school": "in der Schule",
    "office": "im Büro",
    "library": "in der Bibliothek",
    "city": "in der Stadt",
}
TIMES = {
    "today": "heute",
    "every day": "jeden Tag",
    "in the morning": "am Morgen",
    "in the evening": "am Abend",
    "on Monday": "am Montag",
    "on Saturday": "am Samstag",
    "on Sunday": "am Sonntag",
    "at night": "in der Nacht",
}
BE = [("am", "bin"), ("are", "bist"), ("is", "ist"), ("are", "sind"), ("are", "sind")]
DEF_ARTICLE = {"nom": {"m": "der", "f": "die", "n": "das"}, "acc": {"m": "den", "f": "die", "n": "das"}}
DEF_ENDING = {"nom": {"m": "e", "f": "e", "n": "e"}, "acc": {"m": "en", "f": "e", "n": "e"}}
INDEF_ACC = {"m": ("einen", "en"), "f": ("eine", "e"), "n": ("ein", "es")}


def declined(adj: str, ending: str) -> str:
    """German adjective with an ending (müde + en -> müden)."""
    stem = ADJ_DE[adj]
    return stem + (ending[1:] if stem.endswith("e") else ending)


def subject(rng: random.Random) -> tuple[str, str, int]:
    """(English, German nominative, person index) of a random subject."""
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(PRONOUNS)
    if roll < 0.45:
        return rng.choice(POSSESSIVES)
    sg, pl, de_sg, de_pl, gender, kid = rng.choice(PEOPLE)
    plural = rng.random() < 0.3
    adj = rng.choice(PERSON_ADJ[kid]) if rng.random() < 0.4 else None
    en = f"the {adj + ' ' if adj else ''}{pl if plural else sg}"
    article, ending = ("die", "en") if plural else (DEF_ARTICLE["nom"][gender], "e")
    de = f"{article} {declined(adj, ending) + ' ' if adj else ''}{de_pl if plural else de_sg}"
    return en, de, 4 if plural else 2


def definite_object(rng: random.Random, names: str) -> tuple[str, str]:
    """(English, German accusative) of 'the [adjective] thing'."""
    name = rng.choice(names.split())
    noun, gender, adjs = THINGS[name]
    adj = rng.choice(adjs) if rng.random() < 0.4 else None
    if adj:
        return f"the {adj} {name}", f"{DEF_ARTICLE['acc'][gender]} {declined(adj, DEF_ENDING['acc'][gender])} {noun}"
    return f"the {name}", f"{DEF_ARTICLE['acc'][gender]} {noun}"


def indefinite_object(rng: random.Random, names: str) -> tuple[str, str]:
    """(English, German accusative) of 'a/an [adjective] thing'."""
    name = rng.choice(names.split())
    noun, gender, adjs = THINGS[name]
    adj = rng.choice(adjs) if rng.random() < 0.6 else None
    words = f"{adj} {name}" if adj else name
    article, ending = INDEF_ACC[gender]
    return (
        f"{'an' if words[0] in 'aeiou' else 'a'} {words}",
        f"{article} {declined(adj, ending) + ' ' if adj else ''}{noun}",
    )


def translation(rng: random.Random) -> dict:
    """One English sentence and its German translation, from one of eight templates."""
    s_en, s_de, p = subject(rng)
    kind = rng.choices(
        ["svo", "place", "time", "time_first", "question", "negation", "be", "indefinite"],
        [20, 15, 12, 12, 12, 11, 8, 10],
    )[0]
    if kind in ("svo", "time_first", "question", "negation", "indefinite"):
        base, third, forms, objects, indefinites = rng.choice(  # "in the morning the man likes..." sounds odd
            [
                v
                for v in TRANSITIVE
                if (v[4] if kind == "indefinite" else v[3]) and (kind, v[0]) != ("time_first", "like")
            ]
        )
        o_en, o_de = (indefinite_object if kind == "indefinite" else definite_object)(
            rng, indefinites if kind == "indefinite" else objects
        )
    else:
        base, third, forms, places = rng.choice([v for v in INTRANSITIVE if (kind, v[0]) != ("time", "live")])
    verb_en, verb_de, do = (third if p == 2 else base), forms.split()[p], ("does" if p == 2 else "do")
    if kind in ("svo", "indefinite"):
        return {"en": cap(f"{s_en} {verb_en} {o_en}."), "de": cap(f"{s_de} {verb_de} {o_de}.")}
    if kind == "place":
        place = rng.choice(places.split())
        return {"en": cap(f"{s_en} {verb_en} in the {place}."), "de": cap(f"{s_de} {verb_de} {PLACES[place]}.")}
    if kind == "time":
        time = rng.choice(list(TIMES))
        return {"en": cap(f"{s_en} {verb_en} {time}."), "de": cap(f"{s_de} {verb_de} {TIMES[time]}.")}
    if kind == "time_first":
        time = rng.choice(list(TIMES))
        return {"en": cap(f"{time} {s_en} {verb_en} {o_en}."), "de": cap(f"{TIMES[time]} {verb_de} {s_de} {o_de}.")}
    if kind == "question":
        if p == 0:  # "Do I read the book?" is odd English
            s_en, s_de, p = PRONOUNS[1]
            do, verb_de = "do", forms.split()[p]
        return {"en": f"{cap(do)} {s_en} {base} {o_en}?", "de": f"{cap(verb_de)} {s_de} {o_de}?"}
    if kind == "negation":
        return {"en": cap(f"{s_en} {do} not {base} {o_en}."), "de": cap(f"{s_de} {verb_de} {o_de} nicht.")}
    if rng.random() < 0.35:  # "be" with a thing as subject
        name = rng.choice(list(THINGS))
        noun, gender, adjs = THINGS[name]
        adj = rng.choice(adjs)
        return {"en": f"The {name} is {adj}.", "de": f"{cap(DEF_ARTICLE['nom'][gender])} {noun} ist {ADJ_DE[adj]}."}
    kid = any(s_en.endswith(" " + w) for sg, pl, *_, k in PEOPLE if k for w in (sg, pl))
    adj = rng.choice(PRED_ADJ[kid])
    return {"en": cap(f"{s_en} {BE[p][0]} {adj}."), "de": cap(f"{s_de} {BE[p][1]} {ADJ_DE[adj]}.")}


def make_translations() -> list[dict]:
    """~2000 distinct English/German sentence pairs."""
    return unique(random.Random(7), translation, 2000, key=lambda row: row["en"])


# ---------------------------------------------------------------- pre-training text for the tiny GPT (corpus)

FOLLOW_UPS = [
    ("Thanks, that helps a lot.", "You are welcome! Have a great day."),
    ("Thank you!", "Any time. Take care!"),
    ("Great, I will try that.", "Good luck! Let me know how it goes."),
    ("Can you say that more simply?", "Of course. Take it one small step at a time, and ask me if you get stuck."),
]
GENERIC = [
    "I can walk you through it one step at a time.",
    "If you need some help, just ask and I will explain the steps.",
    "Please describe the problem in simple words.",
    "Tell me what you want and I will suggest a few options.",
    "If you are curious about something, I can explain it simply.",
    "You can choose the option you like best.",
    "My son asked me a question I could not answer, so we looked it up together.",
    "Help me pick the best option, please.",
    "You should read the instructions first.",
    "What should I tell him? Keep it short and kind.",
    "A good answer is clear, friendly and honest.",
]
HELP_HEADINGS = {"howto": "How to {t}:", "recommend": "Looking for {t}?", "explain": "In simple words, here is {t}:"}


def corpus_passage(rng: random.Random) -> str:
    """A short dialogue, help text or news snippet."""
    kind = rng.choices(["dialogue", "help", "news"], [20, 15, 65])[0]
    if kind == "dialogue":
        topic, text = train_question(rng)
        passage = f"{as_prompt(text)} {(polite if rng.random() < 0.65 else curt)(rng, topic)}"
        if rng.random() < 0.1:
            follow, reply = rng.choice(FOLLOW_UPS)
            passage += f"\nUser: {follow}\nAssistant: {reply}"
        return passage
    if kind == "help":
        topic_kind, phrase, body = rng.choice(TOPICS)
        parts = [HELP_HEADINGS[topic_kind].format(t=phrase.format(my="your")), body]
        return " ".join(parts + ([rng.choice(GENERIC)] if rng.random() < 0.4 else []))
    story = news_story(rng)
    return rng.choice(
        [
            story["summary"],
            story["key"],
            f"{rng.choice(story['leads'])} {story['key']}",
            " ".join(rng.sample(story["backgrounds"] + story["details"], 2)),
        ]
    )


def make_corpus() -> list[dict]:
    """~3000 short passages for causal-LM pre-training and BPE training of the tiny GPT."""
    return unique(random.Random(8), lambda r: {"text": corpus_passage(r)}, 3000, key=lambda row: row["text"])


# ---------------------------------------------------------------- writing


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write rows as UTF-8 JSON lines, in the given order."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(out_dir: str | Path = DEMO_DIR) -> dict[str, int]:
    """Write every demo dataset into out_dir; return the row count per file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reviews = make_reviews()
    instructions = make_instructions()
    preferences = make_preferences(instructions)
    datasets = {
        "reviews": reviews,
        "review_corpus": make_review_corpus(reviews),
        "corpus": make_corpus(),
        "instructions": instructions,
        "preferences": preferences,
        "prompts": make_prompts(instructions, preferences),
        "summaries": make_summaries(),
        "translations": make_translations(),
    }
    for name, rows in datasets.items():
        write_jsonl(out_dir / f"{name}.jsonl", rows)
    return {f"{name}.jsonl": len(rows) for name, rows in datasets.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=DEMO_DIR, help="where to write (default: hfpipeline/demo)")
    for file, count in main(parser.parse_args().out_dir).items():
        print(f"{file}: {count} rows")
