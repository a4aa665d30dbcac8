"""`mailbeacon deploy`: put Mailbeacon into a Google Cloud project, as one ordered gcloud script.

The plan is a bash script of plain gcloud commands; ``--dry-run`` prints it and a real run
executes the very same text, so what a reviewer reads is what runs. It is a pure function of
one declared configuration (:class:`DeployConfig`): the project, the region, an optional custom
domain and the non-secret settings read from the deployer's environment. Every function gets
the full environment from that one place (``--set-env-vars`` replaces what was there, so a
redeploy reproduces the deployment instead of keeping hand edits), and every credential is a
Secret Manager secret mounted with ``--set-secrets``; the plan never contains a secret value.

Every URL the product emits is built from the base of the function that serves its path
(functions/endpoints.py): ``https://REGION-PROJECT.cloudfunctions.net/<function>``, or the
custom domain whose front (``front.py``) routes each path to its function.

The modules, each importing only those above it:
  resources.py    what the plan declares: APIs, functions and who invokes them, topics and
                  subscribers, secrets, the build account
  declaration.py  DeployConfig: URLs, secrets and environment from the one declaration
  front.py        a custom domain's routing table (Firebase Hosting rewrites)
  shell.py        quoting, gcloud's environment and secret flags, heredocs
  accounts.py     the runtime and build accounts, the secrets
  runtime.py      the functions, their invokers, the push subscriptions
  workspace.py    the plan's Workspace side: the add-on, the sent-mail watch, the front
  script.py       the plan: every command, in order
  assembly.py     the functions' source folder and requirements.txt
  probe.py        the preflight's reads of the project (gcloud, two REST calls), read-only
  preflight.py    the preflight's findings: a checklist with the fix for each
  command.py      the command: refuse, check, assemble, print or run
"""

from __future__ import annotations

from ..endpoints import MOUNTS
from .assembly import LEFT_OUT, assemble_source, requirements
from .command import check, deploy
from .declaration import DeployConfig
from .resources import FUNCTIONS, RETRY, SUBSCRIBERS, TOPIC_IDS
from .script import plan

__all__ = [
    "FUNCTIONS",
    "LEFT_OUT",
    "MOUNTS",
    "RETRY",
    "SUBSCRIBERS",
    "TOPIC_IDS",
    "DeployConfig",
    "assemble_source",
    "check",
    "deploy",
    "plan",
    "requirements",
]
