"""Data: the dataset schema, validated table loading, the synthetic cohort, splits and the record serializer."""
