"""How the OpenAPI schema describes Offload's authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ONE_KEY = (
    "Send the key in one of the two headers; both, carrying different keys, are refused (401)."
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = ["bearerAuth", "apiKeyHeader"]

    def get_security_requirement(self, auto_schema):
        # Either header alone authenticates: two alternatives, not one requirement naming both
        # (which OpenAPI reads as "send both").
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": f"Authorization: Bearer <API key>. {ONE_KEY}",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Api-Key",
                "description": f"X-Api-Key: <API key>. {ONE_KEY}",
            },
        ]


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
