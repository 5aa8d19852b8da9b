"""Opening an image from outside (an edit's source, a model's answer) without decoding more pixels
than GENERATION_IMAGE_MAX_PIXELS: a PNG of a few hundred KB can hold a gigabyte of pixels, and
its header says how many before any is decoded."""

import io

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from generations.schemas import OutputInvalid

# What Pillow raises on a corrupt file as it reads one: OSError mostly, ValueError or SyntaxError
# from some of its decoders (a PNG chunk's name mangled, a broken ICO or PPM).
DECODE_ERRORS = (OSError, ValueError, SyntaxError)


class ImageTooLarge(OutputInvalid):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def image_open(content: bytes) -> Image.Image:
    """The image, its header read and no pixel decoded; OutputInvalid when the bytes are not an
    image, ImageTooLarge when it has more pixels than GENERATION_IMAGE_MAX_PIXELS."""
    limit = settings.GENERATION_IMAGE_MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(content))
    except Image.DecompressionBombError as exc:  # past Pillow's own limit, far above ours
        raise ImageTooLarge(f"the image has more than {limit:,} pixels") from exc
    except (UnidentifiedImageError, *DECODE_ERRORS) as exc:
        raise OutputInvalid(f"not an image ({exc})") from exc
    width, height = image.size
    if width * height > limit:
        image.close()
        raise ImageTooLarge(f"the image is {width}×{height} pixels, more than {limit:,}")
    return image
