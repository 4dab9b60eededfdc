"""Talking to a base model or an adapter on MLX: the chat service and what can be chatted with."""
