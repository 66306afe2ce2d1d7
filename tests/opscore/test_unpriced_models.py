"""A model Opscore calls with no price in OPS_LLM_PRICES costs $0 a call, so no daily or lane
budget ever holds for it: `opscore check` (and every start) says so, naming the model."""

from opscore.checks import check_model_prices


def test_an_unpriced_anthropic_model_is_a_system_check_warning(settings):
    settings.OPSCORE_LLM = "anthropic"
    settings.OPS_ANTHROPIC_MODELS = {"main": "claude-sonnet-9", "cheap": "claude-haiku-4-5"}

    [warning] = check_model_prices(None)

    assert warning.id == "opscore.W006"
    assert "claude-sonnet-9 (main)" in warning.msg and "no budget holds" in warning.msg


def test_priced_models_and_local_or_offline_providers_say_nothing(settings):
    settings.OPSCORE_LLM = "anthropic"
    assert check_model_prices(None) == []
    settings.OPS_ANTHROPIC_MODELS = {"main": "claude-sonnet-9"}
    for free in ("ollama", "offline"):  # a local model costs nothing, truly
        settings.OPSCORE_LLM = free
        assert check_model_prices(None) == []
