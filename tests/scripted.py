"""A provider that answers with fixed text: the seam is the provider, never our own functions."""

from opscore.llm import LLMReply


class Scripted:
    name = "scripted"

    def __init__(self, *texts):
        self.texts = list(texts)
        self.requests = []

    def model_for(self, tier):
        return "scripted"

    def complete(self, request):
        self.requests.append(request)
        return LLMReply(self.texts.pop(0) if self.texts else "fine", 1, 1, "scripted", "s")
