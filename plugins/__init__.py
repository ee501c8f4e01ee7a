"""Built-in model-family plugins: one module per family.

They load through the same path as third-party plugins (see :mod:`clinpred.registry.loading`)
and can be disabled like them (``CLINPRED_DISABLE_PLUGINS=qwen``).
"""

#: plugin name -> module. The plugin name is also the name of the family it registers.
BUILTIN_PLUGINS: dict[str, str] = {
    name: f"clinpred.plugins.{name}"
    for name in ("llama", "mistral", "phi", "qwen", "gemma", "deepseek_r1", "smollm")
}
