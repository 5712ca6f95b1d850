"""mattergen-e models: corpus, descriptors, joint diffusion model, sampling and evaluation."""
