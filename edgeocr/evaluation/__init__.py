"""Accuracy evaluation on labelled sets (the labels.csv format): metrics, samples, reports."""
