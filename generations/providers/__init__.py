from django.conf import settings

from generations.providers.base import Provider


def provider_get(name: str | None = None) -> Provider:
    """The configured provider (GENERATION_PROVIDER): offline, openai or anthropic."""
    from generations.providers.anthropic import AnthropicProvider
    from generations.providers.offline import OfflineProvider
    from generations.providers.openai import OpenAIProvider

    providers = {
        "offline": OfflineProvider,
        "openai": OpenAIProvider,
        "anthropic": AnthropicProvider,
    }
    return providers[name or settings.GENERATION_PROVIDER]()
