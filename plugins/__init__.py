"""Built-in plugins: one module per model family, and the built-in model adapters.

They load through the same path as third-party plugins (see :mod:`clinpred.registry.loading`)
and can be disabled like them (``CLINPRED_DISABLE_PLUGINS=qwen``).
"""

#: plugin name -> module. A family plugin's name is also the name of the family it registers;
#: ``baselines`` and ``llm_arms`` register model adapters (clinpred_register_models).
BUILTIN_PLUGINS: dict[str, str] = {
    name: f"clinpred.plugins.{name}"
    for name in ("llama", "mistral", "phi", "qwen", "gemma", "deepseek_r1", "smollm", "baselines", "llm_arms")
}
