CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


STRICT_PATHS = ("/stage", "/admin/")


class StageContentSecurityPolicy:
    """No inline scripts or styles and no third-party images on the Stage, nor in the admin: it
    shows the same words models, crawled pages and outside runtimes wrote, to the people who
    may approve and override, so an escaping slip there must not run as them either. Any other
    HTML page too: the Stage's 'Not here' answers every address a link can name, and prints it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        html = response.headers.get("Content-Type", "").startswith("text/html")
        if html or request.path.startswith(STRICT_PATHS):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response
