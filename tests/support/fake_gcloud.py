"""The gcloud fixture's stand-in: functions/standins/gcloud.py (shared with the rehearsal), on a
project that a deploy plan can run against (its owner is the caller, billing is on, no
organisation policy), and the values the plan reads from it."""

from __future__ import annotations

from pathlib import Path

from functions.standins.cloud_project import CloudProject
from functions.standins.gcloud import Gcloud

PROJECT_NUMBER = "123456789012"
ADDON_SA = f"service-{PROJECT_NUMBER}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
ADDON_CLIENT_ID = "112233445566778899000"
FakeGcloud = Gcloud


def fake_gcloud(bin_dir: Path, project: CloudProject | None = None) -> Gcloud:
    return Gcloud(bin_dir, project or CloudProject(number=PROJECT_NUMBER))
