"""Plugin discovery (built-ins, entry points, local files, allow/deny lists) and the family registry."""

from clinpred.registry.registry import PluginInfo, Registry, load_registry

__all__ = ["PluginInfo", "Registry", "load_registry"]
