"""Measure the classifier on a labelled corpus, through the same path a real hit takes."""
