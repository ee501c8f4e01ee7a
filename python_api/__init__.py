"""The Python API for notebooks: ``clinpred.run``, ``clinpred.load_run`` (session.py) and
``clinpred.sklearn.LLMClassifier`` (sklearn.py).

This folder is on ``clinpred.__path__`` so that ``clinpred.sklearn`` resolves to ``sklearn.py``
here: a file named ``sklearn.py`` at the repository root (the package root) would shadow
scikit-learn for every script run from a checkout.
"""
