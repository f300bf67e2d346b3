from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from kernel.problems import problem_response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(request, 404, "No such endpoint or object here.")
    return render(request, "404.html", status=404)


@csrf_exempt  # an API path that does not exist has nothing to protect; it must answer in JSON
def api_not_found(request: HttpRequest) -> HttpResponse:
    return problem_response(request, 404, "No such endpoint or object here.")


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(request, 500, "Something went wrong on our side; it has been logged.")
    return render(request, "500.html", status=500)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(request, 403, str(exception) or "Forbidden.")
    return render(request, "403.html", {"message": str(exception or "")}, status=403)
