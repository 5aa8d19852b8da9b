from django.urls import path

from generations.api.views import (
    DeckDetailApi,
    FlashcardListApi,
    GenerationCreateApi,
    GenerationDetailApi,
    ImageDetailApi,
    SkillTreeDetailApi,
    StoryDetailApi,
    StoryListApi,
)

urlpatterns = [
    path("generations", GenerationCreateApi.as_view(), name="generation-create"),
    path("generations/<id:pk>", GenerationDetailApi.as_view(), name="generation-detail"),
    path("decks/<int:pk>", DeckDetailApi.as_view(), name="deck-detail"),
    path("stories", StoryListApi.as_view(), name="story-list"),
    path("stories/<int:pk>", StoryDetailApi.as_view(), name="story-detail"),
    path("skill-trees/<int:pk>", SkillTreeDetailApi.as_view(), name="skill-tree-detail"),
    path("images/<int:pk>", ImageDetailApi.as_view(), name="image-detail"),
    path("flashcards", FlashcardListApi.as_view(), name="flashcard-list"),
]
