"""Which kind of process this is, for the few defaults that suit the web server alone:
console/asgi.py says so before Django reads the settings (it is imported first there)."""

ASGI = False  # True in the ASGI server: its sync code runs on a fresh thread per request
