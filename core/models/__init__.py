"""Model adapters: every model of a comparison (baselines, third-party models, LLM arms) behind one seam."""
