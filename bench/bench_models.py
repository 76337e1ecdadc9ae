"""The benchmark's model for the python backend: the body back, unchanged."""


def echo(body, content_type, accept):
    return body, content_type
