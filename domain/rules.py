"""Every rule a rejection can cite, by its code: the validation rules V1–V29 of DOMAIN.md
§12 and the named rules zhibao adds (authority, bounds, strict input). A `DomainError`
carries one of these codes, so code and tests match on the code rather than the wording,
and docs/rules.md is generated from this table (`python -m domain.rules > docs/rules.md`).
"""

from __future__ import annotations

RULES: dict[str, str] = {
    "V1": "a rectification deadline is not before the discovery date (equal only for "
          "immediate rectification)",
    "V2": "business time is not in the future; a hazard is not reported before it was "
          "discovered",
    "V3": "lifecycle dates are monotone: completion after discovery, verification after "
          "completion, closure after verification",
    "V4": "a major hazard is closed only after a passing verification by a body authorised "
          "to verify major hazards at county level or above",
    "V5": "a listed hazard is closed only after its listing authority delisted it",
    "V6": "a major hazard's plan holds all of 五到位 (measures, responsible org and person, "
          "funds with source, time limit, contingency plan) before rectification",
    "V7": "an actor acts only inside its org's jurisdiction (subtree, sectors, own site); the "
          "unit of a fact about an enterprise is the enterprise's unit",
    "V8": "a unit code is well formed, known and valid on the day it is used",
    "V9": "an enterprise exists and is operating when a fact about it happens",
    "V10": "a duplicate hazard is linked to the original (duplicate_of) and voided",
    "V11": "a replayed command (same command_id, same content) returns its original outcome; "
           "a command_id is never reused for another command",
    "V12": "a hazard grade is general or major",
    "V13": "a major grading cites the clause of the determination standard",
    "V14": "an extension is requested before the deadline expires",
    "V15": "a listed major hazard is delisted before it is downgraded",
    "V16": "a period is reported only after it has ended, and only by the unit's own bodies",
    "V17": "a submission recorded after its deadline is accepted and flagged 迟报 (late)",
    "V18": "statistics are internally consistent (rectified ≤ found, 0 ≤ rate ≤ 100 %, "
           "counts non-negative)",
    "V19": "a parent's additive totals equal the sum of its children's (warning)",
    "V20": "money states its unit (分, 元, 万元) and is stored in integer fen",
    "V21": "a \"121\" team has a county-level leader, two supervisors and an expert (flag)",
    "V22": "an inspection counted toward the Ankang quota covers at least 5 enterprises (flag)",
    "V23": "the self-inspection rate's denominator is the enterprise base at period start",
    "V24": "periods are bucketed in Asia/Shanghai",
    "V25": "a public report becomes a hazard only after it was verified true",
    "V26": "events of one aggregate are applied in version order (conflicts are refused)",
    "V27": "a date without a year in an imported text takes the year of its document",
    "V28": "percentages lie between 0 and 100",
    "V29": "a task whose deadline precedes its list's issue date is flagged born overdue",
    "AUTH-ACTOR": "the actor comes from the entry point (--as, ZHIBAO_ACTOR, a credential), "
                  "never from a command's content",
    "AUTH-PERSON": "a command is issued by a registered, active person",
    "AUTH-ORG": "a person acts only for the one org they are registered to",
    "AUTH-ROLE": "the person holds a role the permission matrix allows for the action in "
                 "their org (roles are an enumeration; each is held only in its kinds of org)",
    "AUTH-GRANT": "persons, roles, powers and sector scopes are administered only by a body "
                  "above the one they are for, holding what it grants — never by oneself, "
                  "never by registering an org",
    "SYSTEM-ONLY": "what only zhibao does (a submission's content and hash, 漏报, overdue, a "
                   "reporting period, a checkpoint, the bootstrap) is no command of any entry "
                   "point",
    "INPUT": "a command has the fields its contract names (no others), each of its kind: "
             "enumerations by their values, ids as UUIDs, texts not blank",
    "STRICT-JSON": "a command is one JSON object in UTF-8, without duplicate keys, NaN or "
                   "Infinity",
    "STRICT-TYPE": "values keep their JSON types: booleans are true/false, counts are "
                   "integers, dates and date-times are ISO 8601 text",
    "BOUND-TEXT": "a text has at most 4,000 characters (domain.values.MAX_TEXT)",
    "BOUND-LIST": "a list has at most 1,000 items (domain.values.MAX_ITEMS)",
    "BOUND-NUMBER": "a count lies between 0 and 1,000,000 (domain.values.MAX_COUNT)",
    "BOUND-MONEY": "an amount is at most 100亿元, 10^12 fen (domain.values.MAX_FEN)",
    "BOUND-TIME": "business dates and times lie between 1949-10-01 and now (plus the clock "
                  "skew); deadlines and plans at most 10 years ahead",
    "BOUND-EVENT": "a command, and each event it records, is at most ZHIBAO_MAX_EVENT_BYTES "
                   "long (below the brokers' message limit)",
    "CREDENTIAL": "a credential is issued for a future expiry (an API token for at least a day) "
                  "with a scope of known actions or read-only; a login name has 1 to 64 "
                  "characters and a password its minimum length",
    "SCOPE": "a credential acts only within its scope: the commands its token names, or none "
             "when it is read-only",
    "AUDIT-SIZE": "a checkpoint covers more of the log than the one before it (a checkpoint "
                  "of a size already signed lost a race with another signer)",
    "AUDIT-LOG": "a checkpoint is of this store's own log and, after the first, carries the "
                 "proof that it extends the one before",
    "REF": "an id names an existing record of the kind the field asks for, and a new record's "
           "id or registration number is not taken",
    "LIFECYCLE": "a command applies only in the states its aggregate's lifecycle allows: "
                 "nothing is done twice, nothing after it was closed or retired, nothing "
                 "before the step it needs",
    "UNIT-TREE": "a unit sits under a parent of a level above it and merges only into a unit of "
                 "its own level; an org sits at a unit of the level its kind belongs to",
}


def describe(code: str) -> str:
    """The rule's text; an unknown code is a programming error, not a user's."""
    return RULES[code]

