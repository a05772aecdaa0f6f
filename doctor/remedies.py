"""What the troubleshooting page says about each wall, in its own terms.

Kept apart from the checks so the words can be compared with
../shared/reference/pinaivu-troubleshooting.txt in one place.
"""

PINAIVU_BASE_URL = "https://api.pinaivu.com/v1"
DASHBOARD = "https://api.pinaivu.com"
EXPLORER = "https://explorer.pinaivu.com"
HEADER_FORMAT = "Authorization: Bearer <key>"

WRONG_BASE_URL = [
    "the page's 'Wrong base URL for OpenAI SDK' case: base_url still points at "
    "api.openai.com instead of the Pinaivu gateway",
    f"fix: set base_url (Python) or baseURL (Node.js), here PINAIVU_BASE_URL, to "
    f"{PINAIVU_BASE_URL}",
]

AUTH_401_VS_403 = ("401 means the request reached the API without a valid API key; 403 means "
                   "the key was recognised but lacks permission for the action")

UNAUTHORIZED = [
    "401 Unauthorized: the key is missing, malformed (e.g. copied with extra whitespace), "
    "revoked or expired",
    AUTH_401_VS_403,
    f"fix: send the header in exactly this format: '{HEADER_FORMAT}'",
    f"fix: if the key is invalid or compromised, log in to the dashboard at {DASHBOARD}, "
    "revoke the old key under API Keys, and generate a new one",
]

FORBIDDEN = [
    "403 Forbidden: the key was recognised but lacks permission for the action you are "
    "attempting",
    AUTH_401_VS_403,
]

WHITESPACE = [
    "the key was copied with extra whitespace (a space, tab or newline); the gateway "
    "refuses it with 401 as malformed",
    "fix: copy the key again without surrounding or inner whitespace, e.g. "
    "export PINAIVU_API_KEY=pk-...",
]

NO_KEY = [
    "without a key every request gets 401 Unauthorized (the Authorization header is missing)",
    "fix: export PINAIVU_API_KEY=<your key> (for the reference gateway: pk-demo-alice-0001); "
    f"keys are generated in the dashboard at {DASHBOARD} under API Keys",
]

MODEL_NOT_FOUND = [
    "the model ID does not match any currently active model on the network: a typo "
    "(e.g. llama-3.2-3b instead of llama3.2:3b) or the model is temporarily unavailable",
    "fix: call GET /v1/models and use an id field verbatim (--model or PINAIVU_MODEL)",
]

VALIDATION = [
    "422 Unprocessable Entity: the request body failed schema validation (JSON well-formed, "
    "key accepted, but a field is missing, of the wrong type or out of range); the detail "
    "field says which field failed and why",
]

MISSING_REQUEST_ID = [
    "the page's 'Missing request_id' case: every successful Pinaivu inference response "
    "carries a top-level request_id; without one the request likely did not complete "
    "successfully (never routed to a node), or this is not the Pinaivu gateway",
    "fix: check the HTTP status first, then log the raw response and read request_id at the "
    f"top level of the body; for more, inspect your requests at {EXPLORER}",
]

RATE_LIMITED = [
    "429 Too Many Requests: this key's per-key request quota is used up within the current "
    "time window",
    "common causes: requests sent in a tight loop without any delay, or a sudden spike in "
    "traffic (another program using the same key counts too)",
    "fix: wait at least the Retry-After time before retrying, and pace requests below the "
    "quota (make probe measures it)",
]

UNAVAILABLE = [
    "503 Service Unavailable: no GPU node was free to take the request (all nodes at "
    "capacity, or nodes offline while the network recovers)",
    "common causes: a temporary surge in demand, or a few nodes going offline at once; it is "
    "transient",
    "fix: retry with exponential backoff, waiting at least Retry-After when it is given",
]
