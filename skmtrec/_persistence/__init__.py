"""Saving and loading a model folder: no pickle, only trusted names."""
