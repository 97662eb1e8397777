# Production image: gunicorn (web), celery worker and celery beat all run from it
# (docker-compose.yml picks the command). Settings come from the environment only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=shop.settings.base

RUN groupadd --system --gid 1000 app \
    && useradd --system --uid 1000 --gid app --home-dir /app --no-create-home app

WORKDIR /app

# The CJK font share posters are drawn with (groupstore/posters.py: POSTER_FONT_PATHS).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject alone, so a code change does not reinstall them.
# `[tool.setuptools] packages = []`: this installs the dependencies only; the code runs from /app.
COPY pyproject.toml ./
RUN pip install . && rm -rf build ./*.egg-info

# The code stays root-owned (read-only to the app user); only var/ is writable.
COPY . .

# Static files are baked into the image. The dummy key exists only for this build step;
# DEBUG stays off so the same settings path as production is exercised.
RUN DEBUG=0 SECRET_KEY=collectstatic-build-only-not-a-secret \
    python manage.py collectstatic --noinput \
    && chown -R app:app /app/var

USER app

EXPOSE 8000

CMD ["gunicorn", "--config", "gunicorn.conf.py", "shop.wsgi:application"]
