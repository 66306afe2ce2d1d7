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


class CancelledMidCall(Scripted):
    """Answers as Scripted; meanwhile, while the first call is out, the operator cancels
    `mission` (the worker holding its step loses the lease mid-call)."""

    def __init__(self, mission, *texts):
        super().__init__(*texts)
        self.mission = mission

    def complete(self, request):
        from missions.models import Mission
        from missions.step_actions import cancel_mission

        if not Mission.objects.get(pk=self.mission.pk).is_terminal:
            cancel_mission(self.mission, actor="operator:ann")
        return super().complete(request)


class SwitchedMidCall(Scripted):
    """Answers as Scripted; while its first call is out, the operator throws a switch
    (`throw()`, its override kept in `thrown`)."""

    def __init__(self, throw, *texts):
        super().__init__(*texts)
        self.throw, self.thrown = throw, []

    def complete(self, request):
        if not self.thrown:
            self.thrown.append(self.throw())
        return super().complete(request)
