"""The console's language: Chinese (``zh-hans``) unless the browser chose English.

Only requests under ``/console/`` are touched: the admin and the API keep speaking
``LANGUAGE_CODE`` (English), so this is not Django's ``LocaleMiddleware`` (which would
translate every page by ``Accept-Language``). The choice is a cookie (``console_lang``) that
the language switch in the console's header sets (``console/pages/language.py``).
"""

from __future__ import annotations

from django.utils import translation

CONSOLE_PREFIX = "/console/"
LANGUAGE_COOKIE = "console_lang"
DEFAULT_LANGUAGE = "zh-hans"
CONSOLE_LANGUAGES = ("zh-hans", "en")


def console_language(request) -> str:
    """The language a console page speaks for this request: the cookie's, else Chinese."""
    chosen = request.COOKIES.get(LANGUAGE_COOKIE)
    return chosen if chosen in CONSOLE_LANGUAGES else DEFAULT_LANGUAGE


class ConsoleLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(CONSOLE_PREFIX):
            return self.get_response(request)
        language = console_language(request)
        # ``override`` restores the thread's language afterwards: the next request this worker
        # serves (an API call, the admin) is not left speaking Chinese.
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
            if hasattr(response, "render") and callable(response.render) and not response.is_rendered:
                response.render()  # a TemplateResponse renders now, in the console's language
        response.headers.setdefault("Content-Language", language)
        return response
