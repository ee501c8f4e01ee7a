"""The clinpred engine. Imports nothing from plugins/, registry/ or cli/.

Heavy libraries (mlx, mlx_lm, matplotlib, sklearn) are imported inside the functions that need
them so that light commands start fast.
"""
