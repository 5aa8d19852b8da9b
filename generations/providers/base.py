from abc import ABC, abstractmethod

from generations.schemas import VALIDATORS


class Provider(ABC):
    """Produces structured output for a task (deck, flashcards, distractors, skill_tree, story) and
    images. `generate` returns output that passed the task's schema, or raises a job error."""

    name = "base"

    def generate(self, task: str, inputs: dict) -> dict:
        return VALIDATORS[task](self._generate(task, inputs))

    @abstractmethod
    def _generate(self, task: str, inputs: dict) -> dict:
        """The provider's raw answer for the task, before validation."""

    @abstractmethod
    def image(self, prompt: str, width: int, height: int) -> bytes:
        """An image (any format Pillow reads) for the prompt."""

    def images(self, prompt: str, width: int, height: int, count: int, progress) -> list[bytes]:
        """`count` images for the prompt; `progress(index)` is called before each is drawn."""
        drawn = []
        for index in range(count):
            progress(index)
            drawn.append(self.image(prompt, width, height))
        return drawn

    @abstractmethod
    def image_edit(self, source: bytes, prompt: str) -> bytes:
        """The source image changed as the prompt says."""
