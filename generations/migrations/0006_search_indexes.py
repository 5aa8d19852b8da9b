from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    # Built without stopping the workers, which write what every generation makes.
    atomic = False

    dependencies = [
        ("generations", "0005_deck_skilltree_generation_id"),
        ("core", "0006_trigram_extension"),
    ]

    operations = [
        AddSearchIndex("deck", "title", "deck_title_search"),
        AddSearchIndex("slide", "title", "slide_title_search"),
        AddSearchIndex("block", "text", "block_text_search"),
        AddSearchIndex("flashcard", "question", "flashcard_question_search"),
        AddSearchIndex("flashcard", "answer", "flashcard_answer_search"),
        AddSearchIndex("distractor", "text", "distractor_text_search"),
        AddSearchIndex("skilltree", "name", "skilltree_name_search"),
        AddSearchIndex("skillnode", "name", "skillnode_name_search"),
        AddSearchIndex("story", "title", "story_title_search"),
        AddSearchIndex("generatedimage", "prompt", "generatedimage_prompt_search"),
    ]
