"""Generation: model sources, the local transformers(+peft) generator, prompts."""
