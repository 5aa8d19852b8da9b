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

    def images(
        self, prompt: str, width: int, height: int, count: int, progress, *, kept=(), keep=None
    ) -> list[bytes]:
        """The images of `count` for the prompt whose index is not among `kept` (drawn by an earlier
        attempt), in order; `progress(index)` is called before each is drawn, and `keep(index,
        content)` as soon as it is, so that an attempt ending before the last leaves them drawn."""
        drawn = []
        for index in images_missing(count, kept):
            progress(index)
            content = self.image(prompt, width, height)
            if keep is not None:
                keep(index, content)
            drawn.append(content)
        return drawn

    @abstractmethod
    def image_edit(self, source: bytes, prompt: str) -> bytes:
        """The source image changed as the prompt says."""


def images_missing(count: int, kept) -> list[int]:
    """The indices of a job's `count` images still to draw."""
    return [index for index in range(count) if index not in kept]
