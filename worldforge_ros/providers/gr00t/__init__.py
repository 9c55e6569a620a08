"""The Isaac-GR00T policy provider: our implementation of the documented wire protocol, in one sub-package.

``codec`` (msgpack frames), ``zmq_transport`` (REQ client), ``http_transport`` (``/act`` over HTTP), ``settings``
(parameters, env fallbacks, the token from a file or the environment), ``checks`` (observation and reply
checks per generation) and ``policy`` (the provider class). Transports import pyzmq/httpx lazily.
"""

from .policy import Gr00tPolicy

__all__ = ["Gr00tPolicy"]
