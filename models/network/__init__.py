"""The shared score network of the joint diffusion model (a DiffCSP-style periodic message-passing net)."""
