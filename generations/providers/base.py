from generations.schemas import VALIDATORS


class Provider:
    """Produces structured output for a task (deck, flashcards, distractors, skill_tree, story) and
    images. `generate` returns output that passed the task's schema, or raises a job error."""

    name = "base"

    def generate(self, task: str, inputs: dict) -> dict:
        return VALIDATORS[task](self._generate(task, inputs))

    def _generate(self, task: str, inputs: dict) -> dict:
        raise NotImplementedError

    def image(self, prompt: str, width: int, height: int) -> bytes:
        raise NotImplementedError

    def image_edit(self, source: bytes, prompt: str) -> bytes:
        raise NotImplementedError
