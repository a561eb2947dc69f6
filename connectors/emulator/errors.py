"""Stripe's error answers, with Stripe's wording, so that clients map them as they would the
real thing (the `stripe` library picks its exception class from status and `type`)."""

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    def __init__(
        self, status, message, type="invalid_request_error", code=None, param=None, headers=None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict:
        error = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing_key():
    return StripeError(
        401,
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
        "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
        "or we can help at https://support.stripe.com/.",
    )


def invalid_key(masked):
    return StripeError(401, f"Invalid API Key provided: {masked}")


def publishable_key(masked):
    return StripeError(
        401,
        f"This API call cannot be made with a publishable API key ({masked}). Please use a "
        "secret API key or a restricted API key.",
    )


def permission_denied(masked, account, permission):
    return StripeError(
        403,
        f"The provided key '{masked}' does not have the required permissions for this "
        f"endpoint on account '{account}'. Having the '{permission}' permission would allow "
        "this request to continue.",
    )


def restricted_key_refused(masked, account):
    """What Stripe says to a restricted key asking for an endpoint no permission opens (such
    as GET /v1/account)."""
    return StripeError(
        403,
        f"The provided key '{masked}' does not have the required permissions for this "
        f"endpoint on account '{account}'. This is a restricted API key, but the required "
        "permissions are not available for use by restricted keys.",
    )


def resource_missing(kind, object_id, param="id", status=404):
    return StripeError(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def unknown_parameters(names):
    names = sorted(names)
    if len(names) == 1:
        return StripeError(
            400,
            f"Received unknown parameter: {names[0]}",
            code="parameter_unknown",
            param=names[0],
        )
    return StripeError(
        400, f"Received unknown parameters: {', '.join(names)}", code="parameter_unknown"
    )


def invalid_value(param, message):
    return StripeError(400, message, param=param)


def unrecognized_url(method, path):
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def read_only(method, path):
    # Lumen must never write; the emulator refuses loudly instead of pretending to succeed.
    return StripeError(
        405,
        f"This Stripe emulator is read-only: {method} {path} is not supported.",
        headers={"Allow": "GET"},
    )


def rate_limited():
    return StripeError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        type="rate_limit_error",
        code="rate_limit",
        headers={"Stripe-Should-Retry": "true"},
    )


def api_error():
    return StripeError(
        500,
        "An unknown error occurred while processing your request. Please retry; if the "
        "problem persists, contact support.",
        type="api_error",
    )
