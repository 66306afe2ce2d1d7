CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class StageContentSecurityPolicy:
    """No inline scripts and no third-party images on the Stage."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/stage"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response
