"""The training side: the skorch net, its batches, optimizer and the models fit beside it."""
