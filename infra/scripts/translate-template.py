#!/usr/bin/env python3
"""Prints template.yaml as CloudFormation receives it: the SAM transform applied by AWS's own
translator (aws-sam-translator), as JSON. The deployment rehearsal (tests/src/rehearsal) builds
its API Gateway, functions, schedules and queues from this output, so it sees the routes,
authorizer, gateway responses and environment exactly as a deploy would create them.

Usage: translate-template.py TEMPLATE [REGION]

Function code is referred to as a deploy refers to it once packaged (s3://…/<CodeUri>), so the
translator accepts the local artifact paths; nothing is uploaded or read.
"""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policy by name; the translator needs a loader anyway."""

    def load(self):
        return {}


def main():
    path = sys.argv[1]
    os.environ.setdefault("AWS_DEFAULT_REGION", sys.argv[2] if len(sys.argv) > 2 else "us-east-1")
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = resource["Properties"]
            properties["CodeUri"] = "s3://packaged/" + properties["CodeUri"]
    json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
