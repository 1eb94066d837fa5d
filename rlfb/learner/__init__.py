"""The learner role: policy updates, reference and learner-side logprobs."""
