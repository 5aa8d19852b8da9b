FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint's libraries (libharfbuzz-subset0 makes PDF rendering about three times faster) and
# fonts: DejaVu for Latin, Greek, Cyrillic, Arabic and Hebrew text, Noto CJK for Chinese, Japanese
# and Korean, Noto Color Emoji (PDFs and the offline provider's image captions use them).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-noto-cjk fonts-noto-color-emoji \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt . && pip uninstall -y offload
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput -v0

# var/media exists before compose mounts its volume there, so the volume is the app user's.
RUN useradd --create-home --uid 1000 offload && mkdir -p var/media && chown -R offload var
USER offload

EXPOSE 8000
# exec: gunicorn, not the shell, is PID 1 and gets the SIGTERM of `docker stop`.
CMD ["sh", "-c", "exec gunicorn config.wsgi:application --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-4} --access-logfile -"]
