"""Who asked for a task, looked up on the server from the id the task was given."""

from django.contrib.auth import get_user_model
from django_celery_beat.models import PeriodicTask

from audit.recorder import Actor


class UnknownRequester(Exception):
    """The task names a user or schedule that does not exist (or a user no longer active):
    it is not run, rather than run in nobody's name."""


def actor(*, user_id=None, schedule_id=None, default):
    if user_id is not None and schedule_id is not None:
        raise UnknownRequester("A task is asked for by a user or by a schedule, not both.")
    if user_id is not None:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise UnknownRequester(f"No active user has the id {user_id}: not run.")
        return Actor.user(user)
    if schedule_id is not None:
        name = PeriodicTask.objects.filter(pk=schedule_id).values_list("name", flat=True).first()
        if name is None:
            raise UnknownRequester(f"No schedule has the id {schedule_id}: not run.")
        return Actor.schedule(name)
    return default
