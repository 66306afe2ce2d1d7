"""The model providers' settings: which provider, its models per tier, its limits and prices,
and how long call records and replays are kept."""

from django.core.exceptions import ImproperlyConfigured

from opscore.settings_parts.env import env_at_least, env_bool, env_http_url, env_int, env_str

# LLM providers: OPSCORE_LLM=anthropic|ollama|offline; offline when no key is set.
# As a secret file or a paste leaves it, a line break or space around it went into the request's
# header, which the client refuses to send: every call failed as if the host were unreachable.
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY").strip()
OPSCORE_LLM = env_str("OPSCORE_LLM") or ("anthropic" if ANTHROPIC_API_KEY else "offline")
if OPSCORE_LLM not in ("anthropic", "ollama", "offline"):
    raise ImproperlyConfigured(f"OPSCORE_LLM must be anthropic, ollama or offline: {OPSCORE_LLM!r}")
OLLAMA_URL = env_http_url("OLLAMA_URL", "http://127.0.0.1:11434")
OPS_ANTHROPIC_MODELS = {
    "main": env_str("OPS_ANTHROPIC_MODEL_MAIN", "claude-sonnet-4-6"),
    "cheap": env_str("OPS_ANTHROPIC_MODEL_CHEAP", "claude-haiku-4-5"),
}
# Newer Claude models reject sampling parameters; voices set tone in the prompt instead.
OPS_ANTHROPIC_TEMPERATURE = env_bool("OPS_ANTHROPIC_TEMPERATURE", False)
OPS_OLLAMA_MODELS = {
    "main": env_str("OPS_OLLAMA_MODEL_MAIN", "llama3.1"),
    "cheap": env_str("OPS_OLLAMA_MODEL_CHEAP", "llama3.2"),
}
OPS_LLM_TIMEOUT_SECONDS = env_at_least("OPS_LLM_TIMEOUT_SECONDS", 60, 1)  # each connect or read
OPS_LLM_DEADLINE_SECONDS = env_at_least("OPS_LLM_DEADLINE_SECONDS", 180, 1)  # a try, from its start
# A model call a person waits on in a request (a chat answer, a thread reply), all its tries.
OPS_TALK_DEADLINE_SECONDS = env_at_least("OPS_TALK_DEADLINE_SECONDS", 20, 1)
# A crawl's whole fetch (every redirect and read) ends by this deadline, however slowly a
# server trickles its bytes.
OPS_CRAWL_DEADLINE_SECONDS = env_int("OPS_CRAWL_DEADLINE_SECONDS", 10)
OPS_LLM_MAX_TRIES = env_at_least("OPS_LLM_MAX_TRIES", 3, 1)
OPS_LLM_RETRY_BASE_SECONDS = env_at_least("OPS_LLM_RETRY_BASE_SECONDS", 2.0, 0)
# USD per million tokens (input, output), by model name.
OPS_LLM_PRICES = {
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-opus-4-6": (5.0, 25.0),
}
# Every call's request and reply are kept (compressed) for this many days, each record at
# most this many compressed bytes (a larger one keeps only its row, marked why), and all of
# them together at most this many MB (the oldest go first). The prune_llm_records duty acts.
OPS_LLM_RECORD_DAYS = env_int("OPS_LLM_RECORD_DAYS", 30)
OPS_LLM_RECORD_MAX_BYTES = env_int("OPS_LLM_RECORD_MAX_BYTES", 262144)
OPS_LLM_RECORDS_TOTAL_MB = env_int("OPS_LLM_RECORDS_TOTAL_MB", 512)
# A replay stops at this many calls or seconds, whichever comes first, and says so.
OPS_REPLAY_MAX_CALLS = env_int("OPS_REPLAY_MAX_CALLS", 200)
OPS_REPLAY_DEADLINE_SECONDS = env_int("OPS_REPLAY_DEADLINE_SECONDS", 300)
