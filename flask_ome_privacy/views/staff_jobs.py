"""Failed background jobs on the staff request page, and the button that runs one again (issue 10).

A job about a request (its receipt mail, carrying out its decision) that gave up is a
``JobFailure`` row with the request's id (jobs.py). The request page lists the ones not
resolved — what the job was, when it failed, how often, the *type* of the error (never
its text), whether it gave up for good — each with a Retry button. The POST is one
``jobs.retry`` and one commit; inline jobs then run at once, so the message after the
redirect says how the retry went.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask.typing import ResponseReturnValue

from .. import execution, jobs, mail
from ..config import config_value
from ..forms import ConfirmForm
from ..i18n import gettext as _
from ..request_decisions import find_request
from ..sources import N_
from ..state import current_privacy
from .common import ID, current_user_id, reference_or_404
from .staff_request import add_page_context

if TYPE_CHECKING:
    from ..models import JobFailure, PrivacyRequest

#: What each job is called on the page; a task of the host's shows its registered name.
TASK_LABELS = {
    mail.SEND_TASK: N_("Email to the requester"),
    execution.EXECUTE_TASK: N_("Carrying out the decision"),
}
#: What the job's ``message_key`` (a mail's name) adds to the label.
MESSAGE_LABELS = {
    "request_received": N_("we received the request"),
    "decision_released": N_("the result is ready"),
}


def register_job_routes(bp: Blueprint) -> None:
    """Add the retry POST to the staff blueprint and the failed jobs to the request page."""
    bp.add_url_rule(
        f"/requests/<reference>/jobs/<{ID}:job_id>/retry", "retry_job", retry_job, methods=["POST"]
    )
    add_page_context(failed_jobs_context)


def job_label(failure: JobFailure) -> str:
    """ "Email to the requester (we received the request)": the task's label and, for mail, which one."""
    label = TASK_LABELS.get(failure.task)
    if label is None:
        return failure.task
    message = (failure.arguments or {}).get("message_key")
    if failure.task == mail.SEND_TASK and message in MESSAGE_LABELS:
        return str(_("%(job)s (%(message)s)", job=_(label), message=_(MESSAGE_LABELS[message])))
    return str(_(label))


def failed_jobs_context(privacy_request: PrivacyRequest) -> dict[str, Any]:
    """``failed_jobs``: the request's unresolved failures as the section shows them (one query)."""
    rows = [
        {
            "failure": failure,
            "label": job_label(failure),
            "in_flight": jobs.retry_in_flight(failure, current_app),
        }
        for failure in jobs.failed_jobs(current_privacy().session, privacy_request.id)
    ]
    return {"failed_jobs": rows}


def retry_job(reference: str, job_id: int) -> ResponseReturnValue:
    """Run one failed job of this request again: CSRF, one ``jobs.retry``, one commit, a message."""
    if not ConfirmForm().validate_on_submit():
        abort(400, _("The form expired. Reload the page and try again."))
    session = current_privacy().session
    privacy_request = find_request(session, reference_or_404(reference))
    if privacy_request is None:
        abort(404)
    failure = jobs.failure_of_request(session, privacy_request.id, job_id)
    if failure is None:
        abort(404)
    label = job_label(failure)
    back = url_for(".request", reference=privacy_request.reference, _anchor="failed-jobs")
    try:
        jobs.retry(session, failure.id, actor_id=current_user_id())
        session.commit()  # an inline job runs right after this, in a session of its own
    except jobs.RetryRefused as refused:
        session.rollback()
        if refused.reason == "retrying":
            flash(
                _("%(job)s is being retried already. Reload the page in a moment.", job=label), "ome_privacy"
            )
        else:
            flash(_("%(job)s needs no retry: it has succeeded since.", job=label), "ome_privacy")
        return redirect(back, code=303)
    except (jobs.UnknownTask, jobs.JobArgumentError):
        session.rollback()
        flash(
            _(
                "%(job)s cannot be run again: its task or its settings changed. Tell the administrator.",
                job=label,
            ),
            "ome_privacy",
        )
        return redirect(back, code=303)
    after = jobs.failure_of_request(session, privacy_request.id, job_id)
    status = after.status if after is not None else jobs.RESOLVED
    if status == jobs.RESOLVED:
        flash(_("Retried: %(job)s — it succeeded.", job=label), "ome_privacy")
    elif status == jobs.FAILED and after is not None:
        flash(
            _(
                "Retried: %(job)s — it failed again (%(error)s). Fix the cause, then retry.",
                job=label,
                error=after.error_type,
            ),
            "ome_privacy",
        )
    elif config_value("JOBS") == "rq":
        flash(
            _("Retried: %(job)s — queued for a worker. Reload the page to see the result.", job=label),
            "ome_privacy",
        )
    else:
        flash(
            _("Retried: %(job)s — still running. Reload the page to see the result.", job=label),
            "ome_privacy",
        )
    return redirect(back, code=303)
