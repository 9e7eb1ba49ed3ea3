"""FlickrHub core runtime: jobs, plugins, the worker host and the Flickr client.

Plugin authors need only what is exported here.
"""

from flickrhub_core.errors import FlickrHubError, InvalidRequest, JobError
from flickrhub_core.hookspecs import hookimpl
from flickrhub_core.jobs import Job, JobState
from flickrhub_core.targets import Target, TargetContext

__version__ = "0.1.0"

__all__ = [
    "FlickrHubError",
    "InvalidRequest",
    "Job",
    "JobError",
    "JobState",
    "Target",
    "TargetContext",
    "__version__",
    "hookimpl",
]
