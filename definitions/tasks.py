"""The worker's part of applying definitions: finishing what waited for a new tenant's schema."""

from celery import shared_task

from definitions import services
from definitions.models import ApplicationState

# A tenant is usually active in well under a second; its provisioning task retries for minutes.
RETRY_SECONDS = 1.0
MAX_RETRIES = 900


@shared_task(bind=True, max_retries=MAX_RETRIES)
def definition_application_continue(self: object, application_id: int) -> str:
    application = services.application_continue(application_id=application_id)
    if application is None:
        raise self.retry(countdown=RETRY_SECONDS)  # type: ignore[attr-defined]  # Celery's bound task
    return str(application.state) if application.state != ApplicationState.WAITING else "waiting"


@shared_task
def definitions_resume_waiting() -> int:
    return services.applications_resume_waiting()
