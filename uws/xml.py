"""UWS 1.1 XML documents: the job, the job list, the results and the parameters.

Written as text (small documents, fixed element order from UWS.xsd); namespaces as the standard
spells them, with the XML Schema instance bound to the prefix ``xsi`` (pyvo matches the literal
prefix). No HTTP, no store. Tests: tests/uws/test_routes.py (every document validated against UWS.xsd).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from uws.models import Job, Parameter, Result

__all__ = ["UWS_NS", "XLINK_NS", "XSI_NS", "format_time", "job_document", "jobs_document",
           "parameters_document", "results_document"]

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_NAMESPACES = f'xmlns:uws="{UWS_NS}" xmlns:xlink="{XLINK_NS}" xmlns:xsi="{XSI_NS}"'
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry (a parameter value may hold anything).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z`` (what taplint and pyvo expect)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value))


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", value))


def _time_element(name: str, value: datetime | None) -> str:
    if value is None:
        return f'<uws:{name} xsi:nil="true"/>'
    return f"<uws:{name}>{format_time(value)}</uws:{name}>"


def _owner_element(owner: str | None) -> str:
    return '<uws:ownerId xsi:nil="true"/>' if owner is None else f"<uws:ownerId>{_text(owner)}</uws:ownerId>"


def _parameters(job_url: str, parameters: Sequence[Parameter]) -> str:
    items = []
    for p in parameters:
        if p.by_reference:
            href = f"{job_url}/parameters/{p.name}"
            items.append(f'<uws:parameter id={_attr(p.name)} byReference="true">{_text(href)}</uws:parameter>')
        else:
            items.append(f"<uws:parameter id={_attr(p.name)}>{_text(p.value)}</uws:parameter>")
    return "".join(items)


def _results(job_url: str, results: Sequence[Result]) -> str:
    return "".join(
        f'<uws:result id={_attr(r.id)} xlink:type="simple" xlink:href={_attr(f"{job_url}/results/{r.id}")}'
        f" size=\"{r.size}\" mime-type={_attr(r.mime_type)}/>"
        for r in results
    )


def job_document(job: Job, job_url: str) -> str:
    """``uws:job`` for ``GET {job}``; element order as in UWS.xsd ``JobSummary``."""
    parts = [
        f'{_HEAD}<uws:job {_NAMESPACES} version="1.1">',
        f"<uws:jobId>{_text(job.job_id)}</uws:jobId>",
        f"<uws:runId>{_text(job.run_id)}</uws:runId>" if job.run_id is not None else "",
        _owner_element(job.owner),
        f"<uws:phase>{job.phase.value}</uws:phase>",
        '<uws:quote xsi:nil="true"/>',
        _time_element("creationTime", job.creation_time),
        _time_element("startTime", job.start_time),
        _time_element("endTime", job.end_time),
        f"<uws:executionDuration>{job.execution_duration}</uws:executionDuration>",
        _time_element("destruction", job.destruction),
        f"<uws:parameters>{_parameters(job_url, job.parameters)}</uws:parameters>",
        f"<uws:results>{_results(job_url, job.results)}</uws:results>",
    ]
    if job.error is not None:
        parts.append(
            f'<uws:errorSummary type="{job.error.type.value}" hasDetail="true">'
            f"<uws:message>{_text(job.error.message)}</uws:message></uws:errorSummary>"
        )
    if job.progress is not None:
        done, total = job.progress
        parts.append(f'<uws:jobInfo><progress xmlns="urn:skygate" done="{done}" total="{total}"/></uws:jobInfo>')
    parts.append("</uws:job>\n")
    return "".join(parts)


def jobs_document(jobs: Sequence[Job], list_url: str) -> str:
    """``uws:jobs`` for ``GET {jobs}``."""
    refs = "".join(
        f'<uws:jobref id={_attr(j.job_id)} xlink:type="simple" xlink:href={_attr(f"{list_url}/{j.job_id}")}>'
        f"<uws:phase>{j.phase.value}</uws:phase>"
        + (f"<uws:runId>{_text(j.run_id)}</uws:runId>" if j.run_id is not None else "")
        + _owner_element(j.owner)
        + _time_element("creationTime", j.creation_time)
        + "</uws:jobref>"
        for j in jobs
    )
    return f'{_HEAD}<uws:jobs {_NAMESPACES} version="1.1">{refs}</uws:jobs>\n'


def results_document(job: Job, job_url: str) -> str:
    return f"{_HEAD}<uws:results {_NAMESPACES}>{_results(job_url, job.results)}</uws:results>\n"


def parameters_document(job: Job, job_url: str) -> str:
    return f"{_HEAD}<uws:parameters {_NAMESPACES}>{_parameters(job_url, job.parameters)}</uws:parameters>\n"
