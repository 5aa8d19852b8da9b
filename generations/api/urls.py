from django.urls import path

from generations.api.views import (
    DeckDetailApi,
    DeckListApi,
    FlashcardListApi,
    GenerationCreateApi,
    GenerationDetailApi,
    ImageDetailApi,
    ImageListApi,
    SkillTreeDetailApi,
    SkillTreeListApi,
    StoryDetailApi,
    StoryListApi,
)

urlpatterns = [
    path("generations", GenerationCreateApi.as_view(), name="generation-create"),
    path("generations/<id:pk>", GenerationDetailApi.as_view(), name="generation-detail"),
    path("decks", DeckListApi.as_view(), name="deck-list"),
    path("decks/<int:pk>", DeckDetailApi.as_view(), name="deck-detail"),
    path("stories", StoryListApi.as_view(), name="story-list"),
    path("stories/<int:pk>", StoryDetailApi.as_view(), name="story-detail"),
    path("skill-trees", SkillTreeListApi.as_view(), name="skill-tree-list"),
    path("skill-trees/<int:pk>", SkillTreeDetailApi.as_view(), name="skill-tree-detail"),
    path("images", ImageListApi.as_view(), name="image-list"),
    path("images/<int:pk>", ImageDetailApi.as_view(), name="image-detail"),
    path("flashcards", FlashcardListApi.as_view(), name="flashcard-list"),
]
