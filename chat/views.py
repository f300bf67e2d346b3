"""The chat page: on a tenant's host for its members, on the public host for staff. The page is a
shell; the conversation itself arrives over /ws/chat/ (static/js/chat.js)."""

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from chat import selectors
from chat.api import scope_of
from kernel.errors import ServiceError
from tenants.audit import Actor


def chat_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    scope = scope_of(request)  # type: ignore[arg-type]  # reads request.tenant only, on either kind of request
    actor = Actor.from_request(request)
    try:
        conversations = selectors.conversation_list(scope=scope, actor=actor)
    except ServiceError:
        raise Http404("No chat here for you.") from None
    wanted = request.GET.get("c", "")
    current = next((c for c in conversations if str(c.pk) == wanted), None)
    context = {"conversations": conversations, "current": current, "staff_chat": scope.staff}
    return render(request, "chat/chat.html", context)
